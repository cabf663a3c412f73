import type { DuckDBConnection } from "@duckdb/node-api"
import type { DatabaseState, TableState } from "../catalog/state.ts"
import { liveTable } from "../catalog/state.ts"
import { constant, isObject, parseSql, renderSql, transform, type Json, type JsonObject } from "./ast.ts"
import { functionPolicy, type FunctionPolicy } from "./sandbox.ts"
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
      // Whole numbers past 2^53 (`1e300`) bind as doubles, as serde_json reads them: BIGINT cannot hold them.
      return Number.isSafeInteger(value) ? constant("BIGINT", value) : constant("DOUBLE", value)
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

const tableNotFound = (parts: ReadonlyArray<string>) => planError(`Error during planning: table '${["public", "iox", ...parts].slice(-3).join(".")}' not found`)

/** What a table reference resolved to: a user table, or the SQL of a virtual table. */
interface Replacement {
  readonly sql: string | TableState
  readonly alias: string
}

/** A CTE's name inside the SQL that runs: no catalog table and no file has it, so DuckDB resolves it to the CTE or fails. */
const CTE_PREFIX = "__strata_cte_"

/** Table reference types the parser produces that no query may use. */
const REFUSED_TABLE_REFS = new Set(["COLUMN_DATA", "DELIM_GET", "CTE", "BOUND_TABLE_REF"])

const invalidFunction = (name: string) => planError(`Error during planning: Invalid function '${name}'.`)

/**
 * Resolves every table reference of a statement the way DuckDB will see it, respecting CTE scope: a name is a CTE
 * only where a CTE of that name is visible (an earlier one of the WITH clause of an enclosing query node, or a
 * recursive CTE inside its own body); every other BASE_TABLE is one of the database's tables, a virtual table, or
 * refused. CTEs are renamed (`__strata_cte_N`) so a reference we took for a CTE can never reach anything else. On
 * the way, every function call is checked against the allow-list and table functions are refused.
 */
const resolveTables = (
  statement: JsonObject,
  input: TranslateInput,
  functions: FunctionPolicy
): { readonly tree: JsonObject; readonly tables: Map<number, TableState>; readonly replacements: Map<JsonObject, Replacement> } | PlanError => {
  const tables = new Map<number, TableState>()
  const replacements = new Map<JsonObject, Replacement>()
  let failure: PlanError | undefined
  // A refused function is reported only when every table resolved, as DataFusion resolves tables first.
  let functionFailure: PlanError | undefined
  let ctes = 0

  /** Visible CTEs: lower-case name (DuckDB matches them case-insensitively) to the renamed CTE. */
  type Scope = ReadonlyMap<string, string>
  const withCte = (scope: Scope, name: string, renamed: string): Scope => new Map(scope).set(name.toLowerCase(), renamed)

  const copyWith = (node: JsonObject, scope: Scope): JsonObject => {
    const copy: JsonObject = {}
    for (const key in node) copy[key] = walk(node[key]!, scope)
    return copy
  }

  const walk = (value: Json, scope: Scope): Json => {
    if (failure !== undefined) return value
    if (Array.isArray(value)) return value.map((v) => walk(v, scope))
    if (!isObject(value)) return value
    if ("cte_map" in value) return queryNode(value, scope)
    if ("class" in value) return expression(value, scope)
    switch (value["type"]) {
      case "BASE_TABLE":
        return baseTable(value, scope)
      case "SHOW_REF":
        return showRef(value)
      case "TABLE_FUNCTION": {
        const fn = value["function"]
        failure = planError(`Error during planning: table function '${isObject(fn) ? String(fn["function_name"]) : "?"}' not found`)
        return value
      }
    }
    if (typeof value["type"] === "string" && REFUSED_TABLE_REFS.has(value["type"])) {
      failure = planError(`This feature is not implemented: ${value["type"]} table references`)
      return value
    }
    return copyWith(value, scope)
  }

  /** A query node: its CTEs, each seeing the ones before it, then its body seeing all of them. */
  const queryNode = (node: JsonObject, scope: Scope): JsonObject => {
    const map = node["cte_map"]
    const entries = isObject(map) && Array.isArray(map["map"]) ? map["map"] : []
    let visible = scope
    const renamedEntries: Array<Json> = []
    for (const entry of entries) {
      if (!isObject(entry) || !isObject(entry["value"]) || !isObject(entry["value"]["query"])) {
        failure ??= planError("This feature is not implemented: this WITH clause")
        return node
      }
      const name = String(entry["key"])
      const renamed = `${CTE_PREFIX}${ctes++}`
      const query = entry["value"]["query"]
      const body = query["node"]
      const recursive = isObject(body) && body["type"] === "RECURSIVE_CTE_NODE" && String(body["cte_name"]).toLowerCase() === name.toLowerCase()
      const value = walk(entry["value"], recursive ? withCte(visible, name, renamed) : visible) as JsonObject
      if (recursive) {
        const walkedQuery = value["query"] as JsonObject
        value["query"] = { ...walkedQuery, node: { ...(walkedQuery["node"] as JsonObject), cte_name: renamed } }
      }
      renamedEntries.push({ ...entry, key: renamed, value })
      visible = withCte(visible, name, renamed)
    }
    const copy: JsonObject = {}
    for (const key in node) copy[key] = key === "cte_map" ? { ...(map as JsonObject), map: renamedEntries } : walk(node[key]!, visible)
    return copy
  }

  const baseTable = (node: JsonObject, scope: Scope): JsonObject => {
    const catalogName = String(node["catalog_name"] ?? "")
    const schema = String(node["schema_name"] ?? "")
    const name = String(node["table_name"])
    const alias = String(node["alias"] ?? "") || name
    if (catalogName !== "" && catalogName !== "public") {
      failure = tableNotFound([catalogName, schema, name])
      return node
    }
    const cte = catalogName === "" && schema === "" ? scope.get(name.toLowerCase()) : undefined
    // The alias keeps the name the query qualifies columns with.
    if (cte !== undefined) return { ...node, table_name: cte, alias }
    const copy = { ...node }
    if (schema === "" || schema === "iox") {
      const table = liveTable(input.db, name)
      if (table === undefined) {
        failure = tableNotFound([name])
        return node
      }
      tables.set(table.id, table)
      replacements.set(copy, { sql: table, alias })
      return copy
    }
    const virtual = input.virtualTable(`${schema}.${name}`)
    if (virtual === undefined) {
      failure = tableNotFound([schema, name])
      return node
    }
    replacements.set(copy, { sql: virtualTableSql(virtual), alias })
    return copy
  }

  const showRef = (node: JsonObject): JsonObject => {
    const what = String(node["table_name"] ?? "").replace(/^"|"$/g, "")
    const info = input.virtualTable("information_schema.tables")
    if (what.toLowerCase() !== "tables" || node["query"] !== null || info === undefined) {
      failure = planError(`This feature is not implemented: SHOW ${what} is not supported`)
      return node
    }
    const copy = { ...node }
    replacements.set(copy, { sql: `SELECT table_catalog, table_schema, table_name, table_type FROM (${virtualTableSql(info)})`, alias: String(node["alias"] ?? "") || "tables" })
    return copy
  }

  /** Function calls must be on the allow-list, unqualified (or in DuckDB's `main`); types must be unqualified. */
  const expression = (node: JsonObject, scope: Scope): JsonObject => {
    switch (node["class"]) {
      case "FUNCTION":
      case "WINDOW": {
        const name = String(node["function_name"] ?? "").toLowerCase()
        const schema = String(node["schema"] ?? "")
        const qualified = String(node["catalog"] ?? "") !== "" || (schema !== "" && schema !== "main")
        const checked = node["class"] === "FUNCTION" || node["type"] === "WINDOW_AGGREGATE"
        if (qualified || (checked && !functions.allows(name))) functionFailure ??= invalidFunction(qualified ? `${schema}.${name}` : name)
        break
      }
      case "CAST": {
        const type = node["cast_type"]
        const info = isObject(type) ? type["type_info"] : null
        if (isObject(info) && (String(info["schema"] ?? "") !== "" || String(info["catalog"] ?? "") !== "")) {
          failure = planError(`This feature is not implemented: Unsupported SQL type ${String(info["schema"])}.${String(info["name"])}`)
          return node
        }
        break
      }
      case "PARAMETER":
        failure = planError(`No value found for placeholder with name $${String(node["identifier"])}`)
        return node
    }
    return copyWith(node, scope)
  }

  const tree = walk(statement, new Map()) as JsonObject
  return failure ?? functionFailure ?? { tree, tables, replacements }
}

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

  const resolved = resolveTables(rewritten as JsonObject, input, await functionPolicy(input.conn))
  if ("_tag" in resolved) return resolved
  const { tables, replacements } = resolved

  const merges = new Map<number, boolean>()
  for (const table of tables.values()) merges.set(table.id, await input.needsMerge(table.id))
  const parsedReplacements = new Map<JsonObject, JsonObject>()
  for (const [node, r] of replacements) {
    const sql = typeof r.sql === "string" ? r.sql : userTableSql(r.sql, input.buffer, merges.get(r.sql.id) ?? true)
    parsedReplacements.set(node, subqueryRef(await parseSubquery(input.conn, sql), r.alias))
  }
  return { sql: await renderSql(input.conn, [transformIdentity(resolved.tree, parsedReplacements)]), tables: [...tables.values()] }
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
