import * as Crypto from "node:crypto"

/**
 * Queries that differ only in their string literals: a dashboard sends the same query with a new time range on every
 * refresh, and DuckDB's parser and renderer (a round trip each, ~0.3 and ~0.4 ms) would see a new text each time. A
 * template stands each plain string literal in for a placeholder: DuckDB parses and renders the template once, and the
 * literals are put back into its answer. A template is used only where DuckDB's answer holds each placeholder exactly
 * once, as a string value (parse) or as a quoted literal (render): anything else (a literal the parser or renderer
 * treats otherwise) is parsed or rendered as it is.
 */

/**
 * Per process: no text a user sends can hold it by chance, and a text that holds it is never templated. Mixed case,
 * so that a parser or renderer changing a literal's case would show as a missing placeholder.
 */
const NONCE = `Strata_Literal_${Crypto.randomUUID().replace(/-/g, "")}_`
const PLACEHOLDERS = new RegExp(`${NONCE}(\\d+)`, "g")

const placeholder = (i: number) => `${NONCE}${i}`

/** SQL text with its plain string literals as placeholders, and the literals' values. */
export interface LiteralTemplate {
  readonly text: string
  readonly values: ReadonlyArray<string>
}

/** Letters, digits, `_` and any non-ASCII character: what may end an identifier or a literal's prefix. */
const isWordChar = (c: number) =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c > 127

/**
 * The template of a SQL text: each plain `'…'` literal (quotes doubled inside) made a placeholder, skipping quoted
 * identifiers and `--` comments. Undefined when the text has no plain literal, or holds what this reading does not
 * follow: a prefixed literal (`E'…'`, `X'…'`), a block comment, a dollar-quoted string, an unterminated literal.
 */
export const literalTemplate = (sql: string): LiteralTemplate | undefined => {
  if (sql.includes(NONCE) || sql.includes("/*") || /\$\w*\$/.test(sql)) return undefined
  const pieces: Array<string> = []
  const values: Array<string> = []
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
    } else i++
  }
  if (values.length === 0) return undefined
  pieces.push(sql.slice(copied))
  return { text: pieces.join(""), values }
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

/** Placeholders between quotes, their index captured. */
const quoted = (quote: '"' | "'") => new RegExp(`${quote}${NONCE}(\\d+)${quote}`, "g")

/** Whether each of `count` placeholders occurs in a text exactly once, between `quote`s, and the nonce nowhere else. */
const eachOnce = (text: string, count: number, quote: '"' | "'"): boolean => {
  if ((text.match(PLACEHOLDERS)?.length ?? 0) !== count) return false
  const seen = new Uint8Array(count)
  for (const m of text.matchAll(quoted(quote))) {
    const i = Number(m[1])
    if (i >= count || seen[i] === 1) return false
    seen[i] = 1
  }
  return seen.every((s) => s === 1)
}


/**
 * Whether DuckDB's parse of a template (json_serialize_sql) can stand for the texts it was made from: no error (its
 * message could quote a placeholder) and every placeholder once, as a string value.
 */
export const parsedTemplateHolds = (serialized: string, count: number): boolean =>
  serialized.includes('"error":false') && eachOnce(serialized, count, '"')

/** The parse of a text from its template's parse: each placeholder's JSON string replaced by the literal's. */
export const fillParsed = (serialized: string, values: ReadonlyArray<string>): string =>
  serialized.replace(quoted('"'), (_, i: string) => JSON.stringify(values[Number(i)]))

/** A tree's JSON with every non-null VARCHAR constant's value a placeholder, and those values in order. */
export const templatedJson = (
  tree: unknown,
  stringify: (value: unknown, replacer: (this: unknown, key: string, value: unknown) => unknown) => string
): LiteralTemplate => {
  const values: Array<string> = []
  const text = stringify(tree, function (this: unknown, key, value) {
    if (key !== "value" || typeof value !== "string") return value
    const holder = this as { readonly is_null?: unknown; readonly type?: { readonly id?: unknown } }
    if (holder.is_null !== false || holder.type?.id !== "VARCHAR") return value
    values.push(value)
    return placeholder(values.length - 1)
  })
  return { text, values }
}

/** Whether DuckDB's rendering of a templated tree holds each placeholder once, as a quoted literal and nowhere else. */
export const renderedTemplateHolds = (sql: string, count: number): boolean => eachOnce(sql, count, "'")

/** The SQL of a tree from its template's rendering: each quoted placeholder replaced by the literal, quotes doubled. */
export const fillRendered = (sql: string, values: ReadonlyArray<string>): string =>
  sql.replace(quoted("'"), (_, i: string) => `'${values[Number(i)]!.replaceAll("'", "''")}'`)
