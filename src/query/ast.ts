import type { DuckDBConnection } from "@duckdb/node-api"

/**
 * SQL as a tree: DuckDB's own parser (`json_serialize_sql`) turns a query into JSON, we rewrite that tree
 * (tables, parameters, InfluxDB's dialect), and `json_deserialize_sql` turns it back into SQL. No text surgery on
 * user SQL.
 */

export type Json = null | boolean | number | bigint | string | JsonArray | JsonObject
export interface JsonObject {
  [key: string]: Json
}
export type JsonArray = Array<Json>

/** A parse failure, with DuckDB's message. */
export interface SqlSyntaxError {
  readonly _tag: "SqlSyntaxError"
  readonly message: string
}

// ---------------------------------------------------------------------------------------------------------------
// JSON that keeps integers beyond 2^53 exact (nanosecond timestamps in constants), as bigint.

const isDigit = (c: number) => c >= 48 && c <= 57

/** Parses JSON; integers outside the safe range become bigint. */
export const parseJson = (text: string): Json => {
  let i = 0
  const ws = () => {
    while (i < text.length) {
      const c = text.charCodeAt(i)
      if (c === 32 || c === 10 || c === 13 || c === 9) i++
      else break
    }
  }
  const value = (): Json => {
    ws()
    const c = text[i]
    if (c === "{") {
      i++
      const out: JsonObject = {}
      ws()
      if (text[i] === "}") {
        i++
        return out
      }
      for (;;) {
        ws()
        const key = string()
        ws()
        i++ // :
        out[key] = value()
        ws()
        if (text[i] === ",") {
          i++
          continue
        }
        i++ // }
        return out
      }
    }
    if (c === "[") {
      i++
      const out: JsonArray = []
      ws()
      if (text[i] === "]") {
        i++
        return out
      }
      for (;;) {
        out.push(value())
        ws()
        if (text[i] === ",") {
          i++
          continue
        }
        i++ // ]
        return out
      }
    }
    if (c === '"') return string()
    if (text.startsWith("true", i)) {
      i += 4
      return true
    }
    if (text.startsWith("false", i)) {
      i += 5
      return false
    }
    if (text.startsWith("null", i)) {
      i += 4
      return null
    }
    return number()
  }
  const string = (): string => {
    const start = i
    i++
    let simple = true
    while (i < text.length) {
      const c = text.charCodeAt(i)
      if (c === 92) {
        simple = false
        i += 2
        continue
      }
      if (c === 34) break
      i++
    }
    i++
    const raw = text.slice(start, i)
    return simple ? raw.slice(1, -1) : (JSON.parse(raw) as string)
  }
  const number = (): number | bigint => {
    const start = i
    if (text[i] === "-") i++
    let integral = true
    while (i < text.length) {
      const c = text.charCodeAt(i)
      if (isDigit(c)) i++
      else if (c === 46 || c === 101 || c === 69 || c === 43 || c === 45) {
        integral = false
        i++
      } else break
    }
    const raw = text.slice(start, i)
    if (raw.length === 0) throw new SyntaxError(`invalid JSON at ${start}`)
    const n = Number(raw)
    return integral && !Number.isSafeInteger(n) ? BigInt(raw) : n
  }
  const result = value()
  return result
}

/** Serialises JSON, writing bigints as plain integers. */
export const stringifyJson = (value: Json): string => {
  if (value === null) return "null"
  switch (typeof value) {
    case "bigint":
      return value.toString()
    case "number":
      return Number.isFinite(value) ? String(value) : "null"
    case "boolean":
      return value ? "true" : "false"
    case "string":
      return JSON.stringify(value)
  }
  if (Array.isArray(value)) return `[${value.map(stringifyJson).join(",")}]`
  const parts: Array<string> = []
  for (const key in value) parts.push(`${JSON.stringify(key)}:${stringifyJson(value[key]!)}`)
  return `{${parts.join(",")}}`
}

// ---------------------------------------------------------------------------------------------------------------
// Parse and render through DuckDB.

/** Parses SQL text into its statements' trees (each `{node, named_param_map}`), or the parser's error. */
export const parseSql = async (conn: DuckDBConnection, sql: string): Promise<ReadonlyArray<JsonObject> | SqlSyntaxError> => {
  const statement = await conn.prepare("SELECT json_serialize_sql($1::VARCHAR)")
  statement.bindVarchar(1, sql)
  const reader = await statement.runAndReadAll()
  const serialized = String(reader.getRows()[0]![0])
  let parsed: JsonObject
  try {
    parsed = parseJson(serialized) as JsonObject
  } catch (e) {
    // DuckDB writes a literal past ±1.8e308 (`1e400`) as `Infinity`, which is not JSON: refused as out of range.
    if (/[:,[]-?Infinity[,}\]]/.test(serialized)) return { _tag: "SqlSyntaxError", message: "numeric literal out of range (beyond ±1.7976931348623157e308)" }
    throw e
  }
  if (parsed["error"] === true) return { _tag: "SqlSyntaxError", message: String(parsed["error_message"] ?? "syntax error") }
  return parsed["statements"] as Array<JsonObject>
}

/** Renders statement trees (as returned by `parseSql`, possibly rewritten) back into SQL text. */
export const renderSql = async (conn: DuckDBConnection, statements: ReadonlyArray<JsonObject>): Promise<string> => {
  const statement = await conn.prepare("SELECT json_deserialize_sql($1::JSON)")
  statement.bindVarchar(1, stringifyJson({ error: false, statements: [...statements] }))
  const reader = await statement.runAndReadAll()
  return String(reader.getRows()[0]![0])
}

// ---------------------------------------------------------------------------------------------------------------
// Walking trees.

export const isObject = (v: Json | undefined): v is JsonObject => typeof v === "object" && v !== null && !Array.isArray(v)

/**
 * Rebuilds a tree bottom-up: children first, then `visit` may replace each object node (return undefined to keep
 * it). Expression nodes carry `class` (e.g. `FUNCTION`, `COLUMN_REF`, `CONSTANT`); table references carry `type`
 * (e.g. `BASE_TABLE`, `SUBQUERY`, `JOIN`); query nodes have `type: "SELECT_NODE"`.
 */
export const transform = (node: Json, visit: (node: JsonObject) => JsonObject | undefined): Json => {
  if (Array.isArray(node)) return node.map((child) => transform(child, visit))
  if (!isObject(node)) return node
  const copy: JsonObject = {}
  for (const key in node) copy[key] = transform(node[key]!, visit)
  return visit(copy) ?? copy
}

/** Visits every object node, parents before children. */
export const forEachNode = (node: Json, visit: (node: JsonObject) => void): void => {
  if (Array.isArray(node)) {
    for (const child of node) forEachNode(child, visit)
    return
  }
  if (!isObject(node)) return
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
