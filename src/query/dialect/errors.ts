import { Data } from "effect"

/** A query the dialect cannot plan; the message reads like DataFusion's (`Error during planning: ...`). */
export class DialectError extends Data.TaggedError("DialectError")<{ readonly message: string }> {}

/** A DataFusion-style planning error. */
export const planningError = (message: string): DialectError =>
  new DialectError({ message: `Error during planning: ${message}` })

/** Whether a rewrite result is an error. */
export const isDialectError = (value: unknown): value is DialectError =>
  typeof value === "object" && value !== null && (value as { _tag?: unknown })._tag === "DialectError"

/**
 * Collects the first error a tree walk meets, so walkers (which cannot return errors through `transform`) record
 * it and carry on; the caller checks `error` at the end.
 */
export class ErrorSink {
  error: DialectError | undefined = undefined

  fail(error: DialectError): void {
    this.error ??= error
  }
}
