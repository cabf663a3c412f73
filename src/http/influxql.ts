import { DuckDBTimestampNanosecondsValue, type DuckDBValue } from "@duckdb/node-api"
import { HttpServerResponse } from "@effect/platform"
import { Clock, Effect, Either, Schema, Stream } from "effect"
import { mayRead } from "../auth/authenticate.ts"
import { Catalog } from "../catalog/Catalog.ts"
import { INTERNAL_DB, liveDatabase, type CatalogState } from "../catalog/state.ts"
import { ServerConfig } from "../config.ts"
import { type Forbidden, InvalidRequest, NotFound } from "../errors.ts"
import type { SelectStatement, Statement } from "../influxql/ast.ts"
import { boundParams, boundParamsOf, isParseError, parseInfluxQl, type BoundParams } from "../influxql/parser.ts"
import { planSelect, sourceDatabase, type SelectPlan } from "../influxql/planner.ts"
import { planShow, planShowDatabases, planShowRetentionPolicies, showDatabase, type ShowPlan } from "../influxql/show.ts"
import { chunkResults, epochDivisor, resultsCsv, resultsJson, resultsMsgPack, type TimeFormat, type V1Cell, type V1Result, type V1Series } from "../influxql/v1.ts"
import { QueryEngine } from "../query/QueryEngine.ts"
import { readBody, readJsonBody } from "./body.ts"
import { resultFormat } from "./format.ts"
import { anyToken, type RequestContext, type RouteDef } from "./route.ts"

/**
 * InfluxQL over HTTP: the v1 `/query` endpoint (series JSON, CSV, chunks, errors inside a 200) and InfluxDB 3's
 * `/api/v3/query_influxql` (flat rows with `iox::measurement`, encoded like query_sql).
 */

const NO_DB = "must specify a 'db' parameter, or provide the database in the InfluxQL query"
const dbNotFound = (name: string) => `Cannot retrieve database: External error: database not found: ${name}`

/** A failure of one statement: v1 reports it inside the results, v3 as the answer's status. */
class StatementError {
  readonly _tag = "StatementError"
  constructor(
    readonly message: string,
    readonly status: 400 | 404 = 400
  ) {}
}

/** What running one statement needs: the planned SQL and how to shape its rows. */
type Planned =
  | { readonly kind: "select"; readonly db: string; readonly plan: SelectPlan; readonly stmt: SelectStatement }
  | { readonly kind: "show"; readonly db: string; readonly plan: ShowPlan }

/**
 * Plans one statement against the catalog; `v1` picks the v1 forms of the catalog listings, which list only the
 * databases `visible` admits (those the token may read).
 */
const planStatement = (stmt: Statement, dbParam: string | undefined, state: CatalogState, nowNs: bigint, v1: boolean, visible: (db: string) => boolean): Planned | StatementError => {
  switch (stmt.kind) {
    case "showDatabases":
      return { kind: "show", db: INTERNAL_DB, plan: planShowDatabases(state, v1, visible) }
    case "showRetentionPolicies": {
      const name = stmt.on ?? dbParam
      if (name === undefined) {
        if (v1) return new StatementError(NO_DB)
        return { kind: "show", db: INTERNAL_DB, plan: planShowRetentionPolicies(state, undefined, v1, visible) }
      }
      const db = liveDatabase(state, name)
      if (db === undefined) return new StatementError(`datafusion error: Error during planning: database not found: ${name}`, 404)
      return { kind: "show", db: INTERNAL_DB, plan: planShowRetentionPolicies(state, db, v1, visible) }
    }
    case "select": {
      const name = sourceDatabase(stmt.sources) ?? dbParam
      if (name === undefined) return new StatementError(NO_DB)
      const db = liveDatabase(state, name)
      if (db === undefined) return new StatementError(dbNotFound(name), 404)
      const plan = planSelect(stmt, db, nowNs)
      if ("_tag" in plan) return new StatementError(plan.message)
      return { kind: "select", db: name, plan, stmt }
    }
    default: {
      const name = showDatabase(stmt) ?? dbParam
      if (name === undefined) return new StatementError(NO_DB)
      const db = liveDatabase(state, name)
      if (db === undefined) return new StatementError(dbNotFound(name), 404)
      const plan = planShow(stmt, db)
      if ("_tag" in plan) return new StatementError(plan.message)
      return { kind: "show", db: name, plan }
    }
  }
}

const cellOf = (v: DuckDBValue): V1Cell => {
  if (v === null || typeof v === "string" || typeof v === "number" || typeof v === "bigint" || typeof v === "boolean") return v
  if (v instanceof DuckDBTimestampNanosecondsValue) return { timeNs: v.nanos }
  return String(v)
}

const sameTags = (a: ReadonlyArray<DuckDBValue>, b: ReadonlyArray<DuckDBValue>, from: number, count: number) => {
  for (let i = from; i < from + count; i++) if (a[i] !== b[i]) return false
  return true
}

/** Runs a planned statement for v1: rows grouped into series. */
const runV1 = (planned: Planned, text: string) =>
  Effect.gen(function* () {
    const engine = yield* QueryEngine
    const series: Array<V1Series> = []
    if (planned.kind === "select") {
      const columns = ["time", ...planned.plan.columns]
      for (const query of planned.plan.queries) {
        const { rows } = yield* engine.rows(planned.db, query.sql, text)
        const nTags = query.tags.length
        let start = 0
        while (start < rows.length) {
          let end = start + 1
          while (end < rows.length && sameTags(rows[start]!, rows[end]!, 2, nTags)) end++
          const first = rows[start]!
          const tags: Record<string, string> = {}
          query.tags.forEach((t, i) => (tags[t] = String(first[2 + i] ?? "")))
          series.push({
            name: query.measurement,
            ...(nTags > 0 ? { tags } : {}),
            columns,
            values: rows.slice(start, end).map((r) => [cellOf(r[1]!), ...r.slice(2 + nTags).map(cellOf)])
          })
          start = end
        }
      }
      return series
    }
    const plan = planned.plan
    const { columns, rows } = yield* engine.rows(planned.db, plan.sql, text)
    const from = (plan.v1From ?? plan.v1Columns).map((c) => columns.indexOf(c))
    const shape = (r: ReadonlyArray<DuckDBValue>) => from.map((i) => cellOf(r[i] ?? null))
    if (plan.seriesName !== undefined) {
      if (rows.length === 0 && plan.seriesName === "measurements") return series
      const s: V1Series = { ...(plan.seriesName === null ? {} : { name: plan.seriesName }), columns: plan.v1Columns, values: rows.map(shape) }
      return rows.length === 0 && plan.seriesName !== "databases" ? series : [s]
    }
    let start = 0
    while (start < rows.length) {
      let end = start + 1
      while (end < rows.length && rows[end]![0] === rows[start]![0]) end++
      series.push({ name: String(rows[start]![0]), columns: plan.v1Columns, values: rows.slice(start, end).map(shape) })
      start = end
    }
    return series
  })

const statementFailure = (e: { readonly message: string }) => new StatementError(e.message)

/** The database a statement reads; none for the catalog-wide listings (SHOW DATABASES, v3 SHOW RETENTION POLICIES). */
const statementDb = (stmt: Statement, dbParam: string | undefined): string | undefined => {
  switch (stmt.kind) {
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

/** Authorizes reading the statement's database before planning, so a 404 does not tell a token which databases exist. */
const authorizeFor = (ctx: RequestContext, stmt: Statement, dbParam: string | undefined): Effect.Effect<void, Forbidden> => {
  const db = statementDb(stmt, dbParam)
  return db === undefined ? Effect.void : ctx.authorize({ kind: "db", action: "read", db })
}

// ---------------------------------------------------------------------------------------------------------------
// v1 /query

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
    let time: TimeFormat = format === "csv" ? { kind: "epoch", divisor: 1n } : { kind: "rfc3339" }
    if (p.epoch !== undefined && p.epoch !== "") {
      const divisor = epochDivisor(p.epoch)
      if (divisor === undefined) return v1Error(400, `invalid epoch parameter '${p.epoch}': expected one of ns, u, µ, ms, s, m, h`)
      time = { kind: "epoch", divisor }
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
    let results: Array<V1Result>
    const zones: Array<string | undefined> = []
    if (isParseError(parsed)) {
      results = [{ statement_id: 0, error: `error parsing query: ${parsed.message}` }]
    } else {
      const state = yield* (yield* Catalog).current
      const nowNs = BigInt(yield* Clock.currentTimeMillis) * 1_000_000n
      results = []
      for (const [i, stmt] of parsed.entries()) {
        zones.push(stmt.kind === "select" ? stmt.tz : undefined)
        yield* authorizeFor(ctx, stmt, db)
        const planned = planStatement(stmt, db, state, nowNs, true, (name) => mayRead(ctx.token, name))
        if (planned instanceof StatementError) {
          results.push({ statement_id: i, error: planned.message })
          continue
        }
        const series = yield* runV1(planned, p.q).pipe(
          Effect.catchTags({ NotFound: (e) => Effect.fail(statementFailure(e)), InvalidRequest: (e) => Effect.fail(statementFailure(e)), ExecutionFailed: (e) => Effect.fail(statementFailure(e)) }),
          Effect.either
        )
        if (series._tag === "Left") results.push({ statement_id: i, error: cleanError(series.left.message) })
        else results.push({ statement_id: i, ...(series.right.length > 0 ? { series: series.right } : {}) })
      }
    }
    if (format === "csv") return HttpServerResponse.text(resultsCsv(results, time), { status: 200, contentType: "application/csv" })
    if (format === "msgpack") {
      const bodies = chunked ? chunkResults(results, chunkSize).map((c) => resultsMsgPack([c], time, [zones[c.statement_id]])) : [resultsMsgPack(results, time, zones)]
      return HttpServerResponse.stream(Stream.fromIterable(bodies), { status: 200, contentType: "application/x-msgpack" })
    }
    if (!chunked) return HttpServerResponse.text(resultsJson(results, time, zones, pretty), { status: 200, contentType: "application/json" })
    const chunks = chunkResults(results, chunkSize)
    const encoder = new TextEncoder()
    const bodies = chunks.map((c) => encoder.encode(resultsJson([c], time, [zones[c.statement_id]], pretty).replace(/^\{"results":\[/, '{"results":[')))
    return HttpServerResponse.stream(Stream.fromIterable(bodies), { status: 200, contentType: "application/json" })
  })

/** Execution errors from DuckDB's `error()` (bucket limits) without the engine's prefix. */
const cleanError = (message: string) => message.replace(/^Error during planning: /, "").replace(/^Query execution error: Invalid Input Error: /, "")

// ---------------------------------------------------------------------------------------------------------------
// v3 /api/v3/query_influxql

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`

/** One SQL over every measurement's query: flat rows, `iox::measurement`, `time`, grouping tags, then the columns. */
const flatSelectSql = (planned: Extract<Planned, { kind: "select" }>) => {
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

const runV3 = (ctx: RequestContext, db: string | undefined, q: string | undefined, format: string | undefined, params: Either.Either<BoundParams, string>) =>
  Effect.gen(function* () {
    if ((db === undefined || db === "") && (q === undefined || q === "")) return yield* new InvalidRequest({ message: "missing query parameters 'db' and 'q'" })
    if (q === undefined || q.trim() === "") return yield* new InvalidRequest({ message: "missing query parameter 'q'" })
    if (Either.isLeft(params)) return yield* new InvalidRequest({ message: params.left })
    const resolved = yield* resultFormat(ctx.request.headers["accept"], format)
    const parsed = parseInfluxQl(q, params.right)
    if (isParseError(parsed)) return yield* new InvalidRequest({ message: `error in InfluxQL statement: parsing error: ${parsed.message}` })
    if (parsed.length !== 1) return yield* new InvalidRequest({ message: "must provide only one InfluxQl statement per query" })
    const stmt = parsed[0]!
    const named = stmt.kind === "select" ? sourceDatabase(stmt.sources) : stmt.kind === "showDatabases" ? undefined : showDatabase(stmt)
    const dbParam = db === undefined || db === "" ? undefined : db
    if (named !== undefined && dbParam !== undefined && named !== dbParam) {
      return yield* new InvalidRequest({ message: `the database in the query (${named}) does not match the db parameter (${dbParam})` })
    }
    const state = yield* (yield* Catalog).current
    const nowNs = BigInt(yield* Clock.currentTimeMillis) * 1_000_000n
    yield* authorizeFor(ctx, stmt, dbParam)
    const planned = planStatement(stmt, dbParam, state, nowNs, false, (name) => mayRead(ctx.token, name))
    if (planned instanceof StatementError) {
      return yield* planned.status === 404 ? new NotFound({ message: `query error: ${planned.message.replace(/^.*database not found/, "database not found")}` }) : new InvalidRequest({ message: planned.message })
    }
    const engine = yield* QueryEngine
    const sql = planned.kind === "select" ? flatSelectSql(planned) : planned.plan.sql
    const answer = yield* engine.sql({ db: planned.db, sql, params: {}, format: resolved, influxql: q })
    return HttpServerResponse.stream(answer.body, { contentType: answer.contentType, status: 200 })
  })

const QueryBody = Schema.Struct({ db: Schema.optional(Schema.String), q: Schema.optional(Schema.String), format: Schema.optional(Schema.String), params: Schema.optional(Schema.Unknown) })

const v3Get = (ctx: RequestContext) => {
  const params = ctx.query.get("params")
  return runV3(ctx, ctx.query.get("db") ?? undefined, ctx.query.get("q") ?? undefined, ctx.query.get("format") ?? undefined, params === null || params === "" ? Either.right({}) : boundParams(params))
}

const v3Post = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const config = yield* ServerConfig
    const body = yield* readJsonBody(ctx.request, QueryBody, config.maxHttpRequestSize)
    return yield* runV3(ctx, body.db ?? ctx.query.get("db") ?? undefined, body.q ?? ctx.query.get("q") ?? undefined, body.format ?? ctx.query.get("format") ?? undefined, boundParamsOf(body.params))
  })

/** The InfluxQL endpoints. */
export const influxqlRoutes: ReadonlyArray<RouteDef> = [
  { method: "GET", path: "/query", access: anyToken, queryToken: true, handler: v1Query },
  { method: "POST", path: "/query", access: anyToken, queryToken: true, handler: v1Query },
  { method: "GET", path: "/api/v3/query_influxql", access: anyToken, handler: v3Get },
  { method: "POST", path: "/api/v3/query_influxql", access: anyToken, handler: v3Post }
]

