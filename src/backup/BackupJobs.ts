import { Clock, Effect, Stream } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { Catalog } from "../catalog/Catalog.ts"
import { encodeCheckpoint, sha256 } from "../checkpoint/codec.ts"
import { ServerConfig } from "../config.ts"
import { AlreadyExists, InvalidRequest, NotFound } from "../errors.ts"
import { encodeEvent } from "../events/index.ts"
import { JobError, Jobs, type JobWorker } from "../jobs/Jobs.ts"
import { isFinished, type JobState } from "../jobs/state.ts"
import { EventLog, type Envelope } from "../log/EventLog.ts"
import { FileIndex } from "../storage/FileIndex.ts"
import { ObjectStore } from "../storage/ObjectStore.ts"
import { TableSources } from "../storage/TableSource.ts"
import {
  BACKUP_NAME,
  CHECKPOINT,
  FILES_DIR,
  generatedName,
  linkOrCopy,
  listManifests,
  MANIFEST,
  readManifest,
  sha256File,
  syncDir,
  TAIL,
  writeDurably,
  type BackupFile,
  type BackupManifest,
  type BackupType
} from "./manifest.ts"

/** What a backup job does, as its JobCreated records it. */
export interface BackupSpec {
  readonly name: string
  readonly type: BackupType
  readonly parent: string | null
}

/** A backup as the seed's `FullBackupListItem`, plus its parent, point in the log and how it ended. */
export interface BackupInfo {
  readonly name: string
  readonly type: BackupType
  readonly status: "in_progress" | "completed" | "failed"
  readonly created_at: string
  readonly completed_at?: string
  readonly total_files: number
  readonly total_size_bytes: number
  readonly parent: string | null
  readonly seq: number | null
  readonly state_files: number | null
  readonly state_size_bytes: number | null
  readonly job_status: string | null
  readonly last_message: string | null
}

const KIND = "backup"

/** Events the log tail of a backup carries: the writes, and the deletes among them that drop buffered rows. */
const TAIL_KINDS = new Set([
  "WriteBatch",
  "DatabaseSoftDeleted",
  "DatabaseHardDeleted",
  "DatabaseDataDeleted",
  "TableSoftDeleted",
  "TableHardDeleted",
  "TableDataDeleted"
])

const rfc3339 = (ns: bigint) => new Date(Number(ns / 1_000_000n)).toISOString()

/** The directory backups live in. */
export const backupRoot = (dataDir: string, backupDir: string) => NodePath.resolve(backupDir === "" ? NodePath.join(dataDir, "backups") : backupDir)

/** One line of `tail.ndjson`: an envelope with its encoded event and base64 payload. */
export const tailLine = (e: Envelope) =>
  JSON.stringify({ seq: e.seq, at: e.at.toString(), node: e.node, event: encodeEvent(e.event), payload: e.payload === null ? null : Buffer.from(e.payload).toString("base64") }) + "\n"

/**
 * Backups as jobs (kind `backup`) under `--backup-dir`: each captures one consistent point of the log — the catalog
 * and file index at a commit boundary, under a query read lease so no file of that state is deleted meanwhile — hard
 * links (or copies) its Parquet files, exports the writes not yet persisted with their payloads, and writes its
 * manifest last, so a backup directory with a manifest is whole. Writes continue throughout.
 */
export class BackupJobs extends Effect.Service<BackupJobs>()("strata/BackupJobs", {
  dependencies: [Catalog.Default, EventLog.Default, FileIndex.Default, Jobs.Default, TableSources.Default],
  scoped: Effect.gen(function* () {
    const config = yield* ServerConfig
    const jobs = yield* Jobs
    const log = yield* EventLog
    const catalog = yield* Catalog
    const fileIndex = yield* FileIndex
    const store = yield* ObjectStore
    const sources = yield* TableSources
    const root = backupRoot(config.dataDir, config.backupDir)
    yield* Effect.sync(() => NodeFs.mkdirSync(root, { recursive: true }))
    const partialDir = (jobId: string) => NodePath.join(root, `.partial-${jobId}`)
    const specOf = (job: JobState) => job.spec as BackupSpec

    const fail = (message: string, terminal: boolean) => (cause: unknown) =>
      new JobError({ message: `${message}: ${cause instanceof Error ? cause.message : String(cause)}`, terminal, cause })

    /** Takes the backup: capture, links, log tail, checksums, manifest; then moves the directory into place. */
    const take = (job: JobState) =>
      Effect.gen(function* () {
        const spec = specOf(job)
        const dir = partialDir(job.id)
        yield* Effect.try({
          try: () => {
            NodeFs.rmSync(dir, { recursive: true, force: true })
            NodeFs.mkdirSync(NodePath.join(dir, FILES_DIR), { recursive: true })
          },
          catch: fail("preparing the backup directory", false)
        })
        let inherited = new Map<string, BackupFile>()
        if (spec.parent !== null) {
          const parent = readManifest(root, spec.parent)
          if (parent === undefined) return yield* Effect.fail(new JobError({ message: `the parent backup ${spec.parent} is gone`, terminal: true }))
          inherited = new Map(parent.files.map((f) => [f.path, f]))
        }
        // Under a read lease the files of the captured index are not deleted; the links keep them past it.
        const captured = yield* Effect.scoped(
          Effect.gen(function* () {
            yield* sources.open
            const [seq, state] = yield* log.atCommitBoundary(Effect.zip(catalog.current, fileIndex.current))
            const [catalogState, files] = state
            const own: Array<{ path: string; bytes: number }> = []
            const kept: Array<BackupFile> = []
            yield* Effect.try({
              try: () => {
                for (const list of files.tables.values()) {
                  for (const f of list) {
                    const prior = inherited.get(f.path)
                    if (prior !== undefined && prior.bytes === f.bytes) {
                      kept.push(prior)
                      continue
                    }
                    linkOrCopy(store.localPath(f.path), NodePath.join(dir, FILES_DIR, f.path))
                    own.push({ path: f.path, bytes: f.bytes })
                  }
                }
              },
              catch: fail("linking the Parquet files", false)
            })
            return { seq, catalog: catalogState, files, own, kept }
          })
        )
        // The writes not yet in Parquet, read from the log with their payloads.
        const tailPath = NodePath.join(dir, TAIL)
        const tail = yield* Effect.acquireUseRelease(
          Effect.sync(() => ({ fd: NodeFs.openSync(tailPath, "w"), hash: NodeCrypto.createHash("sha256"), events: 0, bytes: 0 })),
          (t) =>
            log.stream(captured.files.persistedSeq, { untilSeq: captured.seq }).pipe(
              Stream.runForEach((e) =>
                Effect.sync(() => {
                  if (!TAIL_KINDS.has(e.event._tag)) return
                  // A write whose payload a delete purged carries nothing to re-apply.
                  if (e.event._tag === "WriteBatch" && e.payload === null) return
                  const line = Buffer.from(tailLine(e))
                  NodeFs.writeSync(t.fd, line)
                  t.hash.update(line)
                  t.events += 1
                  t.bytes += line.byteLength
                })
              ),
              Effect.mapError(fail("reading the log tail", false)),
              Effect.map(() => {
                NodeFs.fsyncSync(t.fd)
                return { path: TAIL, events: t.events, bytes: t.bytes, sha256: t.hash.digest("hex") }
              })
            ),
          (t) => Effect.sync(() => NodeFs.closeSync(t.fd))
        )
        const checkpointBytes = encodeCheckpoint({
          seq: captured.seq,
          catalog: captured.catalog,
          files: captured.files
        })
        yield* Effect.try({ try: () => writeDurably(NodePath.join(dir, CHECKPOINT), checkpointBytes), catch: fail("writing the checkpoint", false) })
        const own = yield* Effect.forEach(captured.own, (f) =>
          Effect.tryPromise({ try: () => sha256File(NodePath.join(dir, FILES_DIR, f.path)), catch: fail(`checksumming ${f.path}`, false) }).pipe(
            Effect.map((sum): BackupFile => ({ path: f.path, bytes: f.bytes, sha256: sum, backup: spec.name }))
          )
        )
        const nowMs = yield* Clock.currentTimeMillis
        const manifest: BackupManifest = {
          version: 1,
          name: spec.name,
          type: spec.type,
          parent: spec.parent,
          jobId: job.id,
          seq: captured.seq,
          persistedSeq: captured.files.persistedSeq,
          createdAt: rfc3339(job.createdAt),
          completedAt: new Date(nowMs).toISOString(),
          checkpoint: { path: CHECKPOINT, bytes: checkpointBytes.byteLength, sha256: sha256(checkpointBytes) },
          tail,
          files: [...captured.kept, ...own].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
          totalFiles: own.length,
          totalSizeBytes: own.reduce((n, f) => n + f.bytes, 0)
        }
        yield* Effect.try({
          try: () => {
            writeDurably(NodePath.join(dir, MANIFEST), JSON.stringify(manifest, null, 1))
            syncDir(dir)
            // A forced backup replaces the one of its name only now that it is whole.
            const target = NodePath.join(root, spec.name)
            NodeFs.rmSync(target, { recursive: true, force: true })
            NodeFs.renameSync(dir, target)
            syncDir(root)
          },
          catch: fail("writing the manifest", false)
        })
        return { rows: manifest.files.length, skipped: 0, added: [] }
      })

    const worker: JobWorker = {
      prepare: () => Effect.void,
      runInput: (job) => take(job),
      discard: () => Effect.void,
      finished: (job) =>
        Effect.sync(() => {
          NodeFs.rmSync(partialDir(job.id), { recursive: true, force: true })
          // Cancelled after the directory moved into place but before completion was recorded: it is no backup.
          if (job.status !== "completed" && readManifest(root, specOf(job).name)?.jobId === job.id) {
            NodeFs.rmSync(NodePath.join(root, specOf(job).name), { recursive: true, force: true })
          }
        })
    }

    // Partial directories whose job is finished or unknown are debris of a crash.
    const known = new Map((yield* jobs.list).filter((j) => j.kind === KIND).map((j) => [j.id, j]))
    yield* Effect.sync(() => {
      for (const name of NodeFs.readdirSync(root)) {
        if (!name.startsWith(".partial-")) continue
        const job = known.get(name.slice(".partial-".length))
        if (job === undefined || isFinished(job))
          NodeFs.rmSync(NodePath.join(root, name), { recursive: true, force: true })
      }
    })

    const enabled = config.mode.includes("compact")
    if (enabled) yield* jobs.runJobs(KIND, worker)

    const backupJobs = Effect.map(jobs.list, (all) => all.filter((j) => j.kind === KIND))
    /** The newest job of a name. */
    const jobOf = (all: ReadonlyArray<JobState>, name: string) => all.filter((j) => specOf(j).name === name).at(-1)

    const statusOf = (job: JobState): BackupInfo["status"] =>
      job.status === "completed" ? "completed" : job.status === "terminal_failed" || job.status === "cancelled" ? "failed" : "in_progress"

    const fromManifest = (m: BackupManifest, job?: JobState): BackupInfo => ({
      name: m.name,
      type: m.type,
      status: "completed",
      created_at: m.createdAt,
      completed_at: m.completedAt,
      total_files: m.totalFiles,
      total_size_bytes: m.totalSizeBytes,
      parent: m.parent,
      seq: m.seq,
      state_files: m.files.length,
      state_size_bytes: m.files.reduce((n, f) => n + f.bytes, 0),
      job_status: job?.status ?? null,
      last_message: job?.lastMessage ?? null
    })

    const fromJob = (job: JobState): BackupInfo => {
      const spec = specOf(job)
      const m = job.status === "completed" ? readManifest(root, spec.name) : undefined
      if (m !== undefined && m.jobId === job.id) return fromManifest(m, job)
      return {
        name: spec.name,
        type: spec.type,
        status: statusOf(job),
        created_at: rfc3339(job.createdAt),
        ...(job.completedAt === null ? {} : { completed_at: rfc3339(job.completedAt) }),
        total_files: 0,
        total_size_bytes: 0,
        parent: spec.parent,
        seq: null,
        state_files: null,
        state_size_bytes: null,
        job_status: job.status,
        last_message: job.status === "cancelled" ? "cancelled" : job.lastMessage
      }
    }

    /** Every backup: those this server's jobs made, and those found on disk only (another server's, or older). */
    const list = Effect.map(backupJobs, (all) => {
      const byName = new Map<string, BackupInfo>()
      for (const job of all) byName.set(specOf(job).name, fromJob(job))
      for (const m of listManifests(root)) if (!byName.has(m.name)) byName.set(m.name, fromManifest(m))
      return [...byName.values()].sort((a, b) =>
        a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0
      )
    })

    /** Whether a backup (completed or to be) depends on `name`: its parent or a holder of some of its files. */
    const dependents = (all: ReadonlyArray<JobState>, name: string) => {
      const out = new Set<string>()
      for (const m of listManifests(root))
        if (m.name !== name && (m.parent === name || m.files.some((f) => f.backup === name))) out.add(m.name)
      for (const j of all) if (!isFinished(j) && specOf(j).parent === name) out.add(specOf(j).name)
      return [...out]
    }

    // Create and delete check and act under one lock, so two requests cannot both pass a check.
    const lock = yield* Effect.makeSemaphore(1)

    return {
      /** Whether this node runs backups (its --mode has compact). */
      enabled,
      root,
      list,
      /** One backup by name, or undefined. */
      get: (name: string) => Effect.map(list, (all) => all.find((b) => b.name === name)),
      /** The manifest of a completed backup. */
      manifest: (name: string) => Effect.sync(() => readManifest(root, name)),
      /**
       * Starts a backup: 409 for a name in flight, or an existing one without `force`; 400 for a bad type, name or
       * parent.
       */
      create: (options: {
        readonly type: string
        readonly name?: string | undefined
        readonly force?: boolean | undefined
        readonly parent?: string | undefined
      }) =>
        lock.withPermits(1)(
          Effect.gen(function* () {
            if (options.type !== "full" && options.type !== "incremental") {
              return yield* Effect.fail(
                new InvalidRequest({ message: `invalid backup type '${options.type}': expected full or incremental` })
              )
            }
            const name = options.name ?? generatedName(yield* Clock.currentTimeMillis)
            if (!BACKUP_NAME.test(name)) {
              return yield* Effect.fail(
                new InvalidRequest({
                  message: `invalid backup name '${name}': letters, digits, '.', '_' and '-' only, starting with a letter or digit, at most 128`
                })
              )
            }
            const all = yield* backupJobs
            const sameName = all.filter((j) => specOf(j).name === name)
            if (sameName.some((j) => !isFinished(j)))
              return yield* Effect.fail(new AlreadyExists({ message: `a backup named ${name} is already in progress` }))
            const exists = sameName.length > 0 || readManifest(root, name) !== undefined
            if (exists && options.force !== true)
              return yield* Effect.fail(
                new AlreadyExists({ message: `a backup named ${name} already exists (force: true replaces it)` })
              )
            if (exists) {
              const deps = dependents(all, name)
              if (deps.length > 0)
                return yield* Effect.fail(
                  new AlreadyExists({
                    message: `backup ${name} cannot be replaced: ${deps.join(", ")} depend(s) on it`
                  })
                )
            }
            let parent: string | null = null
            if (options.type === "incremental") {
              if (options.parent !== undefined) {
                if (options.parent === name)
                  return yield* Effect.fail(
                    new InvalidRequest({ message: "an incremental backup cannot be its own parent" })
                  )
                if (readManifest(root, options.parent) === undefined)
                  return yield* Effect.fail(
                    new InvalidRequest({ message: `parent backup ${options.parent} is not a completed backup` })
                  )
                parent = options.parent
              } else {
                const newest = listManifests(root)
                  .filter((m) => m.name !== name)
                  .sort((a, b) =>
                    a.completedAt < b.completedAt ? -1 : a.completedAt > b.completedAt ? 1 : a.seq - b.seq
                  )
                  .at(-1)
                if (newest === undefined)
                  return yield* Effect.fail(
                    new InvalidRequest({
                      message: "an incremental backup needs a completed backup to be its parent: there is none"
                    })
                  )
                parent = newest.name
              }
            } else if (options.parent !== undefined) {
              return yield* Effect.fail(new InvalidRequest({ message: "parent is only for incremental backups" }))
            }
            for (const j of sameName) yield* jobs.remove(j.id)
            const spec: BackupSpec = { name, type: options.type, parent }
            yield* jobs.create({
              jobId: NodeCrypto.randomUUID(),
              kind: KIND,
              inputs: [{ name: "snapshot", source: name, bytes: -1 }],
              spec,
              idempotencyKey: null
            })
            return { backup_name: name, status: "in_progress" as const }
          })
        ),
      /** Cancels a running backup; undefined when none of that name runs. */
      cancel: (name: string) =>
        Effect.gen(function* () {
          const job = (yield* backupJobs).find((j) => specOf(j).name === name && !isFinished(j))
          if (job === undefined) return undefined
          yield* jobs.cancel(job.id)
          return { backup_name: name }
        }),
      /** Deletes a backup: 404 when unknown, 409 while it runs or while another backup depends on it. */
      remove: (name: string) =>
        lock.withPermits(1)(
          Effect.gen(function* () {
            const all = yield* backupJobs
            const sameName = all.filter((j) => specOf(j).name === name)
            const m = readManifest(root, name)
            const job = jobOf(all, name)
            if (job === undefined && m === undefined)
              return yield* Effect.fail(new NotFound({ message: `backup not found: ${name}` }))
            if (job !== undefined && !isFinished(job))
              return yield* Effect.fail(
                new AlreadyExists({ message: `backup ${name} is in progress and cannot be deleted` })
              )
            const deps = dependents(all, name)
            if (deps.length > 0)
              return yield* Effect.fail(
                new AlreadyExists({ message: `backup ${name} cannot be deleted: ${deps.join(", ")} depend(s) on it` })
              )
            const type = m?.type ?? (job === undefined ? "full" : specOf(job).type)
            yield* Effect.sync(() => NodeFs.rmSync(NodePath.join(root, name), { recursive: true, force: true }))
            for (const j of sameName) yield* jobs.remove(j.id)
            return { backup_name: name, type }
          })
        )
    } as const
  })
}) {}
