import { Effect, Schema } from "effect"
import { ServerConfig } from "../config.ts"
import { InvalidRequest } from "../errors.ts"
import { parsePrecision, type LineError, type Precision } from "../lineprotocol/index.ts"
import { Ingester, type WriteOutcome } from "../write/Ingester.ts"
import { FlagParam, readBodyChunks, readQueryParams } from "./body.ts"
import { errorResponse, noContent } from "./respond.ts"
import { anyToken, type RequestContext, type RouteDef } from "./route.ts"

const MAX_REPORTED_LINES = 100

const lineErrorJson = (e: LineError) => ({
  error_message: e.message,
  line_number: e.lineNumber,
  original_line: e.originalLine
})

/** 204 when everything was written; otherwise InfluxDB's partial-write or rejected-batch body. */
const outcomeResponse = (outcome: WriteOutcome) => {
  switch (outcome._tag) {
    case "Written":
      return noContent
    case "Partial":
      return errorResponse(outcome.limitHit ? 422 : 400, "partial write of line protocol occurred", outcome.errors.slice(0, MAX_REPORTED_LINES).map(lineErrorJson))
    case "Rejected": {
      const first = outcome.errors[0]
      return errorResponse(
        outcome.limitHit ? 422 : 400,
        `line protocol parsing error: the batch was rejected and nothing was written (${outcome.errors.length} bad line${outcome.errors.length === 1 ? "" : "s"}; accept_partial=false)`,
        first === undefined ? null : lineErrorJson(first)
      )
    }
  }
}

/** The flags every write endpoint takes; `accept_partial` defaults to true, `no_sync` to false. */
const WriteFlags = Schema.Struct({ accept_partial: Schema.optional(FlagParam), no_sync: Schema.optional(FlagParam) })

const writeFlags = (ctx: RequestContext) =>
  Effect.map(readQueryParams(ctx.query, WriteFlags), (p) => ({
    acceptPartial: p.accept_partial ?? true,
    noSync: p.no_sync ?? false
  }))

const precisionParam = (ctx: RequestContext, api: "v1" | "v2" | "v3") => {
  const raw = ctx.query.get("precision") ?? undefined
  const precision = parsePrecision(raw === "" ? undefined : raw, api)
  if (precision !== undefined) return Effect.succeed(precision)
  const accepted =
    api === "v3" ? "auto, nanosecond, microsecond, millisecond, second, ns, us, ms, s" : api === "v2" ? "ns, us, ms, s" : "ns, u, ms, s, m, h"
  return Effect.fail(new InvalidRequest({ message: `invalid query parameter 'precision': '${raw}' is not one of ${accepted}` }))
}

const write = (ctx: RequestContext, db: string, precision: Precision, acceptPartial: boolean, noSync: boolean) =>
  Effect.gen(function* () {
    yield* ctx.authorize({ _tag: "db", action: "write", db })
    const config = yield* ServerConfig
    const { chunks, size } = yield* readBodyChunks(ctx.request, config.maxHttpRequestSize)
    const outcome = yield* (yield* Ingester).write({ db, body: chunks, size, precision, acceptPartial, noSync })
    return outcomeResponse(outcome)
  })

const writeV3 = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const db = ctx.query.get("db")
    if (db === null) return yield* Effect.fail(new InvalidRequest({ message: "missing query parameter 'db'" }))
    const precision = yield* precisionParam(ctx, "v3")
    const { acceptPartial, noSync } = yield* writeFlags(ctx)
    return yield* write(ctx, db, precision, acceptPartial, noSync)
  })

const writeV2 = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const bucket = ctx.query.get("bucket")
    if (bucket === null || bucket === "") return yield* Effect.fail(new InvalidRequest({ message: "missing query parameter 'bucket'" }))
    const precision = yield* precisionParam(ctx, "v2")
    const { acceptPartial, noSync } = yield* writeFlags(ctx)
    return yield* write(ctx, bucket, precision, acceptPartial, noSync)
  })

/** v1 retention policies map to `<db>/<rp>` databases; the default ones are ignored. */
export const v1DatabaseName = (db: string, rp: string | null) => {
  const policy = (rp ?? "").trim()
  return policy === "" || policy === "''" || ["autogen", "default"].includes(policy.toLowerCase()) ? db : `${db}/${policy}`
}

const writeV1 = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const db = ctx.query.get("db")
    if (db === null || db === "") return yield* Effect.fail(new InvalidRequest({ message: "missing query parameter 'db': no db destination provided" }))
    const precision = yield* precisionParam(ctx, "v1")
    const { acceptPartial, noSync } = yield* writeFlags(ctx)
    return yield* write(ctx, v1DatabaseName(db, ctx.query.get("rp")), precision, acceptPartial, noSync)
  })

/** The three line-protocol write endpoints. */
export const writeRoutes: ReadonlyArray<RouteDef> = [
  { method: "POST", path: "/api/v3/write_lp", access: anyToken, handler: writeV3 },
  { method: "POST", path: "/api/v2/write", access: anyToken, queryToken: true, handler: writeV2 },
  { method: "POST", path: "/write", access: anyToken, queryToken: true, handler: writeV1 }
]
