import { compileRegex, isRegexError } from "./regex.ts"

/**
 * The InfluxQL scanner: a pull lexer over the query text, one token at a time. Regex literals are ambiguous with
 * division, so the parser asks for them explicitly (`regex()`) where the grammar allows one.
 */

export type TokenType = "ident" | "string" | "integer" | "number" | "duration" | "regex" | "op" | "eof" | "illegal"

export interface Token {
  readonly type: TokenType
  /** The value: identifier name (unquoted), string contents, operator text, number text. */
  readonly text: string
  /** Whether an identifier was written in double quotes (then it is never a keyword). */
  readonly quoted: boolean
  /** Offset of the token's first character. */
  readonly pos: number
}

const isDigit = (c: string) => c >= "0" && c <= "9"
const isIdentStart = (c: string) => (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c === "_" || c > "\u007f"
const isIdentChar = (c: string) => isIdentStart(c) || isDigit(c)

const DURATION_UNITS = ["ns", "us", "u", "µ", "ms", "s", "m", "h", "d", "w"] as const
/** Nanoseconds per InfluxQL duration unit. */
export const UNIT_NS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  u: 1_000n,
  us: 1_000n,
  "µ": 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
  d: 86_400_000_000_000n,
  w: 604_800_000_000_000n
}

/** Parses an InfluxQL duration literal (`90s`, `1h30m`, `5µ`) to nanoseconds; undefined if it is not one. */
export const parseDuration = (text: string): bigint | undefined => {
  let i = 0
  let total = 0n
  if (text.length === 0) return undefined
  while (i < text.length) {
    let j = i
    while (j < text.length && isDigit(text[j]!)) j++
    if (j === i) return undefined
    const n = BigInt(text.slice(i, j))
    let unit: string | undefined
    // Two-letter units first, so `ms` is not read as `m` followed by `s`.
    for (const u of ["ns", "us", "ms", "u", "µ", "s", "m", "h", "d", "w"]) {
      if (text.startsWith(u, j)) {
        unit = u
        break
      }
    }
    if (unit === undefined) return undefined
    total += n * UNIT_NS[unit]!
    i = j + unit.length
  }
  return total
}

/** Values for `$name` parameters, from the v1 `params` JSON (whole numbers as `{ [INTEGER]: "digits" }`). */
export type BoundParams = Readonly<Record<string, unknown>>

/** The key that marks a whole JSON number (InfluxDB 1.x binds `1` as an integer and `1.5` as a float). */
export const INTEGER = "\u0000integer"

/** A `$name` that cannot be bound; InfluxDB 1.x reports these without a position. */
export class BindError {
  constructor(readonly message: string) {}
}

const wholeNumber = (v: unknown): string | undefined =>
  typeof v === "object" && v !== null && typeof (v as Record<string, unknown>)[INTEGER] === "string" ? ((v as Record<string, unknown>)[INTEGER] as string) : undefined

/** Go's name for the type of a JSON value that cannot be bound. */
const goType = (v: unknown) => (v === null ? "<nil>" : Array.isArray(v) ? "[]interface {}" : typeof v === "object" ? "map[string]interface {}" : typeof v)

export class Lexer {
  private i = 0
  private peeked: Token | undefined

  constructor(
    readonly input: string,
    private readonly params: BoundParams = {}
  ) {}

  /** Line and 1-based character of an offset, for error messages. */
  where(pos: number): { line: number; char: number } {
    let line = 1
    let start = 0
    for (let k = 0; k < pos && k < this.input.length; k++) {
      if (this.input[k] === "\n") {
        line++
        start = k + 1
      }
    }
    return { line, char: pos - start + 1 }
  }

  peek(): Token {
    this.peeked ??= this.scan()
    return this.peeked
  }

  next(): Token {
    const t = this.peek()
    this.peeked = undefined
    return t
  }

  /** Scans a `/regex/` literal at the current position (after whitespace); undefined if there is none. */
  regex(): Token | undefined {
    if (this.peeked !== undefined) {
      if (this.peeked.type !== "op" || this.peeked.text !== "/") return undefined
      this.i = this.peeked.pos
      this.peeked = undefined
    }
    this.skipSpace()
    const start = this.i
    if (this.input[this.i] === "$") {
      const t = this.scan()
      if (t.type === "regex") return t
      this.i = start
      return undefined
    }
    if (this.input[this.i] !== "/") return undefined
    // Plain runs are copied as slices: appending a character at a time took seconds on megabyte literals.
    let out = ""
    let k = this.i + 1
    let run = k
    for (; k < this.input.length; k++) {
      const c = this.input[k]!
      if (c === "\\" && this.input[k + 1] === "/") {
        out += this.input.slice(run, k) + "/"
        k++
        run = k + 1
      } else if (c === "/") break
      else if (c === "\n") return { type: "illegal", text: "unterminated regex", quoted: false, pos: start }
    }
    if (k >= this.input.length) return { type: "illegal", text: "unterminated regex", quoted: false, pos: start }
    out += this.input.slice(run, k)
    this.i = k + 1
    // 1.x reports a bad /pattern/ one character before its opening slash (a bound `$re` at the `$`).
    return this.regexToken(out, start, Math.max(0, start - 1))
  }

  /**
   * A regex token, or an illegal one with Go's compile error at `errorPos`: 1.x refuses a bad pattern while parsing.
   */
  private regexToken(text: string, pos: number, errorPos = pos): Token {
    const compiled = compileRegex(text)
    return isRegexError(compiled) ? this.token("illegal", compiled.message, errorPos) : this.token("regex", text, pos)
  }

  private skipSpace() {
    for (;;) {
      const c = this.input[this.i]
      if (c === " " || c === "\t" || c === "\n" || c === "\r") this.i++
      else if (c === "-" && this.input[this.i + 1] === "-") {
        while (this.i < this.input.length && this.input[this.i] !== "\n") this.i++
      } else if (c === "/" && this.input[this.i + 1] === "*") {
        const end = this.input.indexOf("*/", this.i + 2)
        this.i = end < 0 ? this.input.length : end + 2
      } else return
    }
  }

  private token(type: TokenType, text: string, pos: number, quoted = false): Token {
    return { type, text, quoted, pos }
  }

  private scan(): Token {
    this.skipSpace()
    const pos = this.i
    const s = this.input
    if (pos >= s.length) return this.token("eof", "", pos)
    const c = s[pos]!
    if (isIdentStart(c) && c !== "µ") {
      let k = pos
      while (k < s.length && isIdentChar(s[k]!)) k++
      this.i = k
      return this.token("ident", s.slice(pos, k), pos)
    }
    if (c === '"') return this.quoted('"', "ident", pos)
    if (c === "'") return this.quoted("'", "string", pos)
    if (c === "$") {
      let k = pos + 1
      while (k < s.length && isIdentChar(s[k]!)) k++
      this.i = k
      return this.bind(s.slice(pos + 1, k), pos)
    }
    if (isDigit(c) || (c === "." && isDigit(s[pos + 1] ?? ""))) return this.number(pos)
    const two = s.slice(pos, pos + 2)
    if (["!=", "<>", "<=", ">=", "=~", "!~", "::"].includes(two)) {
      this.i = pos + 2
      return this.token("op", two === "<>" ? "!=" : two, pos)
    }
    if ("+-*/%&|^=<>(),;.".includes(c)) {
      this.i = pos + 1
      return this.token("op", c, pos)
    }
    this.i = pos + 1
    return this.token("illegal", c, pos)
  }

  /**
   * The token a bound parameter stands for, as InfluxDB 1.x's scanner substitutes it: a string binds as a string
   * literal, a whole number as an integer, other numbers as floats, booleans as `true`/`false`, and the typed forms
   * `{"identifier"|"string"|"integer"|"number"|"boolean"|"duration"|"regex": value}` as that kind of token.
   */
  private bind(name: string, pos: number): Token {
    if (name === "") throw new BindError("empty bound parameter")
    if (!Object.hasOwn(this.params, name)) throw new BindError(`missing parameter: ${name}`)
    const v = this.params[name]
    const whole = wholeNumber(v)
    if (whole !== undefined) return this.token("integer", whole, pos)
    if (typeof v === "string") return this.token("string", v, pos)
    if (typeof v === "number") return this.token("number", String(v), pos)
    if (typeof v === "boolean") return this.token("ident", String(v), pos)
    if (typeof v !== "object" || v === null || Array.isArray(v)) throw new BindError(`missing parameter: unable to bind parameter with type ${goType(v)}`)
    const [kind, value] = Object.entries(v)[0] ?? ["", undefined]
    const text = wholeNumber(value) ?? (typeof value === "string" || typeof value === "number" || typeof value === "boolean" ? String(value) : undefined)
    if (text === undefined) throw new BindError(`missing parameter: unable to bind parameter with type ${goType(value)}`)
    switch (kind) {
      case "identifier":
        return this.token("ident", text, pos, true)
      case "string":
        return this.token("string", text, pos)
      case "integer":
        return this.token("integer", text, pos)
      case "number":
        return this.token("number", text, pos)
      case "boolean":
        return this.token("ident", text, pos)
      case "duration":
        return this.token("duration", wholeNumber(value) !== undefined || typeof value === "number" ? `${text}ns` : text, pos)
      case "regex":
        return this.regexToken(text, pos)
      default:
        throw new BindError(`missing parameter: unknown bind object type: ${kind}`)
    }
  }

  private quoted(q: string, type: TokenType, pos: number): Token {
    const s = this.input
    // Plain runs are copied as slices, as in `regex()`.
    let out = ""
    let k = pos + 1
    let run = k
    for (; k < s.length; k++) {
      const c = s[k]!
      if (c === "\\") {
        const n = s[k + 1]
        if (n === undefined) break
        out += s.slice(run, k) + (n === "n" ? "\n" : n === "t" ? "\t" : n === "\\" || n === q ? n : "\\" + n)
        k++
        run = k + 1
      } else if (c === q) break
      else if (c === "\n" && type === "ident") {
        this.i = k
        return this.token("illegal", "unterminated quoted identifier", pos)
      }
    }
    if (k >= s.length) {
      this.i = s.length
      return this.token("illegal", type === "string" ? "unterminated string" : "unterminated quoted identifier", pos)
    }
    out += s.slice(run, k)
    this.i = k + 1
    return this.token(type, out, pos, type === "ident")
  }

  private number(pos: number): Token {
    const s = this.input
    let k = pos
    while (k < s.length && isDigit(s[k]!)) k++
    let isFloat = false
    if (s[k] === "." && isDigit(s[k + 1] ?? "")) {
      isFloat = true
      k++
      while (k < s.length && isDigit(s[k]!)) k++
    }
    if ((s[k] === "e" || s[k] === "E") && (isDigit(s[k + 1] ?? "") || ((s[k + 1] === "+" || s[k + 1] === "-") && isDigit(s[k + 2] ?? "")))) {
      isFloat = true
      k += 2
      while (k < s.length && isDigit(s[k]!)) k++
    }
    if (!isFloat) {
      // A duration: digits and units, possibly several (`1h30m`), not followed by more identifier characters.
      let j = k
      let sawUnit = false
      for (;;) {
        const unit = DURATION_UNITS.find((u) => s.startsWith(u, j) && !(u === "m" && s[j + 1] === "s") && !(u === "u" && s[j + 1] === "s"))
        if (unit === undefined) break
        sawUnit = true
        j += unit.length
        let d = j
        while (d < s.length && isDigit(s[d]!)) d++
        if (d === j) break
        j = d
      }
      if (sawUnit && !isIdentChar(s[j] ?? " ")) {
        this.i = j
        return this.token("duration", s.slice(pos, j), pos)
      }
    }
    this.i = k
    return this.token(isFloat ? "number" : "integer", s.slice(pos, k), pos)
  }
}
