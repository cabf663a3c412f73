import { HttpServerResponse } from "@effect/platform"
import { Effect, Schema } from "effect"
import { mayRead } from "../auth/authenticate.ts"
import { ServerConfig } from "../config.ts"
import { InvalidRequest } from "../errors.ts"
import type { Json } from "../query/ast.ts"
import { MAX_QUERY_PERMITS, MIN_UNFORCED_QUERY_PERMITS } from "../query/QueryGate.ts"
import { QueryEngine } from "../query/QueryEngine.ts"
import { BooleanParam, MAX_JSON_DEPTH, readJsonBody, readQueryParams } from "./body.ts"
import { resultFormat } from "./format.ts"
import { jsonResponse, noContent } from "./respond.ts"
import { admin, anyToken, type RequestContext, type RouteDef } from "./route.ts"

const isRecord = (v: unknown): v is Record<string, Json> => typeof v === "object" && v !== null && !Array.isArray(v)

export const paramsOf = (raw: unknown): Effect.Effect<Readonly<Record<string, Json>>, InvalidRequest> => {
  if (raw === undefined || raw === null) return Effect.succeed({})
  let value = raw
  if (typeof raw === "string") {
    if (raw === "") return Effect.succeed({})
    try {
      value = JSON.parse(raw)
    } catch {
      return Effect.fail(new InvalidRequest({ message: "invalid query parameter 'params': expected a JSON object of parameter values" }))
    }
  }
  if (!isRecord(value)) return Effect.fail(new InvalidRequest({ message: "invalid 'params': expected a JSON object of parameter values" }))
  for (const [name, v] of Object.entries(value)) {
    const problem = paramValueProblem(v)
    if (problem !== undefined) return Effect.fail(new InvalidRequest({ message: `invalid 'params': the value of $${name} ${problem}` }))
  }
  return Effect.succeed(value)
}

/**
 * Why a parameter value cannot be bound, or undefined. JSON.parse turns numbers past ±1.8e308 into ±Infinity, which
 * no SQL type holds; values nested past MAX_JSON_DEPTH would overflow the recursive binding and serialization.
 */
const paramValueProblem = (value: unknown): string | undefined => {
  const stack: Array<[unknown, number]> = [[value, 0]]
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!
    if (typeof v === "number" && !Number.isFinite(v)) return "is a number out of range (a JSON number must lie within ±1.7976931348623157e308)"
    if (typeof v !== "object" || v === null) continue
    if (depth >= MAX_JSON_DEPTH) return `nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep`
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1])
  }
  return undefined
}

const runSql = (
  ctx: RequestContext,
  db: string | undefined,
  q: string | undefined,
  format: string | undefined,
  params: unknown
) =>
  Effect.gen(function* () {
    if ((db === undefined || db === "") && (q === undefined || q === ""))
      return yield* new InvalidRequest({ message: "missing query parameters 'db' and 'q'" })
    if (db === undefined || db === "") return yield* new InvalidRequest({ message: "missing query parameter 'db'" })
    if (q === undefined || q.trim() === "") return yield* new InvalidRequest({ message: "missing query parameter 'q'" })
    const resolved = yield* resultFormat(ctx.request.headers["accept"], format)
    const bound = yield* paramsOf(params)
    yield* ctx.authorize({ _tag: "db", action: "read", db })
    const engine = yield* QueryEngine
    const answer = yield* engine.sql({ db, sql: q, params: bound, format: resolved })
    // A small answer is complete already: one buffer, no stream to drive.
    if (answer.whole !== undefined)
      return HttpServerResponse.uint8Array(answer.whole, { contentType: answer.contentType, status: 200 })
    return HttpServerResponse.stream(answer.body, { contentType: answer.contentType, status: 200 })
  })

/** The query string of the v3 SQL and InfluxQL query endpoints; a POST body's fields take precedence over it. */
export const QueryStringParams = Schema.Struct({
  db: Schema.optional(Schema.String),
  q: Schema.optional(Schema.String),
  format: Schema.optional(Schema.String),
  params: Schema.optional(Schema.String)
})

/** The JSON body of a v3 query POST. */
export const QueryBody = Schema.Struct({
  db: Schema.optional(Schema.String),
  q: Schema.optional(Schema.String),
  format: Schema.optional(Schema.String),
  params: Schema.optional(Schema.Unknown)
})

const queryGet = (ctx: RequestContext) =>
  Effect.flatMap(readQueryParams(ctx.query, QueryStringParams), (p) => runSql(ctx, p.db, p.q, p.format, p.params))

const queryPost = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const config = yield* ServerConfig
    const body = yield* readJsonBody(ctx.request, QueryBody, config.maxHttpRequestSize)
    const p = yield* readQueryParams(ctx.query, QueryStringParams)
    return yield* runSql(ctx, body.db ?? p.db, body.q ?? p.q, body.format ?? p.format, body.params ?? p.params)
  })

// Strata has no gen0/compacted caches; the fields are kept for the telemetry shape clients read.
const NO_CACHE_STATS = {
  gen0_hits: 0,
  gen0_misses: 0,
  compacted_hits: 0,
  compacted_misses: 0,
  last_cache_hits: 0,
  distinct_cache_hits: 0
}

/** The execution figures of the last query on a database the token may read (another's text is not for it). */
const telemetry = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const engine = yield* QueryEngine
    const last = engine.log.lastFinished((db) => mayRead(ctx.token, db))
    if (last === undefined)
      return jsonResponse({ query_id: null, execution_time_us: 0, chunks: [], cache_stats: NO_CACHE_STATS })
    return jsonResponse({
      query_id: last.id,
      query_text: last.text,
      success: last.success,
      execution_time_us: Number((last.end2endNs ?? 0n) / 1000n),
      chunks: [
        {
          chunk_id: `${last.id}-0`,
          files_scanned: last.filesScanned,
          blocks_processed: last.partitions,
          rows_read: last.rowsRead,
          rows_returned: last.rowsReturned,
          bytes_read: last.bytesRead
        }
      ],
      cache_stats: {
        ...NO_CACHE_STATS,
        last_cache_hits: last.lastCacheHits ?? 0,
        distinct_cache_hits: last.distinctCacheHits ?? 0
      }
    })
  })

const getConcurrencyLimit = () =>
  Effect.gen(function* () {
    const { gate } = yield* QueryEngine
    return jsonResponse(gate.limit >= MAX_QUERY_PERMITS ? {} : { max_concurrent_queries: gate.limit })
  })

const setConcurrencyLimit = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const config = yield* ServerConfig
    const { gate } = yield* QueryEngine
    const { force } = yield* readQueryParams(ctx.query, Schema.Struct({ force: Schema.optional(BooleanParam) }))
    const body =
      yield *
      readJsonBody(
        ctx.request,
        Schema.Struct({ max_concurrent_queries: Schema.optional(Schema.NullOr(Schema.Unknown)) }),
        config.maxHttpRequestSize
      )
    const value = body.max_concurrent_queries
    if (value === undefined || value === null) {
      gate.setLimit(gate.startupLimit)
      return noContent
    }
    if (typeof value !== "number" || !Number.isInteger(value)) return yield* new InvalidRequest({ message: "invalid max_concurrent_queries: expected a positive integer or null" })
    if (value <= 0) return yield* new InvalidRequest({ message: `invalid max_concurrent_queries ${value}: must be a positive integer` })
    if (value > MAX_QUERY_PERMITS) return yield* new InvalidRequest({ message: `invalid max_concurrent_queries ${value}: the maximum is ${MAX_QUERY_PERMITS}` })
    if (value < MIN_UNFORCED_QUERY_PERMITS && force !== true) {
      return yield* new InvalidRequest({ message: `max_concurrent_queries ${value} is below the minimum of ${MIN_UNFORCED_QUERY_PERMITS}; set force=true to allow it` })
    }
    gate.setLimit(value)
    return noContent
  })

const resetConcurrencyLimit = () =>
  Effect.gen(function* () {
    const { gate } = yield* QueryEngine
    gate.setLimit(gate.startupLimit)
    return noContent
  })

export const queryRoutes: ReadonlyArray<RouteDef> = [
  { method: "GET", path: "/api/v3/query_sql", access: anyToken, handler: queryGet },
  { method: "POST", path: "/api/v3/query_sql", access: anyToken, handler: queryPost },
  { method: "GET", path: "/api/v3/query_sql_telemetry", access: anyToken, handler: telemetry },
  { method: "POST", path: "/api/v3/query_sql_telemetry", access: anyToken, handler: telemetry },
  { method: "GET", path: "/api/v3/configure/query_concurrency_limit", access: admin, handler: getConcurrencyLimit },
  { method: "PUT", path: "/api/v3/configure/query_concurrency_limit", access: admin, handler: setConcurrencyLimit },
  { method: "DELETE", path: "/api/v3/configure/query_concurrency_limit", access: admin, handler: resetConcurrencyLimit }
]
