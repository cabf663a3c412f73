import { Effect, Either } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { CacheLoader } from "../cache/CacheLoader.ts"
import { Catalog } from "../catalog/Catalog.ts"
import { sha256 } from "../checkpoint/codec.ts"
import { ServerConfig } from "../config.ts"
import { AlreadyExists, InvalidRequest, NotFound, Unavailable } from "../errors.ts"
import { decodeEvent, RestoreApplied } from "../events/index.ts"
import { JobError, Jobs, type JobWorker } from "../jobs/Jobs.ts"
import { isFinished, type JobState } from "../jobs/state.ts"
import type { Envelope } from "../log/EventLog.ts"
import { ObjectStore } from "../storage/ObjectStore.ts"
import { Ingester } from "../write/Ingester.ts"
import { backupRoot } from "./BackupJobs.ts"
import { makeRestoreLease } from "./RestoreLease.ts"
import { CHECKPOINT, FILES_DIR, readManifest, sha256File, TAIL } from "./manifest.ts"

/** What a restore job does, as its JobCreated records it. */
export interface RestoreSpec {
  readonly backupName: string
}

/** A restore as the seed's `RestoreListItem` / `GetRestoreResponse`, plus how it ended. */
export interface RestoreInfo {
  readonly restore_id: string
  readonly backup_name: string
  readonly status: "in_progress" | "completed" | "failed"
  readonly created_at: string
  readonly completed_at: string | null
  readonly total_files: number
  readonly total_size_bytes: number
  readonly job_status: string
  readonly last_message: string | null
}

const KIND = "restore"
const rfc3339 = (ns: bigint) => new Date(Number(ns / 1_000_000n)).toISOString()

/** Reads a backup's `tail.ndjson` back into envelopes with their payloads. */
const readTail = (path: string): ReadonlyArray<Envelope> => {
  const text = NodeFs.readFileSync(path, "utf8")
  const out: Array<Envelope> = []
  for (const line of text.split("\n")) {
    if (line === "") continue
    const r = JSON.parse(line) as { seq: number; at: string; node: string; event: string; payload: string | null }
    out.push({ seq: r.seq, at: BigInt(r.at), node: r.node, event: decodeEvent(r.event), payload: r.payload === null ? null : new Uint8Array(Buffer.from(r.payload, "base64")) })
  }
  return out
}

/**
 * Restores as jobs (kind `restore`), one at a time: verifies every checksum of the backup (and of its parents' files
 * it names), puts the files missing from `dbs/` back, then — writes held off — logs RestoreApplied (the catalog and
 * file index become the backup's, tokens kept) and re-logs the backup's unpersisted writes into the emptied buffer.
 * Live: no restart. Everything after the backup's point is gone; dropped files are deleted by the Compactor's sweep.
 */
export class RestoreJobs extends Effect.Service<RestoreJobs>()("strata/RestoreJobs", {
  dependencies: [CacheLoader.Default, Catalog.Default, Ingester.Default, Jobs.Default],
  scoped: Effect.gen(function* () {
    const config = yield* ServerConfig
    const jobs = yield* Jobs
    const catalog = yield* Catalog
    const store = yield* ObjectStore
    const ingester = yield* Ingester
    const cacheLoader = yield* CacheLoader
    const root = backupRoot(config.dataDir, config.backupDir)
    const specOf = (job: JobState) => job.spec as RestoreSpec
    const fail = (what: string, terminal: boolean) => (cause: unknown) =>
      new JobError({ message: `${what}: ${cause instanceof Error ? cause.message : String(cause)}`, terminal, cause })

    const lock = yield* Effect.makeSemaphore(1)
    const committing = new Set<string>()
    const lease = makeRestoreLease(root, config.nodeId)
    const leaseHeld = (holder: { readonly restoreId: string; readonly node: string; readonly expiresAtMs: number }) =>
      `the restore lease is held by restore ${holder.restoreId} on node ${holder.node} until ${new Date(holder.expiresAtMs).toISOString()}`

    const run = (job: JobState) =>
      Effect.gen(function* () {
        const spec = specOf(job)
        // Held (again, after a restart) for the whole run and renewed meanwhile; released when the job finishes.
        const other = yield* lease.acquire(job.id)
        if (other !== undefined) return yield* Effect.fail(new JobError({ message: leaseHeld(other), terminal: false }))
        yield* lease.keepRenewed(job.id)
        const m = readManifest(root, spec.backupName)
        if (m === undefined) return yield* Effect.fail(new JobError({ message: `backup ${spec.backupName} is gone`, terminal: true }))
        const dir = NodePath.join(root, m.name)
        const checkpointBytes = yield* Effect.try({ try: () => NodeFs.readFileSync(NodePath.join(dir, CHECKPOINT)), catch: fail("reading the checkpoint", true) })
        if (sha256(checkpointBytes) !== m.checkpoint.sha256) return yield* Effect.fail(new JobError({ message: `backup ${m.name}: checkpoint.json does not match its checksum`, terminal: true }))
        const tailSum = yield* Effect.tryPromise({ try: () => sha256File(NodePath.join(dir, TAIL)), catch: fail("reading the log tail", true) })
        if (tailSum !== m.tail.sha256) return yield* Effect.fail(new JobError({ message: `backup ${m.name}: tail.ndjson does not match its checksum`, terminal: true }))
        // Every file verified before anything changes: a damaged backup leaves the state as it is.
        for (const f of m.files) {
          const source = NodePath.join(root, f.backup, FILES_DIR, f.path)
          const sum = yield* Effect.tryPromise({ try: () => sha256File(source), catch: fail(`reading ${f.path} of backup ${f.backup}`, true) })
          if (sum !== f.sha256) return yield* Effect.fail(new JobError({ message: `backup ${f.backup}: ${f.path} does not match its checksum`, terminal: true }))
        }
        for (const f of m.files) {
          // Already there (the same file: same size and checksum) or put back from the backup.
          const present = yield* Effect.either(store.size(f.path))
          if (Either.isRight(present) && present.right === f.bytes) {
            const sum = yield* Effect.tryPromise(() => sha256File(store.localPath(f.path))).pipe(Effect.orElseSucceed(() => ""))
            if (sum === f.sha256) continue
          }
          const scratch = yield* store.scratchPath(f.path).pipe(Effect.mapError(fail(`preparing ${f.path}`, false)))
          yield* Effect.try({
            try: () => {
              try {
                NodeFs.linkSync(NodePath.join(root, f.backup, FILES_DIR, f.path), scratch)
              } catch {
                NodeFs.copyFileSync(NodePath.join(root, f.backup, FILES_DIR, f.path), scratch)
              }
            },
            catch: fail(`copying ${f.path} back`, false)
          })
          yield* store.putFile(f.path, scratch).pipe(Effect.mapError(fail(`putting ${f.path} back`, false)))
        }
        const tail = yield* Effect.try({ try: () => readTail(NodePath.join(dir, TAIL)), catch: fail("reading the log tail", true) })
        // From here on the restore is no longer cancelled: its record must say what the state is.
        yield* lock.withPermits(1)(Effect.sync(() => committing.add(job.id)))
        const event = new RestoreApplied({ version: 1, restoreId: job.id, backupName: m.name, backupSeq: m.seq, checkpoint: Buffer.from(checkpointBytes).toString("utf8") })
        yield* ingester
          .restore(catalog.execute(() => Either.right({ events: [event], result: undefined })), tail)
          .pipe(Effect.mapError((e) => new JobError({ message: `the restore could not be logged: ${e.message}`, terminal: false, cause: e })))
        // The caches were emptied with the buffer: they are filled again from the restored files and buffer.
        yield* cacheLoader.loadAll
        return { rows: m.files.length, skipped: 0, added: [] }
      })

    const worker: JobWorker = {
      prepare: () => Effect.void,
      runInput: (job) => Effect.scoped(run(job)),
      discard: () => Effect.void,
      finished: (job) => Effect.zipRight(Effect.sync(() => void committing.delete(job.id)), lease.release(job.id))
    }
    const enabled = config.mode.includes("compact")
    if (enabled) yield* jobs.runJobs(KIND, worker)

    const restoreJobs = Effect.map(jobs.list, (all) => all.filter((j) => j.kind === KIND))
    const info = (job: JobState): RestoreInfo => {
      const m = readManifest(root, specOf(job).backupName)
      return {
        restore_id: job.id,
        backup_name: specOf(job).backupName,
        status: job.status === "completed" ? "completed" : job.status === "terminal_failed" || job.status === "cancelled" ? "failed" : "in_progress",
        created_at: rfc3339(job.createdAt),
        completed_at: job.completedAt === null ? null : rfc3339(job.completedAt),
        total_files: m?.files.length ?? 0,
        total_size_bytes: m?.files.reduce((n, f) => n + f.bytes, 0) ?? 0,
        job_status: job.status,
        last_message: job.status === "cancelled" ? "cancelled" : job.lastMessage
      }
    }
    return {
      /** Whether this node runs restores (its --mode has compact). */
      enabled,
      /** Every restore, newest first. */
      list: Effect.map(restoreJobs, (all) => [...all].reverse().map(info)),
      get: (id: string) => Effect.map(restoreJobs, (all) => {
        const job = all.find((j) => j.id === id)
        return job === undefined ? undefined : info(job)
      }),
      /**
       * Starts a restore: 400 for an empty name, 404 for an unknown backup, 409 while another restore runs here, 503
       * when another server's restore holds the lease.
       */
      create: (backupName: string) =>
        lock.withPermits(1)(
          Effect.gen(function* () {
            if (backupName.trim() === "") return yield* Effect.fail(new InvalidRequest({ message: "backup_name is empty" }))
            if ((yield* restoreJobs).some((j) => !isFinished(j))) return yield* Effect.fail(new AlreadyExists({ message: "a restore is already running: only one restore can run at a time" }))
            if (readManifest(root, backupName) === undefined) return yield* Effect.fail(new NotFound({ message: `backup not found (or not completed): ${backupName}` }))
            const jobId = NodeCrypto.randomUUID()
            const other = yield* lease.acquire(jobId)
            if (other !== undefined) return yield* Effect.fail(new Unavailable({ message: leaseHeld(other) }))
            const spec: RestoreSpec = { backupName }
            yield *
              jobs
                .create({
                  jobId,
                  kind: KIND,
                  inputs: [{ name: backupName, source: backupName, bytes: -1 }],
                  spec,
                  idempotencyKey: null
                })
                .pipe(Effect.tapError(() => lease.release(jobId)))
            return { restore_id: jobId, status: "in_progress" as const }
          })
        ),
      /** Cancels a running restore; false when it is unknown, done, or already applying (it then completes). */
      cancel: (id: string) =>
        lock.withPermits(1)(
          Effect.gen(function* () {
            const job = (yield* restoreJobs).find((j) => j.id === id)
            if (job === undefined || isFinished(job) || committing.has(job.id)) return false
            yield* jobs.cancel(job.id)
            // A restore cancelled before it ran has no attempt to give the lease back.
            yield* lease.release(job.id)
            return true
          })
        )
    } as const
  })
}) {}
