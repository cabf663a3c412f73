import type { Expr } from "../ast.ts"
import { type Built, isMath, mathSql, type ValueKind } from "../functions.ts"
import { AGGREGATES, floatLiteral, kindOfType, q, type Schema, UNSUPPORTED } from "./common.ts"
import { Fail } from "./failure.ts"
import { binarySql, rawSql } from "./fields.ts"

/** Stage 4: aggregates and selectors over one time bucket as SQL, with the point a selector picked. */

/**
 * How a selector breaks ties between series (points of several series grouped together): `key` orders the series as
 * 1.x's series keys do; `aux` says whether plain fields are selected beside it (1.x then reduces the raw points in
 * its merge order rather than each series' own pick).
 */
export interface SeriesTie {
  readonly key: string
  readonly aux: boolean
  /** Whether buckets are by time (1.x then prefers the greatest value among first's and last's ties). */
  readonly byTime: boolean
}

const NO_TIE: SeriesTie = { key: "0", aux: false, byTime: false }

/**
 * A selector's choice of row: its key, ordered so that ties go to the earliest point, then to the series 1.x picks
 * (measured against 1.6.7): min and max the first series; first the first series with plain fields beside it;
 * last the greatest value, then the last series, with plain fields; without plain fields, first and last take the
 * greatest value in time buckets and the last series otherwise.
 */
export const selectorPick = (
  name: string,
  arg: string,
  tie: SeriesTie = NO_TIE,
  kind: ValueKind = "float",
  t = `epoch_ns("time")`
): { fn: "arg_min" | "arg_max"; key: string } | undefined => {
  switch (name) {
    case "min":
      return { fn: "arg_min", key: `{'v': ${arg}, 't': ${t}, 'k': ${tie.key}}` }
    case "max":
      // Negated to order the series ascending among equal values; integers widened so that none overflows.
      return { fn: "arg_min", key: `{'v': -(${kind === "int" ? `CAST(${arg} AS HUGEINT)` : arg}), 't': ${t}, 'k': ${tie.key}}` }
    case "first":
      if (tie.aux) return { fn: "arg_min", key: `{'t': ${t}, 'k': ${tie.key}}` }
      return { fn: "arg_max", key: tie.byTime ? `{'t': -${t}, 'v': ${arg}, 'k': ${tie.key}}` : `{'t': -${t}, 'k': ${tie.key}}` }
    case "last":
      if (tie.aux) return { fn: "arg_max", key: `{'t': ${t}, 'v': ${arg}, 'k': ${tie.key}}` }
      return { fn: "arg_max", key: tie.byTime ? `{'t': ${t}, 'v': ${arg}, 'k': ${tie.key}}` : `{'t': ${t}, 'k': ${tie.key}}` }
    default:
      return undefined
  }
}

/**
 * The time of the point a selector picked, in the same step as its value. Which series wins a tie cannot change that
 * time, so the key leaves the series out: ordering by the struct of value, time and every tag cost about three times
 * the query's CPU time (scripts/bench-selectors.ts). first and last need no key at all; a lone min() or max() over a
 * table takes two steps instead (extremeWithTimeSql).
 */
export const selectorTimeSql = (name: string, arg: string): string | undefined => {
  const t = `epoch_ns("time")`
  const filter = `FILTER (WHERE ${arg} IS NOT NULL)`
  switch (name) {
    case "min":
      return `arg_min(${t}, {'v': ${arg}, 't': ${t}}) ${filter}`
    case "max":
      return `arg_max(${t}, {'v': ${arg}, 't': -${t}}) ${filter}`
    case "first":
      return `min(${t}) ${filter}`
    case "last":
      return `max(${t}) ${filter}`
    default:
      return undefined
  }
}

/**
 * A lone min() or max() per group and bucket with the time of the point it picked, in two steps: the extreme of each
 * bucket, then the earliest time among the bucket's points equal to it (joined back on the value, which DuckDB
 * pushes into the scan as a filter): no row is ordered by a (value, time) struct, DuckDB's slow generic path. 3.6x
 * less CPU than one step for max() per host, 11x over all series (scripts/bench-selectors.ts). Answers the columns
 * of an aggregate: groups, `__sel`, `__bucket`, `__a0`.
 */
export const extremeWithTimeSql = (
  src: string,
  tagRefs: ReadonlyArray<string>,
  extreme: string,
  arg: string
): string => {
  const keys = [...tagRefs, "__b"]
  const extremes = `SELECT ${keys.join(", ")}, ${extreme} AS __a0 FROM (${src}) GROUP BY ${keys.join(", ")}`
  const on = [...keys.map((k) => `p.${k} = e.${k}`), `p.${arg} = e.__a0`].join(" AND ")
  const times = `SELECT ${keys.map((k) => `e.${k}`).join(", ")}, min(epoch_ns(p."time")) AS __sel FROM (${src}) p JOIN __extremes e ON ${on} GROUP BY ALL`
  const back = keys.map((k) => `t.${k} = e.${k}`).join(" AND ")
  return `WITH __extremes AS (${extremes}) SELECT ${[...tagRefs.map((k) => `e.${k}`), "t.__sel", "e.__b AS __bucket", "e.__a0"].join(", ")} FROM __extremes e LEFT JOIN (${times}) t ON ${back}`
}

const TOP_BOUND_MAX = 1000

/**
 * The points of `src` (with values `__x`) that can be among the best `n` of their partition for top() (the largest
 * values) or bottom(): those at or beyond the partition's n-th best value, which DuckDB's max(x, n) / min(x, n)
 * find with a small heap. The window that then picks the best n (earliest time on ties) orders a handful of rows
 * per partition instead of every point (3.4x less CPU for top(x, 3) per host, scripts/bench-selectors.ts). A larger
 * n than TOP_BOUND_MAX keeps the plain window: a heap of n values per partition could outgrow the points.
 */
export const topCandidatesSql = (src: string, partition: ReadonlyArray<string>, top: boolean, n: number): string => {
  if (n > TOP_BOUND_MAX) return src
  const nth = n === 1 ? `${top ? "max" : "min"}(__x)` : `${top ? "max" : "min"}(__x, ${n})[${n}]`
  const bound = `SELECT ${partition.join(", ")}, ${nth} AS __bound FROM (${src}) GROUP BY ALL`
  const on = partition.map((c) => `p.${c} IS NOT DISTINCT FROM b.${c}`).join(" AND ")
  return `SELECT p.* FROM (${src}) p JOIN (${bound}) b ON ${on} WHERE b.__bound IS NULL OR p.__x ${top ? ">=" : "<="} b.__bound`
}

/** A first() or last() leaf: its call and argument, so that it can be reduced per series first. */
export interface SelectorLeaf {
  readonly name: "first" | "last"
  readonly arg: string
}

export const percentileIndex = (arg: string, p: number) => `CAST(floor(count(${arg}) * ${p} / 100.0 + 0.5) AS BIGINT)`

/** The SQL of an aggregate call over the rows of one bucket. */
const aggregateSql = (
  e: Extract<Expr, { _tag: "call" }>,
  s: Schema,
  tie: SeriesTie = NO_TIE
): Built & { readonly pick?: SelectorLeaf } => {
  const name = e.name
  const arg0 = e.args[0]
  if (arg0 === undefined) throw new Fail(`invalid number of arguments for ${name}, expected at least 1, got 0`)
  if (name === "count" && arg0._tag === "call" && arg0.name === "distinct") {
    const inner = arg0.args[0]
    if (inner?._tag !== "ref") throw new Fail("expected field argument in distinct()")
    const a = rawSql(inner, s)
    return { sql: `count(DISTINCT ${a.sql})`, kind: "int" }
  }
  if (arg0._tag !== "ref") throw new Fail(`expected field argument in ${name}()`)
  const type = s.types.get(arg0.name)
  const isField = type !== undefined && type !== "tag" && type !== "time"
  const arg = isField ? q(arg0.name) : "NULL"
  const kind = kindOfType(isField ? type : undefined)
  const numericOnly = (fn: string) => {
    if (isField && kind === "other") throw new Fail(`unsupported ${fn} iterator type: ${type === "string" ? "*query.stringInterruptIterator" : "*query.booleanInterruptIterator"}`)
  }
  switch (name) {
    case "count":
      if (e.args.length !== 1) throw new Fail(`invalid number of arguments for count, expected 1, got ${e.args.length}`)
      return { sql: `count(${arg})`, kind: "int" }
    case "sum":
      numericOnly("sum")
      return { sql: kind === "int" ? `CAST(sum(${arg}) AS BIGINT)` : `sum(${arg})`, kind }
    case "mean":
      numericOnly("mean")
      return { sql: `avg(CAST(${arg} AS DOUBLE))`, kind: "float" }
    case "median":
      numericOnly("median")
      return { sql: `CAST(median(CAST(${arg} AS DOUBLE)) AS DOUBLE)`, kind: "float" }
    case "spread":
      numericOnly("spread")
      return { sql: `(max(${arg}) - min(${arg}))`, kind }
    case "stddev":
      numericOnly("stddev")
      return { sql: `stddev_samp(CAST(${arg} AS DOUBLE))`, kind: "float" }
    case "mode":
      return { sql: `mode(${arg})`, kind }
    case "min":
    case "max":
      numericOnly(name)
      return { sql: `${name}(${arg})`, kind }
    case "first":
    case "last": {
      const pick = selectorPick(name, arg, tie, kind)!
      return { sql: `${pick.fn}(${arg}, ${pick.key}) FILTER (WHERE ${arg} IS NOT NULL)`, kind, pick: { name, arg } }
    }
    case "percentile": {
      numericOnly("percentile")
      const p = e.args[1]
      if (e.args.length !== 2 || p === undefined || p._tag !== "number") throw new Fail("expected float argument in percentile()")
      const idx = percentileIndex(arg, p.value)
      return { sql: `CASE WHEN ${idx} >= 1 AND ${idx} <= count(${arg}) THEN list_sort(list(${arg}) FILTER (WHERE ${arg} IS NOT NULL))[${idx}] END`, kind }
    }
    default:
      if (UNSUPPORTED.has(name)) throw new Fail(`unsupported function: ${name}() is not implemented`)
      throw new Fail(`undefined function ${name}()`)
  }
}

/**
 * `integral(field[, unit])` per group and bucket, as InfluxDB 1.x's integral reducer computes it: the points of a
 * group in time order (series interleaved), the trapezoid rule between consecutive points in units of `unit`
 * (default 1s). A pair that crosses into a later bucket is split at the end of the first one, with the value there
 * interpolated: the first part belongs to the first bucket, the rest to the bucket of the later point (even when empty
 * buckets lie between). Every bucket with a point answers, except a last bucket whose last point sits exactly on its
 * start (1.x discards that one). Answers the columns of an aggregate: groups, `__b`, `__bucket`, `__a0`.
 */
export const integralSql = (
  call: Extract<Expr, { _tag: "call" }>,
  s: Schema,
  tagCols: ReadonlyArray<string>,
  tagRefs: ReadonlyArray<string>,
  from: string,
  where: string,
  bucketExpr: string,
  interval: bigint | undefined
): string => {
  const arg = call.args[0]
  if (call.args.length < 1 || call.args.length > 2) throw new Fail(`invalid number of arguments for integral, expected at least 1 but no more than 2, got ${call.args.length}`)
  if (arg?._tag !== "ref") throw new Fail("expected field argument in integral()")
  const unitArg = call.args[1]
  if (unitArg !== undefined && unitArg._tag !== "duration") throw new Fail("second argument must be a duration")
  const unit = unitArg?.ns ?? 1_000_000_000n
  const type = s.types.get(arg.name)
  if (type === "string" || type === "boolean") {
    throw new Fail(`unsupported integral iterator type: ${type === "string" ? "*query.stringInterruptIterator" : "*query.booleanInterruptIterator"}`)
  }
  const field = type === undefined || type === "tag" || type === "time" ? "NULL" : q(arg.name)
  // Without GROUP BY time 1.x stamps a float field's area at epoch 0 and an integer field's at the range start.
  if (interval === undefined && type !== "integer" && type !== "uinteger") bucketExpr = "0"
  const partition = tagRefs.length > 0 ? `PARTITION BY ${tagRefs.join(", ")} ` : ""
  const end = (b: string) => (interval === undefined ? "NULL" : `(${b} + ${interval})`)
  const points = `SELECT ${[...tagCols, `epoch_ns("time") AS __t`, `CAST(${field} AS DOUBLE) AS __x`, `${bucketExpr} AS __b`].join(", ")} FROM ${from} ${where} AND ${field} IS NOT NULL`
  const w = `OVER (${partition}ORDER BY __t)`
  const pairs = `SELECT *, lead(__t) ${w} AS __nt, lead(__x) ${w} AS __nx, lead(__b) ${w} AS __nb, lag(__t) ${w} AS __pt, lag(__x) ${w} AS __px, lag(__b) ${w} AS __pb, lead(__t) ${w} IS NULL AS __last FROM (${points})`
  // The same float operations, in the same order, as 1.x's reducer: elapsed time in units first, the interpolated
  // value as slope × distance + start.
  const trapezoid = (x0: string, x1: string, dt: string) => `0.5 * (${x0} + ${x1}) * (CAST(${dt} AS DOUBLE) / ${unit})`
  const at = (x0: string, t0: string, x1: string, t1: string, t: string) => `((${x1} - ${x0}) / CAST(${t1} - ${t0} AS DOUBLE) * CAST(${t} - ${t0} AS DOUBLE) + ${x0})`
  const ahead = `CASE WHEN __nt IS NULL THEN 0.0 WHEN __nb = __b THEN ${trapezoid("__x", "__nx", "__nt - __t")} ELSE ${trapezoid(at("__x", "__t", "__nx", "__nt", end("__b")), "__x", `${end("__b")} - __t`)} END`
  // The rest of a split pair, counted in the later point's bucket. Over integer fields 1.x averages the earlier
  // point with the split value instead of the later point (measured against 1.6.7: 10@40s, 4@50s, 4@60s by 45s
  // buckets answer 42.5 and 82.5 where floats give 42.5 and 67.5).
  const rest =
    type === "integer" || type === "uinteger"
      ? trapezoid(at("__px", "__pt", "__x", "__t", end("__pb")), "__px", `__t - ${end("__pb")}`)
      : trapezoid("__x", at("__px", "__pt", "__x", "__t", end("__pb")), `__t - ${end("__pb")}`)
  const behind = `CASE WHEN __pt IS NULL OR __pb = __b THEN 0.0 ELSE ${rest} END`
  const windowStart = interval === undefined ? "0" : "__b"
  // Summed in time order, as the reducer adds them.
  const area = `list_reduce(list_prepend(0.0, list(${behind} + ${ahead} ORDER BY __t)), (a, b) -> a + b)`
  return `SELECT ${[...tagRefs, "__b", "__b AS __bucket", `${area} AS __a0`].join(", ")} FROM (${pairs}) GROUP BY ${[...tagRefs, "__b"].join(", ")} HAVING NOT bool_or(__last AND __t = ${windowStart})`
}

/**
 * The order 1.x's integral answers come in: the buckets each group closes while points still arrive (groups in order,
 * then time), then each group's last bucket, emitted when the reducers close. 1.x closes them in Go map order, which
 * varies from run to run; reverse group order is what it most often printed here.
 */
export const integralOrder = (tagRefs: ReadonlyArray<string>) =>
  `ORDER BY ${["__lw", ...tagRefs.map((t) => `CASE WHEN NOT __lw THEN ${t} END`), ...tagRefs.map((t) => `CASE WHEN __lw THEN ${t} END DESC`), "__time"].join(", ")}`

/**
 * The SQL of a selected expression in an aggregate query (aggregates, math and arithmetic over them). Each aggregate
 * goes through `leaf`, which answers the column its bucket value is read from: 1.x fills the aggregates themselves,
 * then evaluates the expression over the filled values (`cos(mean(x))` with fill(0) answers cos(0)).
 */
export const aggregateExprSql = (
  e: Expr,
  s: Schema,
  leaf: (b: Built, call: string) => Built,
  tie: SeriesTie = NO_TIE
): Built => {
  switch (e._tag) {
    case "call":
      if (isMath(e.name))
        return mathSql(
          e.name,
          e.args.map((a) => aggregateExprSql(a, s, leaf, tie))
        )
      if (!AGGREGATES.has(e.name)) {
        if (UNSUPPORTED.has(e.name)) throw new Fail(`unsupported function: ${e.name}() is not implemented`)
        throw new Fail(`undefined function ${e.name}()`)
      }
      return leaf(aggregateSql(e, s, tie), e.name)
    case "number":
      return { sql: e.integer ? e.raw : floatLiteral(e.value), kind: e.integer ? "int" : "float" }
    case "paren":
      return aggregateExprSql(e.expr, s, leaf, tie)
    case "binary":
      return binarySql(e.op, aggregateExprSql(e.left, s, leaf, tie), aggregateExprSql(e.right, s, leaf, tie))
    case "ref":
      throw new Fail("mixing aggregate and non-aggregate queries is not supported")
    default:
      throw new Fail("unsupported expression")
  }
}
