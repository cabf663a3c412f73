import { HttpServerResponse } from "@effect/platform"
import { Effect, Either } from "effect"
import * as NodeCrypto from "node:crypto"
import { Catalog } from "../catalog/Catalog.ts"
import type { CatalogState } from "../catalog/state.ts"
import { Compactor } from "../compactor/Compactor.ts"
import { ServerConfig } from "../config.ts"
import { applicableFiles } from "../deletes/rewrite.ts"
import { abortRowDelete, deletesOf, requestRowDelete, requestView, type RowDeleteRequest } from "../deletes/state.ts"
import { ExecutionFailed, InvalidRequest, NotFound, UnsupportedMediaType } from "../errors.ts"
import { FileIndex } from "../storage/FileIndex.ts"
import { readBody } from "./body.ts"
import { anyToken, type RequestContext, type RouteDef } from "./route.ts"

const INT64 = /^-?\d{1,19}$/
const BIGINT_MARK = "\u{10FFFF}bigint:"
const BIGINT_TEXT = /"\u{10FFFF}bigint:(-?\d+)"/gu

/** JSON with bigints written as exact integers (ns times exceed what a JS number holds). */
const exactJson = (body: unknown, status = 200) =>
  HttpServerResponse.text(
    JSON.stringify(body, (_k, v) => (typeof v === "bigint" ? `${BIGINT_MARK}${v}` : v)).replace(BIGINT_TEXT, "$1"),
    { status, contentType: "application/json" }
  )

/** Reads a JSON object body, keeping integer fields exact: each key's raw number text is read from the body itself. */
const readObjectBody = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const contentType = (ctx.request.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase()
    if (contentType !== "" && contentType !== "application/json") {
      return yield* new UnsupportedMediaType({ message: "unacceptable content-type, expected: application/json" })
    }
    const text = (yield* readBody(ctx.request, (yield* ServerConfig).maxHttpRequestSize)).toString("utf8")
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (e) {
      return yield* new InvalidRequest({ message: `malformed JSON body: ${(e as Error).message}` })
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return yield* new InvalidRequest({ message: "the body must be a JSON object" })
    return { body: parsed as Record<string, unknown>, text }
  })

const stringField = (body: Record<string, unknown>, name: string, required: boolean) =>
  Effect.suspend(() => {
    const v = body[name]
    if (v === undefined || v === null) return required ? Effect.fail(new InvalidRequest({ message: `${name}: is required` })) : Effect.succeed(undefined)
    if (typeof v !== "string") return Effect.fail(new InvalidRequest({ message: `${name}: expected a string` }))
    if (required && v.trim() === "") return Effect.fail(new InvalidRequest({ message: `${name}: must not be empty` }))
    return Effect.succeed(v)
  })

/** A ns time field: an integer (exact, as written in the body) or a string of digits; undefined when absent. */
const timeField = (body: Record<string, unknown>, text: string, name: string) =>
  Effect.suspend(() => {
    const v = body[name]
    if (v === undefined || v === null) return Effect.succeed(undefined)
    if (typeof v === "string" && INT64.test(v.trim())) return Effect.succeed(BigInt(v.trim()))
    if (typeof v === "number" && Number.isInteger(v)) {
      if (Number.isSafeInteger(v)) return Effect.succeed(BigInt(v))
      const raw = new RegExp(`"${name}"\\s*:\\s*(-?\\d+)(?![\\d.eE])`).exec(text)
      if (raw !== null && INT64.test(raw[1]!)) return Effect.succeed(BigInt(raw[1]!))
    }
    return Effect.fail(new InvalidRequest({ message: `${name}: expected an integer time in nanoseconds` }))
  })

/** Whether the caller may delete rows of a database: admin, or write on it. */
const mayDelete = (ctx: RequestContext, db: string) => ctx.authorize({ _tag: "db", action: "write", db })

const progressOf = (
  state: CatalogState,
  index: Parameters<typeof applicableFiles>[0],
  r: RowDeleteRequest,
  include: boolean
) => requestView(state, r, include ? { applicableFiles: applicableFiles(index, r).length } : undefined)

/**
 * Accepts a row-delete request. The buffer is persisted first, so every row written before the request is in a file
 * persisted before it: queries leave out the matching rows of those files at once, and rows written after it stay.
 */
const create = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const { body, text } = yield* readObjectBody(ctx)
    const db = (yield* stringField(body, "db", true))!
    const table = (yield* stringField(body, "table", true))!
    const predicate = (yield* stringField(body, "delete_predicate", false)) ?? ""
    const minTimeNs = yield* timeField(body, text, "min_time")
    const maxTimeNs = yield* timeField(body, text, "max_time")
    const allTime = body["all_time"] === true
    if (minTimeNs === undefined && maxTimeNs === undefined && !allTime) {
      return yield* new InvalidRequest({ message: "min_time and/or max_time (ns) are required, or all_time: true" })
    }
    yield* mayDelete(ctx, db)
    const catalog = yield* Catalog
    const requestId = NodeCrypto.randomUUID()
    const input = { db, table, predicate, minTimeNs: minTimeNs ?? null, maxTimeNs: maxTimeNs ?? null, requestId }
    // Validate before persisting: a bad request answers at once and changes nothing.
    const decided = requestRowDelete(yield* catalog.current, input)
    if (Either.isLeft(decided)) return yield* decided.left
    yield* Effect.flatMap(Compactor, (c) => c.persistNow).pipe(
      Effect.catchAll((e) => Effect.fail(new ExecutionFailed({ message: `could not persist the buffer before the delete (nothing was accepted; retry): ${e.message}` })))
    )
    yield* catalog.execute((s) => Either.map(requestRowDelete(s, input), (events) => ({ events, result: undefined })))
    const state = yield* catalog.current
    const accepted = [...deletesOf(state).requests.values()].find((r) => r.requestId === requestId)!
    return exactJson(requestView(state, accepted, undefined))
  })

const list = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const q = ctx.query
    const integer = (name: string) => {
      const v = q.get(name)
      if (v === null || v === "") return Effect.succeed(undefined)
      return /^\d+$/.test(v) ? Effect.succeed(Number(v)) : Effect.fail(new InvalidRequest({ message: `${name}: expected a non-negative integer, got '${v}'` }))
    }
    const minSeq = yield* integer("min_sequence")
    const maxSeq = yield* integer("max_sequence")
    const disposition = q.get("disposition")
    if (disposition !== null && disposition !== "" && !["pending", "completed", "aborted"].includes(disposition)) {
      return yield* new InvalidRequest({ message: `disposition: expected pending, completed or aborted, got '${disposition}'` })
    }
    const include = q.get("include_progress")
    if (include !== null && include !== "" && include !== "true" && include !== "false") {
      return yield* new InvalidRequest({ message: `include_progress: expected true or false, got '${include}'` })
    }
    const db = q.get("db") || undefined
    const table = q.get("table") || undefined
    if (db !== undefined) yield* mayDelete(ctx, db)
    const state = yield* (yield* Catalog).current
    const index = yield* (yield* FileIndex).current
    const permitted = new Map<string, boolean>()
    const out: Array<ReturnType<typeof requestView>> = []
    for (const r of [...deletesOf(state).requests.values()].sort((a, b) => a.sequence - b.sequence)) {
      const view = requestView(state, r, undefined)
      if (db !== undefined && view.db_name !== db) continue
      if (table !== undefined && view.table_name !== table) continue
      if (disposition && r.disposition !== disposition) continue
      if (minSeq !== undefined && r.sequence < minSeq) continue
      if (maxSeq !== undefined && r.sequence > maxSeq) continue
      // Without a db filter, the list holds the requests of the databases the caller may delete from.
      if (!permitted.has(view.db_name))
        permitted.set(view.db_name, Either.isRight(yield * Effect.either(mayDelete(ctx, view.db_name))))
      if (!permitted.get(view.db_name)) continue
      out.push(progressOf(state, index, r, include === "true"))
    }
    return exactJson(out)
  })

const abort = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const raw = new URL(ctx.request.url, "http://localhost").pathname.split("/")[4] ?? ""
    if (!/^\d+$/.test(raw)) return yield* new InvalidRequest({ message: `seq: expected a non-negative integer, got '${raw}'` })
    const sequence = Number(raw)
    const catalog = yield* Catalog
    const found = deletesOf(yield* catalog.current).requests.get(sequence)
    if (found === undefined) return yield* new NotFound({ message: `row-delete request not found: ${sequence}` })
    yield* mayDelete(ctx, found.dbName)
    const { body } = yield* readObjectBody(ctx)
    const reason = (yield* stringField(body, "reason", true))!
    yield *
      catalog.execute((s) =>
        Either.map(abortRowDelete(s, sequence, reason), (events) => ({ events, result: undefined }))
      )
    const state = yield* catalog.current
    return exactJson(requestView(state, deletesOf(state).requests.get(sequence)!, undefined))
  })

/** Row-delete requests: create, list, abort. */
export const rowDeleteRoutes: ReadonlyArray<RouteDef> = [
  { method: "POST", path: "/api/v3/row_delete_requests", access: anyToken, handler: create },
  { method: "GET", path: "/api/v3/row_delete_requests", access: anyToken, handler: list },
  { method: "POST", path: "/api/v3/row_delete_requests/:seq/abort", access: anyToken, handler: abort }
]
