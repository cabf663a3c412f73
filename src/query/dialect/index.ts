import type { JsonObject } from "../ast.ts"
import { ErrorSink, type DialectError } from "./errors.ts"
import { rewriteExpressions } from "./functions.ts"
import { rewriteGapfill } from "./gapfill.ts"
import { applyDataFusionNames } from "./names.ts"

/**
 * InfluxDB 3's SQL dialect (DataFusion plus InfluxDB's functions) on DuckDB, as a rewrite of DuckDB's parse tree:
 * RFC3339 time literals with offsets, `now()` as the query start, date_bin/date_trunc/date_part/to_timestamp/tz,
 * gap filling (date_bin_gapfill, locf, interpolate), selectors, Postgres regex operators, DataFusion's aggregate
 * names and DataFusion's result column names.
 */

export { dialectSetupSql } from "./setup.ts"
export { isDialectError, type DialectError } from "./errors.ts"

/** What a rewrite needs to know about the query. */
export interface DialectContext {
  /** The query's start time in epoch nanoseconds; InfluxDB's `now()` (and `current_timestamp`) is this instant. */
  readonly nowNs: bigint
}

/** Rewrites one parsed statement (`{node, named_param_map}`) from InfluxDB 3's SQL into SQL DuckDB runs. */
export const rewriteDialect = (statement: JsonObject, context: DialectContext): JsonObject | DialectError => {
  const errors = new ErrorSink()
  // Names come from the query as written, before any rewrite changes its expressions.
  const named = applyDataFusionNames(statement["node"] as JsonObject)
  const filled = rewriteGapfill(named, errors)
  const node = rewriteExpressions(filled, { nowNs: context.nowNs, errors })
  return errors.error ?? { ...statement, node }
}
