import type {
  DuckDBConnection,
  DuckDBDataChunk,
  DuckDBMaterializedResult,
  DuckDBType,
  DuckDBValue
} from "@duckdb/node-api"
import { NodeRegistry } from "../nodes/NodeRegistry.ts"
import { EngineLogs } from "../engine/EngineLogs.ts"
import { nodeRows } from "../nodes/view.ts"
import { Clock, Effect, Exit, Option, Scope, Stream } from "effect"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { Caches } from "../cache/Caches.ts"
import { CacheTables } from "../cache/sql.ts"
import { Catalog } from "../catalog/Catalog.ts"
import { liveDatabase, type DatabaseState, type TableState } from "../catalog/state.ts"
import { ServerConfig } from "../config.ts"
import { engineFailed, ExecutionFailed, InvalidRequest, NotFound } from "../errors.ts"
import { ParquetMemCache } from "../storage/ParquetMemCache.ts"
import {
  bufferPartialParameters,
  decodePlanFiles,
  type PartialRow,
  runSeriesAggregate,
  type SeriesAggregatePlan
} from "./seriesAggregateRun.ts"
import { TableSources, type TableView } from "../storage/TableSource.ts"
import { Ingester } from "../write/Ingester.ts"
import { stringifyJson, type Json } from "./ast.ts"
import { dialectSetupSql, rewriteDialect } from "./dialect/index.ts"
import { FEW_CACHE_ROWS } from "./answerShape.ts"
import { DuckDb } from "./DuckDb.ts"
import { contentTypeOf, encodeText, type ChunkSource, type ResultFormat } from "./encode.ts"
import { DuplicateCheck } from "./duplicates.ts"
import { QueryGate } from "./QueryGate.ts"
import { QueryLog, type QueryRecord } from "./QueryLog.ts"
import { PlanError, translate, type Translated, type TranslateInput } from "./translate.ts"
import { KeptWhileValid, preparedStatement, type Validity } from "./statements.ts"
import { virtualTables, virtualTableSql, type VirtualTable } from "./virtualTables.ts"
import { acquireScoped, addPlainFinalizer } from "../scoped.ts"

/** One SQL query as the HTTP layer hands it over. */
export interface SqlQueryRequest {
  readonly db: string
  readonly sql: string
  readonly params: Readonly<Record<string, Json>>
  readonly format: ResultFormat
  /** Set when `sql` is DuckDB SQL planned from this InfluxQL text: no dialect rewrite, logged as an influxql query. */
  readonly influxql?: string
  /** With format `parquet`: reads the Parquet file DuckDB wrote into the body instead of sending its bytes (Flight). */
  readonly parquetReader?: ParquetReader
}

/** Turns a Parquet answer into a body; `tables` are the user tables the query read. The file is removed after. */
export interface ParquetReader {
  readonly compression: "zstd" | "snappy" | "uncompressed"
  readonly read: (answer: ParquetAnswer) => Stream.Stream<Uint8Array, ExecutionFailed>
}

/** The Parquet file of an answer, its row count and the user tables the query read. */
export interface ParquetAnswer {
  readonly file: string
  readonly rows: number
  readonly tables: ReadonlyArray<TableState>
}

/** Materialised rows of a query, with DuckDB's values. */
export interface QueryRows {
  readonly columns: ReadonlyArray<string>
  readonly rows: ReadonlyArray<ReadonlyArray<DuckDBValue>>
}

/** A result read chunk by chunk while its scope is open (the query's permit and connection are held until then). */
export interface QueryChunks {
  readonly columns: ReadonlyArray<string>
  readonly types: ReadonlyArray<DuckDBType>
  /** The next chunk of rows; null once the result is done. */
  readonly next: Effect.Effect<DuckDBDataChunk | null, InvalidRequest | ExecutionFailed>
}

/** A query's answer: its content type and its body, produced as the client reads it. */
export interface QueryAnswer {
  readonly contentType: string
  readonly body: Stream.Stream<Uint8Array, ExecutionFailed>
  /** The same body whole, when the answer was small enough to be encoded at once (the query is already finished). */
  readonly whole?: Uint8Array
}

const IDLE_CONNECTIONS = 8

/** Plans kept, the longest query text whose plan is kept, and the longest planned SQL kept. */
const PLANS_KEPT = 256
const MAX_PLANNED_TEXT = 16 * 1024
const MAX_KEPT_PLAN_SQL = 64 * 1024

/**
 * Functions the dialect replaces by the time the query was issued (`now()`, `current_timestamp`, …): a plan of a
 * text that may call one is not kept. Text that merely contains the letters (a column `snow`) is planned each time.
 */
const HOLDS_THE_TIME = /now|current_|today|localtime/i

/** DuckDB's error text made into the message a user sees: no internal SQL excerpt, DataFusion's wording where known. */
export const userMessage = (error: unknown): string => {
  const raw = error instanceof Error ? error.message : String(error)
  const text = raw.split(/\n\s*LINE \d+:/)[0]!.trim()
  const column = /^Binder Error: Referenced column "([^"]+)" not found/.exec(text)
  if (column !== null) return `Schema error: No field named ${column[1]}.`
  const fn = /^Catalog Error: Scalar Function with name (\S+) does not exist/.exec(text)
  if (fn !== null) return `Error during planning: Invalid function '${fn[1]}'.`
  const aggregate = /^Catalog Error: Aggregate Function with name (\S+) does not exist/.exec(text)
  if (aggregate !== null) return `Error during planning: Invalid function '${aggregate[1]}'.`
  return `Error during planning: ${text.replace(/^(Binder|Parser|Catalog|Conversion|Invalid Input|Out of Range|Not implemented|Permission) Error: /, "")}`
}

/** Execution errors caused by the query's values (bad casts, ranges) are the user's: 400; the rest are 500. */
const executionFailure = (error: unknown) => {
  const raw = error instanceof Error ? error.message : String(error)
  // A Permission Error is the sandbox refusing something a query named (a file, a setting): the user's, too.
  return /^(Conversion|Invalid Input|Out of Range|Binder|Parser|Catalog|Permission) Error/.test(raw)
    ? new InvalidRequest({ message: userMessage(error) })
    : new ExecutionFailed({ message: `Query execution error: ${raw.split("\n")[0]}` })
}

/** Now, from the Clock, in ns since the epoch (ms resolution). */
/** Every piece of a small answer's body. */
const collect = async (pieces: AsyncIterable<Uint8Array>): Promise<Array<Uint8Array>> => {
  const all: Array<Uint8Array> = []
  for await (const piece of pieces) all.push(piece)
  return all
}

/**
 * Rows a grouped query may read for its answer to be read materialised: its groups are at most these rows, and
 * DuckDB runs a materialised query in parallel where a streamed one is not (3–4 ms of a 10 ms aggregate).
 */
const MATERIALISE_SCANNED_ROWS = 2_000_000

/** Rows of a materialised answer encoded whole, sent with its length in one write (every few-rows answer fits). */
const WHOLE_ANSWER_ROWS = FEW_CACHE_ROWS

/**
 * The query's result read materialised in one round trip, when its shape bounds it (a few rows, or groups of a
 * bounded scan); none otherwise or when it fails (the streaming way then words the error as always).
 */
const runMaterialised = (
  conn: DuckDBConnection,
  translated: Translated,
  record: QueryRecord,
  validity: () => Validity
) =>
  translated.fewRows || (translated.grouped && record.rowsRead <= MATERIALISE_SCANNED_ROWS)
    ? Effect.option(Effect.tryPromise(async () => (await preparedStatement(conn, translated.sql, validity())).run()))
    : Effect.succeed(Option.none<DuckDBMaterializedResult>())

/** The chunks of a materialised result, counted as they are read. */
const materializedSource = (result: DuckDBMaterializedResult, record: QueryRecord): ChunkSource => {
  let index = 0
  return {
    columns: result.columnNames(),
    types: result.columnTypes(),
    next: async () => {
      const chunk = index < result.chunkCount ? result.getChunk(index++) : null
      if (chunk === null || chunk.rowCount === 0) return null
      record.rowsReturned += chunk.rowCount
      return chunk
    }
  }
}

const nowNs = Effect.map(Clock.currentTimeMillis, (ms) => BigInt(ms) * 1_000_000n)
const elapsedNs = (since: bigint) => process.hrtime.bigint() - since

/**
 * The query engine: SQL through the dialect and table rewrite onto DuckDB, results streamed in InfluxDB 3's formats,
 * at most `limit` queries at once (the rest wait), each recorded for `system.queries` and telemetry.
 */
export class QueryEngine extends Effect.Service<QueryEngine>()("strata/QueryEngine", {
  dependencies: [
    Caches.Default,
    Catalog.Default,
    DuckDb.Default,
    Ingester.Default,
    NodeRegistry.Default,
    ParquetMemCache.Default,
    TableSources.Default
  ],
  scoped: Effect.gen(function* () {
    const duck = yield* DuckDb
    const catalog = yield* Catalog
    const ingester = yield* Ingester
    const sources = yield* TableSources
    const caches = yield* Caches
    const config = yield* ServerConfig
    const nodeRegistry = yield* NodeRegistry
    const memCache = yield* ParquetMemCache
    // Optional: a query engine built without the processing engine has no plugin logs to show.
    const engineLogs = Option.getOrUndefined(yield* Effect.serviceOption(EngineLogs))
    const gate = new QueryGate(config.maxConcurrentQueries)
    // The SQL each query runs, at debug level (checked once: annotating a log costs even when it is filtered out).
    const logsPlans = config.logFilter === "debug" || config.logFilter === "trace"
    const log = new QueryLog()
    const duplicates = new DuplicateCheck()
    // The dialect's macros live in the instance's catalog: every connection sees them.
    yield* Effect.tryPromise({
      try: async () => {
        for (const statement of dialectSetupSql) await duck.writer.run(statement)
      },
      catch: engineFailed("the SQL dialect could not be set up")
    })

    const cacheTables = new CacheTables(duck.instance, caches.isLive)
    yield* Effect.addFinalizer(() => Effect.sync(() => cacheTables.close()))
    // What a kept prepared statement must have been prepared under to be reused (see statements.ts).
    const validity = (): Validity => [ingester.buffer.version, cacheTables.version, sources.filesState()]
    const idle: Array<DuckDBConnection> = []
    yield* Effect.addFinalizer(() => Effect.sync(() => idle.splice(0).forEach((c) => c.closeSync())))
    const connection = acquireScoped(
      Effect.tryPromise({
        try: async () => {
          const reused = idle.pop()
          if (reused !== undefined) return reused
          // The time zone (UTC) is the instance's; its settings are locked (see DuckDb).
          return duck.instance.connect()
        },
        catch: (cause) => new ExecutionFailed({ message: `query error: no DuckDB connection: ${String(cause)}`, cause })
      }),
      (conn) =>
        Effect.sync(() => {
          if (idle.length < IDLE_CONNECTIONS) idle.push(conn)
          else conn.closeSync()
        })
    )

    const fail = (record: QueryRecord, started: bigint, scope: Scope.CloseableScope) =>
      Effect.zipRight(
        Effect.sync(() => log.finish(record, "fail", elapsedNs(started))),
        Scope.close(scope, Exit.void)
      )

    /** The live database a query names (404 as InfluxDB 3 words it). */
    const databaseNamed = (name: string) =>
      Effect.flatMap(catalog.current, (state) => {
        const db = liveDatabase(state, name)
        return db === undefined ? Effect.fail(new NotFound({ message: `query error: database not found: ${name}` })) : Effect.succeed(db)
      })

    /** Runs a query: resolves the database, waits for a permit, plans, and starts the answer. */
    const sql = (request: SqlQueryRequest): Effect.Effect<QueryAnswer, NotFound | InvalidRequest | ExecutionFailed> =>
      Effect.gen(function* () {
        const started = process.hrtime.bigint()
        const issuedNs = yield* nowNs
        const db = yield* databaseNamed(request.db)
        const record = request.influxql === undefined ? log.start("sql", request.sql, db.name, issuedNs) : log.start("influxql", request.influxql, db.name, issuedNs)
        const scope = yield* Scope.make()
        const answer =
          yield *
          Effect.gen(function* () {
            const permitStarted = process.hrtime.bigint()
            yield* Scope.extend(gate.permit, scope)
            record.permitNs = elapsedNs(permitStarted)
            record.phase = "permit"
            // The read lease: the buffer flushed, and persisted rows kept in it until this query ends.
            yield* Scope.extend(sources.open, scope)
            const conn = yield* Scope.extend(connection, scope)
            const planStarted = process.hrtime.bigint()
            const translated = yield* plan(
              conn,
              db,
              request.sql,
              request.params,
              (statement) =>
                request.influxql === undefined ? rewriteDialect(statement, { nowNs: issuedNs }) : statement,
              request.influxql === undefined ? "sql" : "influxql"
            )
            record.planNs = elapsedNs(planStarted)
            record.phase = "planned"
            recordScan(record, translated)
            const executeStarted = process.hrtime.bigint()
            const text =
              request.format === "parquet" ? undefined : yield* textBody(conn, translated, request.format, record)
            if (text?.whole !== undefined) {
              // Read and encoded at once: the query is over before the first byte is sent (no stream to drive).
              record.executeNs = elapsedNs(executeStarted)
              record.computeNs = record.executeNs
              log.finish(record, "success", elapsedNs(started))
              yield* Scope.close(scope, Exit.void)
              return {
                contentType: contentTypeOf[request.format],
                body: Stream.succeed(text.whole),
                whole: text.whole
              } satisfies QueryAnswer
            }
            const body =
              request.format === "parquet" || text === undefined
                ? yield* parquetBody(conn, translated.sql, record, request.parquetReader, translated.tables)
                : text.body
            // Reaching the end marks success (unless the encoder failed mid-stream); a client that goes away cancels.
            let reachedEnd = false
            return {
              contentType: contentTypeOf[request.format],
              body: body.pipe(
                Stream.concat(Stream.drain(Stream.fromEffect(Effect.sync(() => (reachedEnd = true))))),
                Stream.ensuring(
                  Effect.zipRight(
                    Effect.sync(() => {
                      record.executeNs = elapsedNs(executeStarted)
                      record.computeNs = record.executeNs
                      log.finish(
                        record,
                        !reachedEnd ? "cancel" : record.phase === "fail" ? "fail" : "success",
                        elapsedNs(started)
                      )
                      // A result left half-read keeps DuckDB's pipeline alive on the connection: stop it before reuse.
                      if (!reachedEnd) conn.interrupt()
                    }),
                    Scope.close(scope, Exit.void)
                  )
                )
              )
            } satisfies QueryAnswer
          }).pipe(
            Effect.tapErrorCause(() => fail(record, started, scope)),
            Effect.onInterrupt(() => fail(record, started, scope))
          )
        return answer
      })

    // Planning a query (its parse tree read, table views built, the tree rendered back to SQL) is ~0.6 ms of the main
    // thread, as much as the rest of a small query's work; dashboards repeat queries over data that has not changed.
    const plans = new KeptWhileValid<{ readonly translated: Translated; readonly scanned: TableView["scanned"] }>(PLANS_KEPT)

    /**
     * Plans SQL on a connection against the database as the catalog has it now (400 when it cannot be planned). A plan
     * made before is reused while everything it was made from is the same: the catalog, the persisted files, the write
     * buffer, the cache tables and, where a table has a retention period, the second the view cuts rows as of. Plans
     * that read virtual tables or caches, or that hold the time (`now()`), are made each time.
     */
    const plan = (
      conn: DuckDBConnection,
      db: DatabaseState,
      sqlText: string,
      params: Readonly<Record<string, Json>>,
      dialect: TranslateInput["dialect"],
      language: "sql" | "influxql"
    ) =>
      Effect.gen(function* () {
        const current = yield* catalog.current
        const currentDb = liveDatabase(current, db.name) ?? db
        const planNs = yield* nowNs
        const view = sources.view(currentDb)
        const planValidity: Validity = [current, ...validity(), view.retentionAsOfMs]
        const key = sqlText.length <= MAX_PLANNED_TEXT && !HOLDS_THE_TIME.test(sqlText)
          ? `${language}\n${currentDb.name}\n${stringifyJson(params)}\n${sqlText}`
          : undefined
        const kept = key === undefined ? undefined : plans.get(key, planValidity)
        if (kept !== undefined) {
          if (logsPlans) yield* Effect.logDebug("query planned (kept plan)").pipe(Effect.annotateLogs("sql", kept.translated.sql))
          scannedFiles.set(kept.translated, kept.scanned)
          return kept.translated
        }
        let reusable = key !== undefined
        let catalogTables: ReadonlyMap<string, VirtualTable> | undefined
        const translated =
          yield *
          Effect.tryPromise({
            catch: (cause) => new ExecutionFailed({ message: `query error: planning failed: ${String(cause)}`, cause }),
            try: () =>
              translate({
                conn,
                sql: sqlText,
                params,
                db: currentDb,
                buffer: view,
                needsMerge: async (tableId) => {
                  const described = ingester.buffer.describe(tableId)
                  return described !== undefined && (await duplicates.needsMerge(conn, tableId, described))
                },
                cacheFunction: async (name, [table, cacheName]) => {
                  reusable = false
                  const kind = name === "last_cache" ? "last" : "distinct"
                  const source = caches.table(current, currentDb.id, kind, table!, cacheName)
                  if ("_tag" in source) return new PlanError({ message: source.message })
                  return { sql: await cacheTables.read(source), rows: source.rows() }
                },
                virtualTable: (qualifiedName) => {
                  const table = (catalogTables ??= virtualTables({
                    state: current,
                    db: currentDb,
                    queries: () => log.of(currentDb.name),
                    files: sources.files,
                    nodes: () => nodeRows(current, nodeRegistry.known(), planNs),
                    engineLogs: () => engineLogs?.of(currentDb.name) ?? []
                  })).get(qualifiedName)
                  if (table !== undefined) reusable = false
                  return table
                },
                dialect
              })
          })
        if ("_tag" in translated) return yield* new InvalidRequest({ message: translated.message })
        if (logsPlans) yield* Effect.logDebug("query planned").pipe(Effect.annotateLogs("sql", translated.sql))
        // The files each table's view chose (file-index pruning), for the query's telemetry.
        scannedFiles.set(translated, view.scanned)
        // A plan over many files (a long read_parquet list) is made again: kept, 256 of them could hold a lot of text.
        if (reusable && translated.sql.length <= MAX_KEPT_PLAN_SQL)
          plans.set(key!, planValidity, { translated, scanned: view.scanned })
        return translated
      })

    const scannedFiles = new WeakMap<Translated, TableView["scanned"]>()
    const recordScan = (record: QueryRecord, translated: Translated) => {
      for (const fn of translated.caches) {
        if (fn === "last_cache") record.lastCacheHits = (record.lastCacheHits ?? 0) + 1
        else record.distinctCacheHits = (record.distinctCacheHits ?? 0) + 1
      }
      for (const table of translated.tables) {
        const described = ingester.buffer.describe(table.id)
        const rows = described?.rows ?? 0
        const scan = sources.scan(table.id, scannedFiles.get(translated)?.get(table.id))
        record.rowsRead += scan.rows
        record.bytesRead += rows * (8 + table.columns.length * 8) + scan.fileBytes
        record.partitions += (rows > 0 ? 1 : 0) + scan.files
        record.filesScanned += scan.files
        record.parquetFiles += scan.files
      }
    }

    /** The text formats: chunks streamed from DuckDB and encoded as they come. The first chunk is fetched before
     * answering, so errors of most queries become a proper status instead of a truncated body. */
    /** A text answer's body; `whole` when it was read and encoded at once. */
    type TextBody = { readonly body: Stream.Stream<Uint8Array, ExecutionFailed>; readonly whole?: Uint8Array }

    /** An answer encoded at once, read whole (a body of one piece). */
    const wholeBody = (source: ChunkSource, format: Exclude<ResultFormat, "parquet">) =>
      Effect.map(
        Effect.tryPromise({ try: () => collect(encodeText(source, format)), catch: executionFailure }),
        (pieces) => {
          const whole = pieces.length === 1 ? pieces[0]! : new Uint8Array(Buffer.concat(pieces))
          return { body: Stream.succeed(whole), whole } as TextBody
        }
      )

    /**
     * A series aggregate answered from its files' columns in memory, with the buffered rows' partial aggregates from
     * DuckDB (ADR 20); undefined while a file is not in memory, or should that fail (DuckDB answers the whole query).
     */
    const fromMemory = (conn: DuckDBConnection, plan: SeriesAggregatePlan) => {
      const decoded = memCache.enabled ? decodePlanFiles(plan, memCache.decoded) : undefined
      if (decoded === undefined) return Effect.succeed(undefined)
      return Effect.tryPromise(async () => {
        let partials: ReadonlyArray<PartialRow> = []
        if (plan.bufferSql !== undefined) {
          const statement = await preparedStatement(conn, plan.bufferSql, validity())
          bufferPartialParameters(plan).forEach((ns, i) => statement.bindBigInt(i + 1, ns))
          partials = await (await statement.run()).getRows()
        }
        return runSeriesAggregate(plan, decoded, partials)
      }).pipe(
        Effect.catchAll((e) =>
          Effect.as(Effect.logWarning(`series aggregate from memory failed, DuckDB answers: ${e.error}`), undefined)
        )
      )
    }

    const textBody = (conn: DuckDBConnection, translated: Translated, format: Exclude<ResultFormat, "parquet">, record: QueryRecord) =>
      Effect.gen(function* () {
        const sqlText = translated.sql
        const plan = translated.seriesAggregate
        const aggregate = plan === undefined ? undefined : yield* fromMemory(conn, plan)
        if (aggregate !== undefined) {
          record.rowsReturned += aggregate.rows
          yield* memCache.answered
          let next = 0
          return yield* wholeBody(
            { columns: aggregate.columns, types: aggregate.types, next: async () => aggregate.chunks[next++] ?? null },
            format
          )
        }
        const read = yield* runMaterialised(conn, translated, record, validity)
        let source: ChunkSource
        if (Option.isSome(read)) {
          source = materializedSource(read.value, record)
          if (read.value.rowCount <= WHOLE_ANSWER_ROWS) return yield* wholeBody(source, format)
        } else {
          const prepared =
            yield *
            Effect.tryPromise({
              try: () => preparedStatement(conn, sqlText, validity()),
              catch: (e) => new InvalidRequest({ message: userMessage(e) })
            })
          const result = yield* Effect.tryPromise({ try: () => prepared.stream(), catch: executionFailure })
          let pending: DuckDBDataChunk | null =
            yield * Effect.tryPromise({ try: () => result.fetchChunk(), catch: executionFailure })
          source = {
            columns: result.columnNames(),
            types: result.columnTypes(),
            next: async () => {
              const chunk = pending ?? (await result.fetchChunk())
              pending = null
              if (chunk === null || chunk.rowCount === 0) return null
              record.rowsReturned += chunk.rowCount
              return chunk
            }
          }
        }
        const body = Stream.fromAsyncIterable(encodeText(source, format), executionFailure).pipe(
          Stream.catchAll((e) =>
            Stream.fromEffect(
              Effect.zipRight(
                Effect.sync(() => (record.phase = "fail")),
                Effect.logWarning(`query failed while streaming: ${e.message}`)
              )
            ).pipe(Stream.drain)
          )
        )
        return { body } as TextBody
      })

    /**
     * DuckDB writes a result as one Parquet file in the answers directory (the only one it may write); the caller
     * removes it.
     */
    const copyToParquet = (conn: DuckDBConnection, sqlText: string, compression: ParquetReader["compression"] = "zstd") =>
      Effect.gen(function* () {
        const file = Path.join(duck.answersDir, `${Crypto.randomUUID()}.parquet`)
        const remove = Effect.sync(() => Fs.rmSync(file, { force: true }))
        const copied = yield* Effect.tryPromise({
          try: () => conn.runAndReadAll(`COPY (${sqlText}) TO '${file.replace(/'/g, "''")}' (FORMAT parquet, COMPRESSION ${compression})`),
          catch: executionFailure
        }).pipe(Effect.tapError(() => remove))
        return { file, rows: Number(copied.getRows()[0]?.[0] ?? 0), remove }
      })

    /** Parquet: the result file is streamed, then removed; an empty result is an empty body. */
    const parquetBody = (
      conn: DuckDBConnection,
      sqlText: string,
      record: QueryRecord,
      reader?: ParquetReader,
      tables: ReadonlyArray<TableState> = []
    ) =>
      Effect.map(copyToParquet(conn, sqlText, reader?.compression), ({ file, rows, remove }) => {
        record.rowsReturned = rows
        if (reader !== undefined) return reader.read({ file, rows, tables }).pipe(Stream.ensuring(remove))
        if (rows === 0) return Stream.empty.pipe(Stream.ensuring(remove))
        return Stream.fromAsyncIterable(
          Fs.createReadStream(file, { highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>,
          executionFailure
        ).pipe(
          Stream.map((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)),
          Stream.catchAll(() => Stream.empty),
          Stream.ensuring(remove)
        )
      })

    /** Small, already-materialised rows (catalog listings) as one Parquet file; empty when there are no rows. */
    const rowsAsParquet = (table: VirtualTable): Effect.Effect<Uint8Array, InvalidRequest | ExecutionFailed> =>
      Effect.scoped(
        Effect.gen(function* () {
          if (table.rows().length === 0) return new Uint8Array(0)
          const { file, remove } = yield* copyToParquet(yield* connection, virtualTableSql(table))
          return yield* Effect.ensuring(Effect.sync(() => new Uint8Array(Fs.readFileSync(file))), remove)
        })
      )

    /**
     * Runs DuckDB SQL planned from InfluxQL (tables resolved, no dialect rewrite) and reads its result chunk by chunk
     * for the scope's lifetime. The first chunk is fetched here, so most execution errors fail this effect.
     */
    const chunks = (
      db: string,
      sqlText: string,
      influxql: string
    ): Effect.Effect<QueryChunks, NotFound | InvalidRequest | ExecutionFailed, Scope.Scope> =>
      Effect.gen(function* () {
        const started = process.hrtime.bigint()
        const database = yield* databaseNamed(db)
        const record = log.start("influxql", influxql, database.name, yield* nowNs)
        let outcome: "success" | "fail" | "cancel" = "cancel"
        yield* addPlainFinalizer(Effect.sync(() => log.finish(record, outcome, elapsedNs(started))))
        const failed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
          Effect.tapErrorCause(effect, () => Effect.sync(() => (outcome = "fail")))
        return yield* failed(
          Effect.gen(function* () {
            yield* gate.permit
            yield* sources.open
            const conn = yield* connection
            // A result left half-read keeps DuckDB's pipeline alive on the connection: stop it before reuse.
            yield* addPlainFinalizer(Effect.sync(() => void (outcome !== "success" && conn.interrupt())))
            const translated = yield* plan(conn, database, sqlText, {}, (statement) => statement, "influxql")
            recordScan(record, translated)
            const materialised = yield* runMaterialised(conn, translated, record, validity)
            if (Option.isSome(materialised)) {
              const source = materializedSource(materialised.value, record)
              const next = Effect.map(Effect.promise(source.next), (chunk) => {
                if (chunk === null) outcome = "success"
                return chunk
              })
              return { columns: source.columns, types: source.types, next } satisfies QueryChunks
            }
            const prepared = yield* Effect.tryPromise({
              try: () => preparedStatement(conn, translated.sql, validity()),
              catch: executionFailure
            })
            const result = yield* Effect.tryPromise({ try: () => prepared.stream(), catch: executionFailure })
            let pending: DuckDBDataChunk | null = yield* Effect.tryPromise({
              try: () => result.fetchChunk(),
              catch: executionFailure
            })
            const fetch = Effect.tryPromise({ try: () => result.fetchChunk(), catch: executionFailure })
            const next = Effect.map(
              Effect.suspend(() => {
                const chunk = pending
                pending = null
                return chunk !== null ? Effect.succeed(chunk) : fetch
              }),
              (chunk) => {
                if (chunk === null || chunk.rowCount === 0) {
                  outcome = "success"
                  return null
                }
                record.rowsReturned += chunk.rowCount
                return chunk
              }
            )
            return {
              columns: result.columnNames(),
              types: result.columnTypes(),
              next: failed(next)
            } satisfies QueryChunks
          })
        )
      })

    /** Runs DuckDB SQL planned from InfluxQL and reads its rows whole (small answers). */
    const rows = (
      db: string,
      sqlText: string,
      influxql: string
    ): Effect.Effect<QueryRows, NotFound | InvalidRequest | ExecutionFailed> =>
      Effect.scoped(
        Effect.gen(function* () {
          const result = yield* chunks(db, sqlText, influxql)
          const rows: Array<ReadonlyArray<DuckDBValue>> = []
          for (let chunk = yield* result.next; chunk !== null; chunk = yield* result.next) rows.push(...chunk.getRows())
          return { columns: result.columns, rows }
        })
      )

    return {
      sql,
      chunks,
      rows,
      rowsAsParquet,
      gate,
      log
    } as const
  })
}) {}
