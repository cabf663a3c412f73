import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api"
import { Clock, Effect, Either } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import * as NodeStream from "node:stream"
import * as NodeStreamPromises from "node:stream/promises"
import * as NodeUrl from "node:url"
import { Catalog } from "../catalog/Catalog.ts"
import { extendSchema } from "../catalog/commands.ts"
import { liveDatabase, liveTable, type CatalogState, type TableState } from "../catalog/state.ts"
import { windowName } from "../compactor/compaction.ts"
import { ServerConfig } from "../config.ts"
import { engineFailed, Forbidden, InvalidRequest, NotFound, PayloadTooLarge } from "../errors.ts"
import type { JobInput, PersistedFile } from "../events/index.ts"
import { sandboxSql } from "../query/sandbox.ts"
import { DBS_PREFIX, FileIndex } from "../storage/FileIndex.ts"
import { indexedPaths } from "../storage/files.ts"
import { ObjectStore } from "../storage/ObjectStore.ts"
import { JobError, Jobs, type InputOutcome, type JobWorker } from "../jobs/Jobs.ts"
import { isFinished, rowsDone, type JobState } from "../jobs/state.ts"
import { convertLineProtocol, type ConvertedLineProtocol } from "./lineProtocol.ts"
import { cleanNdjson, type CleanedNdjson } from "./ndjson.ts"
import { formatOfName, inferenceSql, inferredTypes, planImport, plannedRowsSql, PRECISIONS, type ImportColumnType, type ImportFormat, type ImportPlan, type SourceColumn } from "./plan.ts"
import { sqlIdentifier as quote } from "../query/literal.ts"
import { dropSeriesSql, fileRowsSql, inputFacts, rankSeries, windowSql, type SeriesOrder } from "./windows.ts"
import { describeS3Error, downloadObject, objectsOfUri, parseS3Uri, s3Client, type S3Access, type S3Credentials } from "./s3.ts"

/** What an import job does, as its JobCreated records it. */
export interface ImportSpec {
  readonly database: string
  readonly table: string
  readonly format: ImportFormat | null
  readonly mapping: Readonly<Record<string, ImportColumnType>>
  readonly onError: "abort" | "skip_row"
  readonly createTable: boolean
  readonly precision: string
  /** What the seed's UploadedImportInfo reports of an upload (also filled for single-file sources once known). */
  readonly upload: {
    readonly filename: string
    readonly sizeBytes: number
    readonly rowCount: number
    readonly minTimestampNs: string
    readonly maxTimestampNs: string
    readonly ioxParquet: boolean
  } | null
  readonly dbId: number
  readonly tableId: number | null
  /** How an s3:// source is reached (absent for other sources). */
  readonly s3?: S3Access | undefined
}

const KIND = "import"
/** How often the running statement's progress is read while an input is imported. */
const PROGRESS_POLL_MS = 250
const literal = (text: string) => `'${text.replace(/'/g, "''")}'`

/** The directory staged uploads, downloads and error reports of a job live in. */
export const stagingRoot = (dataDir: string) => NodePath.join(NodePath.resolve(dataDir), "imports")

const terminal = (message: string, cause?: unknown) => new JobError({ message, terminal: true, cause })
const retryable = (what: string) => (cause: unknown) => new JobError({ message: `${what}: ${cause instanceof Error ? cause.message : String(cause)}`, terminal: false, cause })

/** The source relation of a file in a format, with `__row`, its 1-based row number. */
const sourceRelation = async (
  conn: DuckDBConnection,
  format: ImportFormat,
  path: string
): Promise<{ readonly relation: string; readonly columns: ReadonlyArray<SourceColumn> }> => {
  const p = literal(path)
  const describe = async (rel: string) =>
    (await conn.runAndReadAll(`DESCRIBE SELECT * FROM ${rel}`))
      .getRows()
      .map((r) => ({ name: String(r[0]), type: String(r[1]) }))
  switch (format) {
    case "parquet": {
      // The reader's own row numbers: a window over the whole file would cost a pass of its own.
      const rel = `read_parquet(${p})`
      return {
        relation: `(SELECT * EXCLUDE (file_row_number), file_row_number + 1 AS __row FROM read_parquet(${p}, file_row_number = true))`,
        columns: await describe(rel)
      }
    }
    case "csv": {
      // Every value read as text, so that a bad one is a row error rather than a failed file.
      const rel = `read_csv(${p}, header = true, all_varchar = true)`
      return { relation: `(SELECT *, row_number() OVER () AS __row FROM ${rel})`, columns: await describe(rel) }
    }
    case "ndjson": {
      const all = (
        await conn.runAndReadAll(
          `SELECT DISTINCT unnest(json_keys(json)) FROM read_json_objects(${p}, format = 'newline_delimited')`
        )
      )
        .getRows()
        .map((r) => String(r[0]))
      // Converted line protocol carries each point's line number as __line.
      const keys = all.filter((k) => k !== "__line")
      const cols = keys.map((k) => `json_extract_string(json, ${literal(`$.${JSON.stringify(k)}`)}) AS ${quote(k)}`)
      const row = all.includes("__line")
        ? `CAST(json_extract_string(json, '$.__line') AS BIGINT) AS __row`
        : "row_number() OVER () AS __row"
      return {
        relation: `(SELECT ${[...cols, row].join(", ")} FROM read_json_objects(${p}, format = 'newline_delimited'))`,
        columns: keys.map((name) => ({ name, type: "VARCHAR" }))
      }
    }
    case "lp":
      throw new Error("line protocol is read as its NDJSON conversion")
  }
}

/** A text source's columns with the types a sample of their values reads as. */
const withInferredTypes = async (
  conn: DuckDBConnection,
  source: { readonly relation: string; readonly columns: ReadonlyArray<SourceColumn> }
) => {
  const text = source.columns.filter((c) => c.type === "VARCHAR" && c.name !== "time")
  if (text.length === 0) return source
  const row =
    (
      await conn.runAndReadAll(
        inferenceSql(
          source.relation,
          text.map((c) => c.name)
        )
      )
    ).getRows()[0] ?? []
  const types = new Map(text.map((c, i) => [c.name, inferredTypes(row, text.length)[i]!]))
  return {
    ...source,
    columns: source.columns.map((c) => (types.has(c.name) ? { ...c, inferred: types.get(c.name) } : c))
  }
}

/**
 * Bulk import as jobs: a Parquet upload (the seed's API) or a source URI (file://, http(s)://) in Parquet, CSV or
 * NDJSON, read by its own sandboxed DuckDB instance, mapped and typed, and written per 24-hour window as Parquet files
 * that JobInputDone adds to the file index, so an input's rows become visible at once. Runs on compactor nodes.
 */
export class ImportJobs extends Effect.Service<ImportJobs>()("strata/ImportJobs", {
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
        if (input.source.startsWith("s3://")) yield* downloadS3(job, input.source, target, onBytes)
        else yield* download(input.source, target, onBytes)
        return target
      })

    /** Streams an object of the job's bucket to disk; a missing object or refused credentials fail the job for good. */
    const downloadS3 = (job: JobState, uri: string, target: string, onBytes: (bytes: number) => void) =>
      Effect.tryPromise({
        try: async (signal) => {
          const { bucket, prefix: key } = parseS3Uri(uri)!
          const access = specOf(job).s3 ?? { region: null, endpoint: null, pathStyle: null, requestCredentials: false }
          const credentials = access.requestCredentials ? credentialsOf(job.id) : undefined
          if (access.requestCredentials && credentials === undefined) throw new Error("the credentials the request gave are gone")
          const client = await s3Client(access, credentials)
          try {
            await downloadObject(client, bucket, key, target, { limit: config.maxImportSize, signal, onBytes })
          } finally {
            client.destroy()
          }
        },
        catch: (e) => {
          const d = describeS3Error(e, `reading ${uri}`)
          return new JobError({ message: d.message, terminal: d.kind !== "other", cause: e })
        }
      })

    const download = (url: string, target: string, onBytes: (bytes: number) => void) =>
      Effect.tryPromise({
        try: async (signal) => {
          NodeFs.mkdirSync(NodePath.dirname(target), { recursive: true })
          const response = await fetch(url, { signal })
          if (!response.ok || response.body === null) throw new Error(`GET ${url} answered ${response.status}`)
          let bytes = 0
          const limit = config.maxImportSize
          const counter = new NodeStream.Transform({
            transform(chunk: Buffer, _enc, cb) {
              bytes += chunk.length
              onBytes(bytes)
              cb(bytes > limit ? new Error(`the download is larger than --max-import-size (${limit} bytes)`) : null, chunk)
            }
          })
          const part = `${target}.part`
          await NodeStreamPromises.pipeline(
            NodeStream.Readable.fromWeb(response.body as never),
            counter,
            NodeFs.createWriteStream(part)
          )
          NodeFs.renameSync(part, target)
        },
        catch: retryable(`downloading ${url}`)
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

    const removeFiles = (files: ReadonlyArray<PersistedFile>) =>
      Effect.forEach(files, (f) => store.remove(f.path).pipe(Effect.ignore), { discard: true })

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
      runInput: (job, index, progress) =>
        Effect.gen(function* () {
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
                  await c.run(`COPY (${sql}) TO ${literal(scratch)} (FORMAT parquet, COMPRESSION zstd)`)
                  return Number((await c.runAndReadAll(fileRowsSql(scratch))).getRows()[0]![0])
                }, writing(w.rows)).pipe(Effect.tapError(() => store.remove(scratch).pipe(Effect.ignore)))
                rowsWritten += w.rows
                writing(0)(0)
                yield* store.putFile(path, scratch).pipe(
                  Effect.mapError(retryable(`storing ${path}`)),
                  Effect.tapError(() => store.remove(scratch).pipe(Effect.ignore))
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
            }).pipe(Effect.tapError(() => removeFiles(added)), Effect.onInterrupt(() => removeFiles(added)))
          ), Effect.ensuring(duckLock.withPermits(1)(dropTemp(temp))))
          // A download or conversion of this input is not needed again (a failed record downloads it again): a prefix
          // of many objects takes the disk of one at a time.
          yield* Effect.sync(() => removeDerivedInputs(job, index))
          const outcome: InputOutcome = { rows: written, skipped: bad, added }
          return outcome
        }),
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

    /** The seed's status: a completed job is `imported` until compaction replaced every file it added. */
    const seedStatus = (job: JobState, indexed: ReadonlySet<string>): string => {
      switch (job.status) {
        case "completed": {
          const paths = job.inputs.flatMap((i) => i.added)
          return paths.length > 0 && paths.every((p) => !indexed.has(p)) ? "compacted" : "imported"
        }
        default:
          return job.status
      }
    }

    /** A job as `UploadedImportInfo` (every field of the seed) plus progress and its files. */
    const info = (job: JobState) =>
      Effect.map(Effect.zip(fileIndex.current, catalog.current), ([index, state]) => {
        const spec = specOf(job)
        // A table created by the job has its id only once the job made it.
        const db = state.databases.get(spec.dbId)
        const tableId = spec.tableId ?? (db === undefined ? undefined : liveTable(db, spec.table)?.id) ?? null
        const indexed = indexedPaths(index)
        const up = spec.upload
        const rows = rowsDone(job)
        const done = job.inputs.filter((i) => i.status === "done").length
        const now = isFinished(job) ? undefined : jobs.liveOf(job.id)
        const fraction = now === undefined || job.inputs[now.input]?.status === "done" ? 0 : now.fraction
        const progressOf = (index: number) =>
          now === undefined || now.input !== index || job.inputs[index]!.status === "done"
            ? null
            : {
                phase: now.phase,
                bytes_done: now.bytesDone,
                bytes_total: now.bytesTotal < 0 ? null : now.bytesTotal,
                rows_done: now.rowsDone,
                rows_total: now.rowsTotal < 0 ? null : now.rowsTotal,
                percent: Math.floor(100 * now.fraction)
              }
        return {
          upload_uuid: job.id,
          db_id: spec.dbId,
          table_id: tableId,
          filename: up?.filename ?? job.inputs[0]?.name ?? "",
          status: seedStatus(job, indexed),
          last_message: job.lastMessage,
          created_at: Number(job.createdAt),
          started_at: job.startedAt === null ? null : Number(job.startedAt),
          completed_at: job.completedAt === null ? null : Number(job.completedAt),
          last_updated_at: Number(job.lastUpdatedAt),
          column_metadata: { column_mapping: spec.mapping },
          iox_parquet: up?.ioxParquet ?? false,
          size_bytes: up?.sizeBytes ?? job.inputs.reduce((n, i) => n + Math.max(0, i.bytes), 0),
          row_count: up?.rowCount ?? rows,
          min_timestamp_ns: up === null ? null : Number(up.minTimestampNs),
          max_timestamp_ns: up === null ? null : Number(up.maxTimestampNs),
          database: spec.database,
          table: spec.table,
          on_error: spec.onError,
          rows_imported: rows,
          rows_skipped: job.inputs.reduce((n, i) => n + i.skipped, 0),
          files_total: job.inputs.length,
          files_done: done,
          percent_complete: job.status === "completed" ? 100 : job.inputs.length === 0 ? 0 : Math.floor((100 * (done + fraction)) / job.inputs.length),
          files: job.inputs.map((i, index) => {
            const file = { name: i.name, rows: i.rows, skipped: i.skipped, status: i.status, error: i.status !== "done" && isFinished(job) && job.status !== "completed" ? job.lastMessage : null }
            // Only the input in progress has (in-memory) progress: bytes and rows so far, updated while it runs.
            const progress = progressOf(index)
            return progress === null ? file : { ...file, progress }
          })
        }
      })

    /**
     * Reads an uploaded Parquet file for the seed's checks and its UploadedImportInfo facts; fails 400 naming the
     * problem.
     */
    const inspectUpload = (path: string, mapping: Readonly<Record<string, ImportColumnType>>, table: TableState) =>
      Effect.gen(function* () {
        const facts = yield* duck("reading the upload", async (c) => {
          const rowCount = Number((await c.runAndReadAll(`SELECT coalesce(sum(num_rows), 0) FROM parquet_file_metadata(${literal(path)})`)).getRows()[0]![0])
          const ioxParquet = Number((await c.runAndReadAll(`SELECT count(*) FROM parquet_kv_metadata(${literal(path)}) WHERE lower(decode(key)) LIKE '%iox%'`)).getRows()[0]![0]) > 0
          const columns = (await c.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${literal(path)})`)).getRows().map((r) => ({ name: String(r[0]), type: String(r[1]) }))
          return { rowCount, ioxParquet, columns }
        }).pipe(Effect.mapError((e) => new InvalidRequest({ message: `invalid Parquet file: ${e.message.replace(/^reading the upload: /, "")}` })))
        if (facts.rowCount === 0) return yield* Effect.fail(new InvalidRequest({ message: "empty Parquet file: it holds no rows" }))
        const planned = planImport(facts.columns, mapping, table)
        if ("error" in planned) return yield* Effect.fail(new InvalidRequest({ message: planned.error }))
        const rowsSql = plannedRowsSql(planned.plan, `(SELECT *, 0 AS __row FROM read_parquet(${literal(path)}))`, 1n)
        const time = planned.plan.time
        const range = yield* duck("reading the upload's times", async (c) => {
          // From the footer's column statistics when the time column is a timestamp that has them; else one scan.
          if (time.sourceType.startsWith("TIMESTAMP")) {
            const stats = (await c.runAndReadAll(
              `SELECT epoch_ns(min(TRY_CAST(stats_min_value AS TIMESTAMP_NS))), epoch_ns(max(TRY_CAST(stats_max_value AS TIMESTAMP_NS))), count(*) FILTER (WHERE stats_min_value IS NULL) ` +
                `FROM parquet_metadata(${literal(path)}) WHERE path_in_schema = ${literal(time.source)}`
            )).getRows()[0]
            if (stats !== undefined && stats[0] !== null && stats[1] !== null && Number(stats[2]) === 0) return stats
          }
          return (await c.runAndReadAll(`SELECT coalesce(epoch_ns(min(time)), 0), coalesce(epoch_ns(max(time)), 0) FROM (${rowsSql})`)).getRows()[0]!
        }).pipe(Effect.mapError((e) => new InvalidRequest({ message: `invalid Parquet file: ${e.message}` })))
        return {
          rowCount: facts.rowCount,
          ioxParquet: facts.ioxParquet,
          minTimestampNs: String(range[0]),
          maxTimestampNs: String(range[1])
        }
      })

    /** The database and table a request names: 404 when missing (the table may be missing when it is to be created). */
    const target = (state: CatalogState, database: string, table: string, createTable: boolean) => {
      const db = liveDatabase(state, database)
      if (db === undefined) return Either.left(new NotFound({ message: `database not found: ${database}` }))
      const t = liveTable(db, table)
      if (t === undefined && !createTable) return Either.left(new NotFound({ message: `table not found: ${table} (database ${database})` }))
      return Either.right({ db, table: t })
    }

    /**
     * Resolves a `file://` URI to the files it names (a file, or a directory's files by extension), inside --import-dir
     * only.
     */
    const resolveFileUri = (uri: string, format: ImportFormat | null) =>
      Effect.gen(function* () {
        if (importDir === undefined) return yield* Effect.fail(new Forbidden({ message: "file:// sources are refused: the server has no --import-dir" }))
        const path = yield* Effect.try({ try: () => NodeUrl.fileURLToPath(uri), catch: () => new InvalidRequest({ message: `invalid file:// URI: ${uri}` }) })
        const real = yield* Effect.try({ try: () => NodeFs.realpathSync(path), catch: () => new InvalidRequest({ message: `source not found: ${uri}` }) })
        const inside = (p: string) => p === importDir || p.startsWith(importDir + NodePath.sep)
        if (!inside(real)) return yield* Effect.fail(new Forbidden({ message: `source ${uri} is outside --import-dir (symbolic links are followed)` }))
        const stat = NodeFs.statSync(real)
        const files: Array<JobInput> = []
        if (stat.isDirectory()) {
          const names = (NodeFs.readdirSync(real, { recursive: true }) as Array<string>).sort()
          for (const name of names) {
            const full = NodePath.join(real, name)
            const realFile = NodeFs.realpathSync(full)
            if (!inside(realFile)) return yield* Effect.fail(new Forbidden({ message: `source ${uri} holds ${name}, a link to outside --import-dir` }))
            if (!NodeFs.statSync(realFile).isFile()) continue
            const f = formatOfName(name)
            if (f === undefined || (format !== null && f !== format)) continue
            files.push({ name, source: NodeUrl.pathToFileURL(realFile).href, bytes: NodeFs.statSync(realFile).size })
          }
          if (files.length === 0) return yield* Effect.fail(new InvalidRequest({ message: `source ${uri} holds no ${format ?? "parquet, csv, ndjson or line-protocol"} files` }))
        } else {
          files.push({ name: NodePath.basename(real), source: NodeUrl.pathToFileURL(real).href, bytes: stat.size })
        }
        return files
      })

    /**
     * Lists the objects an s3:// URI names (one object, or every object under the prefix in a format it can tell):
     * a missing bucket or no objects answer 404, refused credentials 403, anything else 400, each naming the problem.
     */
    const resolveS3Uri = (
      uri: string,
      format: ImportFormat | null,
      s3: { readonly access: S3Access; readonly credentials: S3Credentials | undefined } | undefined
    ) =>
      Effect.gen(function* () {
        const parsed = parseS3Uri(uri)
        if (parsed === undefined)
          return yield* Effect.fail(
            new InvalidRequest({ message: `invalid s3:// URI '${uri}': expected s3://bucket/prefix` })
          )
        const access = s3?.access ?? { region: null, endpoint: null, pathStyle: null, requestCredentials: false }
        const listed = yield* Effect.tryPromise({
          try: async (signal) => {
            const client = await s3Client(access, s3?.credentials)
            try {
              return await objectsOfUri(client, parsed.bucket, parsed.prefix, signal)
            } finally {
              client.destroy()
            }
          },
          catch: (e) => {
            const d = describeS3Error(e, `listing ${uri}`)
            return d.kind === "not_found"
              ? new NotFound({ message: d.message })
              : d.kind === "denied"
                ? new Forbidden({ message: d.message })
                : new InvalidRequest({ message: d.message })
          }
        })
        if (listed.length === 0) return yield* Effect.fail(new NotFound({ message: `source ${uri} holds no objects` }))
        const single = listed.length === 1 && listed[0]!.key === parsed.prefix
        const files: Array<JobInput> = []
        for (const o of listed) {
          const f = formatOfName(o.name)
          if (!single && (f === undefined || (format !== null && f !== format))) continue
          files.push({ name: o.name, source: `s3://${parsed.bucket}/${o.key}`, bytes: o.size })
        }
        if (files.length === 0)
          return yield* Effect.fail(
            new InvalidRequest({
              message: `source ${uri} holds no ${format ?? "parquet, csv, ndjson or line-protocol"} files`
            })
          )
        return files
      })

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
          const facts = yield* inspectUpload(options.stagedPath, options.mapping, found.right.table!)
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
          let inputs: ReadonlyArray<JobInput>
          const scheme = options.uri.slice(0, options.uri.indexOf(":") + 1).toLowerCase()
          if (scheme === "file:") inputs = yield* resolveFileUri(options.uri, options.format)
          else if (scheme === "http:" || scheme === "https:") {
            const url = yield* Effect.try({
              try: () => new URL(options.uri),
              catch: () => new InvalidRequest({ message: `invalid URI: ${options.uri}` })
            })
            inputs = [{ name: NodePath.basename(url.pathname) || url.hostname, source: url.href, bytes: -1 }]
          } else if (scheme === "s3:") inputs = yield* resolveS3Uri(options.uri, options.format, options.s3)
          else
            return yield* Effect.fail(
              new InvalidRequest({
                message: `unsupported source URI '${options.uri}': expected file://, http://, https:// or s3://`
              })
            )
          for (const i of inputs) {
            const f = options.format ?? formatOfName(i.name)
            if (f === undefined)
              return yield* Effect.fail(
                new InvalidRequest({
                  message: `cannot tell the format of ${i.name}: give source.format (parquet, csv, ndjson, lp)`
                })
              )
          }
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
