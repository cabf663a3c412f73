import { Data } from "effect"
import { compileRegex, isRegexError, type UserRegex } from "../regex.ts"

/** How planning fails: thrown inside the planner (`Fail`), answered as a `PlanFailure` value at its edge. */

/** A statement that cannot be planned; the message is InfluxDB's. */
export class PlanFailure extends Data.TaggedError("PlanFailure")<{ readonly message: string }> {}

export const failure = (message: string): PlanFailure => new PlanFailure({ message })

/**
 * Thrown inside planning, answered as a PlanFailure; named so the SHOW planner, which shares resolveSources, knows it.
 */
export class Fail extends Error {
  override readonly name = "PlanFailure"
}

/** A user pattern compiled with RE2 (linear time), or the statement fails with Go's compile error. */
export const regexOrFail = (pattern: string): UserRegex => {
  const re = compileRegex(pattern)
  if (isRegexError(re)) throw new Fail(re.message)
  return re
}
