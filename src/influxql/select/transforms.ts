import { ANALYSIS_FUNCTIONS, type AnalysisName, type SeriesFunction, type Warmup } from "../analysis.ts"
import type { Expr } from "../ast.ts"
import type { ValueKind } from "../functions.ts"
import { Fail } from "./failure.ts"
import type { StageSink } from "./stages.ts"

/** Stage 5: time buckets and the transformations over a series (derivative, moving_average, …) as SQL. */

/**
 * The time-bucket start of a row in ns: floor((t - offset) / interval) * interval + offset, exact in integers. The
 * dialect's `strata_bin_ns` (query/dialect/setup.ts), which date_bin also plans to: one formula for both languages.
 */
export const bucketSql = (timeNs: string, interval: bigint, offset: bigint) =>
  `strata_bin_ns(${interval}, ${timeNs}, ${offset})`

export { binStartNs as bucketOf } from "../../query/timeBins.ts"

/** A transformation function over a series' points (raw or one aggregate per time bucket), as InfluxDB 1.x has it. */
export interface Transform {
  readonly name: string
  /** The field reference (raw) or the aggregate call (nested) it transforms. */
  readonly arg: Expr
  /** The unit of derivative (default 1s raw, the GROUP BY interval nested) and elapsed (default 1ns). */
  readonly unitNs: bigint
  /** The window of moving_average. */
  readonly n: number
  /** A function computed point by point in a Stage (technical analysis, Holt-Winters). */
  readonly analysis?: SeriesFunction
}

export const literalType = (e: Expr) =>
  e._tag === "number" ? (e.integer ? "*influxql.IntegerLiteral" : "*influxql.NumberLiteral") : e._tag === "string" ? "*influxql.StringLiteral" : e._tag === "ref" ? "*influxql.VarRef" : "*influxql.Call"

/** Reads a transformation call's arguments, with InfluxDB's messages for wrong ones. */
export const transformOf = (e: Extract<Expr, { _tag: "call" }>, interval: bigint | undefined): Transform => {
  const name = e.name
  const arg = e.args[0]
  const argCount = (expected: number) => {
    if (e.args.length !== expected) throw new Fail(`invalid number of arguments for ${name}, expected ${expected}, got ${e.args.length}`)
  }
  const unit = (fallback: bigint): bigint => {
    const u = e.args[1]
    if (e.args.length > 2) throw new Fail(`invalid number of arguments for ${name}, expected at least 1 but no more than 2, got ${e.args.length}`)
    if (u === undefined) return fallback
    if (u._tag !== "duration") throw new Fail(`second argument to ${name} must be a duration, got ${literalType(u)}`)
    return u.ns <= 0n ? fallback : u.ns
  }
  if (arg === undefined) throw new Fail(`invalid number of arguments for ${name}, expected at least 1, got 0`)
  switch (name) {
    case "derivative":
    case "non_negative_derivative":
      return { name, arg, unitNs: unit(interval ?? 1_000_000_000n), n: 0 }
    case "elapsed":
      return { name, arg, unitNs: unit(1n), n: 0 }
    case "moving_average": {
      argCount(2)
      const n = e.args[1]!
      if (n._tag !== "number" || !n.integer) throw new Fail(`second argument for moving_average must be an integer, got ${literalType(n)}`)
      if (n.value <= 1) throw new Fail(`moving_average window must be greater than 1, got ${n.value}`)
      return { name, arg, unitNs: 0n, n: n.value }
    }
    case "holt_winters":
    case "holt_winters_with_fit": {
      argCount(3)
      if (arg._tag !== "call") throw new Fail(`must use aggregate function with ${name}`)
      const [, n, m] = e.args
      if (n!._tag !== "number" || !n!.integer) throw new Fail(`expected integer argument as second arg in ${name}`)
      if (n!.value <= 0) throw new Fail(`second arg to ${name} must be greater than 0, got ${n!.value}`)
      if (m!._tag !== "number" || !m!.integer) throw new Fail(`expected integer argument as third arg in ${name}`)
      return { name, arg, unitNs: 0n, n: 0, analysis: { name, h: n!.value, m: m!.value, intervalNs: interval! } }
    }
    default: {
      if (!ANALYSIS_FUNCTIONS.has(name)) {
        argCount(1)
        return { name, arg, unitNs: 0n, n: 0 }
      }
      // As 1.x validates them: period, then an optional hold period and (not for Kaufman's) warmup type.
      const kaufmans = name.startsWith("kaufmans")
      const most = kaufmans ? 3 : 4
      if (e.args.length < 2 || e.args.length > most) throw new Fail(`invalid number of arguments for ${name}, expected at least 2 but no more than ${most}, got ${e.args.length}`)
      const [, p, h, w] = e.args
      if (p!._tag !== "number" || !p!.integer) throw new Fail(`second argument for ${name} must be an integer, got ${literalType(p!)}`)
      if (p!.value < 1) throw new Fail(`${name} period must be greater than or equal to 1`)
      let hold = -1
      if (h !== undefined) {
        if (h._tag !== "number" || !h.integer) throw new Fail(`third argument for ${name} must be an integer, got ${literalType(h)}`)
        // TRIX's first answer is always dropped (a rate needs a previous average), so 1.x asks for a hold of 1 or more.
        const least = name === "triple_exponential_derivative" ? 1 : 0
        if (h.value < least) throw new Fail(`${name} hold period must be greater than or equal to ${least}`)
        hold = h.value
      }
      let warmup: Warmup = name === "chande_momentum_oscillator" ? "none" : "exponential"
      if (w !== undefined) {
        if (w._tag !== "string") throw new Fail(`fourth argument for ${name} must be a string, got ${literalType(w)}`)
        const allowed = name === "chande_momentum_oscillator" ? ["none", "exponential", "simple"] : ["exponential", "simple"]
        if (!allowed.includes(w.value)) throw new Fail(`${name} warmup type must be one of: ${allowed.map((a) => `'${a}'`).join(" ")}`)
        warmup = w.value as Warmup
      }
      if (name === "chande_momentum_oscillator" && warmup === "none" && p!.value < 2) throw new Fail(`${name} period must be greater than or equal to 2`)
      return {
        name,
        arg,
        unitNs: 0n,
        n: p!.value,
        analysis: { name: name as AnalysisName, period: p!.value, hold, warmup }
      }
    }
  }
}

/**
 * The transformations over a body of rows (`__time`, the grouping tags and one value column per field), each over
 * its own field's non-null points of each series, as window functions; fields whose points fall at different times
 * give rows with nulls. Answers the grouping tags, `__time` and `__v0…`.
 */
export const transformsSql = (
  body: string,
  columns: ReadonlyArray<{ readonly sql: string; readonly kind: ValueKind }>,
  transforms: ReadonlyArray<Transform>,
  tagRefs: ReadonlyArray<string>,
  dir: string,
  tieOrder: ReadonlyArray<string>,
  rowLimits: string,
  stages: StageSink,
  firstBucket?: bigint
): string => {
  const partition = tagRefs.length > 0 ? `PARTITION BY ${tagRefs.join(", ")} ` : ""
  const w = `OVER (${partition}ORDER BY __time ${dir})`
  const parts = transforms.map((t, i) => {
    const col = columns[i]!
    // Of several points at one time (series merged without GROUP BY), derivative and difference keep the first.
    const dedup = /derivative|difference/.test(t.name) ? `QUALIFY row_number() OVER (PARTITION BY ${[...tagRefs, "__time"].join(", ")}${tieOrder.length > 0 ? ` ORDER BY ${tieOrder.join(", ")}` : ""}) = 1` : ""
    // A plain aggregate keeps its empty (filled with null) buckets; the transformations skip them.
    const points = `SELECT ${[...tagRefs, "__time", `${col.sql} AS __x`].join(", ")} FROM (${body}) WHERE ${t.name === "value" ? "TRUE" : `${col.sql} IS NOT NULL`} ${dedup}`
    if (t.analysis !== undefined) {
      // Point by point in series order (ties as the merge has them), computed between the SQL steps.
      const ordered = `SELECT ${[...tagRefs, "__time", `CAST(${col.sql} AS DOUBLE) AS __x`].join(", ")} FROM (${body}) WHERE ${col.sql} IS NOT NULL ORDER BY ${[...tagRefs, `__time ${dir}`, ...tieOrder].join(", ")}`
      const id = stages.add(ordered, tagRefs.length, t.analysis)
      const part = `SELECT ${[...tagRefs, "__time", `__v AS __v${i}`].join(", ")} FROM ${id}`
      return rowLimits === "" ? part : `SELECT * FROM (${part}) ${rowLimits}`
    }
    const prev = `lag(__x) ${w}`
    const diff = `(__x - ${prev})`
    let value: string
    let keep: string
    switch (t.name) {
      case "derivative":
      case "non_negative_derivative":
        value = `CAST(${diff} AS DOUBLE) / (CAST(abs(__time - lag(__time) ${w}) AS DOUBLE) / ${t.unitNs}.0)`
        keep = t.name === "derivative" ? `${prev} IS NOT NULL` : `${prev} IS NOT NULL AND NOT (${diff} < 0)`
        break
      case "difference":
      case "non_negative_difference":
        value = diff
        keep = t.name === "difference" ? `${prev} IS NOT NULL` : `${prev} IS NOT NULL AND NOT (${diff} < 0)`
        break
      case "moving_average":
        value = `CAST(sum(__x) OVER (${partition}ORDER BY __time ${dir} ROWS BETWEEN ${t.n - 1} PRECEDING AND CURRENT ROW) AS DOUBLE) / ${t.n}.0`
        keep = `row_number() ${w} >= ${t.n}`
        break
      case "cumulative_sum": {
        const sum = `sum(__x) OVER (${partition}ORDER BY __time ${dir} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)`
        value = col.kind === "int" ? `CAST(${sum} AS BIGINT)` : sum
        keep = "TRUE"
        break
      }
      case "value":
        value = "__x"
        keep = firstBucket === undefined ? "TRUE" : `__time >= ${firstBucket}`
        break
      default:
        value = `(__time - lag(__time) ${w}) // ${t.unitNs}`
        keep = `lag(__time) ${w} IS NOT NULL`
    }
    // A plain aggregate's rows use no window function, so they are kept with WHERE (QUALIFY needs one).
    const part = `SELECT ${[...tagRefs, "__time", `${value} AS __v${i}`].join(", ")} FROM (${points}) ${t.name === "value" ? "WHERE" : "QUALIFY"} ${keep}`
    return rowLimits === "" ? part : `SELECT * FROM (${part}) ${rowLimits}`
  })
  if (parts.length === 1) return parts[0]!
  const union = parts.map((p) => `(${p})`).join(" UNION ALL BY NAME ")
  return `SELECT ${[...tagRefs, "__time", ...transforms.map((_, i) => `any_value(__v${i}) AS __v${i}`)].join(", ")} FROM (${union}) GROUP BY ALL`
}
