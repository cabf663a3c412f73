import type { JsonObject } from "./ast.ts"
import { childrenOf, functionName } from "./dialect/tree.ts"
import { integerConstant, readerColumn, readerTableNames, type Node } from "./timeRange.ts"

/**
 * The start of the `stride`-wide bin holding `t`, bins aligned on `origin` (epoch ns): what `strata_bin_ns` computes in
 * SQL, for planners and answers computed outside DuckDB.
 */
export const binStartNs = (t: bigint, stride: bigint, origin: bigint): bigint => {
  const shifted = t - origin
  return shifted - (((shifted % stride) + stride) % stride) + origin
}

/** The parts of a SELECT its WHERE has already filtered the rows for (not the WHERE, FROM or CTEs themselves). */
const AFTER_WHERE = ["select_list", "group_expressions", "group_sets", "having", "qualify", "modifiers"] as const

/**
 * The time bins of a SELECT reading a table directly that can skip the before-the-origin branch: calls
 * `strata_bin_ns(stride, epoch_ns(time), origin)` on the table's own `time` (not in a subquery, where `time` may be
 * another's), with a constant origin at or before `earliest`, the first time its WHERE keeps. Each maps to the same
 * call of `strata_bin_after_ns`: DuckDB runs the CASE of both branches at a fixed ~0.6 ms a query, ~1.5 ms of an
 * hourly mean per host over 432,000 rows.
 */
export const binsAfterOrigin = (reader: Node, earliest: bigint): Map<JsonObject, JsonObject> => {
  const tables = readerTableNames(reader)
  const found = new Map<JsonObject, JsonObject>()
  const visit = (value: unknown): void => {
    if (typeof value !== "object" || value === null) return
    if (Array.isArray(value)) {
      for (const v of value) visit(v)
      return
    }
    const node = value as JsonObject
    if (node["class"] === "SUBQUERY") return
    if (functionName(node) === "strata_bin_ns") {
      const [stride, t, origin] = childrenOf(node)
      const timeArg = functionName(t) === "epoch_ns" ? childrenOf(t!) : []
      const originNs = integerConstant(origin)
      if (
        integerConstant(stride) !== undefined &&
        timeArg.length === 1 &&
        readerColumn(timeArg[0] as Node, tables)?.toLowerCase() === "time" &&
        originNs !== undefined &&
        originNs <= earliest
      ) {
        found.set(node, { ...node, function_name: "strata_bin_after_ns" })
        return
      }
    }
    for (const key in node) visit(node[key])
  }
  for (const key of AFTER_WHERE) visit(reader[key])
  return found
}
