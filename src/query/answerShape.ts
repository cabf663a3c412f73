import { isObject, type Json, type JsonObject } from "./ast.ts"
import { functionName } from "./dialect/tree.ts"

/**
 * What a statement's shape says about the size of its answer, before it runs: few rows (read whole in one round
 * trip), or at most a row per row it reads (read materialised).
 */

/** Aggregates whose call, without GROUP BY, makes one row (a conservative list: any other just streams). */
const ONE_ROW_AGGREGATES = new Set([
  "count", "count_star", "sum", "avg", "mean", "min", "max", "first", "last", "any_value", "arg_max", "arg_min", "max_by",
  "min_by", "median", "stddev", "stddev_pop", "stddev_samp", "variance", "var_pop", "var_samp", "approx_count_distinct",
  "bool_and", "bool_or", "bit_and", "bit_or", "string_agg", "product"
])

/** Rows a LIMIT may allow for the answer still to count as few. */
const FEW_ROWS = 1000
/** Rows a cache may hold for a query of it alone to count as few (it is in memory already). */
export const FEW_CACHE_ROWS = 10_000

/**
 * Whether a statement reads one cache function directly (no join, CTE or subquery in FROM) and calls no function
 * that makes rows (unnest): its answer has at most the cache's rows.
 */
export const readsOneCache = (statement: JsonObject): boolean => {
  const node = statement["node"]
  if (!isObject(node) || node["type"] !== "SELECT_NODE") return false
  const from = node["from_table"]
  const ctes = isObject(node["cte_map"]) ? node["cte_map"]["map"] : undefined
  if (!isObject(from) || from["type"] !== "TABLE_FUNCTION" || (Array.isArray(ctes) && ctes.length > 0)) return false
  return !forSomeNode(node, (n) => UNNEST.has(functionName(n) ?? ""))
}

const isConstant = (node: Json): boolean => isObject(node) && (node["class"] === "CONSTANT" || (node["class"] === "CAST" && isConstant(node["child"] ?? null)))

/**
 * Whether a statement's answer has at most a few rows by its shape alone: a SELECT with a constant LIMIT of at most
 * FEW_ROWS, constants without FROM (`SELECT 1`), or only plain aggregates and constants without GROUP BY (`SELECT
 * count(*) FROM t`). Such answers are read whole in one round trip to DuckDB instead of being streamed.
 */
export const fewRows = (statement: JsonObject): boolean => {
  const node = statement["node"]
  if (!isObject(node) || node["type"] !== "SELECT_NODE") return false
  const modifiers = Array.isArray(node["modifiers"]) ? node["modifiers"] : []
  for (const m of modifiers) {
    if (!isObject(m) || m["type"] !== "LIMIT_MODIFIER" || m["offset"] !== null || !isObject(m["limit"])) continue
    const value = m["limit"]["class"] === "CONSTANT" ? m["limit"]["value"] : undefined
    const limit = isObject(value) && value["is_null"] === false ? Number(value["value"]) : NaN
    if (limit >= 0 && limit <= FEW_ROWS) return true
  }
  const from = isObject(node["from_table"]) ? node["from_table"]["type"] : undefined
  if (from === "EMPTY") return ungroupedSelect(node)?.every(isConstant) === true
  return aggregatesToOneRow(node)
}

/** A SELECT's list when it has one and no GROUP BY (GROUP BY ALL is no group expression but FORCE_AGGREGATES). */
const ungroupedSelect = (node: JsonObject): ReadonlyArray<Json> | undefined => {
  const select = Array.isArray(node["select_list"]) ? node["select_list"] : []
  return select.length === 0 || groupsBy(node) || node["aggregate_handling"] !== "STANDARD_HANDLING" ? undefined : select
}

/** Whether a SELECT without GROUP BY selects only plain aggregates and constants, one at least: one row at most. */
const aggregatesToOneRow = (node: JsonObject): boolean => {
  const select = ungroupedSelect(node)
  if (select === undefined) return false
  const aggregate = (item: Json) =>
    isObject(item) && item["class"] === "FUNCTION" && ONE_ROW_AGGREGATES.has(String(item["function_name"]).toLowerCase())
  return select.some(aggregate) && select.every((item) => aggregate(item) || isConstant(item))
}

/**
 * Whether a SELECT aggregates (GROUP BY, or one row of aggregates), or selects from a subquery that does, through
 * any chain of SELECTs each reading the next as its FROM (the InfluxQL planner's stages): each keeps or drops rows.
 */
const aggregatesAlongFrom = (node: JsonObject): boolean => {
  for (let current: Json | undefined = node; isObject(current) && current["type"] === "SELECT_NODE"; ) {
    if (groupsBy(current) || aggregatesToOneRow(current)) return true
    const from: Json | undefined = current["from_table"]
    current = isObject(from) && from["type"] === "SUBQUERY" && isObject(from["subquery"]) ? from["subquery"]["node"] : undefined
  }
  return false
}

/** Functions that make several rows of one: a statement calling any may answer more rows than it reads. */
const ROW_MAKING_FUNCTIONS = new Set(["unnest", "unlist", "generate_series", "range", "generate_subscripts"])
/** The functions a cache read may not call for its answer to stay within the cache's rows. */
const UNNEST = new Set(["unnest", "unlist"])

/**
 * Whether a statement's answer has at most as many rows as it reads: a GROUP BY or aggregate of a SELECT (or of a
 * subquery it reads from) whose FROM joins nothing and which makes no rows of a value (`unnest`). Such an answer is
 * bounded by what the query scans and DuckDB holds its groups whole anyway, so reading it materialised (which DuckDB
 * runs in parallel, where a streamed result is not) costs little memory more.
 */
export const groupedRows = (statement: JsonObject): boolean => {
  const node = statement["node"]
  if (!isObject(node) || node["type"] !== "SELECT_NODE") return false
  return (
    aggregatesAlongFrom(node) &&
    !forSomeNode(
      node,
      (n) => n["type"] === "JOIN" || n["type"] === "TABLE_FUNCTION" || ROW_MAKING_FUNCTIONS.has(functionName(n) ?? "")
    )
  )
}

/** Whether a SELECT node has GROUP BY expressions or grouping sets. */
const groupsBy = (node: JsonObject): boolean =>
  (Array.isArray(node["group_expressions"]) && node["group_expressions"].length > 0) ||
  (Array.isArray(node["group_sets"]) && node["group_sets"].length > 0)

/** Whether any object node of a tree, subqueries included, passes `test`. */
const forSomeNode = (tree: Json, test: (node: JsonObject) => boolean): boolean => {
  const pending: Array<Json> = [tree]
  while (pending.length > 0) {
    const value = pending.pop()!
    if (Array.isArray(value)) pending.push(...value)
    else if (isObject(value)) {
      if (test(value)) return true
      pending.push(...Object.values(value))
    }
  }
  return false
}
