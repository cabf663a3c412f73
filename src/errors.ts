import { Data } from "effect"

/** A named thing does not exist (404). */
export class NotFound extends Data.TaggedError("NotFound")<{ readonly message: string }> {}

/** The thing to create exists already (409). */
export class AlreadyExists extends Data.TaggedError("AlreadyExists")<{ readonly message: string }> {}

/** The request is malformed or names something invalid (400). */
export class InvalidRequest extends Data.TaggedError("InvalidRequest")<{ readonly message: string; readonly data?: unknown }> {}

/** A configured limit would be exceeded (422). */
export class LimitExceeded extends Data.TaggedError("LimitExceeded")<{ readonly message: string }> {}

/** The action is not allowed on this object (405), e.g. deleting the operator token. */
export class NotAllowed extends Data.TaggedError("NotAllowed")<{ readonly message: string }> {}

/** No valid token was given (401). */
export class Unauthenticated extends Data.TaggedError("Unauthenticated")<{ readonly message: string }> {}

/** The token lacks the permission (403). */
export class Forbidden extends Data.TaggedError("Forbidden")<{ readonly message: string }> {}

/** The server cannot do this right now (503), e.g. a mode this node does not run. */
export class Unavailable extends Data.TaggedError("Unavailable")<{ readonly message: string }> {}

/** The request was valid but running it failed (500), e.g. a query's execution error. */
export class ExecutionFailed extends Data.TaggedError("ExecutionFailed")<{ readonly message: string; readonly cause?: unknown }> {}

/** The event log could not be written (500); `cause` keeps what the commit thread or SQLite said. */
export class LogWriteFailed extends Data.TaggedError("LogWriteFailed")<{ readonly message: string; readonly cause?: unknown }> {}

/**
 * A call into DuckDB (or another foreign library: a worker pool, a file hash) rejected (500). A rejected promise is
 * a failure we answer, not a defect; `cause` keeps the rejection.
 */
export class EngineFailed extends Data.TaggedError("EngineFailed")<{ readonly message: string; readonly cause?: unknown }> {}

/** Wraps a foreign promise: a rejection becomes `EngineFailed` saying what was being done. */
export const engineFailed = (doing: string) => (cause: unknown) =>
  new EngineFailed({ message: `${doing}: ${cause instanceof Error ? cause.message : String(cause)}`, cause })

/** Every failure the HTTP layer answers with a status of its own (`statusOf` in `http/respond.ts`). */
export type ServerFailure = ApiFailure | LogWriteFailed | EngineFailed

/** Every expected failure a request can end in. */
export type ApiFailure =
  | NotFound
  | AlreadyExists
  | InvalidRequest
  | LimitExceeded
  | NotAllowed
  | Unauthenticated
  | Forbidden
  | Unavailable
  | PayloadTooLarge
  | UnsupportedMediaType
  | ExecutionFailed

/** The request body is larger than `--max-http-request-size` (413). */
export class PayloadTooLarge extends Data.TaggedError("PayloadTooLarge")<{ readonly message: string }> {}

/** The request body's media type is not accepted (415). */
export class UnsupportedMediaType extends Data.TaggedError("UnsupportedMediaType")<{ readonly message: string }> {}
