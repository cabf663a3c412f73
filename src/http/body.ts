import type { HttpServerRequest } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Effect, Either, ParseResult, Schema } from "effect"
import * as NodeZlib from "node:zlib"
import { InvalidRequest, PayloadTooLarge, UnsupportedMediaType } from "../errors.ts"

const tooLarge = (limit: number) => new PayloadTooLarge({ message: `max request size (${limit} bytes) exceeded` })

/** A request body as the bytes arrived: in chunks, each its own buffer, `size` bytes in all. */
export interface BodyChunks {
  readonly chunks: ReadonlyArray<Buffer>
  readonly size: number
}

/**
 * Reads a request body in the chunks it arrived in, gunzipping `Content-Encoding: gzip` (multi-member too), and
 * failing with 413 as soon as either the wire bytes or the decompressed bytes pass `limit` — the body is never
 * buffered past the limit. Chunks are not joined: a write hands them on to other threads without copying them.
 */
export const readBodyChunks = (
  request: HttpServerRequest.HttpServerRequest,
  limit: number
): Effect.Effect<BodyChunks, InvalidRequest | PayloadTooLarge> =>
  Effect.suspend(() => {
    const encoding = (request.headers["content-encoding"] ?? "identity").trim().toLowerCase()
    if (encoding !== "identity" && encoding !== "gzip") {
      return Effect.fail(new InvalidRequest({ message: `unacceptable content-encoding: ${encoding}` }))
    }
    const declared = Number(request.headers["content-length"] ?? "NaN")
    if (declared > limit) return Effect.fail(tooLarge(limit))
    const incoming = NodeHttpServerRequest.toIncomingMessage(request)
    return Effect.async<BodyChunks, InvalidRequest | PayloadTooLarge>((resume) => {
      const chunks: Array<Buffer> = []
      let wire = 0
      let size = 0
      let done = false
      const finish = (result: Effect.Effect<BodyChunks, InvalidRequest | PayloadTooLarge>) => {
        if (done) return
        done = true
        resume(result)
      }
      const gunzip = encoding === "gzip" ? NodeZlib.createGunzip() : undefined
      const collect = (chunk: Buffer) => {
        size += chunk.length
        if (size > limit) {
          incoming.unpipe()
          incoming.resume()
          gunzip?.destroy()
          finish(Effect.fail(tooLarge(limit)))
          return
        }
        chunks.push(chunk)
      }
      incoming.on("data", (chunk: Buffer) => {
        wire += chunk.length
        if (wire > limit) {
          finish(Effect.fail(tooLarge(limit)))
          incoming.removeAllListeners("data")
          incoming.resume()
          return
        }
        if (gunzip) gunzip.write(chunk)
        else collect(chunk)
      })
      incoming.on("error", (e) =>
        finish(Effect.fail(new InvalidRequest({ message: `error reading request body: ${e.message}` })))
      )
      if (gunzip) {
        gunzip.on("data", collect)
        gunzip.on("error", (e) =>
          finish(Effect.fail(new InvalidRequest({ message: `error decoding gzip stream: ${e.message}` })))
        )
        gunzip.on("end", () => finish(Effect.succeed({ chunks, size })))
        incoming.on("end", () => gunzip.end())
      } else {
        incoming.on("end", () => finish(Effect.succeed({ chunks, size })))
      }
    })
  })

/** Reads a request body as one buffer; see `readBodyChunks`. */
export const readBody = (
  request: HttpServerRequest.HttpServerRequest,
  limit: number
): Effect.Effect<Buffer, InvalidRequest | PayloadTooLarge> =>
  Effect.map(readBodyChunks(request, limit), ({ chunks, size }) =>
    chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)
  )

const formatIssue = (error: ParseResult.ParseError): string => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const first = issues[0]
  if (first === undefined) return "invalid request body"
  const path = first.path.map(String).join(".")
  if (first._tag === "Missing") return `missing field \`${path}\``
  return path === "" ? `invalid request body: ${first.message}` : `invalid value for field \`${path}\`: ${first.message}`
}

/**
 * How deeply a JSON body or parameter value may nest: far beyond any real request, well within every walker's stack.
 */
export const MAX_JSON_DEPTH = 64

/**
 * Whether a parsed JSON value nests arrays and objects more than `max` levels deep. Iterative, so a body of
 * 100,000 brackets (which `JSON.parse` accepts) cannot overflow the stack here; later walkers (schema errors,
 * `JSON.stringify`, parameter binding) are recursive, so such values are refused before reaching them.
 */
export const jsonNestedDeeperThan = (value: unknown, max: number): boolean => {
  const stack: Array<[unknown, number]> = [[value, 0]]
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!
    if (typeof v !== "object" || v === null) continue
    if (depth >= max) return true
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (typeof child === "object" && child !== null) stack.push([child, depth + 1])
    }
  }
  return false
}

/** Decodes a JSON request body against a schema; 415 without a JSON content type, 400 naming the bad field. */
export const readJsonBody = <A, I>(
  request: HttpServerRequest.HttpServerRequest,
  schema: Schema.Schema<A, I>,
  limit: number
) =>
  Effect.gen(function* () {
    const contentType = (request.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase()
    if (contentType !== "" && contentType !== "application/json" && !/^application\/[^/]*\+json$/.test(contentType)) {
      return yield* Effect.fail(
        new UnsupportedMediaType({ message: "unacceptable content-type, expected: application/json" })
      )
    }
    const bytes = yield* readBody(request, limit)
    let parsed: unknown
    try {
      parsed = JSON.parse(bytes.toString("utf8"))
    } catch (e) {
      return yield* Effect.fail(new InvalidRequest({ message: `malformed JSON body: ${(e as Error).message}` }))
    }
    if (jsonNestedDeeperThan(parsed, MAX_JSON_DEPTH)) {
      return yield* Effect.fail(
        new InvalidRequest({
          message: `malformed JSON body: arrays and objects nested more than ${MAX_JSON_DEPTH} levels deep`
        })
      )
    }
    const decoded = Schema.decodeUnknownEither(schema, { onExcessProperty: "ignore" })(parsed)
    if (Either.isLeft(decoded)) return yield* Effect.fail(new InvalidRequest({ message: formatIssue(decoded.left) }))
    return decoded.right
  })

/**
 * Decodes query-string parameters against a schema; 400 naming the missing or bad parameter. A repeated parameter
 * counts once, with its first value (as `URLSearchParams.get` and InfluxDB 1.x's Go handlers read it).
 */
export const readQueryParams = <A, I>(params: URLSearchParams, schema: Schema.Schema<A, I>) => {
  const record: Record<string, string> = {}
  for (const [k, v] of params) record[k] ??= v
  const decoded = Schema.decodeUnknownEither(schema, { onExcessProperty: "ignore" })(record)
  if (Either.isRight(decoded)) return Effect.succeed(decoded.right)
  const issues = ParseResult.ArrayFormatter.formatErrorSync(decoded.left)
  const first = issues[0]
  const name = first?.path.map(String).join(".") ?? ""
  return Effect.fail(
    new InvalidRequest({
      message: first?._tag === "Missing" ? `missing query parameter '${name}'` : `invalid query parameter '${name}': ${first?.message ?? ""}`
    })
  )
}

/** A query-string flag: `true`/`false`, or empty for its default (undefined). */
export const FlagParam = Schema.transformOrFail(Schema.String, Schema.UndefinedOr(Schema.Boolean), {
  strict: true,
  decode: (s, _, ast) =>
    s === ""
      ? ParseResult.succeed(undefined)
      : s === "true" || s === "false"
      ? ParseResult.succeed(s === "true")
      : ParseResult.fail(new ParseResult.Type(ast, s, `expected true or false, got '${s}'`)),
  encode: (b) => ParseResult.succeed(b === undefined ? "" : String(b))
})

/** A query-string boolean (`true`/`false`), as InfluxDB accepts them. */
export const BooleanParam = Schema.transformOrFail(Schema.String, Schema.Boolean, {
  strict: true,
  decode: (s, _, ast) =>
    s === "true" ? ParseResult.succeed(true) : s === "false" ? ParseResult.succeed(false) : ParseResult.fail(new ParseResult.Type(ast, s, `expected true or false, got '${s}'`)),
  encode: (b) => ParseResult.succeed(String(b))
})
