import * as Crypto from "node:crypto"

/**
 * Queries that differ only in their literals: a dashboard sends the same query with a new time range on every
 * refresh (a string in SQL, nanosecond integers in the SQL planned from InfluxQL), and DuckDB's parser and renderer (a
 * round trip each, ~0.3 and ~0.4 ms) would see a new text each time. A template stands each plain string literal, and
 * each integer literal of BIGINT size, in for a placeholder of the same kind: DuckDB parses and renders the template
 * once, and the literals are put back into its answer. A template is used only where DuckDB's answer holds each
 * placeholder exactly once, as a string or integer value (parse) or as a quoted literal or a number (render): anything
 * else (a literal the parser or renderer treats otherwise) is parsed or rendered as it is.
 */

/**
 * Per process: no text a user sends can hold it by chance, and a text that holds it is never templated. Mixed case,
 * so that a parser or renderer changing a literal's case would show as a missing placeholder.
 */
const NONCE = `Strata_Literal_${Crypto.randomUUID().replace(/-/g, "")}_`
const PLACEHOLDERS = new RegExp(`${NONCE}(\\d+)`, "g")

const placeholder = (i: number) => `${NONCE}${i}`

/**
 * Integer placeholders: 19-digit numbers sharing their first 12 digits (per process, random, the whole below 2^63),
 * the last 7 the index.
 * Integers from 2^31 to below 2^63 are BIGINT to DuckDB's parser, as every placeholder is: only those are templated
 * (a smaller one would change type), and never right after a minus sign (the parser may fold the sign in).
 */
const INT_PREFIX = String(900_000_000_000 + Crypto.randomInt(0, 22_000_000_000))
const INT_PLACEHOLDERS = new RegExp(INT_PREFIX, "g")
const intPlaceholder = (i: number) => `${INT_PREFIX}${String(i).padStart(7, "0")}`
const MIN_BIGINT_LITERAL = 2n ** 31n
const MAX_BIGINT_LITERAL = 2n ** 63n - 1n
const MAX_INT_PLACEHOLDERS = 10_000_000

/** Whether an integer is one a placeholder may stand for (see INT_PREFIX). */
export const templatedInteger = (value: bigint): boolean => value >= MIN_BIGINT_LITERAL && value <= MAX_BIGINT_LITERAL

/** SQL text with its plain string and BIGINT-sized integer literals as placeholders, and the literals' values. */
export interface LiteralTemplate {
  readonly text: string
  readonly values: ReadonlyArray<string>
  /** The integers' digits, in order. */
  readonly integers: ReadonlyArray<string>
}

/** Letters, digits, `_` and any non-ASCII character: what may end an identifier or a literal's prefix. */
const isWordChar = (c: number) =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c > 127

/**
 * The template of a SQL text: each plain `'…'` literal (quotes doubled inside) and each unsigned integer literal of
 * BIGINT size made a placeholder, skipping quoted identifiers, names and `--` comments. Undefined when the text has no
 * such literal, or holds what this reading does not follow: a prefixed literal (`E'…'`, `X'…'`), a block comment, a
 * dollar-quoted string, an unterminated literal.
 */
export const literalTemplate = (sql: string): LiteralTemplate | undefined => {
  if (sql.includes(NONCE) || sql.includes(INT_PREFIX) || sql.includes("/*") || /\$\w*\$/.test(sql)) return undefined
  const pieces: Array<string> = []
  const values: Array<string> = []
  const integers: Array<string> = []
  let copied = 0
  let i = 0
  while (i < sql.length) {
    const c = sql.charCodeAt(i)
    if (c === 39) {
      if (i > 0 && (isWordChar(sql.charCodeAt(i - 1)) || sql.charCodeAt(i - 1) === 38)) return undefined
      let end = i + 1
      for (;;) {
        end = sql.indexOf("'", end)
        if (end < 0) return undefined
        if (sql.charCodeAt(end + 1) !== 39) break
        end += 2
      }
      pieces.push(sql.slice(copied, i), `'${placeholder(values.length)}'`)
      values.push(sql.slice(i + 1, end).replaceAll("''", "'"))
      copied = i = end + 1
    } else if (c === 34) {
      const end = closingQuote(sql, i)
      if (end < 0) return undefined
      i = end + 1
    } else if (c === 45 && sql.charCodeAt(i + 1) === 45) {
      const end = sql.indexOf("\n", i)
      i = end < 0 ? sql.length : end + 1
    } else if (c >= 48 && c <= 57) {
      let end = i + 1
      while (end < sql.length && sql.charCodeAt(end) >= 48 && sql.charCodeAt(end) <= 57) end++
      let back = i - 1
      while (back >= 0 && /\s/.test(sql[back]!)) back--
      const prev = sql.charCodeAt(back)
      const plain =
        !isWordChar(sql.charCodeAt(i - 1)) && sql.charCodeAt(i - 1) !== 46 && prev !== 45 &&
        !isWordChar(sql.charCodeAt(end)) && sql.charCodeAt(end) !== 46
      const digits = end - i
      const fits = digits >= 10 && digits <= 19 && integers.length < MAX_INT_PLACEHOLDERS
      if (plain && fits && templatedInteger(BigInt(sql.slice(i, end)))) {
        pieces.push(sql.slice(copied, i), intPlaceholder(integers.length))
        integers.push(sql.slice(i, end).replace(/^0+(?=\d)/, ""))
        copied = end
      }
      i = end
    } else if (isWordChar(c)) {
      // An identifier or keyword: its digits are not literals.
      while (i < sql.length && isWordChar(sql.charCodeAt(i))) i++
    } else i++
  }
  if (values.length === 0 && integers.length === 0) return undefined
  pieces.push(sql.slice(copied))
  return { text: pieces.join(""), values, integers }
}

/** The index of the `"` closing a quoted identifier opened at `start` (doubled quotes inside), or -1. */
const closingQuote = (sql: string, start: number): number => {
  let end = start + 1
  for (;;) {
    end = sql.indexOf('"', end)
    if (end < 0 || sql.charCodeAt(end + 1) !== 34) return end
    end += 2
  }
}

/** Placeholders between quotes (JSON strings, SQL literals), their index captured. */
const QUOTED = {
  '"': new RegExp(`"${NONCE}(\\d+)"`, "g"),
  "'": new RegExp(`'${NONCE}(\\d+)'`, "g")
} as const

/** Integer placeholders as whole numbers (no digit or point either side), their index captured. */
const INT_TOKENS = new RegExp(`(?<![\\d.])${INT_PREFIX}(\\d{7})(?![\\d.])`, "g")

/** Whether each of `count` placeholders occurs in a text exactly once in the form `found` matches, and nowhere else. */
const eachOnce = (text: string, count: number, all: RegExp, found: RegExp): boolean => {
  if ((text.match(all)?.length ?? 0) !== count) return false
  const seen = new Uint8Array(count)
  for (const m of text.matchAll(found)) {
    const i = Number(m[1])
    if (i >= count || seen[i] === 1) return false
    seen[i] = 1
  }
  return seen.every((s) => s === 1)
}

/** Whether a text holds a template's string placeholders between `quote`s and its integer ones as numbers. */
const holds = (text: string, strings: number, integers: number, quote: '"' | "'"): boolean =>
  eachOnce(text, strings, PLACEHOLDERS, QUOTED[quote]) && eachOnce(text, integers, INT_PLACEHOLDERS, INT_TOKENS)

/** A text with its placeholders replaced: strings as `string` writes them, integers by their digits. */
const fill = (text: string, quote: '"' | "'", template: Omit<LiteralTemplate, "text">, string: (s: string) => string) =>
  text
    .replace(QUOTED[quote], (_, i: string) => string(template.values[Number(i)]!))
    .replace(INT_TOKENS, (_, i: string) => template.integers[Number(i)]!)

/**
 * Whether DuckDB's parse of a template (json_serialize_sql) can stand for the texts it was made from: no error (its
 * message could quote a placeholder) and every placeholder once, as a string value.
 */
export const parsedTemplateHolds = (serialized: string, template: LiteralTemplate): boolean =>
  serialized.includes('"error":false') && holds(serialized, template.values.length, template.integers.length, '"')

/** The parse of a text from its template's parse: each placeholder's JSON value replaced by the literal's. */
export const fillParsed = (serialized: string, template: LiteralTemplate): string =>
  fill(serialized, '"', template, (s) => JSON.stringify(s))

/** Thrown out of a replacer to stop serialising a tree past the length a template may have. */
const TOO_LONG = Symbol("too long")

/**
 * A tree's JSON with every non-null VARCHAR constant's value a placeholder, and every BIGINT one a templated integer
 * may be (see INT_PREFIX), and those values in order; undefined once the JSON would pass `maxLength` (every member
 * writes two characters at least, so that many halves of it bound the replacer's calls).
 */
export const templatedJson = (
  tree: unknown,
  stringify: (value: unknown, replacer: (this: unknown, key: string, value: unknown) => unknown) => string,
  maxLength: number
): LiteralTemplate | undefined => {
  const values: Array<string> = []
  const integers: Array<string> = []
  let members = 0
  const replacer = function (this: unknown, key: string, value: unknown) {
    if (++members > maxLength / 2) throw TOO_LONG
    if (key !== "value") return value
    const holder = this as { readonly is_null?: unknown; readonly type?: { readonly id?: unknown } }
    if (holder.is_null !== false) return value
    if (typeof value === "string" && holder.type?.id === "VARCHAR") {
      values.push(value)
      return placeholder(values.length - 1)
    }
    const integer =
      typeof value === "bigint" ? value : typeof value === "number" && Number.isSafeInteger(value) ? BigInt(value) : undefined
    if (integer === undefined || holder.type?.id !== "BIGINT" || !templatedInteger(integer)) return value
    if (integers.length >= MAX_INT_PLACEHOLDERS) return value
    integers.push(String(integer))
    return BigInt(intPlaceholder(integers.length - 1))
  }
  try {
    const text = stringify(tree, replacer)
    return text.length > maxLength ? undefined : { text, values, integers }
  } catch (e) {
    if (e === TOO_LONG) return undefined
    throw e
  }
}

/** Whether DuckDB's rendering of a templated tree holds each placeholder once, as a quoted literal and nowhere else. */
export const renderedTemplateHolds = (sql: string, template: LiteralTemplate): boolean =>
  holds(sql, template.values.length, template.integers.length, "'")

/** The SQL of a tree from its template's rendering: each placeholder replaced by its literal (quotes doubled). */
export const fillRendered = (sql: string, template: LiteralTemplate): string =>
  fill(sql, "'", template, (s) => `'${s.replaceAll("'", "''")}'`)
