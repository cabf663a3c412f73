import type { JsonObject } from "./ast.ts"
import { parseInterval, parseTimestampNs } from "./dialect/time.ts"
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

/**
 * `N unit[s]` with a unit of fixed length spelled out (millisecond to week: no months, which DuckDB adds by the
 * calendar, and no abbreviation whose meaning may differ from DuckDB's), in nanoseconds.
 */
const SPELLED_OUT = /^\s*\d{1,9}\s+(millisecond|second|minute|hour|day|week)s?\s*$/i
const fixedIntervalNs = (text: string | undefined): bigint | undefined => {
  const parts = text !== undefined && SPELLED_OUT.test(text) ? parseInterval(text) : undefined
  if (parts === undefined || parts.months !== 0) return undefined
  return BigInt(parts.days) * 86_400_000_000_000n + parts.nanoseconds
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

/** The bounds one comparison of `time` with a constant puts on it, by the comparison's type. */
const boundOf = (op: string, ns: bigint): TimeRange | undefined => {
  switch (op) {
    case "COMPARE_GREATERTHAN":
      return { min: ns + 1n }
    case "COMPARE_GREATERTHANOREQUALTO":
      return { min: ns }
    case "COMPARE_LESSTHAN":
      return { max: ns - 1n }
    case "COMPARE_LESSTHANOREQUALTO":
      return { max: ns }
    case "COMPARE_EQUAL":
      return { min: ns, max: ns }
  }
  return undefined
}

/** Both ranges' bounds: the later minimum and the earlier maximum. */
export const intersectRanges = (a: TimeRange, b: TimeRange): TimeRange => ({
  min: a.min === undefined || (b.min !== undefined && b.min > a.min) ? b.min : a.min,
  max: a.max === undefined || (b.max !== undefined && b.max < a.max) ? b.max : a.max
})

/**
 * The bounds one WHERE term puts on `time`: a comparison of `time` (unqualified or qualified by one of `tables`) with
 * a timestamp constant (`>`, `>=`, `<`, `<=`, `=`), or BETWEEN two; `whole` when the bounds say all the term does (a
 * BETWEEN with one bound not constant keeps the other). Undefined for any other term.
 */
export const termTimeRange = (
  n: Node,
  tables: ReadonlySet<string>
): (TimeRange & { readonly whole: boolean }) | undefined => {
  const isTime = (t: Node | undefined) => isTimeColumn(t, tables)
  if (n["class"] === "COMPARISON" && typeof n["type"] === "string" && n["type"] in FLIPPED) {
    const l = n["left"] as Node
    const r = n["right"] as Node
    const right = timestampOf(r)
    const left = timestampOf(l)
    const bound =
      isTime(l) && right !== undefined
        ? boundOf(n["type"], right)
        : isTime(r) && left !== undefined
          ? boundOf(FLIPPED[n["type"]]!, left)
          : undefined
    return bound === undefined ? undefined : { ...bound, whole: true }
  }
  if (n["class"] === "BETWEEN" && isTime(n["input"] as Node)) {
    const min = timestampOf(n["lower"] as Node)
    const max = timestampOf(n["upper"] as Node)
    if (min === undefined && max === undefined) return undefined
    return { min, max, whole: min !== undefined && max !== undefined }
  }
  return undefined
}

/**
 * The bounds on `time` of the rows a SELECT reading a table directly keeps: the top-level AND terms of its WHERE
 * that bound it (termTimeRange). Rows outside them never leave that SELECT (a subquery, the InfluxQL planner's
 * stages), so files and buffer parts wholly outside them hold no row the answer can use. Undefined when no such term
 * is found.
 */
export const whereTimeRange = (reader: Node): TimeRange | undefined => {
  const where = reader["where_clause"] as Node | undefined
  if (where === undefined || where === null) return undefined
  const tables = readerTableNames(reader)
  let range: TimeRange | undefined
  const visit = (n: Node) => {
    if (n["class"] === "CONJUNCTION" && n["type"] === "CONJUNCTION_AND") {
      for (const c of n["children"] as ReadonlyArray<Node>) visit(c)
      return
    }
    const bound = termTimeRange(n, tables)
    if (bound !== undefined) range = intersectRanges(range ?? {}, { min: bound.min, max: bound.max })
  }
  visit(where)
  return range === undefined || (range.min === undefined && range.max === undefined) ? undefined : range
}

/** Whether the closed range [lo, hi] lies wholly outside the bounds. */
export const outsideRange = (range: TimeRange | undefined, lo: bigint, hi: bigint): boolean =>
  range !== undefined && ((range.min !== undefined && hi < range.min) || (range.max !== undefined && lo > range.max))
