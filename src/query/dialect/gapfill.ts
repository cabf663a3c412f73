import { forEachNode, transform, type Json, type JsonObject } from "../ast.ts"
import { planningError, type ErrorSink } from "./errors.ts"
import { parseInterval } from "./time.ts"
import {
  and,
  caseWhen,
  cast,
  childrenOf,
  columnRef,
  comparison,
  constant,
  constantValue,
  containsNode,
  emptyFrom,
  functionCall,
  functionName,
  intervalLiteral,
  isObject,
  join,
  operatorCall,
  orderTerm,
  sameExpression,
  selectNode,
  subqueryRef,
  timestampNs,
  unary,
  windowCall,
  withAlias
} from "./tree.ts"

/**
 * InfluxDB's gap filling as a query rewrite. A query grouping by `date_bin_gapfill(stride, time[, origin])` with a
 * time range in WHERE becomes:
 *
 *   SELECT <items: group keys from the grid, aggregates from __a, locf/interpolate as window functions>
 *   FROM (every series × every bin of the range) __g
 *   LEFT JOIN (the original aggregate, date_bin in place of date_bin_gapfill) __a ON series and bin match
 *   ORDER BY <the user's, else series keys then time>
 *
 * so bins without data appear as rows of NULLs, `locf(agg)` carries the last non-NULL value forward within a
 * series and `interpolate(agg)` fills linearly between known bins. Series are those with data in the range.
 */

const AGGREGATES = new Set([
  "avg", "mean", "sum", "count", "count_star", "min", "max", "first_value", "last_value", "first", "last", "median",
  "stddev", "stddev_samp", "stddev_pop", "var", "var_samp", "var_pop", "variance", "var_sample", "var_population",
  "selector_first", "selector_last", "selector_min", "selector_max", "approx_percentile_cont", "approx_median",
  "approx_distinct", "approx_count_distinct", "array_agg", "string_agg", "bool_and", "bool_or", "bit_and", "bit_or",
  "bit_xor", "corr", "covar", "covar_samp", "covar_pop", "regr_slope", "regr_intercept", "regr_count", "regr_r2",
  "regr_avgx", "regr_avgy", "regr_sxx", "regr_syy", "regr_sxy", "any_value", "arg_min", "arg_max", "mode",
  "quantile_cont", "quantile_disc", "grouping", "nth_value"
])

const isAggregateCall = (node: JsonObject): boolean => {
  const name = functionName(node)
  return name !== undefined && AGGREGATES.has(name)
}

const isGapfillCall = (node: JsonObject) => functionName(node) === "date_bin_gapfill"

/**
 * Resolves GROUP BY positions and select-list aliases (lower-case, first of each) to the expressions they stand for.
 */
const resolveGroup = (
  group: JsonObject,
  items: Array<JsonObject>,
  aliases: ReadonlyMap<string, JsonObject>
): JsonObject => {
  const value = constantValue(group)
  if (value !== undefined && typeof value.value === "number" && value.type === "INTEGER") {
    const item = items[value.value - 1]
    return item === undefined ? group : withAlias(item, "")
  }
  if (group["class"] === "COLUMN_REF") {
    const names = group["column_names"] as Array<string>
    if (names.length === 1) {
      const item = aliases.get(String(names[0]).toLowerCase())
      if (item !== undefined) return withAlias(item, "")
    }
  }
  return group
}

const hasColumns = (node: Json): boolean => containsNode(node, (n) => n["class"] === "COLUMN_REF")

const lastName = (node: JsonObject): string => {
  const names = node["column_names"] as Array<string>
  return String(names[names.length - 1]).toLowerCase()
}

interface Bound {
  readonly expr: JsonObject
  readonly inclusive: boolean
}

const FLIPPED: Record<string, string> = {
  COMPARE_GREATERTHAN: "COMPARE_LESSTHAN",
  COMPARE_GREATERTHANOREQUALTO: "COMPARE_LESSTHANOREQUALTO",
  COMPARE_LESSTHAN: "COMPARE_GREATERTHAN",
  COMPARE_LESSTHANOREQUALTO: "COMPARE_GREATERTHANOREQUALTO"
}

/** The lower and upper bounds on the time column among WHERE's top-level AND terms. */
const findTimeRange = (where: Json, time: string): { lower: Array<Bound>; upper: Array<Bound> } => {
  const lower: Array<Bound> = []
  const upper: Array<Bound> = []
  const terms: Array<JsonObject> = []
  const flatten = (node: Json) => {
    if (!isObject(node)) return
    if (node["class"] === "CONJUNCTION" && node["type"] === "CONJUNCTION_AND") childrenOf(node).forEach(flatten)
    else terms.push(node)
  }
  flatten(where)
  const isTime = (node: Json | undefined) => isObject(node) && node["class"] === "COLUMN_REF" && lastName(node) === time
  for (const term of terms) {
    if (term["class"] === "BETWEEN" && isTime(term["input"])) {
      lower.push({ expr: term["lower"] as JsonObject, inclusive: true })
      upper.push({ expr: term["upper"] as JsonObject, inclusive: true })
      continue
    }
    if (term["class"] !== "COMPARISON") continue
    let type = String(term["type"])
    let other: JsonObject
    if (isTime(term["left"])) other = term["right"] as JsonObject
    else if (isTime(term["right"])) {
      other = term["left"] as JsonObject
      type = FLIPPED[type] ?? type
    } else continue
    if (hasColumns(other)) continue
    if (type === "COMPARE_GREATERTHAN") lower.push({ expr: other, inclusive: false })
    else if (type === "COMPARE_GREATERTHANOREQUALTO") lower.push({ expr: other, inclusive: true })
    else if (type === "COMPARE_LESSTHAN") upper.push({ expr: other, inclusive: false })
    else if (type === "COMPARE_LESSTHANOREQUALTO") upper.push({ expr: other, inclusive: true })
    else if (type === "COMPARE_EQUAL") {
      lower.push({ expr: other, inclusive: true })
      upper.push({ expr: other, inclusive: true })
    }
  }
  return { lower, upper }
}

const epochNs = (expr: JsonObject) => functionCall("epoch_ns", [cast(expr, "TIMESTAMP_NS")])

/** The tightest bound as epoch ns, moved one nanosecond inwards when exclusive. */
const boundNs = (bounds: Array<Bound>, side: "lower" | "upper"): JsonObject => {
  const values = bounds.map((b) =>
    b.inclusive ? epochNs(b.expr) : operatorCall(side === "lower" ? "+" : "-", [epochNs(b.expr), constant("BIGINT", 1)])
  )
  return values.length === 1 ? values[0]! : functionCall(side === "lower" ? "greatest" : "least", values)
}

const GRID = "__gapfill_grid"
const AGG = "__gapfill_agg"

/** Rewrites one SELECT node if it groups by date_bin_gapfill; undefined when it does not. */
const rewriteSelect = (select: JsonObject, errors: ErrorSink): JsonObject | undefined => {
  const items = select["select_list"] as Array<JsonObject>
  // Most queries fill no gaps: nothing to resolve unless date_bin_gapfill appears in GROUP BY or the select list.
  if (!containsNode(select["group_expressions"] ?? null, isGapfillCall) && !containsNode(items, isGapfillCall)) return undefined
  const aliases = new Map<string, JsonObject>()
  for (const item of items) {
    const alias = String(item["alias"]).toLowerCase()
    if (!aliases.has(alias)) aliases.set(alias, item)
  }
  const groups = (select["group_expressions"] as Array<JsonObject>).map((g) => resolveGroup(g, items, aliases))
  const mentions = groups.filter((g) => containsNode(g, isGapfillCall))
  if (mentions.length === 0) return undefined
  const fail = (message: string) => {
    errors.fail(planningError(message))
    return undefined
  }
  let calls = 0
  forEachNode(groups, (n) => {
    if (isGapfillCall(n)) calls++
  })
  if (calls > 1) return fail("DATE_BIN_GAPFILL specified more than once")
  const binIndex = groups.findIndex((g) => containsNode(g, isGapfillCall))
  const gapfill = groups[binIndex]!
  if (!isGapfillCall(gapfill))
    return fail(
      "DATE_BIN_GAPFILL must be a top-level expression in the GROUP BY clause when gap filling. It cannot be part of another expression or cast"
    )
  const args = childrenOf(gapfill)
  if (args.length < 2 || args.length > 3) return fail(`DATE_BIN_GAPFILL expects 2 or 3 arguments, got ${args.length}`)
  const [stride, source, origin] = args as [JsonObject, JsonObject, JsonObject | undefined]
  if (hasColumns(stride)) return fail("stride argument to DATE_BIN_GAPFILL for gap fill query must evaluate to a scalar")
  if (origin !== undefined && hasColumns(origin)) return fail("origin argument to DATE_BIN_GAPFILL for gap fill query must evaluate to a scalar")
  const strideText = intervalLiteral(stride)
  if (strideText !== undefined && (parseInterval(strideText)?.months ?? 0) !== 0) return fail("gap filling does not support month intervals")
  let timeColumn: JsonObject = source
  while (timeColumn["class"] === "CAST") timeColumn = timeColumn["child"] as JsonObject
  if (timeColumn["class"] !== "COLUMN_REF") return fail("DATE_BIN_GAPFILL requires a column as the source argument")

  const range = findTimeRange(select["where_clause"] ?? null, lastName(timeColumn))
  if (range.lower.length === 0 && range.upper.length === 0) return fail("gap-filling query is missing both upper and lower time bounds")
  if (range.lower.length === 0) return fail("gap-filling query is missing lower time bound")
  if (range.upper.length === 0) return fail("gap-filling query is missing upper time bound")

  // The aggregate, grouped by date_bin; keys as __k<i>, values the outer query needs as __v<j>.
  const binExpr = functionCall("date_bin", args)
  const innerGroups = groups.map((g, i) => (i === binIndex ? binExpr : g))
  const values: Array<JsonObject> = []
  const valueRef = (expr: JsonObject): JsonObject => {
    let index = values.findIndex((v) => sameExpression(v, expr))
    if (index < 0) index = values.push(withAlias(expr, "")) - 1
    return columnRef([AGG, `__v${index}`])
  }
  const seriesIndexes = groups.map((_, i) => i).filter((i) => i !== binIndex)
  const gridKey = (i: number) => (i === binIndex ? columnRef([GRID, "__time"]) : columnRef([GRID, `__k${i}`]))
  const partitions = seriesIndexes.map(gridKey)
  const byTime = [columnRef([GRID, "__time"])]

  const fillWindow = (name: "first_value" | "last_value", child: JsonObject) =>
    windowCall({
      name,
      child,
      partitions,
      orderBy: byTime,
      start: name === "last_value" ? "UNBOUNDED_PRECEDING" : "CURRENT_ROW_ROWS",
      end: name === "last_value" ? "CURRENT_ROW_ROWS" : "UNBOUNDED_FOLLOWING",
      ignoreNulls: true
    })

  const interpolate = (value: JsonObject): JsonObject => {
    const timeWhenKnown = caseWhen([[unary("OPERATOR_IS_NOT_NULL", value), functionCall("epoch_ns", [columnRef([GRID, "__time"])])]], constant("NULL", null))
    const previousValue = fillWindow("last_value", value)
    const nextValue = fillWindow("first_value", value)
    const previousTime = fillWindow("last_value", timeWhenKnown)
    const nextTime = fillWindow("first_value", timeWhenKnown)
    const slope = operatorCall("/", [
      operatorCall("*", [
        operatorCall("-", [nextValue, previousValue]),
        operatorCall("-", [functionCall("epoch_ns", [columnRef([GRID, "__time"])]), previousTime])
      ]),
      operatorCall("-", [nextTime, previousTime])
    ])
    return caseWhen([[unary("OPERATOR_IS_NOT_NULL", value), value]], operatorCall("+", [previousValue, slope]))
  }

  // Rewrites an expression of the original select list or ORDER BY to read from the grid and the aggregate.
  const outer = (expr: Json): Json => {
    if (Array.isArray(expr)) return expr.map(outer)
    if (!isObject(expr)) return expr
    if (typeof expr["class"] === "string") {
      const groupIndex = groups.findIndex((g) => sameExpression(g, expr))
      if (groupIndex >= 0) return withAlias(gridKey(groupIndex), String(expr["alias"] ?? ""))
      const name = functionName(expr)
      if (name === "locf" || name === "interpolate") {
        const fnArgs = childrenOf(expr)
        if (fnArgs.length !== 1) {
          errors.fail(planningError(`${name} should have exactly 1 argument, got ${fnArgs.length}`))
          return expr
        }
        if (!containsNode(fnArgs[0]!, isAggregateCall)) {
          errors.fail(planningError(`${name} must be called on an aggregate column in a gap-filling query`))
          return expr
        }
        const value = valueRef(fnArgs[0]!)
        return withAlias(name === "locf" ? fillWindow("last_value", value) : interpolate(value), String(expr["alias"] ?? ""))
      }
      if (isAggregateCall(expr)) return withAlias(valueRef(expr), String(expr["alias"] ?? ""))
    }
    const copy: JsonObject = {}
    for (const key in expr) copy[key] = key === "alias" ? expr[key]! : outer(expr[key]!)
    return copy
  }

  if (items.some((i) => i["class"] === "STAR")) return fail("SELECT * is not supported in a gap-filling query")
  const outerItems = items.map((item) => {
    const rewritten = outer(item) as JsonObject
    // A bare column keeps its own name as the result column's name.
    return item["class"] === "COLUMN_REF" && item["alias"] === "" ? withAlias(rewritten, lastName(item)) : rewritten
  })
  const modifiers = (select["modifiers"] as Array<JsonObject>).map(
    (m): JsonObject =>
      m["type"] === "ORDER_MODIFIER"
        ? { ...m, orders: (m["orders"] as Array<JsonObject>).map((o) => ({ ...o, expression: outer(o["expression"]!) })) }
        : m
  )
  if (!modifiers.some((m) => m["type"] === "ORDER_MODIFIER"))
    modifiers.unshift({ type: "ORDER_MODIFIER", orders: [...partitions, ...byTime].map(orderTerm) })

  const aggregate = selectNode({
    selectList: [...innerGroups.map((g, i) => withAlias(g, `__k${i}`)), ...values.map((v, j) => withAlias(v, `__v${j}`))],
    from: select["from_table"] as JsonObject,
    where: (select["where_clause"] as JsonObject | null) ?? null,
    groupBy: innerGroups,
    having: select["having"] ?? null
  })

  // Every bin of the range: date_bin of the first and last instants the range admits, stepping by stride.
  const strideNs = functionCall("strata_interval_ns", [stride])
  const originNs = origin === undefined ? functionCall("epoch_ns", [timestampNs("1970-01-01 00:00:00")]) : epochNs(origin)
  const firstBin = functionCall("strata_bin_ns", [strideNs, boundNs(range.lower, "lower"), originNs])
  const lastBin = functionCall("strata_bin_ns", [strideNs, boundNs(range.upper, "upper"), originNs])
  const bins = selectNode({
    selectList: [withAlias(functionCall("unnest", [functionCall("range", [firstBin, operatorCall("+", [lastBin, constant("BIGINT", 1)]), strideNs])]), "__ns")],
    from: emptyFrom()
  })
  const series = selectNode({
    selectList: [constant("INTEGER", 1, "__series"), ...seriesIndexes.map((i) => columnRef(["__gapfill_keys", `__k${i}`], `__k${i}`))],
    from: subqueryRef(structuredClone(aggregate), "__gapfill_keys"),
    distinct: true
  })
  const grid = selectNode({
    selectList: [
      ...seriesIndexes.map((i) => columnRef(["__gapfill_series", `__k${i}`], `__k${i}`)),
      functionCall("make_timestamp_ns", [columnRef(["__gapfill_bins", "__ns"])], "__time")
    ],
    from: join(subqueryRef(series, "__gapfill_series"), subqueryRef(bins, "__gapfill_bins"), "INNER", null)
  })
  const matches = and([
    ...seriesIndexes.map((i) => comparison("COMPARE_NOT_DISTINCT_FROM", columnRef([GRID, `__k${i}`]), columnRef([AGG, `__k${i}`]))),
    comparison("COMPARE_EQUAL", columnRef([GRID, "__time"]), columnRef([AGG, `__k${binIndex}`]))
  ])
  return {
    ...selectNode({
      selectList: outerItems,
      from: join(subqueryRef(grid, GRID), subqueryRef(aggregate, AGG), "LEFT", matches),
      modifiers
    }),
    cte_map: select["cte_map"] ?? { map: [] }
  }
}

/** Rewrites every gap-filling SELECT in a statement tree. */
export const rewriteGapfill = (node: Json, errors: ErrorSink): Json =>
  transform(node, (child) => (child["type"] === "SELECT_NODE" ? rewriteSelect(child, errors) : undefined))
