import { HttpServerResponse } from "@effect/platform"
import type { ServerFailure } from "../errors.ts"

/** The status each expected failure answers with, by its `_tag`: the one mapping table of the server. */
export const statusOf: Record<ServerFailure["_tag"], number> = {
  InvalidRequest: 400,
  Unauthenticated: 401,
  Forbidden: 403,
  NotFound: 404,
  NotAllowed: 405,
  AlreadyExists: 409,
  PayloadTooLarge: 413,
  UnsupportedMediaType: 415,
  LimitExceeded: 422,
  ExecutionFailed: 500,
  LogWriteFailed: 500,
  EngineFailed: 500,
  Unavailable: 503
}

/** The `{"error": …, "data": …}` body every failure carries. */
export const errorResponse = (status: number, message: string, data: unknown = null) =>
  HttpServerResponse.unsafeJson({ error: message, data }, { status })

/** The response for an expected failure. */
export const failureResponse = (failure: ServerFailure) =>
  errorResponse(statusOf[failure._tag], failure.message, failure._tag === "InvalidRequest" ? failure.data ?? null : null)

/** A 200 JSON answer. */
export const jsonResponse = (body: unknown, status = 200) => HttpServerResponse.unsafeJson(body, { status })

/** A 200 answer with an empty body, as InfluxDB's configure endpoints give. */
export const okEmpty = HttpServerResponse.empty({ status: 200 })

/** A 204 answer. */
export const noContent = HttpServerResponse.empty({ status: 204 })
