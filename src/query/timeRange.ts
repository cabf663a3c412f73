import type { JsonObject } from "./ast.ts"
import { parseTimestampNs } from "./dialect/time.ts"

type Node = Record<string, unknown>

/** Closed bounds on `time`, in epoch nanoseconds; an absent side is unbounded. */
export interface TimeRange {
  readonly min?: bigint | undefined
  readonly max?: bigint | undefined
}

const isTimeColumn = (n: Node | undefined): boolean => {
  if (n === undefined || n === null || n["class"] !== "COLUMN_REF") return false
  const names = n["column_names"] as ReadonlyArray<string> | undefined
  return String(names?.[names.length - 1]).toLowerCase() === "time"
}

/** A timestamp constant in nanoseconds: `CAST('…' AS TIMESTAMP_NS)`, as the dialect writes time literals. */
const timestampOf = (n: Node | undefined): bigint | undefined => {
  if (n === undefined || n === null) return undefined
  if (n["class"] === "CAST") {
    const type = n["cast_type"] as { id?: string } | undefined
    if (type?.id !== "TIMESTAMP_NS") return undefined
    const child = n["child"] as Node | undefined
    if (child?.["class"] !== "CONSTANT") return undefined
    const v = child["value"] as { type?: { id?: string }; is_null?: boolean; value?: unknown } | undefined
    if (v?.type?.id !== "VARCHAR" || v.is_null !== false || typeof v.value !== "string") return undefined
    // Only plain UTC wall-clock text: what DuckDB reads it as is then exactly what we read.
    if (!/^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,9})?$/.test(v.value)) return undefined
    return parseTimestampNs(v.value)
  }
  return undefined
}

/** `time <op> c` or `c <op> time` as a bound: which side it bounds and its value. */
const FLIPPED: Record<string, string> = {
  COMPARE_GREATERTHAN: "COMPARE_LESSTHAN",
  COMPARE_GREATERTHANOREQUALTO: "COMPARE_LESSTHANOREQUALTO",
  COMPARE_LESSTHAN: "COMPARE_GREATERTHAN",
  COMPARE_LESSTHANOREQUALTO: "COMPARE_GREATERTHANOREQUALTO",
  COMPARE_EQUAL: "COMPARE_EQUAL"
}

/**
 * The bounds every answer row's `time` meets in a plain single-table SELECT: the top-level AND terms of its WHERE
 * comparing `time` with a timestamp constant (`>`, `>=`, `<`, `<=`, `=`, BETWEEN). Undefined for any other
 * statement, or when no term bounds time. Files and buffer parts wholly outside the bounds hold no answer row.
 */
export const queryTimeRange = (statement: JsonObject): TimeRange | undefined => {
  const node = ((statement as Node)["node"] ?? statement) as Node
  if (node["type"] !== "SELECT_NODE" || (node["from_table"] as Node | undefined)?.["type"] !== "BASE_TABLE")
    return undefined
  const cte = (node["cte_map"] as { map?: ReadonlyArray<unknown> } | undefined)?.map
  if (cte !== undefined && cte.length > 0) return undefined
  const where = node["where_clause"] as Node | undefined
  if (where === undefined || where === null) return undefined
  let min: bigint | undefined
  let max: bigint | undefined
  const atLeast = (ns: bigint) => (min = min === undefined || ns > min ? ns : min)
  const atMost = (ns: bigint) => (max = max === undefined || ns < max ? ns : max)
  const bound = (op: string, ns: bigint) => {
    switch (op) {
      case "COMPARE_GREATERTHAN":
        return atLeast(ns + 1n)
      case "COMPARE_GREATERTHANOREQUALTO":
        return atLeast(ns)
      case "COMPARE_LESSTHAN":
        return atMost(ns - 1n)
      case "COMPARE_LESSTHANOREQUALTO":
        return atMost(ns)
      case "COMPARE_EQUAL":
        atLeast(ns)
        return atMost(ns)
    }
  }
  const visit = (n: Node) => {
    if (n["class"] === "CONJUNCTION" && n["type"] === "CONJUNCTION_AND") {
      for (const c of n["children"] as ReadonlyArray<Node>) visit(c)
      return
    }
    if (n["class"] === "COMPARISON" && typeof n["type"] === "string" && n["type"] in FLIPPED) {
      const l = n["left"] as Node
      const r = n["right"] as Node
      const right = timestampOf(r)
      if (isTimeColumn(l) && right !== undefined) bound(n["type"], right)
      const left = timestampOf(l)
      if (isTimeColumn(r) && left !== undefined) bound(FLIPPED[n["type"]]!, left)
      return
    }
    if (n["class"] === "BETWEEN" && isTimeColumn(n["input"] as Node)) {
      const lower = timestampOf(n["lower"] as Node)
      const upper = timestampOf(n["upper"] as Node)
      if (lower !== undefined) atLeast(lower)
      if (upper !== undefined) atMost(upper)
    }
  }
  visit(where)
  return min === undefined && max === undefined ? undefined : { min, max }
}

/** Whether the closed range [lo, hi] lies wholly outside the bounds. */
export const outsideRange = (range: TimeRange | undefined, lo: bigint, hi: bigint): boolean =>
  range !== undefined && ((range.min !== undefined && hi < range.min) || (range.max !== undefined && lo > range.max))
