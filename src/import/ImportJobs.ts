import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api"
import { Clock, Effect, Either } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"
import { Catalog } from "../catalog/Catalog.ts"
import { extendSchema } from "../catalog/commands.ts"
import { liveDatabase, liveTable } from "../catalog/state.ts"
import { windowName } from "../compactor/compaction.ts"
import { ServerConfig } from "../config.ts"
import { engineFailed, InvalidRequest, PayloadTooLarge } from "../errors.ts"
import type { PersistedFile } from "../events/index.ts"
import { sandboxSql } from "../query/sandbox.ts"
import { DBS_PREFIX, FileIndex } from "../storage/FileIndex.ts"
import { ObjectStore, STORED_PARQUET_OPTIONS } from "../storage/ObjectStore.ts"
import { JobError, Jobs, type InputOutcome, type JobWorker } from "../jobs/Jobs.ts"
import { isFinished, type JobState } from "../jobs/state.ts"
import { downloadHttp, downloadS3 } from "./download.ts"
import { importInfo } from "./info.ts"
import { convertLineProtocol, type ConvertedLineProtocol } from "./lineProtocol.ts"
import { inspectUpload } from "./inspect.ts"
import { cleanNdjson, type CleanedNdjson } from "./ndjson.ts"
import { formatOfName, planImport, plannedRowsSql, PRECISIONS, type ImportColumnType, type ImportFormat, type ImportPlan } from "./plan.ts"
import { resolveSource, target } from "./resolve.ts"
import type { S3Access, S3Credentials } from "./s3.ts"
import { sourceRelation, withInferredTypes } from "./sources.ts"
import { retryable, terminal, type ImportSpec } from "./spec.ts"
import { dropSeriesSql, fileRowsSql, inputFacts, rankSeries, windowSql, type SeriesOrder } from "./windows.ts"
import { sqlString as literal } from "../query/literal.ts"

export type { ImportSpec } from "./spec.ts"

const KIND = "import"
/** How often the running statement's progress is read while an input is imported. */
const PROGRESS_POLL_MS = 250

/** The directory staged uploads, downloads and error reports of a job live in. */
export const stagingRoot = (dataDir: string) => NodePath.join(NodePath.resolve(dataDir), "imports")


/**
 * Bulk import as jobs: a Parquet upload (the seed's API) or a source URI (file://, http(s)://) in Parquet, CSV or
 * NDJSON, read by its own sandboxed DuckDB instance, mapped and typed, and written per 24-hour window as Parquet files
 * that JobInputDone adds to the file index, so an input's rows become visible at once. Runs on compactor nodes.
 */
export class ImportJobs extends Effect.Service<ImportJobs>()("strata/ImportJobs", {
  dependencies: [Catalog.Default, FileIndex.Default, Jobs.Default],
  scoped: Effect.gen(function* () {
    const config = yield* ServerConfig
    const jobs = yield* Jobs
    const catalog = yield* Catalog
    const store = yield* ObjectStore
    const fileIndex = yield* FileIndex
    const staging = stagingRoot(config.dataDir)
    const dbsDir = NodePath.join(NodePath.resolve(config.dataDir), "dbs")
    const importDir = config.importDir === "" ? undefined : NodeFs.realpathSync(NodePath.resolve(config.importDir))
    const spill = NodePath.join(staging, ".spill")
    yield* Effect.sync(() => {
      NodeFs.mkdirSync(spill, { recursive: true })
      NodeFs.mkdirSync(dbsDir, { recursive: true })
    })
    // Its own instance: reading sources must not be able to reach the server's buffer, nor user SQL the sources.
    const instance = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => DuckDBInstance.create(":memory:", { threads: "2", memory_limit: "1GB" }),
        catch: engineFailed("the import's DuckDB could not start")
      }),
      (db) => Effect.sync(() => db.closeSync())
    )
    const conn = yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => instance.connect(), catch: engineFailed("the import's DuckDB could not connect") }),
      (c) => Effect.sync(() => c.closeSync())
    )
    const dataDirectories = [dbsDir, ...(importDir === undefined ? [] : [importDir])]
    yield* Effect.tryPromise({
      try: async () => {
        // Query progress (polled while a long statement runs) must be on before the sandbox locks the settings.
        await conn.run("SET enable_progress_bar = true")
        await conn.run("SET enable_progress_bar_print = false")
        for (const s of sandboxSql({ allowedDirectory: staging, spillDirectory: spill, dataDirectories }))
          await conn.run(s)
      },
      catch: engineFailed("the import's DuckDB could not be sandboxed")
    })
    const duckLock = yield* Effect.makeSemaphore(1)
    /** Drops an input's staging table; whether it was there or not does not matter. */
    const dropTemp = (temp: string) =>
      Effect.tryPromise({
        try: async () => {
          await conn.run(`DROP TABLE IF EXISTS temp.${temp}`)
          for (const sql of dropSeriesSql) await conn.run(sql)
        },
        catch: engineFailed(`dropping ${temp}`)
      }).pipe(Effect.ignore)
    /** Runs DuckDB work on the import connection, one at a time; an interrupt (a cancel) interrupts the query. */
    const duck = <A>(what: string, f: (c: DuckDBConnection) => Promise<A>, onProgress?: (fraction: number) => void) =>
      duckLock.withPermits(1)(
        Effect.tryPromise({
          try: async (signal) => {
            signal.addEventListener("abort", () => conn.interrupt())
            // The running statement's progress, polled (DuckDB reports -1 before it knows).
            const timer = onProgress === undefined ? undefined : setInterval(() => {
              const p = conn.progress.percentage
              if (p >= 0) onProgress(Math.min(1, p / 100))
            }, PROGRESS_POLL_MS)
            try {
              return await f(conn)
            } finally {
              clearInterval(timer)
            }
          },
          catch: (e) => new JobError({ message: `${what}: ${e instanceof Error ? e.message : String(e)}`, terminal: true, cause: e })
        })
      )

    const specOf = (job: JobState) => job.spec as ImportSpec
    /** Reports the input in progress (memory only). The whole input: reading is the first half, writing the second. */
    const live = (
      job: JobState,
      index: number,
      phase: string,
      p: {
        readonly bytesDone?: number
        readonly rowsDone?: number
        readonly rowsTotal?: number
        readonly fraction: number
      }
    ) => {
      // Progress never goes back within a phase (a later statement of one step starts its own count from 0).
      const before = jobs.liveOf(job.id)
      if (before !== undefined && before.input === index && before.phase === phase && before.fraction > p.fraction)
        return
      jobs.reportLive(job.id, {
        input: index,
        phase,
        bytesDone: p.bytesDone ?? 0,
        bytesTotal: job.inputs[index]!.bytes,
        rowsDone: p.rowsDone ?? 0,
        rowsTotal: p.rowsTotal ?? -1,
        fraction: p.fraction
      })
    }
    const jobDir = (jobId: string) => NodePath.join(staging, jobId)
    const errorsPath = (jobId: string, input: number) => NodePath.join(jobDir(jobId), `errors-${input}.jsonl`)
    const lpErrorsPath = (jobId: string, input: number) => NodePath.join(jobDir(jobId), `lp-errors-${input}.jsonl`)
    // Credentials a request gave for S3: kept out of the event log, in the job's directory until the job finishes.
    const credentialsPath = (jobId: string) => NodePath.join(jobDir(jobId), "s3-credentials.json")
    const credentialsOf = (jobId: string): S3Credentials | undefined => {
      const path = credentialsPath(jobId)
      return NodeFs.existsSync(path) ? (JSON.parse(NodeFs.readFileSync(path, "utf8")) as S3Credentials) : undefined
    }
    const forgetCredentials = (jobId: string) => NodeFs.rmSync(credentialsPath(jobId), { force: true })

    /**
     * The file an input is read from, in which format, with the mapping its content implies: line protocol is
     * converted (once) to NDJSON through the write path's parser, its refused lines reported then.
     */
    const readableInput = (job: JobState, index: number) =>
      Effect.gen(function* () {
        const path = yield* localInput(job, index)
        const format = formatOf(job, index)
        const cleaned = cleanedPath(job.id, index)
        if (format === "ndjson" && NodeFs.existsSync(`${cleaned}.json`)) {
          const done = JSON.parse(NodeFs.readFileSync(`${cleaned}.json`, "utf8")) as CleanedNdjson
          return {
            path: cleaned,
            format,
            implied: {} as Readonly<Record<string, ImportColumnType>>,
            lpErrors: done.errors
          }
        }
        if (format !== "lp") return { path, format, implied: {} as Readonly<Record<string, ImportColumnType>>, lpErrors: 0 }
        const spec = specOf(job)
        const target = NodePath.join(jobDir(job.id), "inputs", `${index}.lp.ndjson`)
        const sidecar = `${target}.json`
        if (!NodeFs.existsSync(sidecar)) {
          const nowNs = BigInt(yield* Clock.currentTimeMillis) * 1_000_000n
          yield* Effect.try({
            try: () => {
              NodeFs.mkdirSync(NodePath.dirname(target), { recursive: true })
              const converted = convertLineProtocol(path, target, lpErrorsPath(job.id, index), {
                name: job.inputs[index]!.name,
                measurement: spec.table,
                precisionNs: PRECISIONS[spec.precision] ?? 1n,
                nowNs
              })
              NodeFs.writeFileSync(sidecar, JSON.stringify(converted))
            },
            catch: (e) => terminal(`reading ${job.inputs[index]!.name} as line protocol: ${String(e)}`)
          })
        }
        const converted = JSON.parse(NodeFs.readFileSync(sidecar, "utf8")) as ConvertedLineProtocol
        return { path: target, format: "ndjson" as ImportFormat, implied: converted.mapping, lpErrors: converted.errors }
      })

    /**
     * Removes what was downloaded or converted for an input (`inputs/<index>…`); staged uploads stay until the job
     * ends.
     */
    const removeDerivedInputs = (job: JobState, index: number) => {
      const dir = NodePath.join(jobDir(job.id), "inputs")
      if (!NodeFs.existsSync(dir)) return
      for (const name of NodeFs.readdirSync(dir)) {
        if (name === String(index) || name.startsWith(`${index}.`)) NodeFs.rmSync(NodePath.join(dir, name), { force: true })
      }
    }

    /** Where an NDJSON input's lines that are JSON objects go once it is known to hold others. */
    const cleanedPath = (jobId: string, input: number) => NodePath.join(jobDir(jobId), "inputs", `${input}.clean.ndjson`)

    /**
     * Sorts an NDJSON input's lines: objects to a clean copy (with their line numbers), the rest to its error report.
     */
    const cleanNdjsonInput = (job: JobState, index: number, path: string) =>
      Effect.tryPromise({
        try: async (signal) => {
          const target = cleanedPath(job.id, index)
          NodeFs.mkdirSync(NodePath.dirname(target), { recursive: true })
          const done = await cleanNdjson(path, target, lpErrorsPath(job.id, index), {
            name: job.inputs[index]!.name,
            signal,
            onBytes: (bytes) => live(job, index, "checking lines", { bytesDone: bytes, fraction: 0 })
          })
          NodeFs.writeFileSync(`${target}.json`, JSON.stringify(done))
          return { path: target, errors: done.errors }
        },
        catch: (e) => terminal(`reading ${job.inputs[index]!.name} as NDJSON: ${e instanceof Error ? e.message : String(e)}`, e)
      })

    /** The local file an input is read from: a staged upload, a file under --import-dir, or a download (made once). */
    const localInput = (job: JobState, index: number) =>
      Effect.gen(function* () {
        const input = job.inputs[index]!
        if (input.source.startsWith("staged:")) return NodePath.join(staging, input.source.slice("staged:".length))
        if (input.source.startsWith("file://")) return yield* Effect.try({ try: () => NodeFs.realpathSync(NodeUrl.fileURLToPath(input.source)), catch: (e) => terminal(`reading ${input.name}: ${String(e)}`) })
        const target = NodePath.join(jobDir(job.id), "inputs", `${index}${NodePath.extname(new URL(input.source).pathname)}`)
        if (NodeFs.existsSync(target)) return target
        const onBytes = (bytes: number) => live(job, index, "downloading", { bytesDone: bytes, fraction: 0 })
        if (input.source.startsWith("s3://")) {
          const access = specOf(job).s3 ?? { region: null, endpoint: null, pathStyle: null, requestCredentials: false }
          const credentials = access.requestCredentials ? credentialsOf(job.id) : undefined
          yield* downloadS3(access, credentials, input.source, target, { limit: config.maxImportSize, onBytes })
        } else yield* downloadHttp(input.source, target, config.maxImportSize, onBytes)
        return target
      })

    const formatOf = (job: JobState, index: number): ImportFormat => specOf(job).format ?? formatOfName(job.inputs[index]!.name) ?? "parquet"

    /** The table an input goes to, its columns added (and the table created, with create_table) as the plan needs. */
    const ensureTable = (spec: ImportSpec, plan: ImportPlan) =>
      Effect.gen(function* () {
        const columns = [...plan.tags, ...plan.fields].map((c) => ({ name: c.name, type: c.type }))
        const state = yield* catalog.current
        const db = liveDatabase(state, spec.database)
        if (db === undefined) return yield* Effect.fail(terminal(`database '${spec.database}' does not exist`))
        const table = liveTable(db, spec.table)
        if (table === undefined && !spec.createTable) return yield* Effect.fail(terminal(`table '${spec.table}' does not exist in database '${spec.database}'`))
        yield *
          catalog
            .execute((s, ctx) =>
              Either.flatMap(
                extendSchema(s, ctx, spec.database, [{ table: spec.table, columns }]),
                ({ events, rejected }) =>
                  rejected.size > 0
                    ? Either.left(new InvalidRequest({ message: [...rejected.values()].join("; ") }))
                    : Either.right({ events, result: undefined })
              )
            )
            .pipe(Effect.mapError((e) => terminal(`the table's schema cannot take the input's columns: ${e.message}`)))
        const after = liveTable(liveDatabase(yield* catalog.current, spec.database)!, spec.table)!
        return { dbId: db.id, table: after }
      })

    /** Plans an input against the table as it stands (undefined: it is to be created). */
    const planInput = (job: JobState, index: number) =>
      Effect.gen(function* () {
        const spec = specOf(job)
        const readable = yield* readableInput(job, index)
        const { format, implied } = readable
        let { path, lpErrors } = readable
        const read = () =>
          duck(`reading ${job.inputs[index]!.name}`, async (c) => {
            const relation = await sourceRelation(c, format, path)
            return format === "parquet" ? relation : withInferredTypes(c, relation)
          })
        // DuckDB refuses a whole NDJSON file for one malformed line: then the lines are sorted out one by one (once).
        const source = yield* read().pipe(
          Effect.catchIf(
            (e) => format === "ndjson" && /malformed json/i.test(e.message),
            () =>
              Effect.gen(function* () {
                const cleaned = yield* cleanNdjsonInput(job, index, path)
                path = cleaned.path
                lpErrors = cleaned.errors
                return yield* read()
              })
          )
        )
        const db = liveDatabase(yield* catalog.current, spec.database)
        const table = db === undefined ? undefined : liveTable(db, spec.table)
        const planned = planImport(source.columns, { ...implied, ...spec.mapping }, table)
        if ("error" in planned) return yield* Effect.fail(terminal(`${job.inputs[index]!.name}: ${planned.error}`))
        // Converted line protocol carries times in ns already.
        const precision = format === formatOf(job, index) ? PRECISIONS[spec.precision] ?? 1n : 1n
        return {
          plan: planned.plan,
          rows: plannedRowsSql(planned.plan, source.relation, precision),
          bad: plannedRowsSql(planned.plan, source.relation, precision, true),
          lpErrors,
          format
        }
      })

    /**
     * Writes the report of an input's bad rows (JSONL: file, row, raw row, reason) from `badSql` (the rows that cannot
     * be imported, with their raw rows); `count` is how many there are when known. Answers the count and the first.
     */
    const reportErrors = (job: JobState, index: number, badSql: string, lpErrors: number, count?: number) =>
      duck(`checking ${job.inputs[index]!.name}`, async (c) => {
        const file = errorsPath(job.id, index)
        NodeFs.mkdirSync(NodePath.dirname(file), { recursive: true })
        let lines: Array<string> = []
        let bad = count ?? 0
        if (count === undefined || count > 0) {
          // One pass: the raw row is made for bad rows only.
          const reader = await c.runAndReadAll(`SELECT __row, __err, __raw, count(*) OVER () FROM (${badSql}) ORDER BY __row LIMIT 100000`)
          const rows = reader.getRows()
          bad = rows.length === 0 ? 0 : Number(rows[0]![3])
          const name = job.inputs[index]!.name
          lines = rows.map((r) =>
            JSON.stringify({ file: name, row: Number(r[0]), raw: JSON.parse(String(r[2])), reason: String(r[1]) })
          )
        }
        // Lines the line-protocol parser refused come first (they were never rows).
        const lpFile = lpErrorsPath(job.id, index)
        const parsed = lpErrors > 0 && NodeFs.existsSync(lpFile) ? NodeFs.readFileSync(lpFile, "utf8").split("\n").filter((l) => l !== "") : []
        const all = [...parsed, ...lines]
        if (all.length > 0) NodeFs.writeFileSync(file, all.join("\n") + "\n")
        else NodeFs.rmSync(file, { force: true })
        return { count: bad + lpErrors, first: all[0] }
      })

    const removePaths = (paths: ReadonlyArray<string>) =>
      Effect.forEach(paths, (path) => store.remove(path).pipe(Effect.ignore), { discard: true })
    const removeFiles = (files: ReadonlyArray<PersistedFile>) => removePaths(files.map((f) => f.path))

    const worker: JobWorker = {
      // With on_error=abort every input is checked before any becomes visible: one bad row fails the whole job.
      prepare: (job) =>
        Effect.gen(function* () {
          // One input is checked while it is imported (its rows become visible only if none is bad).
          if (specOf(job).onError !== "abort" || job.inputs.length === 1) return
          for (let i = 0; i < job.inputs.length; i++) {
            if (job.inputs[i]!.status === "done") continue
            const { bad: badSql, lpErrors } = yield* planInput(job, i)
            const bad = yield* reportErrors(job, i, badSql, lpErrors)
            if (bad.count > 0) {
              return yield* Effect.fail(terminal(`${bad.count} row(s) of ${job.inputs[i]!.name} cannot be imported (on_error=abort, nothing imported); first: ${bad.first ?? ""}`))
            }
          }
        }),
      runInput: (job, index, progress) => {
        // Paths moved into dbs/ so far: what a failure or a cancel (anywhere until the input is recorded) removes.
        const placed: Array<string> = []
        return Effect.gen(function* () {
          const spec = specOf(job)
          const temp = `import_rows`
          const { plan, rows, bad: badSql, lpErrors, format } = yield* planInput(job, index)
          const { dbId, table } = yield* ensureTable(spec, plan)
          const added: Array<PersistedFile> = []
          // Text is parsed once into a temp table; Parquet is read where it lies, once per pass (its columns only).
          const staged = format !== "parquet"
          const source = staged ? `temp.${temp}` : `(${rows})`
          let bad = 0
          const size = job.inputs[index]!.bytes
          const reading = (fraction: number) =>
            live(job, index, "reading", {
              bytesDone: size < 0 ? 0 : Math.round(fraction * size),
              fraction: fraction / 2
            })
          reading(0)
          const written = yield* duck(`importing ${job.inputs[index]!.name}`, async (c) => {
            if (staged) await c.run(`CREATE OR REPLACE TEMP TABLE ${temp} AS ${rows}`)
            const facts = await inputFacts(c, plan, source)
            const order: SeriesOrder =
              facts.total === 0 ? { kind: "tags" } : await rankSeries(c, plan, source, table.seriesKey, facts.errors > 0)
            return { facts, order }
          }, reading).pipe(Effect.flatMap(({ facts, order }) =>
            Effect.gen(function* () {
              if (facts.errors > 0 || lpErrors > 0) {
                const report = yield* reportErrors(job, index, badSql, lpErrors, facts.errors)
                bad = report.count
                if (spec.onError === "abort") {
                  return yield* Effect.fail(terminal(`${bad} row(s) of ${job.inputs[index]!.name} cannot be imported (on_error=abort, nothing imported); first: ${report.first ?? ""}`))
                }
              }
              yield* progress(index, facts.total + bad)
              let rowsWritten = 0
              const writing = (windowRows: number) => (fraction: number) => {
                const rowsDone = rowsWritten + Math.round(fraction * windowRows)
                live(job, index, "writing", {
                  bytesDone: Math.max(0, size),
                  rowsDone,
                  rowsTotal: facts.total,
                  fraction: 0.5 + (facts.total === 0 ? 0.5 : rowsDone / facts.total / 2)
                })
              }
              writing(0)(0)
              const options = { merge: facts.duplicates, errors: facts.errors > 0, seriesKey: table.seriesKey }
              for (const w of facts.windows) {
                const path = `${DBS_PREFIX}${dbId}/${table.id}/${windowName(w.day)}/import-${job.id}-${index}.parquet`
                const scratch = yield* store.scratchPath(path).pipe(Effect.mapError(retryable("staging an output file")))
                const fileRows = yield* duck(`writing ${path}`, async (c) => {
                  const sql = windowSql(plan, source, order, w.day, options)
                  await c.run(`COPY (${sql}) TO ${literal(scratch)} (${STORED_PARQUET_OPTIONS})`)
                  return Number((await c.runAndReadAll(fileRowsSql(scratch))).getRows()[0]![0])
                }, writing(w.rows)).pipe(Effect.onError(() => store.remove(scratch).pipe(Effect.ignore)))
                rowsWritten += w.rows
                writing(0)(0)
                // Moved in and noted at once: a cancel cannot fall between the two and leave the file behind.
                yield* store.putFile(path, scratch).pipe(
                  Effect.mapError(retryable(`storing ${path}`)),
                  Effect.tapError(() => store.remove(scratch).pipe(Effect.ignore)),
                  Effect.zipLeft(Effect.sync(() => placed.push(path))),
                  Effect.uninterruptible
                )
                added.push({
                  path,
                  dbId,
                  tableId: table.id,
                  rows: fileRows,
                  minTimeNs: w.minTimeNs,
                  maxTimeNs: w.maxTimeNs,
                  bytes: yield* store.size(path).pipe(Effect.mapError(retryable(`reading the size of ${path}`))),
                  columns: [...plan.tags, ...plan.fields].map((c) => c.name)
                })
              }
              return facts.total
            })
          ), Effect.ensuring(duckLock.withPermits(1)(dropTemp(temp))))
          // A download or conversion of this input is not needed again (a failed record downloads it again): a prefix
          // of many objects takes the disk of one at a time.
          yield* Effect.sync(() => removeDerivedInputs(job, index))
          const outcome: InputOutcome = { rows: written, skipped: bad, added }
          return outcome
        }).pipe(Effect.onError(() => removePaths(placed)))
      },
      discard: (outcome) => removeFiles(outcome.added),
      finished: (job) =>
        Effect.sync(() => {
          // Staged uploads, downloads and credentials go; the error reports stay for GET …/errors.
          NodeFs.rmSync(NodePath.join(jobDir(job.id), "inputs"), { recursive: true, force: true })
          forgetCredentials(job.id)
        })
    }

    // Uploads a crash cut short (no job names them) and staged inputs of finished jobs are debris at start.
    const known = new Map((yield* jobs.list).map((j) => [j.id, j]))
    yield* Effect.sync(() => {
      for (const name of NodeFs.readdirSync(staging)) {
        if (name.startsWith(".")) continue
        const job = known.get(name)
        if (job === undefined) NodeFs.rmSync(NodePath.join(staging, name), { recursive: true, force: true })
        else if (isFinished(job)) {
          NodeFs.rmSync(NodePath.join(staging, name, "inputs"), { recursive: true, force: true })
          forgetCredentials(name)
        }
      }
    })

    if (config.mode.includes("compact")) yield* jobs.runJobs(KIND, worker)

    const info = (job: JobState) =>
      Effect.map(Effect.zip(fileIndex.current, catalog.current), ([files, state]) =>
        importInfo(job, state, files, jobs.liveOf(job.id))
      )

    return {
      /** Whether this node runs imports (its --mode has compact). */
      enabled: config.mode.includes("compact"),
      stagingDir: (jobId: string) => NodePath.join(jobDir(jobId), "inputs"),
      jobDir,
      newJobId: () => NodeCrypto.randomUUID(),
      info,
      list: Effect.flatMap(jobs.list, (all) =>
        Effect.forEach(
          all.filter((j) => j.kind === KIND),
          info
        )
      ),
      get: (id: string) => Effect.map(jobs.get(id), (j) => (j?.kind === KIND ? j : undefined)),
      byIdempotencyKey: jobs.byIdempotencyKey,
      cancel: jobs.cancel,
      /** The error report of a job: every input's bad rows, JSONL. */
      errors: (jobId: string) =>
        Effect.sync(() => {
          const dir = jobDir(jobId)
          if (!NodeFs.existsSync(dir)) return ""
          return NodeFs.readdirSync(dir)
            .filter((n) => /^errors-\d+\.jsonl$/.test(n))
            .sort((a, b) => Number(a.slice(7, -6)) - Number(b.slice(7, -6)))
            .map((n) => NodeFs.readFileSync(NodePath.join(dir, n), "utf8"))
            .join("")
        }),
      /**
       * Creates the job of a staged Parquet upload after the seed's synchronous checks (the staged file is removed on
       * failure).
       */
      createFromUpload: (options: {
        readonly jobId: string
        readonly database: string
        readonly table: string
        readonly mapping: Readonly<Record<string, ImportColumnType>>
        readonly filename: string
        readonly stagedPath: string
        readonly sizeBytes: number
        readonly idempotencyKey: string | null
      }) =>
        Effect.gen(function* () {
          const found = target(yield* catalog.current, options.database, options.table, false)
          if (Either.isLeft(found)) return yield* Effect.fail(found.left)
          const facts = yield* inspectUpload(duck, options.stagedPath, options.mapping, found.right.table!)
          const spec: ImportSpec = {
            database: options.database,
            table: options.table,
            format: "parquet",
            mapping: options.mapping,
            onError: "abort",
            createTable: false,
            precision: "ns",
            upload: { filename: options.filename, sizeBytes: options.sizeBytes, ...facts },
            dbId: found.right.db.id,
            tableId: found.right.table!.id
          }
          const source = `staged:${NodePath.relative(staging, options.stagedPath).split(NodePath.sep).join("/")}`
          return yield* jobs.create({
            jobId: options.jobId,
            kind: KIND,
            inputs: [{ name: options.filename, source, bytes: options.sizeBytes }],
            spec,
            idempotencyKey: options.idempotencyKey
          })
        }).pipe(
          Effect.tapError(() =>
            Effect.sync(() => NodeFs.rmSync(jobDir(options.jobId), { recursive: true, force: true }))
          )
        ),
      /** Creates a job reading a source URI. */
      createFromSource: (options: {
        readonly database: string
        readonly table: string
        readonly uri: string
        readonly format: ImportFormat | null
        readonly mapping: Readonly<Record<string, ImportColumnType>>
        readonly onError: "abort" | "skip_row"
        readonly createTable: boolean
        readonly precision: string
        readonly idempotencyKey: string | null
        /** How to reach an s3:// source. */
        readonly s3?: { readonly access: S3Access; readonly credentials: S3Credentials | undefined } | undefined
      }) =>
        Effect.gen(function* () {
          const found = target(yield* catalog.current, options.database, options.table, options.createTable)
          if (Either.isLeft(found)) return yield* Effect.fail(found.left)
          const inputs = yield* resolveSource(importDir, options.uri, options.format, options.s3)
          const scheme = options.uri.slice(0, options.uri.indexOf(":") + 1).toLowerCase()
          const spec: ImportSpec = {
            database: options.database,
            table: options.table,
            format: options.format,
            mapping: options.mapping,
            onError: options.onError,
            createTable: options.createTable,
            precision: options.precision,
            upload: null,
            dbId: found.right.db.id,
            tableId: found.right.table?.id ?? null,
            ...(scheme === "s3:"
              ? {
                  s3: options.s3?.access ?? { region: null, endpoint: null, pathStyle: null, requestCredentials: false }
                }
              : {})
          }
          const jobId = NodeCrypto.randomUUID()
          const credentials = options.s3?.credentials
          // Written before the job exists: its runner may pick it up at once.
          if (scheme === "s3:" && credentials !== undefined) {
            yield* Effect.sync(() => {
              NodeFs.mkdirSync(jobDir(jobId), { recursive: true })
              NodeFs.writeFileSync(credentialsPath(jobId), JSON.stringify(credentials), { mode: 0o600 })
            })
          }
          const made = yield* jobs
            .create({ jobId, kind: KIND, inputs, spec, idempotencyKey: options.idempotencyKey })
            .pipe(
              Effect.tapError(() => Effect.sync(() => NodeFs.rmSync(jobDir(jobId), { recursive: true, force: true })))
            )
          if (!made.created) yield* Effect.sync(() => NodeFs.rmSync(jobDir(jobId), { recursive: true, force: true }))
          return made
        })
    } as const
  })
}) {}

export { PayloadTooLarge }
