import type { JsonObject } from "./ast.ts"
import { parseTimestampNs } from "./dialect/time.ts"
import { intervalLiteral } from "./dialect/tree.ts"

export type Node = Record<string, unknown>

/** Closed bounds on `time`, in epoch nanoseconds; an absent side is unbounded. */
export interface TimeRange {
  readonly min?: bigint | undefined
  readonly max?: bigint | undefined
}

/**
 * A column reference's name when it is unqualified or qualified by one of `tables` (the lower-case names the table
 * is known by in its SELECT); undefined for anything else.
 */
export const readerColumn = (n: Node | undefined, tables: ReadonlySet<string>): string | undefined => {
  if (n === undefined || n === null || n["class"] !== "COLUMN_REF") return undefined
  const names = n["column_names"] as ReadonlyArray<string> | undefined
  if (names === undefined || names.length === 0 || names.length > 2) return undefined
  if (names.length === 2 && !tables.has(String(names[0]).toLowerCase())) return undefined
  return names[names.length - 1]
}

/** `time`, unqualified or qualified by one of `tables`. */
const isTimeColumn = (n: Node | undefined, tables: ReadonlySet<string>): boolean =>
  readerColumn(n, tables)?.toLowerCase() === "time"

/** A timestamp constant in nanoseconds: `CAST('…' AS TIMESTAMP_NS)`, as the dialect writes time literals. */
export const timestampOf = (n: Node | undefined): bigint | undefined => {
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
  // make_timestamp_ns(<integer>): how the InfluxQL planner writes its range.
  if (n["class"] === "FUNCTION" && String(n["function_name"]).toLowerCase() === "make_timestamp_ns") {
    const args = n["children"] as ReadonlyArray<Node> | undefined
    return args?.length === 1 ? integerConstant(args[0]) : undefined
  }
  // A constant ± a fixed interval (`now() - INTERVAL '1 hour'`, as the dialect writes it), as DuckDB computes it.
  const shift = String(n["function_name"]).toLowerCase()
  if (n["class"] === "FUNCTION" && (shift === "strata_ts_sub" || shift === "strata_ts_add")) {
    const args = n["children"] as ReadonlyArray<Node> | undefined
    const base = args?.length === 2 ? timestampOf(args[0]) : undefined
    const step = args?.length === 2 ? fixedIntervalNs(intervalLiteral(args[1] as JsonObject)) : undefined
    return base === undefined || step === undefined ? undefined : shift === "strata_ts_sub" ? base - step : base + step
  }
  return undefined
}

const FIXED_UNITS_NS: Record<string, bigint> = {
  millisecond: 1_000_000n,
  second: 1_000_000_000n,
  minute: 60_000_000_000n,
  hour: 3_600_000_000_000n,
  day: 86_400_000_000_000n,
  week: 604_800_000_000_000n
}

/** `N unit[s]` for a unit of fixed length (no months, which DuckDB adds by the calendar), in nanoseconds. */
const fixedIntervalNs = (text: string | undefined): bigint | undefined => {
  const m = text === undefined ? null : /^\s*(\d{1,9})\s+([a-z]+?)s?\s*$/i.exec(text)
  const unit = m === null ? undefined : FIXED_UNITS_NS[m[2]!.toLowerCase()]
  return unit === undefined ? undefined : BigInt(m![1]!) * unit
}

/** A BIGINT or INTEGER constant's value (how DuckDB parses integer literals), or undefined. */
export const integerConstant = (n: Node | undefined): bigint | undefined => {
  if (n === undefined || n === null || n["class"] !== "CONSTANT") return undefined
  const v = n["value"] as { type?: { id?: string }; is_null?: boolean; value?: unknown } | undefined
  if ((v?.type?.id !== "BIGINT" && v?.type?.id !== "INTEGER") || v.is_null !== false) return undefined
  if (typeof v.value === "bigint") return v.value
  return typeof v.value === "number" && Number.isSafeInteger(v.value) ? BigInt(v.value) : undefined
}

/** `time <op> c` or `c <op> time` as a bound: which side it bounds and its value. */
const FLIPPED: Record<string, string> = {
  COMPARE_GREATERTHAN: "COMPARE_LESSTHAN",
  COMPARE_GREATERTHANOREQUALTO: "COMPARE_LESSTHANOREQUALTO",
  COMPARE_LESSTHAN: "COMPARE_GREATERTHAN",
  COMPARE_LESSTHANOREQUALTO: "COMPARE_GREATERTHANOREQUALTO",
  COMPARE_EQUAL: "COMPARE_EQUAL"
}

/** Every SELECT whose FROM is a table reference itself (`isTable` tells them), by that reference. */
export const readingSelects = (statement: JsonObject, isTable: (ref: object) => boolean): Map<object, Node> => {
  const readers = new Map<object, Node>()
  const pending: Array<unknown> = [statement]
  while (pending.length > 0) {
    const value = pending.pop()
    if (typeof value !== "object" || value === null) continue
    if (Array.isArray(value)) {
      for (const v of value) pending.push(v)
      continue
    }
    const n = value as Node
    const from = n["from_table"] as Node | null | undefined
    // A reference renaming its columns (`cpu AS c(a, b)`) may give another column a tag's or time's name.
    const renames = Array.isArray(from?.["column_name_alias"]) && (from["column_name_alias"] as Array<unknown>).length > 0
    if (n["type"] === "SELECT_NODE" && typeof from === "object" && from !== null && isTable(from) && !renames)
      readers.set(from, n)
    for (const key in n) pending.push(n[key])
  }
  return readers
}

/** The lower-case names a reading SELECT knows its table by (alias and name), which qualify its columns. */
export const readerTableNames = (reader: Node): ReadonlySet<string> => {
  const ref = reader["from_table"] as Node
  return new Set([String(ref["alias"] ?? ""), String(ref["table_name"] ?? "")].map((n) => n.toLowerCase()))
}

/**
 * The bounds on `time` of the rows a SELECT reading a table directly keeps: the top-level AND terms of its WHERE
 * comparing `time` with a timestamp constant (`>`, `>=`, `<`, `<=`, `=`, BETWEEN). Rows outside them never leave
 * that SELECT (a subquery, the InfluxQL planner's stages), so files and buffer parts wholly outside them hold no row
 * the answer can use. Undefined when no such term is found.
 */
export const whereTimeRange = (reader: Node): TimeRange | undefined => {
  const where = reader["where_clause"] as Node | undefined
  if (where === undefined || where === null) return undefined
  const tables = readerTableNames(reader)
  const isTime = (n: Node | undefined) => isTimeColumn(n, tables)
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
      if (isTime(l) && right !== undefined) bound(n["type"], right)
      const left = timestampOf(l)
      if (isTime(r) && left !== undefined) bound(FLIPPED[n["type"]]!, left)
      return
    }
    if (n["class"] === "BETWEEN" && isTime(n["input"] as Node)) {
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
