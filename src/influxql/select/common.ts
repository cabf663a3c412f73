import type { ColumnType } from "../../events/index.ts"
import { sqlIdentifier, sqlString } from "../../query/literal.ts"
import { ANALYSIS_FUNCTIONS } from "../analysis.ts"
import { MATH_ARITY, type ValueKind } from "../functions.ts"

/** What every planning stage shares: a measurement's schema, function families, SQL literal helpers, limits. */

/**
 * A float literal as a DOUBLE: DuckDB reads `1000.7` (and, once the planner has re-rendered it, `1.0007e3`) as a
 * DECIMAL, and an integer times a DECIMAL stays one.
 */
export const floatLiteral = (x: number) => `CAST('${x.toExponential()}' AS DOUBLE)`

export const q = sqlIdentifier

export const lit = sqlString

export const MIN_TIME = -9223372036854775806n

export const MAX_TIME = 9223372036854775806n

export const MAX_BUCKETS = 100_000

export const SELECTS_POINTS = new Set(["top", "bottom"])

export const AGGREGATES = new Set(["count", "sum", "mean", "median", "min", "max", "first", "last", "spread", "stddev", "percentile", "distinct", "mode"])

export const SELECTORS = new Set(["min", "max", "first", "last", "percentile"])

/** Functions whose wildcard forms skip string and boolean fields. */
export const NUMERIC_ONLY = new Set([...MATH_ARITY.keys(), "sum", "mean", "median", "spread", "stddev", "percentile", "min", "max", "derivative", "non_negative_derivative", "difference", "non_negative_difference", "moving_average", "cumulative_sum", ...ANALYSIS_FUNCTIONS])

const BASIC_TRANSFORMS = new Set(["derivative", "non_negative_derivative", "difference", "non_negative_difference", "moving_average", "cumulative_sum", "elapsed"])

export const HOLT_WINTERS = new Set(["holt_winters", "holt_winters_with_fit"])

export const TRANSFORMS = new Set([...BASIC_TRANSFORMS, ...ANALYSIS_FUNCTIONS, ...HOLT_WINTERS])

export const UNSUPPORTED = new Set([
  // integral() is planned on its own path when it is the only field (see integralSql); beside others it is not.
  "integral", "sample"
])

/** What the planner knows of a measurement's columns. */
export interface Schema {
  readonly table: { readonly name: string }
  readonly types: ReadonlyMap<string, ColumnType>
  /** The SQL to read rows from when not the table itself (a subquery's rows). */
  readonly from?: string
}

/** Time bounds an outer statement hands to its subquery when the subquery has none of its own. */
export interface Bounds {
  readonly lo?: bigint | undefined
  readonly hi?: bigint | undefined
}

export const kindOfType = (t: ColumnType | undefined): ValueKind => (t === "float" ? "float" : t === "integer" || t === "uinteger" ? "int" : "other")
