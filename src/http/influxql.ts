import { DuckDBTimestampNanosecondsValue, DuckDBTypeId, type DuckDBDataChunk, type DuckDBType, type DuckDBValue } from "@duckdb/node-api"
import { HttpServerResponse } from "@effect/platform"
import { Clock, Data, Effect, Either, Mailbox, Stream } from "effect"
import { mayRead } from "../auth/authenticate.ts"
import { Catalog } from "../catalog/Catalog.ts"
import { INTERNAL_DB, liveDatabase, type CatalogState } from "../catalog/state.ts"
import { ServerConfig } from "../config.ts"
import { type Forbidden, InvalidRequest, NotFound } from "../errors.ts"
import { analysisRowsSql } from "../influxql/analysis.ts"
import type { SelectStatement, Statement } from "../influxql/ast.ts"
import { boundParams, boundParamsOf, isParseError, parseInfluxQl, type BoundParams } from "../influxql/parser.ts"
import { planSelect, sourceDatabase, type SelectPlan } from "../influxql/planner.ts"
import { planShow, planShowDatabases, planShowRetentionPolicies, showDatabase, type ShowPlan } from "../influxql/show.ts"
import { epochDivisor, v1AnswerEncoder, type TimeFormat, type V1AnswerEncoder, type V1Cell } from "../influxql/v1.ts"
import { QueryEngine, type SqlQueryRequest } from "../query/QueryEngine.ts"
import { readBody, readJsonBody, readQueryParams } from "./body.ts"
import { resultFormat } from "./format.ts"
import { anyToken, type RequestContext, type RouteDef } from "./route.ts"
import { QueryBody, QueryStringParams } from "./query.ts"
import { sqlIdentifier as quoteIdent } from "../query/literal.ts"

/**
 * InfluxQL over HTTP: the v1 `/query` endpoint (series JSON, CSV, MessagePack, chunks, errors inside a 200), its
 * answers written as DuckDB's chunks arrive so other requests are served meanwhile, and InfluxDB 3's
 * `/api/v3/query_influxql` (flat rows with `iox::measurement`, encoded like query_sql).
 */

const NO_DB = "must specify a 'db' parameter, or provide the database in the InfluxQL query"
const dbNotFound = (name: string) => `Cannot retrieve database: External error: database not found: ${name}`

/** A failure of one statement: v1 reports it inside the results, v3 as the answer's status. */
class StatementError extends Data.TaggedError("StatementError")<{ readonly message: string; readonly status: 400 | 404 }> {}

/** A statement that cannot run: 400 unless it names a database that does not exist (404). */
const statementError = (message: string, status: 400 | 404 = 400) => new StatementError({ message, status })

/** What running one statement needs: the planned SQL and how to shape its rows. */
type Planned =
  | { readonly _tag: "PlannedSelect"; readonly db: string; readonly plan: SelectPlan; readonly stmt: SelectStatement }
  | { readonly _tag: "PlannedShow"; readonly db: string; readonly plan: ShowPlan }

/**
 * Plans one statement against the catalog; `v1` picks the v1 forms of the catalog listings, which list only the
 * databases `visible` admits (those the token may read).
 */
const planStatement = (
  stmt: Statement,
  dbParam: string | undefined,
  state: CatalogState,
  nowNs: bigint,
  v1: boolean,
  visible: (db: string) => boolean
): Planned | StatementError => {
  switch (stmt._tag) {
    case "showDatabases":
      return { _tag: "PlannedShow", db: INTERNAL_DB, plan: planShowDatabases(state, v1, visible) }
    case "showRetentionPolicies": {
      const name = stmt.on ?? dbParam
      if (name === undefined) {
        if (v1) return statementError(NO_DB)
        return { _tag: "PlannedShow", db: INTERNAL_DB, plan: planShowRetentionPolicies(state, undefined, v1, visible) }
      }
      const db = liveDatabase(state, name)
      if (db === undefined)
        return statementError(`datafusion error: Error during planning: database not found: ${name}`, 404)
      return { _tag: "PlannedShow", db: INTERNAL_DB, plan: planShowRetentionPolicies(state, db, v1, visible) }
    }
    case "select": {
      const name = sourceDatabase(stmt.sources) ?? dbParam
      if (name === undefined) return statementError(NO_DB)
      const db = liveDatabase(state, name)
      if (db === undefined) return statementError(dbNotFound(name), 404)
      const plan = planSelect(stmt, db, nowNs)
      if (plan._tag === "PlanFailure") return statementError(plan.message)
      return { _tag: "PlannedSelect", db: name, plan, stmt }
    }
    default: {
      const name = showDatabase(stmt) ?? dbParam
      if (name === undefined) return statementError(NO_DB)
      const db = liveDatabase(state, name)
      if (db === undefined) return statementError(dbNotFound(name), 404)
      const plan = planShow(stmt, db)
      if (plan._tag === "ShowFailure") return statementError(plan.message)
      return { _tag: "PlannedShow", db: name, plan }
    }
  }
}

const cellOf = (v: DuckDBValue): V1Cell => {
  if (v === null || typeof v === "string" || typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") return v
  if (v instanceof DuckDBTimestampNanosecondsValue) return { timeNs: v.nanos }
  return String(v)
}

/** A vector's typed items and validity, for the fixed-width columns read without a value object per cell. */
interface RawVector {
  readonly items: Float64Array | BigInt64Array
  readonly validity: { itemValid(i: number): boolean }
}

const rawItems = (v: unknown): RawVector | undefined => {
  const items = (v as { items?: unknown }).items
  return items instanceof Float64Array || items instanceof BigInt64Array ? (v as RawVector) : undefined
}

/** One column of a chunk as v1 cells (times as TimeCells, the rest as `cellOf` gives them). */
const columnCells = (chunk: DuckDBDataChunk, column: number, type: DuckDBType): Array<V1Cell> => {
  const n = chunk.rowCount
  const vector = chunk.getColumnVector(column)
  const out: Array<V1Cell> = new Array(n)
  const raw = rawItems(vector)
  if (raw !== undefined && raw.items instanceof BigInt64Array && type.typeId === DuckDBTypeId.TIMESTAMP_NS) {
    for (let r = 0; r < n; r++) out[r] = raw.validity.itemValid(r) ? { timeNs: raw.items[r]! } : null
  } else if (raw !== undefined && (type.typeId === DuckDBTypeId.DOUBLE || type.typeId === DuckDBTypeId.BIGINT)) {
    for (let r = 0; r < n; r++) out[r] = raw.validity.itemValid(r) ? raw.items[r]! : null
  } else {
    for (let r = 0; r < n; r++) out[r] = cellOf(vector.getItem(r))
  }
  return out
}

const columnValues = (chunk: DuckDBDataChunk, column: number): Array<DuckDBValue> => {
  const vector = chunk.getColumnVector(column)
  const out: Array<DuckDBValue> = new Array(chunk.rowCount)
  for (let r = 0; r < out.length; r++) out[r] = vector.getItem(r)
  return out
}

/**
 * Runs a plan's stages (1.x's point-by-point functions, computed here between two SQL steps) and answers the plan
 * with each stage's answers written into the SQL that reads them.
 */
const resolveStages = (engine: QueryEngine, db: string, plan: SelectPlan, text: string) =>
  Effect.gen(function* () {
    if (plan.stages.length === 0) return plan
    const answers = new Map<string, string>()
    const substitute = (sql: string) => sql.replace(/\b__strata_stage_\d+\b/g, (id) => answers.get(id) ?? id)
    for (const stage of plan.stages) {
      const points = yield* Effect.scoped(
        Effect.gen(function* () {
          const result = yield* engine.chunks(db, substitute(stage.sql), text)
          const tags: Array<Array<string>> = Array.from({ length: stage.tags }, () => [])
          const times: Array<bigint> = []
          const values: Array<number> = []
          for (let chunk = yield* result.next; chunk !== null; chunk = yield* result.next) {
            for (let g = 0; g < stage.tags; g++) for (const v of columnValues(chunk, g)) tags[g]!.push(String(v ?? ""))
            for (const v of columnValues(chunk, stage.tags)) times.push(v as bigint)
            for (const v of columnValues(chunk, stage.tags + 1)) values.push(v as number)
          }
          return { tags, times, values }
        })
      )
      answers.set(stage.id, analysisRowsSql(stage.args, points))
    }
    return { ...plan, queries: plan.queries.map((query) => ({ ...query, sql: substitute(query.sql) })) }
  })

/** Hands encoded pieces of the answer to the response, waiting while the client is behind. */
type Send = (pieces: ReadonlyArray<Uint8Array>) => Effect.Effect<void>

/**
 * Runs a planned statement for v1, chunk by chunk: rows are grouped into series (a new one when the series key
 * changes) and handed to the encoder, whose output is sent after each chunk.
 */
const answerV1 = (engine: QueryEngine, planned: Planned, text: string, encoder: V1AnswerEncoder, send: Send) =>
  Effect.gen(function* () {
    if (planned._tag === "PlannedSelect") {
      const columns = ["time", ...planned.plan.columns]
      const plan = yield* resolveStages(engine, planned.db, planned.plan, text)
      for (const query of plan.queries) {
        if (!encoder.wantsRows) return
        yield* Effect.scoped(
          Effect.gen(function* () {
            const result = yield* engine.chunks(planned.db, query.sql, text)
            const nTags = query.tags.length
            let key: Array<DuckDBValue> | undefined
            for (let chunk = yield* result.next; chunk !== null && encoder.wantsRows; chunk = yield* result.next) {
              const n = chunk.rowCount
              const tagColumns = query.tags.map((_, i) => columnValues(chunk!, 2 + i))
              const cells = [columnCells(chunk, 1, result.types[1]!)]
              for (let c = 2 + nTags; c < result.columns.length; c++)
                cells.push(columnCells(chunk, c, result.types[c]!))
              let start = 0
              for (let r = 0; r < n; r++) {
                if (key !== undefined && tagColumns.every((column, i) => column[r] === key![i])) continue
                if (r > start) encoder.rows(cells, start, r)
                key = tagColumns.map((column) => column[r]!)
                const tags: Record<string, string> = {}
                query.tags.forEach((t, i) => (tags[t] = String(key![i] ?? "")))
                encoder.series({ name: query.measurement, ...(nTags > 0 ? { tags } : {}), columns })
                start = r
              }
              if (n > start) encoder.rows(cells, start, n)
              yield* send(encoder.take())
            }
          })
        )
      }
      return
    }
    const plan = planned.plan
    yield* Effect.scoped(
      Effect.gen(function* () {
        const result = yield* engine.chunks(planned.db, plan.sql, text)
        const from = (plan.v1From ?? plan.v1Columns).map((c) => result.columns.indexOf(c))
        let rows = 0
        let name: DuckDBValue | undefined
        for (let chunk = yield* result.next; chunk !== null; chunk = yield* result.next) {
          const n = chunk.rowCount
          const cells = from.map((i) =>
            i < 0 ? new Array<V1Cell>(n).fill(null) : columnCells(chunk!, i, result.types[i]!)
          )
          if (plan.seriesName !== undefined) {
            if (rows === 0)
              encoder.series({
                ...(plan.seriesName === null ? {} : { name: plan.seriesName }),
                columns: plan.v1Columns
              })
            encoder.rows(cells, 0, n)
          } else {
            // Catalog listings: a series per measurement (the first column).
            const names = columnValues(chunk, 0)
            let start = 0
            for (let r = 0; r < n; r++) {
              if (rows + r > 0 && names[r] === name) continue
              if (r > start) encoder.rows(cells, start, r)
              name = names[r]!
              encoder.series({ name: String(name), columns: plan.v1Columns })
              start = r
            }
            if (n > start) encoder.rows(cells, start, n)
          }
          rows += n
          yield* send(encoder.take())
        }
        if (rows === 0 && plan.seriesName === "databases") encoder.series({ name: plan.seriesName, columns: plan.v1Columns })
      })
    )
  })

/** The v1 answer to planned statements, written into `encoder` and sent as it is produced. */
const answerStatements = (
  engine: QueryEngine,
  statements: ReadonlyArray<V1Statement>,
  text: string,
  encoder: V1AnswerEncoder,
  send: Send
) =>
  Effect.gen(function* () {
    for (const statement of statements) {
      encoder.statement(statement.id, statement.zone)
      if (statement.planned._tag === "StatementError") encoder.fail(statement.planned.message)
      else if (encoder.wantsRows) {
        const outcome = yield* Effect.either(answerV1(engine, statement.planned, text, encoder, send))
        if (Either.isLeft(outcome)) encoder.fail(cleanError(outcome.left.message))
      }
      encoder.endStatement()
      yield* send(encoder.take())
    }
    encoder.end()
    yield* send(encoder.take())
  })

/** One statement of a v1 request, planned (or refused) before the answer starts. */
interface V1Statement {
  readonly id: number
  /** Its `tz()` clause. */
  readonly zone: string | undefined
  readonly planned: Planned | StatementError
}

/** The database a statement reads; none for the catalog-wide listings (SHOW DATABASES, v3 SHOW RETENTION POLICIES). */
const statementDb = (stmt: Statement, dbParam: string | undefined): string | undefined => {
  switch (stmt._tag) {
    case "showDatabases":
      return undefined
    case "showRetentionPolicies":
      return stmt.on ?? dbParam
    case "select":
      return sourceDatabase(stmt.sources) ?? dbParam
    default:
      return showDatabase(stmt) ?? dbParam
  }
}

/**
 * Authorizes reading the statement's database before planning, so a 404 does not tell a token which databases exist.
 */
const authorizeFor = (ctx: Pick<RequestContext, "authorize">, stmt: Statement, dbParam: string | undefined): Effect.Effect<void, Forbidden> => {
  const db = statementDb(stmt, dbParam)
  return db === undefined ? Effect.void : ctx.authorize({ _tag: "db", action: "read", db })
}

// ---------------------------------------------------------------------------------------------------------------
// v1 /query

/** Pieces of a v1 answer (about 64 KB each) produced ahead of what the client has read. */
const ANSWER_PIECES_AHEAD = 16

const v1Error = (status: number, message: string) => HttpServerResponse.unsafeJson({ error: message }, { status })

interface V1Params {
  readonly q: string | undefined
  readonly db: string | undefined
  readonly epoch: string | undefined
  readonly chunked: string | undefined
  readonly chunkSize: string | undefined
  readonly pretty: string | undefined
  /** A JSON object of values for `$name` parameters. */
  readonly params: string | undefined
}

const paramsFrom = (p: URLSearchParams | FormData, fallback?: V1Params): V1Params => {
  const get = (k: string) => {
    const v = p.get(k)
    return typeof v === "string" ? v : undefined
  }
  return {
    q: get("q") ?? fallback?.q,
    db: get("db") ?? fallback?.db,
    epoch: get("epoch") ?? fallback?.epoch,
    chunked: get("chunked") ?? fallback?.chunked,
    chunkSize: get("chunk_size") ?? fallback?.chunkSize,
    pretty: get("pretty") ?? fallback?.pretty,
    params: get("params") ?? fallback?.params
  }
}

/** The answer format from Accept: json (also `*` and absent), csv, msgpack; anything else is refused. */
const v1Format = (accept: string | undefined): "json" | "csv" | "msgpack" | { readonly refused: string } => {
  if (accept === undefined || accept.trim() === "") return "json"
  for (const part of accept.split(",")) {
    const mime = part.split(";")[0]!.trim().toLowerCase()
    if (mime === "application/json" || mime === "*/*") return "json"
    if (mime === "application/csv" || mime === "text/csv") return "csv"
    if (mime === "application/x-msgpack") return "msgpack"
  }
  return { refused: accept }
}

const readV1Params = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const fromUrl = paramsFrom(ctx.query)
    if (ctx.request.method !== "POST") return fromUrl
    const config = yield* ServerConfig
    const contentType = (ctx.request.headers["content-type"] ?? "").trim()
    const mime = contentType.split(";")[0]!.trim().toLowerCase()
    const body = yield* readBody(ctx.request, config.maxHttpRequestSize)
    if (mime === "application/x-www-form-urlencoded") return paramsFrom(new URLSearchParams(body.toString("utf8")), fromUrl)
    if (mime === "multipart/form-data") {
      const form = yield* Effect.tryPromise({
        try: () => new Response(body, { headers: { "content-type": contentType } }).formData(),
        catch: () => new InvalidRequest({ message: "invalid multipart/form-data body" })
      })
      return paramsFrom(form, fromUrl)
    }
    if (mime === "" || mime === "application/vnd.influxql") {
      const text = body.toString("utf8")
      return fromUrl.q === undefined && text.trim() !== "" ? { ...fromUrl, q: text } : fromUrl
    }
    return yield* new InvalidRequest({ message: `invalid mime type (${contentType})` })
  })

const v1Query = (ctx: RequestContext) =>
  Effect.gen(function* () {
    if (ctx.request.method === "GET" && [...ctx.query.keys()].length === 0) return v1Error(400, "missing query parameters 'db' and 'q'")
    const format = v1Format(ctx.request.headers["accept"])
    if (typeof format === "object") return v1Error(400, `invalid mime type (${format.refused})`)
    const params = yield* Effect.either(readV1Params(ctx))
    if (params._tag === "Left") {
      const e = params.left
      return v1Error(e._tag === "PayloadTooLarge" ? 413 : 400, e.message)
    }
    const p = params.right
    if (p.q === undefined || p.q.trim() === "") return v1Error(400, "expected a query to be provided in the query string or body")
    let time: TimeFormat = format === "csv" ? { _tag: "epoch", divisor: 1n } : { _tag: "rfc3339" }
    if (p.epoch !== undefined && p.epoch !== "") {
      const divisor = epochDivisor(p.epoch)
      if (divisor === undefined) return v1Error(400, `invalid epoch parameter '${p.epoch}': expected one of ns, u, µ, ms, s, m, h`)
      time = { _tag: "epoch", divisor }
    }
    const chunked = p.chunked === "true"
    let chunkSize = 10_000
    if (p.chunkSize !== undefined && p.chunkSize !== "") {
      const n = Number(p.chunkSize)
      if (!Number.isInteger(n) || n <= 0) return v1Error(400, `invalid chunk_size parameter '${p.chunkSize}': expected a positive integer`)
      chunkSize = n
    }
    const pretty = p.pretty === "true"
    const db = p.db === undefined || p.db === "" ? undefined : p.db

    const bound = p.params === undefined || p.params === "" ? Either.right({}) : boundParams(p.params)
    if (Either.isLeft(bound)) return v1Error(400, bound.left)
    const parsed = parseInfluxQl(p.q, bound.right)
    const statements: Array<V1Statement> = []
    if (isParseError(parsed)) {
      statements.push({ id: 0, zone: undefined, planned: statementError(`error parsing query: ${parsed.message}`) })
    } else {
      const state = yield* (yield* Catalog).current
      const nowNs = BigInt(yield* Clock.currentTimeMillis) * 1_000_000n
      // Every statement is authorized before the answer starts: a refusal is a 403, never a cut-off 200.
      for (const stmt of parsed) yield* authorizeFor(ctx, stmt, db)
      for (const [id, stmt] of parsed.entries()) {
        const planned = planStatement(stmt, db, state, nowNs, true, (name) => mayRead(ctx.token, name))
        statements.push({ id, zone: stmt._tag === "select" ? stmt.tz : undefined, planned })
      }
    }
    const engine = yield* QueryEngine
    const encoder = v1AnswerEncoder({ format, time, pretty, ...(chunked && format !== "csv" ? { chunkSize } : {}) })
    const q = p.q
    // The answer is produced by its own fiber, a chunk of rows at a time, while the response sends what is ready.
    const body = Stream.unwrapScoped(
      Effect.gen(function* () {
        const mailbox = yield* Mailbox.make<Uint8Array>(ANSWER_PIECES_AHEAD)
        const send: Send = (pieces) => (pieces.length === 0 ? Effect.void : Effect.asVoid(mailbox.offerAll(pieces)))
        yield* Effect.forkScoped(Mailbox.into(answerStatements(engine, statements, q, encoder, send), mailbox))
        return Mailbox.toStream(mailbox)
      })
    )
    return HttpServerResponse.stream(body, { status: 200, contentType: format === "csv" ? "application/csv" : format === "msgpack" ? "application/x-msgpack" : "application/json" })
  })

/** Execution errors from DuckDB's `error()` (bucket limits) without the engine's prefix. */
const cleanError = (message: string) => message.replace(/^Error during planning: /, "").replace(/^Query execution error: Invalid Input Error: /, "")

// ---------------------------------------------------------------------------------------------------------------
// v3 /api/v3/query_influxql

/** One SQL over every measurement's query: flat rows, `iox::measurement`, `time`, grouping tags, then the columns. */
const flatSelectSql = (planned: Extract<Planned, { _tag: "PlannedSelect" }>) => {
  const { plan, stmt } = planned
  const tags = [...new Set(plan.queries.flatMap((query) => query.tags))].sort()
  const columns = ['"iox::measurement"', '"time"', ...tags.map(quoteIdent), ...plan.columns.map(quoteIdent)]
  if (plan.queries.length === 0) {
    return `SELECT CAST(NULL AS VARCHAR) AS "iox::measurement", CAST(NULL AS TIMESTAMP_NS) AS "time"${plan.columns.map((c) => `, CAST(NULL AS DOUBLE) AS ${quoteIdent(c)}`).join("")} WHERE false`
  }
  const union = plan.queries.map((query) => `SELECT * FROM (${query.sql})`).join(" UNION ALL BY NAME ")
  const order = ['"iox::measurement"', ...tags.map((t) => `${quoteIdent(t)} NULLS FIRST`), `"time" ${stmt.descending ? "DESC" : "ASC"}`]
  return `SELECT ${columns.join(", ")} FROM (${union}) ORDER BY ${order.join(", ")}`
}

const runV3 = (
  ctx: RequestContext,
  db: string | undefined,
  q: string | undefined,
  format: string | undefined,
  params: Either.Either<BoundParams, string>
) =>
  Effect.gen(function* () {
    if ((db === undefined || db === "") && (q === undefined || q === ""))
      return yield* new InvalidRequest({ message: "missing query parameters 'db' and 'q'" })
    if (q === undefined || q.trim() === "") return yield* new InvalidRequest({ message: "missing query parameter 'q'" })
    if (Either.isLeft(params)) return yield* new InvalidRequest({ message: params.left })
    const resolved = yield* resultFormat(ctx.request.headers["accept"], format)
    const answer = yield* influxqlV3Answer(ctx, db, q, params.right, { format: resolved })
    return HttpServerResponse.stream(answer.body, { contentType: answer.contentType, status: 200 })
  })

/**
 * One InfluxQL statement answered as InfluxDB 3 answers it (flat rows with `iox::measurement`), in the format
 * `answer` asks for: /api/v3/query_influxql and Arrow Flight's InfluxQL tickets.
 */
export const influxqlV3Answer = (
  ctx: Pick<RequestContext, "token" | "authorize">,
  db: string | undefined,
  q: string,
  params: BoundParams,
  answer: Pick<SqlQueryRequest, "format" | "parquetReader">
) =>
  Effect.gen(function* () {
    const parsed = parseInfluxQl(q, params)
    if (isParseError(parsed)) return yield* new InvalidRequest({ message: `error in InfluxQL statement: parsing error: ${parsed.message}` })
    if (parsed.length !== 1) return yield* new InvalidRequest({ message: "must provide only one InfluxQl statement per query" })
    const stmt = parsed[0]!
    const named = stmt._tag === "select" ? sourceDatabase(stmt.sources) : stmt._tag === "showDatabases" ? undefined : showDatabase(stmt)
    const dbParam = db === undefined || db === "" ? undefined : db
    if (named !== undefined && dbParam !== undefined && named !== dbParam) {
      return yield* new InvalidRequest({ message: `the database in the query (${named}) does not match the db parameter (${dbParam})` })
    }
    const state = yield* (yield* Catalog).current
    const nowNs = BigInt(yield* Clock.currentTimeMillis) * 1_000_000n
    yield* authorizeFor(ctx, stmt, dbParam)
    const planned = planStatement(stmt, dbParam, state, nowNs, false, (name) => mayRead(ctx.token, name))
    if (planned._tag === "StatementError") {
      return yield* planned.status === 404 ? new NotFound({ message: `query error: ${planned.message.replace(/^.*database not found/, "database not found")}` }) : new InvalidRequest({ message: planned.message })
    }
    const engine = yield* QueryEngine
    const sql = planned._tag === "PlannedSelect" ? flatSelectSql({ ...planned, plan: yield* resolveStages(engine, planned.db, planned.plan, q) }) : planned.plan.sql
    return yield* engine.sql({ db: planned.db, sql, params: {}, influxql: q, ...answer })
  })

const v3Get = (ctx: RequestContext) =>
  Effect.flatMap(readQueryParams(ctx.query, QueryStringParams), (p) =>
    runV3(ctx, p.db, p.q, p.format, p.params === undefined || p.params === "" ? Either.right({}) : boundParams(p.params))
  )

const v3Post = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const config = yield* ServerConfig
    const body = yield* readJsonBody(ctx.request, QueryBody, config.maxHttpRequestSize)
    const p = yield* readQueryParams(ctx.query, QueryStringParams)
    return yield* runV3(ctx, body.db ?? p.db, body.q ?? p.q, body.format ?? p.format, boundParamsOf(body.params))
  })

/** The InfluxQL endpoints. */
export const influxqlRoutes: ReadonlyArray<RouteDef> = [
  { method: "GET", path: "/query", access: anyToken, queryToken: true, handler: v1Query },
  { method: "POST", path: "/query", access: anyToken, queryToken: true, handler: v1Query },
  { method: "GET", path: "/api/v3/query_influxql", access: anyToken, handler: v3Get },
  { method: "POST", path: "/api/v3/query_influxql", access: anyToken, handler: v3Post }
]

