import type { DuckDBConnection } from "@duckdb/node-api"
import type { DatabaseState, TableState } from "../catalog/state.ts"
import { liveTable } from "../catalog/state.ts"
import { constant, forEachNode, isObject, parseSql, renderSql, transform, type Json, type JsonObject } from "./ast.ts"
import { showColumnsSql, showColumnsTarget } from "./showColumns.ts"
import { columnsInOrder, duckTypeName, virtualTableSql, type VirtualTable } from "./virtualTables.ts"

/**
 * Turns a user's SQL (InfluxDB 3's DataFusion dialect) into the DuckDB SQL that runs: parse, bind `$name`
 * parameters as constants, apply the dialect rewrite, and replace every table reference with a subquery over the
 * write buffer or a virtual table. All of it on the parsed tree.
 */

/** A query that cannot be planned: the user's mistake (400). */
export interface PlanError {
  readonly _tag: "PlanError"
  readonly message: string
}

const planError = (message: string): PlanError => ({ _tag: "PlanError", message })

/** What a buffered table offers the planner. */
export interface BufferView {
  readonly viewSql: (tableId: number, deduplicate?: boolean) => string | undefined
  readonly describe: (tableId: number) => { readonly rows: number; readonly mayHaveDuplicates: boolean } | undefined
}

export interface TranslateInput {
  readonly conn: DuckDBConnection
  readonly sql: string
  readonly params: Readonly<Record<string, Json>>
  readonly db: DatabaseState
  readonly buffer: BufferView
  /** The virtual table `schema.name` (information_schema, system), looked up only when a query names one. */
  readonly virtualTable: (qualifiedName: string) => VirtualTable | undefined
  /** Whether a buffered table's rows must be merged by series and time (see DuplicateCheck). */
  readonly needsMerge: (tableId: number) => Promise<boolean>
  /** The dialect rewrite, applied after parameters are bound and before tables are resolved. */
  readonly dialect: (statement: JsonObject) => JsonObject | { readonly _tag: "DialectError"; readonly message: string }
}

export interface Translated {
  readonly sql: string
  /** The user tables the query reads. */
  readonly tables: ReadonlyArray<TableState>
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`

/** The SQL of a user table as InfluxDB shows it: columns sorted by name, over the buffered rows (or none). */
export const userTableSql = (table: TableState, buffer: BufferView, merge: boolean): string => {
  const columns = columnsInOrder(table)
  const view = buffer.viewSql(table.id, merge)
  if (view === undefined) return `SELECT ${columns.map((c) => `CAST(NULL AS ${duckTypeName[c.type]}) AS ${quote(c.name)}`).join(", ")} WHERE false`
  return `SELECT ${columns.map((c) => quote(c.name)).join(", ")} FROM (${view}) AS b`
}

/** Parsed subqueries by their SQL text: the same buffer view is parsed once, not per query. */
const parsedSubqueries = new Map<string, JsonObject>()
const PARSED_CACHE_SIZE = 512

const parseSubquery = async (conn: DuckDBConnection, sql: string): Promise<JsonObject> => {
  const cached = parsedSubqueries.get(sql)
  if (cached !== undefined) return cached
  const parsed = await parseSql(conn, sql)
  if (!Array.isArray(parsed)) throw new Error(`internal SQL did not parse: ${(parsed as { message: string }).message}: ${sql}`)
  const statement = parsed[0]!
  if (parsedSubqueries.size >= PARSED_CACHE_SIZE) parsedSubqueries.delete(parsedSubqueries.keys().next().value!)
  parsedSubqueries.set(sql, statement)
  return statement
}

const subqueryRef = (statement: JsonObject, alias: string): JsonObject => ({
  type: "SUBQUERY",
  alias,
  sample: null,
  query_location: 18446744073709551615n,
  subquery: statement,
  column_name_alias: []
})

/** A JSON parameter value as a constant node. */
const parameterConstant = (value: Json): JsonObject => {
  if (value === null) return constant("NULL", null)
  switch (typeof value) {
    case "string":
      return constant("VARCHAR", value)
    case "boolean":
      return constant("BOOLEAN", value)
    case "bigint":
      return constant("BIGINT", value)
    case "number":
      return Number.isInteger(value) ? constant("BIGINT", value) : constant("DOUBLE", value)
  }
  return constant("VARCHAR", JSON.stringify(value))
}

const bindParameters = (statement: JsonObject, params: Readonly<Record<string, Json>>): JsonObject | PlanError => {
  let missing: string | undefined
  const bound = transform(statement, (node) => {
    if (node["class"] !== "PARAMETER") return undefined
    const name = String(node["identifier"])
    if (!Object.prototype.hasOwnProperty.call(params, name)) {
      missing ??= name
      return undefined
    }
    const c = parameterConstant(params[name]!)
    c["alias"] = node["alias"] ?? ""
    return c
  }) as JsonObject
  if (missing !== undefined) return planError(`No value found for placeholder with name $${missing}`)
  bound["named_param_map"] = []
  return bound
}

const cteNames = (statement: JsonObject): Set<string> => {
  const names = new Set<string>()
  forEachNode(statement, (node) => {
    const map = node["cte_map"]
    if (isObject(map) && Array.isArray(map["map"])) for (const entry of map["map"]) if (isObject(entry)) names.add(String(entry["key"]))
  })
  return names
}

const tableNotFound = (parts: ReadonlyArray<string>) => planError(`Error during planning: table '${["public", "iox", ...parts].slice(-3).join(".")}' not found`)

/** Translates one query. */
export const translate = async (input: TranslateInput): Promise<Translated | PlanError> => {
  const show = showColumnsTarget(input.sql)
  const parsed = await parseSql(input.conn, show === undefined ? input.sql : showColumnsSql(show))
  if (!Array.isArray(parsed)) return planError(`SQL error: ParserError("${(parsed as { message: string }).message}")`)
  if (parsed.length === 0) return planError("SQL error: ParserError(\"Expected: an SQL statement, found: EOF\")")
  if (parsed.length > 1) return planError("This feature is not implemented: The context currently only supports a single SQL statement")

  const bound = bindParameters(parsed[0]!, input.params)
  if ("_tag" in bound && bound._tag === "PlanError") return bound as PlanError
  const rewritten = input.dialect(bound as JsonObject)
  if (rewritten["_tag"] === "DialectError") return planError(String(rewritten["message"]))

  const ctes = cteNames(rewritten as JsonObject)
  const tables = new Map<number, TableState>()
  const replacements = new Map<JsonObject, { sql: string | TableState; alias: string }>()
  let failure: PlanError | undefined

  forEachNode(rewritten as JsonObject, (node) => {
    if (failure !== undefined) return
    switch (node["type"]) {
      case "BASE_TABLE": {
        const catalogName = String(node["catalog_name"] ?? "")
        const schema = String(node["schema_name"] ?? "")
        const name = String(node["table_name"])
        const alias = String(node["alias"] ?? "") || name
        if (catalogName !== "" && catalogName !== "public") {
          failure = tableNotFound([catalogName, schema, name])
          return
        }
        if (schema === "" && ctes.has(name)) return
        if (schema === "" || schema === "iox") {
          const table = liveTable(input.db, name)
          if (table === undefined) {
            failure = tableNotFound([name])
            return
          }
          tables.set(table.id, table)
          replacements.set(node, { sql: table, alias })
          return
        }
        const virtual = input.virtualTable(`${schema}.${name}`)
        if (virtual === undefined) {
          failure = tableNotFound([schema, name])
          return
        }
        replacements.set(node, { sql: virtualTableSql(virtual), alias })
        return
      }
      case "SHOW_REF": {
        const what = String(node["table_name"] ?? "").replace(/^"|"$/g, "")
        const info = input.virtualTable("information_schema.tables")
        if (what.toLowerCase() !== "tables" || info === undefined) {
          failure = planError(`This feature is not implemented: SHOW ${what} is not supported`)
          return
        }
        replacements.set(node, { sql: `SELECT table_catalog, table_schema, table_name, table_type FROM (${virtualTableSql(info)})`, alias: String(node["alias"] ?? "") || "tables" })
        return
      }
      case "TABLE_FUNCTION": {
        const fn = node["function"]
        failure = planError(`Error during planning: table function '${isObject(fn) ? String(fn["function_name"]) : "?"}' not found`)
        return
      }
    }
  })
  if (failure !== undefined) return failure

  const merges = new Map<number, boolean>()
  for (const table of tables.values()) merges.set(table.id, await input.needsMerge(table.id))
  const parsedReplacements = new Map<JsonObject, JsonObject>()
  for (const [node, r] of replacements) {
    const sql = typeof r.sql === "string" ? r.sql : userTableSql(r.sql, input.buffer, merges.get(r.sql.id) ?? true)
    parsedReplacements.set(node, subqueryRef(await parseSubquery(input.conn, sql), r.alias))
  }
  const resolved = transformIdentity(rewritten as JsonObject, parsedReplacements)
  return { sql: await renderSql(input.conn, [resolved]), tables: [...tables.values()] }
}

/** Replaces nodes by identity (the ones found while walking the same tree). */
const transformIdentity = (node: JsonObject, replacements: ReadonlyMap<JsonObject, JsonObject>): JsonObject => {
  const walk = (value: Json): Json => {
    if (Array.isArray(value)) return value.map(walk)
    if (!isObject(value)) return value
    const replacement = replacements.get(value)
    if (replacement !== undefined) return replacement
    const copy: JsonObject = {}
    for (const key in value) copy[key] = walk(value[key]!)
    return copy
  }
  return walk(node) as JsonObject
}
