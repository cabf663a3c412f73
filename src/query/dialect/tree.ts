import { cast, columnRef, constant, functionCall, isObject, type Json, type JsonObject } from "../ast.ts"

/**
 * Node builders and predicates for DuckDB's serialized SQL trees, beyond the common ones in `ast.ts`. Shapes are
 * the ones `json_serialize_sql` produces for the same SQL.
 */

export { cast, columnRef, constant, functionCall, isObject }

const NO_LOCATION = 18446744073709551615n

/** A call to a (binary or unary) operator written as a function, e.g. `+`, `-`. */
export const operatorCall = (name: string, children: Array<JsonObject>): JsonObject => ({
  ...functionCall(name, children),
  is_operator: true
})

/** `left <op> right`; `type` is e.g. `COMPARE_EQUAL`, `COMPARE_NOT_DISTINCT_FROM`. */
export const comparison = (type: string, left: JsonObject, right: JsonObject): JsonObject => ({
  class: "COMPARISON",
  type,
  alias: "",
  query_location: NO_LOCATION,
  left,
  right
})

/** AND of the given expressions (the single expression when there is one). */
export const and = (children: Array<JsonObject>): JsonObject =>
  children.length === 1
    ? children[0]!
    : { class: "CONJUNCTION", type: "CONJUNCTION_AND", alias: "", query_location: NO_LOCATION, children }

/** A unary operator node: `OPERATOR_NOT`, `OPERATOR_IS_NULL`, `OPERATOR_IS_NOT_NULL`. */
export const unary = (type: string, child: JsonObject): JsonObject => ({
  class: "OPERATOR",
  type,
  alias: "",
  query_location: NO_LOCATION,
  children: [child]
})

/** `CASE WHEN .. THEN .. [..] ELSE .. END`. */
export const caseWhen = (checks: Array<[JsonObject, JsonObject]>, otherwise: JsonObject): JsonObject => ({
  class: "CASE",
  type: "CASE_EXPR",
  alias: "",
  query_location: NO_LOCATION,
  case_checks: checks.map(([when_expr, then_expr]) => ({ when_expr, then_expr })),
  else_expr: otherwise
})

/** A window function over ROWS frames, e.g. `last_value(x IGNORE NULLS) OVER (PARTITION BY .. ORDER BY ..)`. */
export const windowCall = (options: {
  readonly name: "first_value" | "last_value"
  readonly child: JsonObject
  readonly partitions: Array<JsonObject>
  readonly orderBy: Array<JsonObject>
  readonly start: "UNBOUNDED_PRECEDING" | "CURRENT_ROW_ROWS"
  readonly end: "CURRENT_ROW_ROWS" | "UNBOUNDED_FOLLOWING"
  readonly ignoreNulls: boolean
}): JsonObject => ({
  class: "WINDOW",
  type: options.name === "first_value" ? "WINDOW_FIRST_VALUE" : "WINDOW_LAST_VALUE",
  alias: "",
  query_location: NO_LOCATION,
  function_name: options.name,
  schema: "",
  catalog: "",
  children: [options.child],
  partitions: options.partitions,
  orders: options.orderBy.map((expression) => ({ type: "ORDER_DEFAULT", null_order: "ORDER_DEFAULT", expression })),
  start: options.start,
  end: options.end,
  start_expr: null,
  end_expr: null,
  offset_expr: null,
  default_expr: null,
  ignore_nulls: options.ignoreNulls,
  filter_expr: null,
  exclude_clause: "NO_OTHER",
  distinct: false,
  arg_orders: []
})

/** An ascending ORDER BY term. */
export const orderTerm = (expression: JsonObject): JsonObject => ({ type: "ORDER_DEFAULT", null_order: "ORDER_DEFAULT", expression })

/** A SELECT node. */
export const selectNode = (options: {
  readonly selectList: Array<JsonObject>
  readonly from: JsonObject
  readonly where?: JsonObject | null
  readonly groupBy?: Array<JsonObject>
  readonly having?: Json
  readonly modifiers?: Array<JsonObject>
  readonly distinct?: boolean
}): JsonObject => {
  const groupBy = options.groupBy ?? []
  return {
    type: "SELECT_NODE",
    modifiers: [
      ...(options.distinct === true ? [{ type: "DISTINCT_MODIFIER", distinct_on_targets: [] }] : []),
      ...(options.modifiers ?? [])
    ],
    cte_map: { map: [] },
    select_list: options.selectList,
    from_table: options.from,
    where_clause: options.where ?? null,
    group_expressions: groupBy,
    group_sets: groupBy.length === 0 ? [] : [groupBy.map((_, i) => i)],
    aggregate_handling: "STANDARD_HANDLING",
    having: options.having ?? null,
    sample: null,
    qualify: null
  }
}

/** A subquery in FROM. */
export const subqueryRef = (node: JsonObject, alias: string): JsonObject => ({
  type: "SUBQUERY",
  alias,
  sample: null,
  subquery: { node, named_param_map: [] },
  column_name_alias: []
})

/** `left JOIN right ON condition` (kind LEFT or INNER), or a CROSS JOIN when condition is null. */
export const join = (left: JsonObject, right: JsonObject, kind: "LEFT" | "INNER", condition: JsonObject | null): JsonObject => ({
  type: "JOIN",
  alias: "",
  sample: null,
  left,
  right,
  condition,
  join_type: kind,
  ref_type: condition === null ? "CROSS" : "REGULAR",
  using_columns: [],
  delim_flipped: false,
  duplicate_eliminated_columns: []
})

/** The empty FROM of `SELECT <exprs>`. */
export const emptyFrom = (): JsonObject => ({ type: "EMPTY", alias: "", sample: null })

/** A TIMESTAMP_NS value written as `CAST('YYYY-MM-DD HH:MM:SS.nnnnnnnnn' AS TIMESTAMP_NS)`. */
export const timestampNs = (text: string): JsonObject => cast(constant("VARCHAR", text), "TIMESTAMP_NS")

/** Returns a copy of an expression with another alias. */
export const withAlias = (node: JsonObject, alias: string): JsonObject => ({ ...node, alias })

/** The name of a function call node (lower case), or undefined for other nodes. */
export const functionName = (node: Json | undefined): string | undefined =>
  isObject(node) && node["class"] === "FUNCTION" && typeof node["function_name"] === "string"
    ? node["function_name"].toLowerCase()
    : undefined

/** The children of a function or operator node. */
export const childrenOf = (node: JsonObject): Array<JsonObject> =>
  Array.isArray(node["children"]) ? (node["children"] as Array<JsonObject>) : []

/** A VARCHAR constant's text, or undefined. */
export const stringConstant = (node: Json | undefined): string | undefined => {
  if (!isObject(node) || node["class"] !== "CONSTANT") return undefined
  const value = node["value"]
  if (!isObject(value) || value["is_null"] === true) return undefined
  const type = value["type"]
  return isObject(type) && type["id"] === "VARCHAR" && typeof value["value"] === "string" ? value["value"] : undefined
}

/** The type id and value of a non-null constant, or undefined. */
export const constantValue = (node: Json | undefined): { readonly type: string; readonly value: Json } | undefined => {
  if (!isObject(node) || node["class"] !== "CONSTANT") return undefined
  const value = node["value"]
  if (!isObject(value)) return undefined
  if (value["is_null"] === true) return { type: "NULL", value: null }
  const type = value["type"]
  return isObject(type) && typeof type["id"] === "string" ? { type: type["id"], value: value["value"] ?? null } : undefined
}

/** The interval text of `INTERVAL '<text>'` (a cast of a VARCHAR constant to INTERVAL), or undefined. */
export const intervalLiteral = (node: Json | undefined): string | undefined =>
  isObject(node) && node["class"] === "CAST" && isObject(node["cast_type"]) && node["cast_type"]["id"] === "INTERVAL"
    ? stringConstant(node["child"])
    : undefined

/** Structural equality of two expressions, ignoring aliases and source locations. */
export const sameExpression = (a: Json | undefined, b: Json | undefined): boolean => {
  if (a === b) return true
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x, i) => sameExpression(x, b[i]))
  if (isObject(a)) {
    if (!isObject(b)) return false
    const keys = Object.keys(a).filter((k) => k !== "alias" && k !== "query_location")
    const otherKeys = Object.keys(b).filter((k) => k !== "alias" && k !== "query_location")
    if (keys.length !== otherKeys.length) return false
    return keys.every((k) => {
      const x = a[k]
      const y = b[k]
      // Identifiers compare case-insensitively, as DuckDB resolves them.
      if (k === "column_names" && Array.isArray(x) && Array.isArray(y))
        return x.length === y.length && x.every((n, i) => String(n).toLowerCase() === String(y[i]).toLowerCase())
      return sameExpression(x, y)
    })
  }
  return typeof a === "bigint" || typeof b === "bigint" ? String(a) === String(b) : false
}

/** Whether any node under `node` satisfies `test` (not descending into subqueries). */
export const containsNode = (node: Json, test: (node: JsonObject) => boolean): boolean => {
  if (Array.isArray(node)) return node.some((child) => containsNode(child, test))
  if (!isObject(node)) return false
  if (test(node)) return true
  if (node["class"] === "SUBQUERY") return false
  for (const key in node) if (containsNode(node[key]!, test)) return true
  return false
}

/**
 * An ORDER BY term's explicit null order: DuckDB's tree spells it "NULLS FIRST" / "NULLS LAST" (a space, not an
 * underscore); undefined for the default, null for anything else.
 */
export const explicitNullOrder = (term: JsonObject): "NULLS FIRST" | "NULLS LAST" | undefined | null => {
  const text = String(term["null_order"]).replace("_", " ")
  return text === "NULLS FIRST" || text === "NULLS LAST" ? text : text === "ORDER DEFAULT" ? undefined : null
}
