import type { TableState } from "../catalog/state.ts"
import type { FieldType } from "../storage/ParquetMemCache.ts"
import type { JsonObject } from "./ast.ts"
import { childrenOf, constantValue, explicitNullOrder, functionName, isObject, stringConstant } from "./dialect/tree.ts"
import { narrowEqualities, termEquality } from "./equalities.ts"
import {
  integerConstant,
  intersectRanges,
  readerColumn,
  readerTableNames,
  termTimeRange,
  type TimeRange,
  timestampOf,
  type Node
} from "./timeRange.ts"

/**
 * Aggregates of fields over the rows of some series in a time range, grouped by time bin and tags: the shape of most
 * dashboard panels (`SELECT date_bin(…), max(f) FROM t WHERE host = 'a' AND time >= … GROUP BY 1 ORDER BY 1`).
 * Persisted files answer it from their decoded columns (ParquetMemCache), the write buffer's rows through partial
 * aggregates (seriesAggregateRun). This module recognises the shape on the dialect-rewritten tree; anything it does
 * not recognise exactly is left to DuckDB.
 */

/** The aggregate functions answered: each over a field (see `answers` for which types), or `count(*)`. */
export type AggregateFunction = "max" | "min" | "sum" | "avg" | "count" | "count_star" | SelectorFunction

/** `selector_last(f, time)['value' | 'time']` (and first): the value at the latest (earliest) time it has one. */
export type SelectorFunction = "last_value" | "last_time" | "first_value" | "first_time"

const SELECTORS: Record<string, Record<string, SelectorFunction>> = {
  strata_selector_last: { value: "last_value", time: "last_time" },
  strata_selector_first: { value: "first_value", time: "first_time" }
}

/** A grouping key: the time bin, or a tag by its name in the catalog. */
export type GroupKey = { readonly kind: "bin" } | { readonly kind: "tag"; readonly tag: string }

/** One column of the answer, in order. */
export type AggregateOutput =
  | { readonly kind: "key"; readonly key: GroupKey; readonly name: string }
  | {
      readonly kind: "aggregate"
      readonly fn: AggregateFunction
      /** The field aggregated and its type (none for `count(*)`). */
      readonly field?: string
      readonly fieldType?: FieldType
      readonly name: string
    }

/**
 * Whether `fn` is answered over a field of `type`: every aggregate of floats, the exact ones of integers (their sums
 * and means are DuckDB's, over HUGEINT), `count` of any field.
 */
const answers = (fn: AggregateFunction, type: string): type is FieldType =>
  type === "float" ||
  (fn === "count" && (type === "integer" || type === "uinteger" || type === "string" || type === "boolean")) ||
  ((type === "integer" || type === "uinteger") && fn !== "sum" && fn !== "avg")

export interface SeriesAggregateShape {
  /** Tag conditions every row meets: tag → the values it may have (a row without the tag never passes). */
  readonly equalities: ReadonlyMap<string, ReadonlySet<string>>
  /** Closed bounds on time (epoch ns); absent sides are open. */
  readonly minNs?: bigint | undefined
  readonly maxNs?: bigint | undefined
  /** `date_bin`'s stride and origin (ns), when the answer is grouped by time bins. */
  readonly bin?: { readonly strideNs: bigint; readonly originNs: bigint } | undefined
  /** Tags the answer is grouped by, besides the bin. */
  readonly groupTags: ReadonlyArray<string>
  /** GROUP BY present: one row per group (none when no row passes); without it, exactly one row. */
  readonly grouped: boolean
  readonly outputs: ReadonlyArray<AggregateOutput>
  /** The ORDER BY, on grouping keys; ties (and keys it leaves out) in ascending key order. */
  readonly order: ReadonlyArray<{ readonly key: GroupKey; readonly descending: boolean; readonly nullsFirst: boolean }>
}

const AGGREGATES = new Set<string>(["max", "min", "sum", "avg", "count", "count_star"])

const sameKey = (a: GroupKey, b: GroupKey) => a.kind === b.kind && (a.kind === "bin" || a.tag === (b as { tag: string }).tag)

/**
 * The series aggregate a statement (`{node, …}` after the dialect rewrite) asks of `table`, read through `ref` (the
 * statement's FROM, a reference to that table); undefined unless every part of it is understood.
 */
export const seriesAggregateOf = (
  node: JsonObject,
  ref: JsonObject,
  table: TableState
): SeriesAggregateShape | undefined => {
  if (node["type"] !== "SELECT_NODE" || node["from_table"] !== ref) return undefined
  const cte = node["cte_map"]
  if (!isObject(cte) || !Array.isArray(cte["map"]) || cte["map"].length > 0) return undefined
  if (node["having"] !== null || node["qualify"] !== null || node["sample"] !== null) return undefined
  if (node["aggregate_handling"] !== "STANDARD_HANDLING") return undefined
  if (Array.isArray(ref["column_name_alias"]) && ref["column_name_alias"].length > 0) return undefined
  if (ref["sample"] !== null && ref["sample"] !== undefined) return undefined
  const modifiers = Array.isArray(node["modifiers"]) ? (node["modifiers"] as Array<JsonObject>) : []
  if (modifiers.length > 1 || modifiers.some((m) => m["type"] !== "ORDER_MODIFIER")) return undefined

  const tables = readerTableNames(node as Node)
  const columnsByName = new Map<string, TableState["columns"][number]>()
  for (const c of table.columns) columnsByName.set(c.name.toLowerCase(), c)
  // A name two columns share case-insensitively: DuckDB's resolution is not ours to guess.
  if (columnsByName.size !== table.columns.length) return undefined
  const columnOf = (n: JsonObject | undefined) => {
    const name = readerColumn(n as Node | undefined, tables)
    return name === undefined ? undefined : columnsByName.get(name.toLowerCase())
  }

  // The bin: make_timestamp_ns(strata_bin_ns(stride, epoch_ns(time), origin)), as the dialect writes date_bin.
  const binOf = (n: JsonObject | undefined) => {
    if (n === undefined || functionName(n) !== "make_timestamp_ns" || !plainCall(n)) return undefined
    const [inner, ...rest] = childrenOf(n)
    if (rest.length > 0 || functionName(inner) !== "strata_bin_ns" || !plainCall(inner!)) return undefined
    const [stride, t, origin, ...more] = childrenOf(inner!)
    if (more.length > 0 || functionName(t) !== "epoch_ns" || !plainCall(t!)) return undefined
    const timeArgs = childrenOf(t!)
    if (timeArgs.length !== 1 || columnOf(timeArgs[0])?.type !== "time") return undefined
    const strideNs = integerConstant(stride as Node)
    // An origin is an integer, or a timestamp's epoch_ns (how the dialect writes `date_bin(s, time, '…')`).
    const originNs =
      integerConstant(origin as Node) ??
      (functionName(origin) === "epoch_ns" && plainCall(origin!) && childrenOf(origin!).length === 1
        ? timestampOf(childrenOf(origin!)[0] as Node)
        : undefined)
    return strideNs === undefined || originNs === undefined || strideNs <= 0n ? undefined : { strideNs, originNs }
  }

  let bin: { readonly strideNs: bigint; readonly originNs: bigint } | undefined
  const useBin = (b: { readonly strideNs: bigint; readonly originNs: bigint }) => {
    if (bin !== undefined && (bin.strideNs !== b.strideNs || bin.originNs !== b.originNs)) return false
    bin = b
    return true
  }

  // The select list: keys (bin, tags) and aggregates, each with the name DuckDB gives it.
  const selectList = Array.isArray(node["select_list"]) ? (node["select_list"] as Array<JsonObject>) : []
  if (selectList.length === 0) return undefined
  const outputs: Array<AggregateOutput> = []
  for (const item of selectList) {
    const alias = item["alias"]
    const column = columnOf(item)
    // An unaliased column is named as the table names it (DuckDB takes the bound column's name); the dialect names
    // every other expression.
    const name = typeof alias === "string" && alias !== "" ? alias : column?.name
    if (name === undefined) return undefined
    if (column !== undefined) {
      if (column.type !== "tag") return undefined
      outputs.push({ kind: "key", key: { kind: "tag", tag: column.name }, name })
      continue
    }
    const b = binOf(item)
    if (b !== undefined) {
      if (!useBin(b)) return undefined
      outputs.push({ kind: "key", key: { kind: "bin" }, name })
      continue
    }
    const selector = selectorOf(item)
    if (selector !== undefined) {
      const [field, time] = selector.args
      const column = field === undefined ? undefined : columnOf(field)
      if (selector.args.length !== 2 || column === undefined || columnOf(time)?.type !== "time") return undefined
      if (!answers(selector.fn, column.type)) return undefined
      outputs.push({ kind: "aggregate", fn: selector.fn, field: column.name, fieldType: column.type, name })
      continue
    }
    const fn = functionName(item)
    if (fn === undefined || !AGGREGATES.has(fn) || !plainCall(item)) return undefined
    const args = childrenOf(item)
    if (fn === "count_star") {
      if (args.length !== 0) return undefined
      outputs.push({ kind: "aggregate", fn, name })
      continue
    }
    const field = args.length === 1 ? columnOf(args[0]) : undefined
    if (field === undefined || !answers(fn as AggregateFunction, field.type)) return undefined
    outputs.push({ kind: "aggregate", fn: fn as AggregateFunction, field: field.name, fieldType: field.type, name })
  }

  // GROUP BY: positions in the select list, tags, or the bin (by its expression or its alias).
  const groupExpressions = Array.isArray(node["group_expressions"]) ? (node["group_expressions"] as Array<JsonObject>) : []
  const groupSets = node["group_sets"]
  const oneSet =
    Array.isArray(groupSets) &&
    (groupExpressions.length === 0
      ? groupSets.length === 0
      : groupSets.length === 1 &&
        Array.isArray(groupSets[0]) &&
        groupSets[0].length === groupExpressions.length &&
        groupExpressions.every((_, i) => (groupSets[0] as Array<unknown>).some((v) => Number(v) === i)))
  if (!oneSet) return undefined
  const keys: Array<GroupKey> = []
  /** The answer's columns a bare name (`ORDER BY t`) names, by their names (case-insensitive). */
  const aliased = (n: JsonObject) => {
    const name = readerColumn(n as Node, new Set())?.toLowerCase()
    return name === undefined ? [] : outputs.filter((o) => o.name.toLowerCase() === name)
  }
  const keyOf = (n: JsonObject): GroupKey | undefined => {
    const position = positionOf(n)
    if (position !== undefined) {
      const item = outputs[position - 1]
      return item?.kind === "key" ? item.key : undefined
    }
    const column = columnOf(n)
    if (column !== undefined) return column.type === "tag" ? { kind: "tag", tag: column.name } : undefined
    const b = binOf(n)
    if (b !== undefined) return useBin(b) ? { kind: "bin" } : undefined
    // A select alias (a name no column of the table has).
    const named = aliased(n)
    return named.length === 1 && named[0]!.kind === "key" ? named[0]!.key : undefined
  }
  for (const g of groupExpressions) {
    const key = keyOf(g)
    if (key === undefined) return undefined
    if (!keys.some((k) => sameKey(k, key))) keys.push(key)
  }
  // Every key of the answer is a grouping key (no bare column outside GROUP BY).
  for (const o of outputs) if (o.kind === "key" && !keys.some((k) => sameKey(k, o.key))) return undefined
  if (bin !== undefined && !keys.some((k) => k.kind === "bin")) return undefined

  // ORDER BY: select aliases first (as DuckDB resolves them), then positions, tags and the bin.
  const order: Array<{ key: GroupKey; descending: boolean; nullsFirst: boolean }> = []
  for (const modifier of modifiers) {
    for (const term of (modifier["orders"] as Array<JsonObject> | undefined) ?? []) {
      const expression = term["expression"] as JsonObject
      let key: GroupKey | undefined
      const named = aliased(expression)
      if (named.length > 1) return undefined
      if (named.length === 1) key = named[0]!.kind === "key" ? named[0]!.key : undefined
      else key = keyOf(expression)
      if (key === undefined || !keys.some((k) => sameKey(k, key!))) return undefined
      const type = term["type"]
      if (type !== "ORDER_DEFAULT" && type !== "ASCENDING" && type !== "DESCENDING") return undefined
      // DuckDB's default puts nulls last.
      const nulls = explicitNullOrder(term)
      if (nulls === null) return undefined
      order.push({ key, descending: type === "DESCENDING", nullsFirst: nulls === "NULLS FIRST" })
    }
  }

  const where = whereOf(node["where_clause"] as JsonObject | null, tables, (name) => columnsByName.get(name.toLowerCase()))
  if (where === undefined) return undefined
  return {
    ...where,
    bin,
    groupTags: keys.flatMap((k) => (k.kind === "tag" ? [k.tag] : [])),
    grouped: groupExpressions.length > 0,
    outputs,
    order
  }
}

/** A function call with no DISTINCT, FILTER, ORDER BY or qualifying schema. */
const plainCall = (n: JsonObject): boolean => {
  const orders = n["order_bys"]
  return (
    n["distinct"] !== true &&
    (n["filter"] === null || n["filter"] === undefined) &&
    n["export_state"] !== true &&
    (n["schema"] === "" || n["schema"] === undefined || n["schema"] === "main") &&
    (n["catalog"] === "" || n["catalog"] === undefined) &&
    (!isObject(orders) || !Array.isArray(orders["orders"]) || orders["orders"].length === 0)
  )
}

/** `strata_selector_last(f, time)['value']` (the dialect's selector_last): which selector part, and its arguments. */
const selectorOf = (n: JsonObject): { readonly fn: SelectorFunction; readonly args: Array<JsonObject> } | undefined => {
  if (n["class"] !== "OPERATOR" || n["type"] !== "ARRAY_EXTRACT") return undefined
  const [call, part, ...rest] = childrenOf(n)
  const parts = SELECTORS[functionName(call) ?? ""]
  const fn = parts?.[stringConstant(part) ?? ""]
  return fn === undefined || rest.length > 0 || !plainCall(call!) ? undefined : { fn, args: childrenOf(call!) }
}

/** `GROUP BY 2` / `ORDER BY 1`: an integer constant is a 1-based position in the select list. */
const positionOf = (n: JsonObject): number | undefined => {
  const c = constantValue(n)
  return c !== undefined && (c.type === "INTEGER" || c.type === "BIGINT") ? Number(c.value) : undefined
}

/**
 * A WHERE made only of AND-ed tag equalities and IN lists (termEquality) and bounds on `time` (termTimeRange), as the
 * accepted values by tag (its catalog name) and closed time bounds; undefined when any term is something else.
 */
const whereOf = (
  where: JsonObject | null,
  tables: ReadonlySet<string>,
  columnNamed: (name: string) => TableState["columns"][number] | undefined
): Pick<SeriesAggregateShape, "equalities" | "minNs" | "maxNs"> | undefined => {
  const equalities = new Map<string, Set<string>>()
  let range: TimeRange = {}
  const term = (n: JsonObject): boolean => {
    if (n["class"] === "CONJUNCTION" && n["type"] === "CONJUNCTION_AND") return childrenOf(n).every(term)
    const equality = termEquality(n as Node, tables)
    if (equality !== undefined) {
      const column = columnNamed(equality.column)
      if (column?.type !== "tag") return false
      narrowEqualities(equalities, column.name, equality.values)
      return true
    }
    const bound = termTimeRange(n as Node, tables)
    if (bound === undefined || !bound.whole) return false
    range = intersectRanges(range, bound)
    return true
  }
  if (where !== null && where !== undefined && !term(where)) return undefined
  return { equalities, minNs: range.min, maxNs: range.max }
}
