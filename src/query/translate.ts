import type { DuckDBConnection } from "@duckdb/node-api"
import { Data } from "effect"
import { type DatabaseState, liveTable, type TableState } from "../catalog/state.ts"
import {
  countNodes,
  isObject,
  mapArray,
  mapObject,
  parseSql,
  renderSql,
  type Json,
  type JsonObject,
  type QueryTooComplex,
  type SqlSyntaxError,
  TREE_LIMITS,
  yieldToOthers
} from "./ast.ts"
import { fewRows, FEW_CACHE_ROWS, groupedRows, readsOneCache } from "./answerShape.ts"
import { referencedColumns } from "./columnRefs.ts"
import { bindParameters } from "./parameters.ts"
import { sqlTooComplex } from "./complexity.ts"
import { whereEqualities } from "./equalities.ts"
import { binsAfterOrigin } from "./timeBins.ts"
import { readingSelects, type TimeRange, whereTimeRange } from "./timeRange.ts"
import { seriesAggregateOf } from "./seriesAggregate.ts"
import { bufferPartialSql, type SeriesAggregatePlan } from "./seriesAggregateRun.ts"
import type { IndexedFile } from "../storage/files.ts"
import { functionPolicy, type FunctionPolicy } from "./sandbox.ts"
import { showColumnsSql, showColumnsTarget } from "./showColumns.ts"
import { columnsInOrder, duckTypeName, virtualTableSql, type VirtualTable } from "./virtualTables.ts"
import { sqlIdentifier as quote } from "./literal.ts"

/**
 * Turns a user's SQL (InfluxDB 3's DataFusion dialect) into the DuckDB SQL that runs: parse, bind `$name`
 * parameters as constants, apply the dialect rewrite, and replace every table reference with a subquery over the
 * write buffer or a virtual table. All of it on the parsed tree.
 */

/** A query that cannot be planned: the user's mistake (400). */
export class PlanError extends Data.TaggedError("PlanError")<{ readonly message: string }> {}

const planError = (message: string): PlanError => new PlanError({ message })

/** What a query needs of a table's view, beyond its rows: what lets the view leave parts out. */
export interface ViewScope {
  /** The query's `column = 'value'` conditions on the table, which files may be pruned by. */
  readonly equalities?: ReadonlyMap<string, ReadonlySet<string>> | undefined
  /** False when the query names none of the table's tags: the view may answer them as NULL. */
  readonly withTags?: boolean
  /** Bounds every answer row's time meets: files and buffer outside them are not read. */
  readonly timeRange?: TimeRange | undefined
  /** The lower-case names the query may read the table's columns by; undefined when it may read any (`*`). */
  readonly columns?: ReadonlySet<string> | undefined
}

/** Whether a view of the scope lists a column (`time` always): all of them when the query may read any. */
export const viewReadsColumn = (scope: ViewScope | undefined, name: string): boolean =>
  name === "time" || scope?.columns?.has(name.toLowerCase()) !== false

/** What a buffered table offers the planner. */
export interface BufferView {
  readonly viewSql: (tableId: number, deduplicate?: boolean, scope?: ViewScope) => string | undefined
  readonly describe: (tableId: number) => { readonly rows: number; readonly mayHaveDuplicates: boolean } | undefined
  /**
   * The persisted files of a view of the scope, the time its retention keeps rows from, and, when the buffer holds rows
   * in its time bounds, the SQL of those rows (`columns` and time, deduplicated if asked), when they are all of it: no
   * two of files and buffer overlapping in time, no row-delete hiding rows of a file; undefined otherwise.
   */
  readonly plainFiles?: (
    tableId: number,
    scope?: ViewScope,
    deduplicate?: boolean,
    columns?: ReadonlyArray<string>
  ) =>
    | { readonly files: ReadonlyArray<IndexedFile>; readonly cutoffNs: bigint | undefined; readonly buffer?: string }
    | undefined
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
  /**
   * What reads `last_cache(table[, name])` or `distinct_cache(...)`: the SELECT of the cache's DuckDB table (brought
   * up to date) and at most how many rows it has, or why it cannot be read.
   */
  readonly cacheFunction?: (
    name: CacheFunction,
    args: ReadonlyArray<string>
  ) => Promise<{ readonly sql: string; readonly rows: number } | PlanError>
}

/** The table functions answered from the last-value and distinct-value caches. */
export type CacheFunction = "last_cache" | "distinct_cache"

/** One cache table function call of a query, and the node it replaces. */
interface CacheRead {
  readonly name: CacheFunction
  readonly args: ReadonlyArray<string>
  readonly node: JsonObject
  readonly alias: string
}

export interface Translated {
  readonly sql: string
  /** The user tables the query reads. */
  readonly tables: ReadonlyArray<TableState>
  /** The cache table functions the query reads (each a cache hit). */
  readonly caches: ReadonlyArray<CacheFunction>
  /** The statement's shape bounds its answer to a few rows (see fewRows): it may be read whole at once. */
  readonly fewRows: boolean
  /** The answer has at most one row per group of rows the query reads (see groupedRows). */
  readonly grouped: boolean
  /** The query is a series aggregate over persisted files alone: decoded columns may answer it (seriesAggregate). */
  readonly seriesAggregate?: SeriesAggregatePlan | undefined
}

/** The SQL of a user table as InfluxDB shows it: columns sorted by name, over the buffered rows (or none). */
export const userTableSql = (
  table: TableState,
  buffer: BufferView,
  merge: boolean,
  scope?: ViewScope
): string => {
  const columns = columnsInOrder(table).filter((c) => viewReadsColumn(scope, c.name))
  const view = buffer.viewSql(table.id, merge, scope)
  if (view === undefined)
    return `SELECT ${columns.map((c) => `CAST(NULL AS ${duckTypeName[c.type]}) AS ${quote(c.name)}`).join(", ")} WHERE false`
  return `SELECT ${columns.map((c) => quote(c.name)).join(", ")} FROM (${view}) AS b`
}

/** Parsed subqueries by their SQL text, with their sizes: the same buffer view is parsed once, not per query. */
const parsedSubqueries = new Map<string, { readonly statement: JsonObject; readonly nodes: number }>()
const PARSED_CACHE_SIZE = 512

const parseSubquery = async (
  conn: DuckDBConnection,
  sql: string
): Promise<{ readonly statement: JsonObject; readonly nodes: number }> => {
  const cached = parsedSubqueries.get(sql)
  if (cached !== undefined) return cached
  // Our own SQL: as large as the catalog or the rows of a virtual table make it, so not held to the user's limits.
  const parsed = await parseSql(conn, sql, Infinity)
  if (!Array.isArray(parsed))
    throw new Error(`internal SQL did not parse: ${(parsed as { message: string }).message}: ${sql}`)
  const entry = { statement: parsed[0]!, nodes: countNodes(parsed[0]!) }
  if (parsedSubqueries.size >= PARSED_CACHE_SIZE) parsedSubqueries.delete(parsedSubqueries.keys().next().value!)
  parsedSubqueries.set(sql, entry)
  return entry
}

/** A subquery in place of a table reference, keeping the reference's alias and column aliases. */
const subqueryRef = (statement: JsonObject, alias: string, reference: JsonObject): JsonObject => ({
  type: "SUBQUERY",
  alias,
  sample: null,
  query_location: 18446744073709551615n,
  subquery: statement,
  column_name_alias: Array.isArray(reference["column_name_alias"]) ? reference["column_name_alias"] : []
})

const tableNotFound = (parts: ReadonlyArray<string>) => planError(`Error during planning: table '${["public", "iox", ...parts].slice(-3).join(".")}' not found`)

/** What a table reference resolved to: a user table, or the SQL of a virtual table. */
interface Replacement {
  readonly sql: string | TableState
  readonly alias: string
}

/**
 * A CTE's name inside the SQL that runs: no catalog table and no file has it, so DuckDB resolves it to the CTE or
 * fails.
 */
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
):
  | {
      readonly tree: JsonObject
      readonly tables: Map<number, TableState>
      readonly replacements: Map<JsonObject, Replacement>
      readonly caches: Array<CacheRead>
    }
  | PlanError => {
  const tables = new Map<number, TableState>()
  const caches: Array<CacheRead> = []
  const replacements = new Map<JsonObject, Replacement>()
  let failure: PlanError | undefined
  // A refused function is reported only when every table resolved, as DataFusion resolves tables first.
  let functionFailure: PlanError | undefined
  let ctes = 0

  /**
   * Visible CTEs: lower-case name (DuckDB matches them case-insensitively) to the renamed CTEs of that name, the
   * innermost last. The walk is depth-first, so a query node pushes its CTEs and pops them when it is done.
   */
  const scope = new Map<string, Array<string>>()
  const pushCte = (name: string, renamed: string) => {
    const key = name.toLowerCase()
    const stack = scope.get(key)
    if (stack === undefined) scope.set(key, [renamed])
    else stack.push(renamed)
  }
  const popCte = (name: string) => {
    const key = name.toLowerCase()
    const stack = scope.get(key)!
    stack.pop()
    if (stack.length === 0) scope.delete(key)
  }
  const visibleCte = (name: string): string | undefined => {
    const stack = scope.get(name.toLowerCase())
    return stack === undefined ? undefined : stack[stack.length - 1]
  }

  // Copy on write: nodes are rebuilt only on the paths to the ones that change.
  const walkChildren = (node: JsonObject): JsonObject => mapObject(node, walk)

  const walk = (value: Json): Json => {
    if (failure !== undefined || typeof value !== "object" || value === null) return value
    if (Array.isArray(value)) return mapArray(value, walk)
    if ("cte_map" in value) return queryNode(value)
    if ("class" in value) return expression(value)
    switch (value["type"]) {
      case "BASE_TABLE":
        return baseTable(value)
      case "SHOW_REF":
        return showRef(value)
      case "TABLE_FUNCTION": {
        const fn = value["function"]
        const fnName = isObject(fn) ? String(fn["function_name"]).toLowerCase() : ""
        if (
          (fnName === "last_cache" || fnName === "distinct_cache") &&
          isObject(fn) &&
          input.cacheFunction !== undefined
        )
          return cacheTable(value, fnName, fn)
        failure = planError(
          `Error during planning: table function '${isObject(fn) ? String(fn["function_name"]) : "?"}' not found`
        )
        return value
      }
    }
    if (typeof value["type"] === "string" && REFUSED_TABLE_REFS.has(value["type"])) {
      failure = planError(`This feature is not implemented: ${value["type"]} table references`)
      return value
    }
    return walkChildren(value)
  }

  /** A query node: its CTEs, each seeing the ones before it, then its body seeing all of them. */
  const queryNode = (node: JsonObject): JsonObject => {
    const map = node["cte_map"]
    const entries = isObject(map) && Array.isArray(map["map"]) ? map["map"] : []
    const pushed: Array<string> = []
    const renamedEntries: Array<Json> = []
    let result: JsonObject = node
    for (const entry of entries) {
      if (!isObject(entry) || !isObject(entry["value"]) || !isObject(entry["value"]["query"])) {
        failure ??= planError("This feature is not implemented: this WITH clause")
        break
      }
      const name = String(entry["key"])
      const renamed = `${CTE_PREFIX}${ctes++}`
      const query = entry["value"]["query"]
      const body = query["node"]
      const recursive =
        isObject(body) &&
        body["type"] === "RECURSIVE_CTE_NODE" &&
        String(body["cte_name"]).toLowerCase() === name.toLowerCase()
      if (recursive) pushCte(name, renamed)
      let value = walk(entry["value"]) as JsonObject
      if (recursive) {
        const walkedQuery = value["query"] as JsonObject
        value = {
          ...value,
          query: { ...walkedQuery, node: { ...(walkedQuery["node"] as JsonObject), cte_name: renamed } }
        }
      } else pushCte(name, renamed)
      pushed.push(name)
      renamedEntries.push({ ...entry, key: renamed, value })
    }
    if (failure === undefined) {
      const walked = mapObject(node, (child, key) => (key === "cte_map" ? child : walk(child)))
      result = entries.length === 0 ? walked : { ...walked, cte_map: { ...(map as JsonObject), map: renamedEntries } }
    }
    for (const name of pushed) popCte(name)
    return result
  }

  const baseTable = (node: JsonObject): JsonObject => {
    const catalogName = String(node["catalog_name"] ?? "")
    const schema = String(node["schema_name"] ?? "")
    const name = String(node["table_name"])
    const alias = String(node["alias"] ?? "") || name
    if (catalogName !== "" && catalogName !== "public") {
      failure = tableNotFound([catalogName, schema, name])
      return node
    }
    const cte = catalogName === "" && schema === "" ? visibleCte(name) : undefined
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

  /** `last_cache('table'[, 'name'])`: string literal arguments only, resolved to the cache's rows. */
  const cacheTable = (node: JsonObject, name: CacheFunction, fn: JsonObject): JsonObject => {
    const children = Array.isArray(fn["children"]) ? fn["children"] : []
    const args: Array<string> = []
    for (const child of children) {
      const v = isObject(child) && child["class"] === "CONSTANT" ? child["value"] : undefined
      if (isObject(v) && v["is_null"] === false && isObject(v["type"]) && v["type"]["id"] === "VARCHAR")
        args.push(String(v["value"]))
    }
    if (args.length !== children.length || args.length < 1 || args.length > 2 || String(fn["schema"] ?? "") !== "") {
      failure = planError(
        `Error during planning: ${name}() takes the table name and optionally the cache name, as string literals`
      )
      return node
    }
    const copy = { ...node }
    caches.push({ name, args, node: copy, alias: String(node["alias"] ?? "") || name })
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
    replacements.set(copy, {
      sql: `SELECT table_catalog, table_schema, table_name, table_type FROM (${virtualTableSql(info)})`,
      alias: String(node["alias"] ?? "") || "tables"
    })
    return copy
  }

  /** Function calls must be on the allow-list, unqualified (or in DuckDB's `main`); types must be unqualified. */
  const expression = (node: JsonObject): JsonObject => {
    switch (node["class"]) {
      case "FUNCTION":
      case "WINDOW": {
        const name = String(node["function_name"] ?? "").toLowerCase()
        const schema = String(node["schema"] ?? "")
        const qualified = String(node["catalog"] ?? "") !== "" || (schema !== "" && schema !== "main")
        const checked = node["class"] === "FUNCTION" || node["type"] === "WINDOW_AGGREGATE"
        if (qualified || (checked && !functions.allows(name)))
          functionFailure ??= invalidFunction(qualified ? `${schema}.${name}` : name)
        break
      }
      case "CAST": {
        const type = node["cast_type"]
        const info = isObject(type) ? type["type_info"] : null
        if (isObject(info) && (String(info["schema"] ?? "") !== "" || String(info["catalog"] ?? "") !== "")) {
          failure = planError(
            `This feature is not implemented: Unsupported SQL type ${String(info["schema"])}.${String(info["name"])}`
          )
          return node
        }
        break
      }
      case "PARAMETER":
        failure = planError(`No value found for placeholder with name $${String(node["identifier"])}`)
        return node
    }
    return walkChildren(node)
  }

  const tree = walk(statement) as JsonObject
  return failure ?? functionFailure ?? { tree, tables, replacements, caches }
}

const noPause = () => Promise.resolve()
/** SQL this long makes trees whose passes take milliseconds each. */
const LARGE_SQL = 16_384

/** Translates one query. */
export const translate = async (input: TranslateInput): Promise<Translated | PlanError> => {
  try {
    return await plan(input)
  } catch (e) {
    // The passes recurse over the tree; DuckDB lets nesting reach ~6,000 JSON levels (950 nested CTEs), past the stack.
    if (e instanceof RangeError && /call stack/i.test(e.message)) return planError("query too complex: nested too deeply to plan")
    throw e
  }
}

const plan = async (input: TranslateInput): Promise<Translated | PlanError> => {
  const tooComplex = sqlTooComplex(input.sql)
  if (tooComplex !== undefined) return planError(tooComplex)
  // Other requests run between the passes over a large tree, so none waits for all of them.
  const pause = input.sql.length > LARGE_SQL ? yieldToOthers : noPause
  const show = showColumnsTarget(input.sql)
  const parsed = await parseSql(input.conn, show === undefined ? input.sql : showColumnsSql(show))
  if (!Array.isArray(parsed)) {
    const failure = parsed as SqlSyntaxError | QueryTooComplex
    return planError(failure._tag === "QueryTooComplex" ? failure.message : `SQL error: ParserError("${failure.message}")`)
  }
  if (parsed.length === 0) return planError("SQL error: ParserError(\"Expected: an SQL statement, found: EOF\")")
  if (parsed.length > 1) return planError("This feature is not implemented: The context currently only supports a single SQL statement")

  await pause()
  const bound = bindParameters(parsed[0]!, input.params)
  if ("missing" in bound) return planError(`No value found for placeholder with name $${String(bound.missing)}`)
  await pause()
  const rewritten = input.dialect(bound as JsonObject)
  if (rewritten["_tag"] === "DialectError") return planError(String(rewritten["message"]))

  await pause()
  const resolved = resolveTables(rewritten as JsonObject, input, await functionPolicy(input.conn))
  if ("_tag" in resolved) return resolved
  const { tables, replacements } = resolved
  let cacheRows = 0
  for (const read of resolved.caches) {
    const cache = await input.cacheFunction!(read.name, read.args)
    if ("_tag" in cache) return cache
    replacements.set(read.node, { sql: cache.sql, alias: read.alias })
    cacheRows += cache.rows
  }
  const oneCache = tables.size === 0 && replacements.size === 1 && cacheRows <= FEW_CACHE_ROWS

  // Each SELECT that reads a table directly keeps only the rows its WHERE accepts: its time bounds and tag
  // equalities let that reference's view leave out files, buffered series and rows that cannot pass.
  const isUserTable = (ref: object) => typeof replacements.get(ref as JsonObject)?.sql === "object"
  const readers = readingSelects(resolved.tree, isUserTable)
  const merges = new Map<number, boolean>()
  for (const table of tables.values()) merges.set(table.id, await input.needsMerge(table.id))
  // Tables whose tags the query may read: the others' views skip the series dictionary.
  const referenced = referencedColumns(resolved.tree)
  const withTags = new Set<number>()
  // The references whose views list only the columns the query names (the others may read a whole row).
  const narrowed = new Set<JsonObject>()
  for (const [node, r] of replacements) {
    if (typeof r.sql === "string") continue
    const table = r.sql
    const named = (name: string) => referenced === "all" || referenced.has(name.toLowerCase())
    // A table's name or alias as a column is its whole row (`SELECT cpu FROM cpu`).
    const wholeRow = named(table.name) || named(r.alias)
    if (wholeRow || table.columns.some((c) => c.type === "tag" && named(c.name))) withTags.add(table.id)
    if (!wholeRow) narrowed.add(node)
  }
  // Each reference to a table becomes a copy of its subquery in the SQL that runs: a table named many times (a
  // UNION of thousands of `SELECT * FROM t`) would multiply a small query into a huge one.
  const subqueries = new Map<string, { readonly statement: JsonObject; readonly nodes: number }>()
  let repeatedNodes = 0
  const parsedReplacements = new Map<JsonObject, JsonObject>()
  let seriesAggregate: SeriesAggregatePlan | undefined
  for (const [node, r] of replacements) {
    const table = typeof r.sql === "string" ? undefined : r.sql
    const reader = table === undefined || subqueries.size >= MAX_SCOPED_VIEWS ? undefined : readers.get(node)
    const scope: ViewScope = {
      equalities: reader === undefined ? undefined : whereEqualities(reader),
      timeRange: reader === undefined ? undefined : whereTimeRange(reader),
      withTags: table !== undefined && withTags.has(table.id),
      columns: referenced !== "all" && narrowed.has(node) ? referenced : undefined
    }
    const key = table === undefined ? `sql:${r.sql as string}` : `table:${table.id}:${scopeKey(scope)}`
    let subquery = subqueries.get(key)
    if (subquery === undefined) {
      const sql =
        table === undefined ? (r.sql as string) : userTableSql(table, input.buffer, merges.get(table.id) ?? true, scope)
      subquery = await parseSubquery(input.conn, sql)
      subqueries.set(key, subquery)
    } else repeatedNodes += subquery.nodes
    if (repeatedNodes > TREE_LIMITS.repeatedNodes)
      return planError(`query too complex: its ${replacements.size.toLocaleString("en")} table references expand to more than ${TREE_LIMITS.repeatedNodes.toLocaleString("en")} nodes`)
    parsedReplacements.set(node, subqueryRef(subquery.statement, r.alias, node))
    if (table !== undefined && replacements.size === 1 && resolved.caches.length === 0)
      seriesAggregate = seriesAggregatePlan(resolved.tree, node, table, scope, input.buffer, merges.get(table.id))
    const earliest = scope.timeRange?.min
    if (reader !== undefined && earliest !== undefined)
      for (const [bin, after] of binsAfterOrigin(reader, earliest)) parsedReplacements.set(bin, after)
  }
  await pause()
  const tree = transformIdentity(resolved.tree, parsedReplacements)
  await pause()
  return {
    sql: await renderSql(input.conn, [tree]),
    tables: [...tables.values()],
    caches: resolved.caches.map((c) => c.name),
    fewRows: fewRows(rewritten as JsonObject) || (oneCache && readsOneCache(rewritten as JsonObject)),
    grouped: groupedRows(rewritten as JsonObject),
    seriesAggregate
  }
}

/** The series aggregate a statement reading only `table` (through `ref`) is, over the files that are all its view. */
const seriesAggregatePlan = (
  tree: JsonObject,
  ref: JsonObject,
  table: TableState,
  scope: ViewScope,
  buffer: BufferView,
  deduplicate = true
): SeriesAggregatePlan | undefined => {
  const node = tree["node"]
  if (!isObject(node) || buffer.plainFiles === undefined) return undefined
  const shape = seriesAggregateOf(node, ref, table)
  if (shape === undefined) return undefined
  const columns = [
    ...new Set([
      ...shape.equalities.keys(),
      ...shape.groupTags,
      ...shape.outputs.flatMap((o) => (o.kind === "aggregate" && o.field !== undefined ? [o.field] : []))
    ])
  ]
  const plain = buffer.plainFiles(table.id, scope, deduplicate, columns)
  // Without files, DuckDB reads the buffer whole: nothing is answered from memory.
  if (plain === undefined || (plain.files.length === 0 && plain.buffer !== undefined)) return undefined
  const cutoff = plain.cutoffNs
  const planned: SeriesAggregatePlan = {
    ...shape,
    minNs: cutoff !== undefined && (shape.minNs === undefined || shape.minNs < cutoff) ? cutoff : shape.minNs,
    files: plain.files,
    tags: table.columns.filter((c) => c.type === "tag").map((c) => c.name)
  }
  return plain.buffer === undefined ? planned : { ...planned, bufferSql: bufferPartialSql(planned, plain.buffer) }
}

/** Distinct views of tables one query may scope to its readers' conditions; past it, references read whole tables. */
const MAX_SCOPED_VIEWS = 64

/** A view scope as text: references with equal scopes share one view. */
const scopeKey = (scope: ViewScope): string => {
  const equalities = [...(scope.equalities ?? [])].map(([c, vs]) => [c, [...vs].sort()] as const).sort()
  const range = scope.timeRange
  const columns = scope.columns === undefined ? null : [...scope.columns].sort()
  return JSON.stringify([equalities, String(range?.min), String(range?.max), scope.withTags === true, columns])
}

/** Replaces nodes by identity (the ones found while walking the same tree), copying only the paths to them. */
const transformIdentity = (node: JsonObject, replacements: ReadonlyMap<JsonObject, JsonObject>): JsonObject => {
  const walk = (value: Json): Json => {
    if (typeof value !== "object" || value === null) return value
    if (Array.isArray(value)) return mapArray(value, walk)
    return replacements.get(value) ?? mapObject(value, walk)
  }
  return walk(node) as JsonObject
}
