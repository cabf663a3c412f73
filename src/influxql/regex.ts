import { RE2JS } from "re2js"
import { Data } from "effect"

/**
 * User regular expressions (InfluxQL `/re/`) with Go's RE2 syntax and semantics, as InfluxDB 1.x compiles them and
 * DuckDB evaluates `regexp_matches`. RE2 matches in time linear in the input, so a pattern such as `^(a+)+$` cannot
 * stall the event loop as a backtracking JavaScript `RegExp` does.
 */

/** A compiled user pattern: `test` is true when it matches anywhere in the value (Go's `MatchString`). */
export interface UserRegex {
  readonly pattern: string
  readonly test: (value: string) => boolean
}

/** Why a pattern does not compile, worded as Go's `regexp.Compile` words it (`error parsing regexp: …`). */
export class RegexError extends Data.TaggedError("RegexError")<{ readonly message: string }> {}

/**
 * The largest estimated program a pattern may compile to here. Compiling and matching cost grows with the program,
 * and both run on the event loop: at Go's own limit (about 1.4 million instructions, e.g. `[a-z]{1000}` repeated
 * 1400 times) compiling takes over a second and each name matched milliseconds. No InfluxQL pattern needs this many.
 */
const MAX_PROGRAM_SIZE = 65_536

/**
 * A pattern's program size estimated from its text: each character repeated by the product of the counted
 * repetitions (`{n}`, `{n,m}`), which RE2's parser caps at 1000 when nested. Sequences are over-counted.
 */
const estimatedSize = (pattern: string): number => {
  let repeat = 1
  for (const m of pattern.matchAll(/\{(\d+)(?:,(\d*))?\}/g)) repeat = Math.min(1000, repeat * Math.max(1, Number(m[2] || m[1])))
  return pattern.length * repeat
}

/** Compiles a user pattern with RE2 (Perl-like) syntax: `(?i)` flags, `\d`, `\pL`, `[[:alpha:]]`, `\Q…\E`. */
export const compileRegex = (pattern: string): UserRegex | RegexError => {
  if (estimatedSize(pattern) > MAX_PROGRAM_SIZE) return new RegexError({ message: "error parsing regexp: expression too large" })
  let re: RE2JS
  try {
    re = RE2JS.compile(pattern)
  } catch (e) {
    // re2js words its syntax errors as Go does; anything else it throws is reported the same way.
    const message = e instanceof Error && e.message.startsWith("error parsing regexp") ? e.message : `error parsing regexp: ${e instanceof Error ? e.message : String(e)}: \`${pattern}\``
    return new RegexError({ message })
  }
  return { pattern, test: (value) => re.test(value) }
}

/** Whether `compileRegex` failed. */
export const isRegexError = (r: UserRegex | RegexError): r is RegexError => "_tag" in r
