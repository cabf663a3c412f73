import type { DuckDBConnection } from "@duckdb/node-api"
import { Data } from "effect"
import {
  fillParsed,
  fillRendered,
  literalTemplate,
  parsedTemplateHolds,
  renderedTemplateHolds,
  templatedJson
} from "./literalTemplate.ts"
import { ALWAYS_VALID, preparedStatement } from "./statements.ts"

/**
 * SQL as a tree: DuckDB's own parser (`json_serialize_sql`) turns a query into JSON, we rewrite that tree
 * (tables, parameters, InfluxDB's dialect), and `json_deserialize_sql` turns it back into SQL. No text surgery on
 * user SQL: only literals are stood in for (literalTemplate.ts), where DuckDB's own answer shows the stand-ins went
 * through untouched.
 */

export type Json = null | boolean | number | bigint | string | JsonArray | JsonObject
export interface JsonObject {
  [key: string]: Json
}
export type JsonArray = Array<Json>

/** A parse failure, with DuckDB's message. */
export class SqlSyntaxError extends Data.TaggedError("SqlSyntaxError")<{ readonly message: string }> {}

/** A query whose tree is too large to read and rewrite within the main thread's budget (a 400). */
export class QueryTooComplex extends Data.TaggedError("QueryTooComplex")<{ readonly message: string }> {}

/**
 * Bounds on a user query's tree. DuckDB's JSON for it is read on the main thread, and each pass over the tree
 * (parameters, dialect, tables, render) is linear in its size: at 6 MB (about 110,000 nodes) each pass takes well
 * under 100 ms, and translate yields to other requests between passes. Text bounds (complexity.ts) are met first
 * by nearly every query; this one holds whatever they let through. Depth is DuckDB's to bound (1,000 levels of
 * expression, up to ~6,000 JSON levels); past ~3,000 the recursive passes run out of stack and translate answers 400.
 */
export const TREE_LIMITS = {
  /** Characters of the tree's JSON. */
  json: 6_000_000,
  /** Nodes (objects and arrays) that repeated table references may add to a tree. */
  repeatedNodes: 100_000
} as const

// ---------------------------------------------------------------------------------------------------------------
// JSON that keeps integers beyond 2^53 exact (nanosecond timestamps in constants, DuckDB's "no location"), as
// bigint. Both directions use the engine's own JSON.parse and JSON.stringify (several times faster than any loop
// of ours over megabytes of tree) and carry big integers through them as strings marked with a lone surrogate,
// which no string from DuckDB (valid UTF-8) and no parameter (made well-formed in translate) can contain.

const BIG_MARK = 0xd800
const BIG_MARK_ESCAPED = "\\ud800"
const BIG_MARKED = /"\\ud800(-?\d+)"/g

/** DuckDB's "no location" (u64 max) on nodes it made itself; its deserializer takes an absent location as the same. */
const NO_LOCATION_FIELD = ',"query_location":18446744073709551615'
const NO_LOCATION_KEY = ',"query_location":'

/**
 * One pass over the text outside its strings: drops "no location" fields and writes every other integer
 * JSON.parse would round as a marked string. Returns the text to parse and how many integers it marked.
 */
const prepareJson = (text: string): { readonly text: string; readonly marks: number } => {
  const n = text.length
  const pieces: Array<string> = []
  let copied = 0
  let marks = 0
  let i = 0
  while (i < n) {
    const c = text.charCodeAt(i)
    if (c === 34) {
      // Skip a string: its end is the next quote not escaped by an odd run of backslashes.
      let end = i + 1
      for (;;) {
        end = text.indexOf('"', end)
        if (end < 0) return { text, marks: 0 } // malformed; JSON.parse says where
        let backslashes = 0
        while (text.charCodeAt(end - 1 - backslashes) === 92) backslashes++
        if (backslashes % 2 === 0) break
        end++
      }
      i = end + 1
    } else if ((c >= 48 && c <= 57) || c === 45) {
      const start = i++
      while (i < n) {
        const d = text.charCodeAt(i)
        if (d >= 48 && d <= 57) i++
        else break
      }
      const d = text.charCodeAt(i)
      if (d === 46 || d === 101 || d === 69) {
        // A fraction or exponent: a double either way.
        while (i < n) {
          const e = text.charCodeAt(i)
          if ((e >= 48 && e <= 57) || e === 46 || e === 101 || e === 69 || e === 43 || e === 45) i++
          else break
        }
      } else if (i - start >= 16 && !Number.isSafeInteger(Number(text.slice(start, i)))) {
        const fieldStart = start - NO_LOCATION_KEY.length
        if (
          fieldStart >= copied &&
          text.startsWith(NO_LOCATION_FIELD, fieldStart) &&
          i === fieldStart + NO_LOCATION_FIELD.length
        ) {
          pieces.push(text.slice(copied, fieldStart))
        } else {
          pieces.push(text.slice(copied, start), `"${BIG_MARK_ESCAPED}`, text.slice(start, i), '"')
          marks++
        }
        copied = i
      }
    } else i++
  }
  if (copied === 0) return { text, marks: 0 }
  pieces.push(text.slice(copied))
  return { text: pieces.join(""), marks }
}

/** Turns `marks` marked strings back into bigints, in place (the tree was just parsed and is ours). */
const unmarkBigInts = (tree: Json, marks: number): Json => {
  let remaining = marks
  const unmark = (value: Json): Json => {
    if (typeof value === "string") {
      // The mark, then a digit or minus sign (a string may begin with U+10000, whose first half is the same unit).
      const next = value.charCodeAt(1)
      if (value.charCodeAt(0) !== BIG_MARK || !((next >= 48 && next <= 57) || next === 45)) return value
      remaining--
      return BigInt(value.slice(1))
    }
    if (typeof value !== "object" || value === null) return value
    if (Array.isArray(value)) {
      for (let k = 0; k < value.length && remaining > 0; k++) {
        const child = value[k]!
        if (typeof child === "object" || typeof child === "string") value[k] = unmark(child)
      }
      return value
    }
    for (const key in value) {
      if (remaining === 0) break
      const child = value[key]!
      if (typeof child === "object" || typeof child === "string") {
        const next = unmark(child)
        if (next !== child) value[key] = next
      }
    }
    return value
  }
  return unmark(tree)
}

/** Whether a text has a run of 16 digits anywhere: only then can it hold an integer JSON.parse would round. */
const LONG_DIGITS = /\d{16}/

/** Parses JSON; integers outside the safe range become bigint (DuckDB's "no location" fields are left out). */
export const parseJson = (text: string): Json => {
  if (!LONG_DIGITS.test(text)) return JSON.parse(text) as Json
  const prepared = prepareJson(text)
  const parsed = JSON.parse(prepared.text) as Json
  return prepared.marks > 0 ? unmarkBigInts(parsed, prepared.marks) : parsed
}

/** Lets other requests run (a turn of the event loop) between long stretches of work on the main thread. */
export const yieldToOthers = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** JSON this long takes milliseconds per step to read: parseSql lets other requests run between the steps. */
const LARGE_JSON = 1_000_000

const markBigInts = (_key: string, value: unknown): unknown => (typeof value === "bigint" ? `${String.fromCharCode(BIG_MARK)}${value}` : value)

/** Serialises JSON through a replacer, writing bigints as plain integers. */
const stringifyWith = (value: unknown, replacer: (this: unknown, key: string, value: unknown) => unknown): string =>
  JSON.stringify(value, function (this: unknown, key, v) {
    const replaced = replacer.call(this, key, v)
    return typeof replaced === "bigint" ? markBigInts(key, replaced) : replaced
  }).replace(BIG_MARKED, "$1")

/** Serialises JSON, writing bigints as plain integers. */
export const stringifyJson = (value: Json): string => {
  // Most trees hold no bigint: without a replacer JSON.stringify is ~2x faster, and it throws on the first bigint.
  try {
    return JSON.stringify(value)
  } catch (e) {
    if (!(e instanceof TypeError)) throw e
    return JSON.stringify(value, markBigInts).replace(BIG_MARKED, "$1")
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Parse and render through DuckDB.

/**
 * The last answers of DuckDB's parser and renderer, by their input text. Both are pure functions of it, and
 * dashboards send the same queries again and again: a hit saves a prepared statement and a round trip to DuckDB's
 * threads (about half of a small query's fixed cost). Only short texts are kept.
 */
class TextCache<V extends string | null> {
  private readonly entries = new Map<string, V>()
  constructor(
    private readonly capacity: number,
    private readonly maxKeyLength: number
  ) {}
  get(key: string): V | undefined {
    const value = this.entries.get(key)
    if (value !== undefined) {
      this.entries.delete(key)
      this.entries.set(key, value)
    }
    return value
  }
  set(key: string, value: V): void {
    if (key.length > this.maxKeyLength || (value !== null && value.length > 4 * this.maxKeyLength)) return
    this.entries.set(key, value)
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!)
  }
}

/** The longest texts whose parse, and tree JSON whose rendering, are kept. */
const KEPT_PARSE_TEXT = 16_384
const KEPT_RENDER_JSON = 32_768

const parsedTexts = new TextCache<string>(512, KEPT_PARSE_TEXT)
const renderedTexts = new TextCache<string>(256, KEPT_RENDER_JSON)
/**
 * DuckDB's answers for literal templates; null where one cannot stand for the texts (see literalTemplate.ts). A
 * template too long to keep is not used: it would cost the same round trip as the text itself.
 */
const parsedTemplates = new TextCache<string | null>(512, KEPT_PARSE_TEXT)
const renderedTemplates = new TextCache<string | null>(256, KEPT_RENDER_JSON)

/**
 * Parses SQL text into its statements' trees (each `{node, named_param_map}`), or the parser's error, or
 * QueryTooComplex when the tree's JSON is longer than `maxJson` (checked before it is read).
 */
export const parseSql = async (
  conn: DuckDBConnection,
  sql: string,
  maxJson: number = TREE_LIMITS.json
): Promise<ReadonlyArray<JsonObject> | SqlSyntaxError | QueryTooComplex> => {
  let serialized = parsedTexts.get(sql)
  if (serialized === undefined) {
    serialized = (await serializeFromTemplate(conn, sql)) ?? (await serializeSql(conn, sql))
    parsedTexts.set(sql, serialized)
  }
  if (serialized.length > maxJson) {
    const mb = (chars: number) => `${(chars / 1e6).toFixed(1)} MB`
    return new QueryTooComplex({
      message: `query too complex: its syntax tree is ${mb(serialized.length)} of JSON (at most ${mb(maxJson)})`
    })
  }
  const pause = serialized.length > LARGE_JSON ? yieldToOthers : () => Promise.resolve()
  let parsed: JsonObject
  try {
    // parseJson's steps, with pauses between them.
    const prepared = LONG_DIGITS.test(serialized) ? prepareJson(serialized) : { text: serialized, marks: 0 }
    await pause()
    parsed = JSON.parse(prepared.text) as JsonObject
    if (prepared.marks > 0) {
      await pause()
      unmarkBigInts(parsed, prepared.marks)
    }
  } catch (e) {
    // DuckDB writes a literal past ±1.8e308 (`1e400`) as `Infinity`, which is not JSON: refused as out of range.
    if (/[:,[]-?Infinity[,}\]]/.test(serialized)) return new SqlSyntaxError({ message: "numeric literal out of range (beyond ±1.7976931348623157e308)" })
    throw e
  }
  if (parsed["error"] === true) return new SqlSyntaxError({ message: String(parsed["error_message"] ?? "syntax error") })
  return parsed["statements"] as Array<JsonObject>
}

/** Renders statement trees (as returned by `parseSql`, possibly rewritten) back into SQL text. */
export const renderSql = async (conn: DuckDBConnection, statements: ReadonlyArray<JsonObject>): Promise<string> => {
  const root = { error: false, statements: [...statements] }
  // One pass in the common case: a tree too large to keep stops it early, and without literals its text is the JSON.
  const template = templatedJson(root, stringifyWith, KEPT_RENDER_JSON)
  const literals = template === undefined ? 0 : template.values.length + template.integers.length
  if (template !== undefined && literals > 0) {
    let rendered = renderedTemplates.get(template.text)
    if (rendered === undefined) {
      const sql = await deserializeSql(conn, template.text)
      rendered = renderedTemplateHolds(sql, template) ? sql : null
      renderedTemplates.set(template.text, rendered)
    }
    if (rendered !== null) return fillRendered(rendered, template)
  }
  const json = template !== undefined && literals === 0 ? template.text : stringifyJson(root)
  const cached = renderedTexts.get(json)
  if (cached !== undefined) return cached
  const sql = await deserializeSql(conn, json)
  renderedTexts.set(json, sql)
  return sql
}

/** DuckDB's parse of SQL text, as JSON. */
const serializeSql = async (conn: DuckDBConnection, sql: string): Promise<string> => {
  const statement = await preparedStatement(conn, "SELECT json_serialize_sql($1::VARCHAR)", ALWAYS_VALID)
  statement.bindVarchar(1, sql)
  return String((await statement.runAndReadAll()).getRows()[0]![0])
}

/** DuckDB's rendering of statement trees' JSON as SQL text. */
const deserializeSql = async (conn: DuckDBConnection, json: string): Promise<string> => {
  const statement = await preparedStatement(conn, "SELECT json_deserialize_sql($1::JSON)", ALWAYS_VALID)
  statement.bindVarchar(1, json)
  return String((await statement.runAndReadAll()).getRows()[0]![0])
}

/**
 * The parse of a text through its literal template (see literalTemplate.ts), parsed once; undefined when the text
 * has no template or DuckDB's parse of it cannot stand for the text.
 */
const serializeFromTemplate = async (conn: DuckDBConnection, sql: string): Promise<string | undefined> => {
  // A template is longer than its text: past the limit neither is kept.
  const template = sql.length > KEPT_PARSE_TEXT ? undefined : literalTemplate(sql)
  if (template === undefined || template.text.length > KEPT_PARSE_TEXT) return undefined
  let parsed = parsedTemplates.get(template.text)
  if (parsed === undefined) {
    const serialized = await serializeSql(conn, template.text)
    parsed = parsedTemplateHolds(serialized, template) ? serialized : null
    parsedTemplates.set(template.text, parsed)
  }
  return parsed === null ? undefined : fillParsed(parsed, template)
}

// ---------------------------------------------------------------------------------------------------------------
// Walking trees.

export const isObject = (v: Json | undefined): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v)

/**
 * Rebuilds a tree bottom-up: children first, then `visit` may replace each object node (return undefined to keep
 * it). Expression nodes carry `class` (e.g. `FUNCTION`, `COLUMN_REF`, `CONSTANT`); table references carry `type`
 * (e.g. `BASE_TABLE`, `SUBQUERY`, `JOIN`); query nodes have `type: "SELECT_NODE"`. Copy on write: a node is copied
 * only when a child changed, and `visit` sees the input's own node otherwise, so it must not modify it.
 */
export const transform = (node: Json, visit: (node: JsonObject) => JsonObject | undefined): Json => {
  const walk = (value: Json): Json => {
    if (typeof value !== "object" || value === null) return value
    if (Array.isArray(value)) return mapArray(value, walk)
    const rebuilt = mapObject(value, walk)
    return visit(rebuilt) ?? rebuilt
  }
  return walk(node)
}

/** The array with `f` applied to each element; the same array when no element changed. */
export const mapArray = (array: JsonArray, f: (value: Json) => Json): JsonArray => {
  let out: JsonArray | undefined
  for (let k = 0; k < array.length; k++) {
    const child = array[k]!
    const next = f(child)
    if (out !== undefined) out.push(next)
    else if (next !== child) {
      out = array.slice(0, k)
      out.push(next)
    }
  }
  return out ?? array
}

/** The object with `f` applied to each value; the same object when no value changed. */
export const mapObject = (object: JsonObject, f: (value: Json, key: string) => Json): JsonObject => {
  let out: JsonObject | undefined
  for (const key in object) {
    const child = object[key]!
    const next = f(child, key)
    if (next !== child) {
      out ??= { ...object }
      out[key] = next
    }
  }
  return out ?? object
}

/** The objects and arrays of a tree. */
export const countNodes = (node: Json): number => {
  if (typeof node !== "object" || node === null) return 0
  let count = 1
  if (Array.isArray(node)) for (const child of node) count += countNodes(child)
  else for (const key in node) count += countNodes(node[key]!)
  return count
}

/** Visits every object node, parents before children. */
export const forEachNode = (node: Json, visit: (node: JsonObject) => void): void => {
  if (typeof node !== "object" || node === null) return
  if (Array.isArray(node)) {
    for (const child of node) forEachNode(child, visit)
    return
  }
  visit(node)
  for (const key in node) forEachNode(node[key]!, visit)
}

// Builders for the nodes rewrites most often create.

const NO_LOCATION = 18446744073709551615n

/** A constant expression node. `type` is a DuckDB logical type id: VARCHAR, BIGINT, DOUBLE, BOOLEAN, … */
export const constant = (type: string, value: Json, alias = ""): JsonObject =>
  value === null
    ? { class: "CONSTANT", type: "VALUE_CONSTANT", alias, query_location: NO_LOCATION, value: { type: { id: "NULL", type_info: null }, is_null: true } }
    : { class: "CONSTANT", type: "VALUE_CONSTANT", alias, query_location: NO_LOCATION, value: { type: { id: type, type_info: null }, is_null: false, value } }

/** A function call expression node. */
export const functionCall = (name: string, children: Array<JsonObject>, alias = ""): JsonObject => ({
  class: "FUNCTION",
  type: "FUNCTION",
  alias,
  query_location: NO_LOCATION,
  function_name: name,
  schema: "",
  children,
  filter: null,
  order_bys: { type: "ORDER_MODIFIER", orders: [] },
  distinct: false,
  is_operator: false,
  export_state: false,
  catalog: ""
})

/** A column reference expression node (`names` is the qualified path, e.g. ["cpu", "time"]). */
export const columnRef = (names: Array<string>, alias = ""): JsonObject => ({
  class: "COLUMN_REF",
  type: "COLUMN_REF",
  alias,
  query_location: NO_LOCATION,
  column_names: names
})

/** A cast expression node to a DuckDB type id. */
export const cast = (child: JsonObject, typeId: string, alias = ""): JsonObject => ({
  class: "CAST",
  type: "OPERATOR_CAST",
  alias,
  query_location: NO_LOCATION,
  child,
  cast_type: { id: typeId, type_info: null },
  try_cast: false
})
