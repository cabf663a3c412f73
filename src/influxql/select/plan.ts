import type { DatabaseState } from "../../catalog/state.ts"
import type { ColumnType } from "../../events/index.ts"
import type { Expr, SelectStatement } from "../ast.ts"
import { type Built, isMath, type ValueKind } from "../functions.ts"
import { zoneOffsetMinutes } from "../time.ts"
import {
  aggregateExprSql,
  integralOrder,
  integralSql,
  extremeWithTimeSql,
  percentileIndex,
  selectorPick,
  selectorTimeSql,
  type SelectorLeaf,
  type SeriesTie,
  topCandidatesSql
} from "./aggregates.ts"
import { AGGREGATES, type Bounds, HOLT_WINTERS, kindOfType, lit, MAX_BUCKETS, MAX_TIME, MIN_TIME, q, type Schema, SELECTS_POINTS, TRANSFORMS, UNSUPPORTED } from "./common.ts"
import { Fail, failure, type PlanFailure, regexOrFail } from "./failure.ts"
import { expandFields, peelMath, rawSql, validateField } from "./fields.ts"
import { exprText, fieldName, firstCall, hasCall, refsOf, selectorOf, uniqueNames } from "./names.ts"
import { resolveSources } from "./sources.ts"
import { bucketOf, bucketSql, literalType, type Transform, transformOf, transformsSql } from "./transforms.ts"
import { type MeasurementQuery, type SelectPlan, type StageSink, stageSink } from "./stages.ts"
import { conditionSql, splitWhere } from "./where.ts"

/** The SELECT planner's entry: runs the stages for each measurement and assembles the SQL (subqueries too). */

/** How many of a statement's row-limit conditions (OFFSET, then LIMIT) come before its series-limit ones. */
const rowLimitCount = (stmt: SelectStatement) =>
  stmt.limit === undefined && stmt.offset === undefined ? 0 : stmt.limit !== undefined && stmt.limit > 0 ? 2 : 1

/** Plans a SELECT against a database as of `nowNs`. */
export const planSelect = (stmt: SelectStatement, db: DatabaseState, nowNs: bigint): SelectPlan | PlanFailure => {
  try {
    const stages = stageSink()
    return { ...plan(stmt, db, nowNs, stages), stages: stages.all }
  } catch (e) {
    if (e instanceof Fail) return failure(e.message)
    throw e
  }
}

/**
 * The sources of a statement as schemas: each measurement named or matched, and for a subquery each of its
 * measurements' rows — its grouping tags as tags, its selected columns as (float) fields.
 */
const sourceSchemas = (stmt: SelectStatement, db: DatabaseState, nowNs: bigint, stages: StageSink): Array<Schema> => {
  const named = stmt.sources.filter((src) => src.subquery === undefined)
  const schemas: Array<Schema> = resolveSources(named, db).map((table) => ({
    table,
    types: new Map(table.columns.map((c) => [c.name, c.type] as const))
  }))
  // The outer time range bounds a subquery that has none of its own (as in 1.x).
  const { range } = splitWhere(stmt.where, nowNs)
  for (const src of stmt.sources) {
    if (src.subquery === undefined) continue
    const inner = plan(src.subquery, db, nowNs, stages, { lo: range.lo, hi: range.hi })
    for (const query of inner.queries) {
      const types = new Map<string, ColumnType>([["time", "time"]])
      for (const t of query.tags) types.set(t, "tag")
      for (const c of inner.columns) if (!types.has(c)) types.set(c, "float")
      schemas.push({ table: { name: query.measurement }, types, from: `(SELECT * EXCLUDE ("iox::measurement") FROM (${query.sql}))` })
    }
  }
  return schemas
}

const plan = (stmt: SelectStatement, db: DatabaseState, nowNs: bigint, stages: StageSink, bounds?: Bounds): Omit<SelectPlan, "stages"> => {
  const schemas = sourceSchemas(stmt, db, nowNs, stages)
  const gb = stmt.groupBy
  const tagRegexes = gb.tagRegexes.map(regexOrFail)
  const groupTags = (s: Schema): Array<string> => {
    const tags = [...s.types.entries()].filter(([, t]) => t === "tag").map(([n]) => n).sort()
    if (gb.allTags) return tags
    const chosen = new Set(gb.tags)
    for (const re of tagRegexes) for (const t of tags) if (re.test(t)) chosen.add(t)
    return [...chosen].sort()
  }
  if (stmt.tz !== undefined && zoneOffsetMinutes(stmt.tz, 0) === undefined) throw new Fail(`unable to find time zone ${stmt.tz}`)

  for (const f of stmt.fields) validateField(f.expr)
  let fields = expandFields(stmt, schemas, groupTags)
  const isAggregate = stmt.fields.some((f) =>
    hasCall(f.expr, (n) => AGGREGATES.has(n) || UNSUPPORTED.has(n) || TRANSFORMS.has(n) || SELECTS_POINTS.has(n))
  )
  if (!isAggregate) {
    for (const f of stmt.fields) {
      const name = firstCall(f.expr, (n) => !isMath(n))
      if (name !== undefined) throw new Fail(`undefined function ${name}()`)
    }
  }
  if (fields.length === 0 && stmt.fields.every((f) => f.expr._tag === "ref" && f.expr.name.toLowerCase() === "time")) {
    throw new Fail("at least 1 non-time field must be queried")
  }
  const names = uniqueNames(fields.map(fieldName))
  // top()/bottom(): N points of a field by value (optionally the best of each tag value), reported at their own times.
  let pointSelector:
    | { readonly name: string; readonly field: string; readonly tags: ReadonlyArray<string>; readonly n: number }
    | undefined
  const selectorCall = fields.find((f) => f.expr._tag === "call" && SELECTS_POINTS.has(f.expr.name))?.expr
  if (selectorCall?._tag === "call") {
    if (fields.length > 1) throw new Fail(`selector function ${selectorCall.name}() cannot be combined with other functions`)
    const args = selectorCall.args
    const last = args[args.length - 1]
    if (args.length < 2) throw new Fail(`invalid number of arguments for ${selectorCall.name}, expected at least 2, got ${args.length}`)
    const a0 = args[0]!
    if (a0._tag !== "ref") throw new Fail(`expected first argument to be a field in ${selectorCall.name}(), found ${a0._tag === "regex" ? exprText(a0) : literalType(a0)}`)
    if (last?._tag !== "number" || !last.integer) throw new Fail(`expected integer as last argument in ${selectorCall.name}(), found ${literalType(last!)}`)
    if (last.value <= 0) throw new Fail(`limit (${last.value}) in ${selectorCall.name} function must be at least 1`)
    const tagArgs = args.slice(1, -1).map((a) => {
      if (a._tag !== "ref") throw new Fail(`only fields or tags are allowed in ${selectorCall.name}(), found ${literalType(a)}`)
      return a.name
    })
    if (stmt.limit !== undefined && stmt.limit > 0 && last.value > stmt.limit) {
      throw new Fail(`limit (${last.value}) in ${selectorCall.name} function can not be larger than the LIMIT (${stmt.limit}) in the select statement`)
    }
    pointSelector = { name: selectorCall.name, field: a0.name, tags: tagArgs, n: last.value }
    names.push(...tagArgs)
    fields = [{ expr: args[0]! }]
  }
  // Math around a transformation is applied to its answers: the transformation is the field.
  const peeled = fields.map((f) => peelMath(f.expr))
  const wraps = peeled.map((p) => p.wrap)
  fields = fields.map((f, i) => ({ ...f, expr: peeled[i]!.core }))
  // Transformations: every field one, all over raw points or all over an aggregate per GROUP BY time bucket.
  let transforms: Array<Transform> | undefined
  let nested = false
  if (fields.some((f) => f.expr._tag === "call" && TRANSFORMS.has(f.expr.name))) {
    const isTransform = (c: Expr): c is Extract<Expr, { _tag: "call" }> => c._tag === "call" && TRANSFORMS.has(c.name)
    nested = fields.some((f) => isTransform(f.expr) && f.expr.args[0]?._tag === "call")
    // Beside transformations of aggregates, plain aggregates are allowed: they pass through unchanged.
    const isPlain = (c: Expr): c is Extract<Expr, { _tag: "call" }> => nested && c._tag === "call" && ((AGGREGATES.has(c.name) && c.name !== "distinct") || isMath(c.name))
    const calls = fields.map((f) => f.expr)
    if (!calls.every((c) => isTransform(c) || isPlain(c))) throw new Fail("mixing aggregate and non-aggregate queries is not supported")
    for (const c of calls.filter(isTransform)) {
      const a = c.args[0]
      if (HOLT_WINTERS.has(c.name) && a !== undefined && a._tag !== "call") throw new Fail(`must use aggregate function with ${c.name}`)
      if (a !== undefined && nested !== (a._tag === "call")) throw new Fail("mixing aggregate and non-aggregate queries is not supported")
      if (nested && gb.time === undefined) throw new Fail(`${c.name} aggregate requires a GROUP BY interval`)
      if (a?._tag === "call" && isMath(a.name)) throw new Fail(`unsupported call: ${a.name}`)
      if (!nested && gb.time !== undefined) throw new Fail(`aggregate function required inside the call to ${c.name}`)
      if (a !== undefined && !nested && a._tag !== "ref") throw new Fail(`expected field argument in ${c.name}()`)
    }
    transforms = calls.map((c) => (isTransform(c) ? transformOf(c, nested ? gb.time!.intervalNs : undefined) : { name: "value", arg: c, unitNs: 0n, n: 0 }))
    fields = transforms.map((t) => ({ expr: t.arg }))
  }
  if (gb.time !== undefined && !isAggregate) throw new Fail("GROUP BY requires at least one aggregate function")
  const distinctCall = fields.find((f) => f.expr._tag === "call" && f.expr.name === "distinct")
  // integral() is computed alone: its area is accumulated point to point, not from a bucket's rows.
  const onlyField = fields.length === 1 ? fields[0]!.expr : undefined
  const integral = onlyField?._tag === "call" && onlyField.name === "integral" ? onlyField : undefined
  if (distinctCall !== undefined && fields.length > 1) throw new Fail("aggregate function distinct() cannot be combined with other functions or fields")

  const { range, rest } = splitWhere(stmt.where, nowNs)
  if (bounds !== undefined) {
    range.lo ??= bounds.lo
    range.hi ??= bounds.hi
  }
  const interval = gb.time?.intervalNs
  if (interval !== undefined && range.hi === undefined) range.hi = nowNs
  let offset = gb.time?.offsetNs ?? 0n
  if (interval !== undefined && stmt.tz !== undefined) {
    // Buckets align to local midnight: the zone's offset at the start of the range shifts them.
    const zoneMinutes = zoneOffsetMinutes(stmt.tz, Number((range.lo ?? 0n) / 1_000_000n)) ?? 0
    offset -= BigInt(zoneMinutes) * 60_000_000_000n
  }
  if (interval !== undefined) offset = ((offset % interval) + interval) % interval
  // As InfluxDB 1.x, transformations that look back read one bucket before the range, so its first bucket has a value.
  // Plain aggregates beside them still answer from the range's first bucket.
  const firstBucket =
    interval !== undefined && range.lo !== undefined ? bucketOf(range.lo, interval, offset) : undefined
  if (interval !== undefined && nested && range.lo !== undefined && transforms!.some((t) => t.name !== "cumulative_sum" && t.name !== "value" && !HOLT_WINTERS.has(t.name))) range.lo -= interval

  const queries: Array<MeasurementQuery> = []
  for (const s of schemas) {
    const tags = groupTags(s)
    const filters: Array<string> = []
    if (range.lo !== undefined) filters.push(`"time" >= make_timestamp_ns(${range.lo > MIN_TIME ? range.lo : MIN_TIME})`)
    if (range.hi !== undefined) filters.push(`"time" <= make_timestamp_ns(${range.hi < MAX_TIME ? range.hi : MAX_TIME})`)
    for (const r of rest) filters.push(conditionSql(r, s))
    // A row counts only when one of the fields it selects has a value.
    const usedFields = [...new Set(fields.flatMap((f) => refsOf(f.expr)))].filter((n) => {
      const t = s.types.get(n)
      return t !== undefined && t !== "tag" && t !== "time"
    })
    if (usedFields.length === 0) continue
    filters.push(`(${usedFields.map((n) => `${q(n)} IS NOT NULL`).join(" OR ")})`)
    const where = filters.length > 0 ? `WHERE ${filters.join(" AND ")}` : ""
    const tagCols = tags.map((t, i) => `coalesce(${s.types.get(t) === "tag" ? q(t) : "NULL"}, '') AS __g${i}`)
    const tagRefs = tags.map((_, i) => `__g${i}`)
    const partition = tagRefs.length > 0 ? `PARTITION BY ${tagRefs.join(", ")} ` : ""
    const dir = stmt.descending ? "DESC" : "ASC"
    const limits: Array<string> = []
    if (stmt.limit !== undefined || stmt.offset !== undefined) {
      const from = stmt.offset ?? 0
      limits.push(`row_number() OVER (${partition}ORDER BY __time ${dir}) > ${from}`)
      if (stmt.limit !== undefined && stmt.limit > 0) limits.push(`row_number() OVER (${partition}ORDER BY __time ${dir}) <= ${from + stmt.limit}`)
    }
    if (stmt.slimit !== undefined || stmt.soffset !== undefined) {
      const rank = tagRefs.length > 0 ? `dense_rank() OVER (ORDER BY ${tagRefs.join(", ")})` : "1"
      const from = stmt.soffset ?? 0
      limits.push(`${rank} > ${from}`)
      if (stmt.slimit !== undefined && stmt.slimit > 0) limits.push(`${rank} <= ${from + stmt.slimit}`)
    }
    const qualify = limits.length > 0 ? `QUALIFY ${limits.join(" AND ")}` : ""
    // Transformations take LIMIT and OFFSET per field, before their fields' rows are joined by time (as 1.x does).
    const perField = limits.length > 0 && rowLimitCount(stmt) > 0 ? `QUALIFY ${limits.slice(0, rowLimitCount(stmt)).join(" AND ")}` : ""
    const perSeries = limits.length > rowLimitCount(stmt) ? `QUALIFY ${limits.slice(rowLimitCount(stmt)).join(" AND ")}` : ""
    const out = (values: ReadonlyArray<string>) =>
      [`${lit(s.table.name)} AS "iox::measurement"`, `make_timestamp_ns(__time) AS "time"`, ...tags.map((t, i) => `__g${i} AS ${q(t)}`), ...values.map((v, i) => `${v} AS ${q(names[i]!)}`)].join(", ")
    // 1.x merges series with the time order: ORDER BY time DESC answers the series (and measurements) in reverse.
    const order = `ORDER BY ${[...tagRefs.map((t) => `${t} ${dir}`), `__time ${dir}`].join(", ")}`
    // The transformations' answers `__v<i>`, with any math around them applied.
    const wrapped = (ts: ReadonlyArray<Transform>, inputs: ReadonlyArray<{ readonly kind: ValueKind }>) =>
      ts.map((t, i) => wraps[i]!({ sql: `__v${i}`, kind: /derivative|moving_average/.test(t.name) || t.analysis !== undefined ? "float" : t.name === "elapsed" ? "int" : inputs[i]!.kind }).sql)
    const from = s.from ?? q(s.table.name)

    if (pointSelector !== undefined) {
      const ps = pointSelector
      const t = s.types.get(ps.field)
      if (t === "string" || t === "boolean") throw new Fail(`unsupported ${ps.name} iterator type: ${t === "string" ? "*query.stringInterruptIterator" : "*query.booleanInterruptIterator"}`)
      if (t === undefined || t === "tag" || t === "time") continue
      const bucket = interval !== undefined ? bucketSql(`epoch_ns("time")`, interval, offset) : "0"
      const tagVals = ps.tags.map((name, i) => `${s.types.get(name) === "tag" ? `coalesce(${q(name)}, '')` : "NULL"} AS __t${i}`)
      const src = `SELECT ${[...tagCols, `epoch_ns("time") AS __time`, `${bucket} AS __b`, `${q(ps.field)} AS __x`, ...tagVals].join(", ")} FROM ${from} ${where} AND ${q(ps.field)} IS NOT NULL`
      const by = ps.name === "top" ? "__x DESC" : "__x ASC"
      const tagKeys = ps.tags.map((_, i) => `__t${i}`)
      // Of each tag value's points the best one (earliest on ties), then the best N of those.
      // A subquery source keeps the plain window: bounding its points would run the subquery twice.
      const bounded = (partition: ReadonlyArray<string>, n: number) => (s.from === undefined ? topCandidatesSql(src, partition, ps.name === "top", n) : src)
      const perTag = [...tagRefs, "__b", ...tagKeys]
      const best = tagKeys.length === 0 ? bounded([...tagRefs, "__b"], ps.n) : `SELECT * FROM (${bounded(perTag, 1)}) QUALIFY row_number() OVER (PARTITION BY ${perTag.join(", ")} ORDER BY ${by}, __time) = 1`
      const chosen = `SELECT * FROM (${best}) QUALIFY row_number() OVER (PARTITION BY ${[...tagRefs, "__b"].join(", ")} ORDER BY ${by}, __time) <= ${ps.n}`
      queries.push({ measurement: s.table.name, tags, sql: `SELECT ${out(["__x", ...tagKeys])} FROM (${chosen}) ${qualify} ${order}` })
      continue
    }
    if (!isAggregate || (transforms !== undefined && !nested)) {
      const builtRaw = fields.map((f) => rawSql(f.expr, s))
      const values = builtRaw.map((b) => b.sql)
      // Without grouping, points of all series interleave by time; equal times follow the series key.
      const seriesOrder = [...s.types.entries()].filter(([, t]) => t === "tag").map(([n]) => `${q(n)} NULLS FIRST`).sort()
      // Points at the same time: 1.x's merge orders them by the selected tags and string fields, compared as strings
      // in the order of their names, up to the first that is not a string; past that its heap decides (series order
      // here).
      const auxNames = [...new Set(fields.flatMap((f) => refsOf(f.expr)))].filter((n) => n.toLowerCase() !== "time").sort()
      const stringAux: Array<string> = []
      for (const n of auxNames) {
        const t = s.types.get(n)
        if (t === "tag") stringAux.push(`coalesce(${q(n)}, '')`)
        else if (t === "string") stringAux.push(q(n))
        else break
      }
      const inner = `SELECT ${[...tagCols, `epoch_ns("time") AS __time`, ...values.map((v, i) => `${v} AS __v${i}`), ...seriesOrder.map((_, i) => `${seriesOrder[i]!.replace(" NULLS FIRST", "")} AS __k${i}`), ...stringAux.map((a, i) => `${a} AS __s${i}`)].join(", ")} FROM ${from} ${where}`
      const ties = [...stringAux.map((_, i) => `__s${i} ${dir}`), ...seriesOrder.map((_, i) => `__k${i} NULLS FIRST`)]
      const rawOrder = `ORDER BY ${[...tagRefs.map((t) => `${t} ${dir}`), `__time ${dir}`, ...ties].join(", ")}`
      // LIMIT and OFFSET count rows in that order too, so a tie at the edge keeps the same rows from run to run.
      const rawQualify = qualify.replaceAll(`ORDER BY __time ${dir})`, `ORDER BY ${[`__time ${dir}`, ...ties].join(", ")})`)
      if (transforms !== undefined) {
        transforms.forEach((t, i) => {
          const type = t.arg._tag === "ref" ? s.types.get(t.arg.name) : undefined
          if (t.name !== "elapsed" && (type === "string" || type === "boolean")) {
            throw new Fail(`unsupported ${t.name} iterator type: ${type === "string" ? "*query.stringInterruptIterator" : "*query.booleanInterruptIterator"}`)
          }
          if (type === "tag") builtRaw[i] = { sql: "NULL", kind: "other" }
        })
        const columns = builtRaw.map((b, i) => ({ sql: b.sql === "NULL" ? "NULL" : `__v${i}`, kind: b.kind }))
        const ties = seriesOrder.map((_, i) => `__k${i} NULLS FIRST`)
        const transformed = transformsSql(inner, columns, transforms, tagRefs, dir, ties, perField, stages)
        queries.push({ measurement: s.table.name, tags, sql: `SELECT ${out(wrapped(transforms, columns))} FROM (${transformed}) ${perSeries} ${order}` })
        continue
      }
      queries.push({ measurement: s.table.name, tags, sql: `SELECT ${out(values.map((_, i) => `__v${i}`))} FROM (${inner}) ${rawQualify} ${rawOrder}` })
      continue
    }

    const rangeLo = range.lo !== undefined ? range.lo : undefined
    const bucketExpr = interval !== undefined ? bucketSql(`epoch_ns("time")`, interval, offset) : `${rangeLo ?? 0n}`
    const srcColumns = [...new Set(fields.flatMap((f) => refsOf(f.expr)))].filter((n) => {
      const t = s.types.get(n)
      return t !== undefined && t !== "time"
    })
    // The series key of each row (its tags in name order), for selectors' ties between series.
    const seriesTags = [...s.types.entries()].filter(([, t]) => t === "tag").map(([n]) => n).sort()
    const seriesKey = seriesTags.length === 0 ? "0" : `{${seriesTags.map((n, i) => `'k${i}': __sk${i}`).join(", ")}}`
    const src = `SELECT ${[...tagCols, `${bucketExpr} AS __b`, `"time"`, ...srcColumns.map((n) => q(n)), ...seriesTags.map((n, i) => `coalesce(${q(n)}, '') AS __sk${i}`)].join(", ")} FROM ${from} ${where}`

    if (distinctCall !== undefined) {
      const call = distinctCall.expr as Extract<Expr, { _tag: "call" }>
      const arg = call.args[0]
      if (arg?._tag !== "ref") throw new Fail("expected field argument in distinct()")
      const t = s.types.get(arg.name)
      if (t === undefined || t === "tag") continue
      const inner = `SELECT ${[...tagRefs, "__b AS __time", `${q(arg.name)} AS __v0`, `min("time") AS __first`].join(", ")} FROM (${src}) WHERE ${q(arg.name)} IS NOT NULL GROUP BY ALL`
      queries.push({
        measurement: s.table.name,
        tags,
        sql: `SELECT ${out(["__v0"])} FROM (${inner}) ${qualify} ${order}, __first`
      })
      continue
    }

    // Plain fields beside a single selector take the values of the point it selected.
    const auxRefs = fields.filter((f) => f.expr._tag === "ref")
    const calls = fields.filter((f) => f.expr._tag !== "ref")
    let auxPick: { fn: string; key: string; arg: string } | undefined
    const tie: SeriesTie = { key: seriesKey, aux: auxRefs.length > 0, byTime: interval !== undefined }
    if (auxRefs.length > 0) {
      const only = calls.length === 1 ? selectorOf(calls[0]!.expr) : undefined
      if (only === undefined || selectorPick(only.name, "") === undefined) throw new Fail("mixing aggregate and non-aggregate queries is not supported")
      const a0 = only.args[0]
      const t0 = a0?._tag === "ref" ? s.types.get(a0.name) : undefined
      const arg = a0?._tag === "ref" && t0 !== undefined && t0 !== "tag" ? q(a0.name) : "NULL"
      auxPick = { ...selectorPick(only.name, arg, tie, kindOfType(t0))!, arg }
    }
    // Each aggregate is a column `__a<j>` of a bucket's row (filled on its own); each field an expression over them.
    const leaves: Array<Built & { readonly call: string; readonly pick?: SelectorLeaf }> = []
    const leaf = (b: Built & { readonly pick?: SelectorLeaf }, call: string): Built => {
      leaves.push({ ...b, call })
      return { sql: `__a${leaves.length - 1}`, kind: b.kind }
    }
    const built = fields.map((f): Built => {
      if (integral !== undefined) return leaf({ sql: "", kind: "float" }, "integral")
      if (f.expr._tag === "ref" && auxPick !== undefined) {
        const t = s.types.get(f.expr.name)
        const col = t === undefined || t === "time" ? "NULL" : q(f.expr.name)
        return leaf({ sql: `${auxPick.fn}_null(${col}, ${auxPick.key}) FILTER (WHERE ${auxPick.arg} IS NOT NULL)`, kind: kindOfType(t) }, "")
      }
      return aggregateExprSql(f.expr, s, leaf, tie)
    })
    // A lone selector reports the time of the point it selected (when not bucketing by time), and other plain fields
    // selected beside it take that point's values.
    const selectorField = fields.flatMap((f) => selectorOf(f.expr) ?? [])
    let timeSql = "__b"
    let extremeAgg: string | undefined
    if (interval === undefined && fields.filter((f) => f.expr._tag !== "ref").length === 1 && selectorField.length === 1) {
      const call = selectorField[0]!
      const arg0 = call.args[0]
      const argType = arg0?._tag === "ref" ? s.types.get(arg0.name) : undefined
      const arg = arg0?._tag === "ref" && argType !== undefined && argType !== "tag" ? q(arg0.name) : "NULL"
      const picked = selectorTimeSql(call.name, arg)
      if (picked !== undefined) timeSql = picked
      else if (call.name === "percentile") {
        const p = (call.args[1] as Extract<Expr, { _tag: "number" }>).value
        const idx = percentileIndex(arg, p)
        timeSql = `CASE WHEN ${idx} >= 1 AND ${idx} <= count(${arg}) THEN list_sort(list({'v': ${arg}, 't': epoch_ns("time")}) FILTER (WHERE ${arg} IS NOT NULL))[${idx}]['t'] END`
      }
      // A lone min() or max() over a table (a subquery would run twice) finds its time in a second step.
      const alone = auxPick === undefined && integral === undefined && leaves.length === 1 && s.from === undefined
      if ((call.name === "min" || call.name === "max") && arg !== "NULL" && alone)
        extremeAgg = extremeWithTimeSql(src, tagRefs, leaves[0]!.sql, arg)
    }
    const aggs = leaves.map((b, j) => `${b.sql} AS __a${j}`)
    const perSeriesAgg = integral === undefined && auxPick === undefined && s.from === undefined
      ? perSeriesSelectors(leaves, tie, tagRefs, seriesTags.length, src, timeSql !== "__b")
      : undefined
    const agg =
      integral !== undefined
        ? integralSql(integral, s, tagCols, tagRefs, from, where, bucketExpr, interval)
        : perSeriesAgg ??
          extremeAgg ??
          groupedSql(tagRefs, interval === undefined ? bucketExpr : undefined, timeSql, aggs, src)
    const fillKind = stmt.fill._tag
    // integral() answers only the buckets it has area for, whatever the fill.
    if (interval === undefined || fillKind === "none" || integral !== undefined) {
      const timeCol = timeSql === "__b" ? "__b" : "coalesce(__sel, __bucket)"
      const body = `SELECT *, ${[...built.map((b, i) => `${b.sql} AS __v${i}`), `${timeCol} AS __time`].join(", ")}${integral !== undefined ? `, max(__b) OVER (${partition}) = __b AS __lw` : ""} FROM (${agg})`
      const rows = transforms === undefined ? body : transformsSql(body, built.map((b, i) => ({ sql: `__v${i}`, kind: b.kind })), transforms, tagRefs, dir, [], perField, stages, firstBucket)
      queries.push({
        measurement: s.table.name,
        tags,
        sql: `SELECT ${out(transforms === undefined ? built.map((_, i) => `__v${i}`) : wrapped(transforms, built))} FROM (${rows}) ${transforms === undefined ? qualify : perSeries} ${integral !== undefined ? integralOrder(tagRefs) : order}`
      })
      continue
    }

    // Every bucket of the range, for every series that has data in it, then the fill.
    const lo = rangeLo !== undefined ? `${bucketOf(rangeLo, interval, offset)}` : `(SELECT min(__b) FROM (${src}))`
    const hiBucket = bucketOf(range.hi!, interval, offset)
    const count = `((${hiBucket} - ${lo}) // ${interval} + 1)`
    // The limit is checked before a single bucket is generated: a grid of 1ns buckets over a year would exhaust memory.
    if (rangeLo !== undefined) {
      const known = (hiBucket - bucketOf(rangeLo, interval, offset)) / interval + 1n
      if (known > BigInt(MAX_BUCKETS)) throw new Fail(`max-select-buckets limit exceeded: (${known}/${MAX_BUCKETS})`)
    }
    const gridEnd = `CASE WHEN ${count} > ${MAX_BUCKETS} THEN error('max-select-buckets limit exceeded: (' || ${count} || '/${MAX_BUCKETS})')::BIGINT ELSE ${hiBucket} + 1 END`
    // The aggregate runs once, for the grid and the join (a CTE named twice is materialised); each series with data
    // gets every bucket (not every bucket for each of its rows, then made distinct: buckets² rows per series).
    const series = tagRefs.length > 0 ? `SELECT DISTINCT ${tagRefs.join(", ")} FROM __agg` : "SELECT 1 FROM __agg LIMIT 1"
    const grid = `SELECT ${[...tagRefs, `unnest(range(${lo}, ${gridEnd}, ${interval})) AS __time`].join(", ")} FROM (${series})`
    const joinOn = [...tagRefs.map((t) => `g.${t} = a.${t}`), "g.__time = a.__bucket"].join(" AND ")
    const joined = `WITH __agg AS MATERIALIZED (${agg}) SELECT ${[...tagRefs.map((t) => `g.${t}`), "g.__time", ...leaves.map((_, j) => `a.__a${j}`)].join(", ")} FROM (${grid}) g LEFT JOIN __agg a ON ${joinOn}`
    const w = `OVER (${partition}ORDER BY __time ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)`
    const wNext = `OVER (${partition}ORDER BY __time ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING)`
    const filled = leaves.map((b, j) => {
      const v = `__a${j}`
      switch (stmt.fill._tag) {
        case "null":
          return b.call === "count" ? `coalesce(${v}, 0)` : v
        case "previous":
          return `last_value(${v} IGNORE NULLS) ${w}`
        case "value":
          return b.kind === "other" ? v : `coalesce(${v}, CAST(${stmt.fill.value} AS ${b.kind === "int" ? "BIGINT" : "DOUBLE"}))`
        case "linear": {
          if (b.kind === "other") return v
          const prevV = `last_value(${v} IGNORE NULLS) ${w}`
          const prevT = `last_value(CASE WHEN ${v} IS NOT NULL THEN __time END IGNORE NULLS) ${w}`
          const nextV = `first_value(${v} IGNORE NULLS) ${wNext}`
          const nextT = `first_value(CASE WHEN ${v} IS NOT NULL THEN __time END IGNORE NULLS) ${wNext}`
          const interp =
            b.kind === "int"
              ? `(${prevV} + (__time - ${prevT}) * (${nextV} - ${prevV}) // (${nextT} - ${prevT}))`
              : `(${prevV} + (${nextV} - ${prevV}) * CAST(__time - ${prevT} AS DOUBLE) / (${nextT} - ${prevT}))`
          return `coalesce(${v}, CASE WHEN ${prevT} IS NOT NULL AND ${nextT} IS NOT NULL THEN ${interp} END)`
        }
        default:
          return v
      }
    })
    const leavesFilled = `SELECT ${[...tagRefs, "__time", ...filled.map((f, j) => `${f} AS __a${j}`)].join(", ")} FROM (${joined})`
    const withFill = `SELECT ${[...tagRefs, "__time", ...built.map((b, i) => `${b.sql} AS __f${i}`)].join(", ")} FROM (${leavesFilled})`
    if (transforms !== undefined) {
      const transformed = transformsSql(withFill, built.map((b, i) => ({ sql: `__f${i}`, kind: b.kind })), transforms, tagRefs, dir, [], perField, stages, firstBucket)
      queries.push({ measurement: s.table.name, tags, sql: `SELECT ${out(wrapped(transforms, built))} FROM (${transformed}) ${perSeries} ${order}` })
      continue
    }
    queries.push({
      measurement: s.table.name,
      tags,
      sql: `SELECT ${out(built.map((_, i) => `__f${i}`))} FROM (${withFill}) ${qualify} ${order}`
    })
  }
  if (stmt.descending) queries.reverse()
  return { _tag: "select", columns: names, queries, ...(stmt.tz === undefined ? {} : { tz: stmt.tz }) }
}

/**
 * The aggregates per group and bucket. Without tags or time buckets (`constBucket` given) there is one group: an
 * ungrouped aggregate, which DuckDB runs in parallel where a GROUP BY of a constant is a hash table of one key
 * (count and mean over 864,000 rows: ~2x), with no row when none passed the WHERE, as the grouped one has.
 */
const groupedSql = (
  tagRefs: ReadonlyArray<string>,
  constBucket: string | undefined,
  timeSql: string,
  aggs: ReadonlyArray<string>,
  src: string
): string => {
  const oneGroup = tagRefs.length === 0 && constBucket !== undefined
  const bucket = oneGroup ? constBucket : "__b"
  const columns = [...tagRefs, timeSql === "__b" ? `${bucket} AS __b` : `${timeSql} AS __sel`, `${bucket} AS __bucket`, ...aggs]
  return `SELECT ${columns.join(", ")} FROM (${src}) ${oneGroup ? "HAVING count(*) > 0" : `GROUP BY ${[...tagRefs, "__b"].join(", ")}`}`
}

/**
 * A bucket's first() and last() values (and, for a lone selector, the time it picked) reduced per series first, then
 * across the bucket's series: each series' pick orders its rows by time alone (one row per series and time), which
 * DuckDB's arg_min/arg_max do on a BIGINT key several times faster than on the struct of time and series key that
 * breaks ties between series; that struct then orders only one row per series. Undefined when another aggregate is
 * among the leaves (the bucket is then reduced in one step).
 */
const perSeriesSelectors = (
  leaves: ReadonlyArray<Built & { readonly pick?: SelectorLeaf }>,
  tie: SeriesTie,
  tagRefs: ReadonlyArray<string>,
  seriesTagCount: number,
  src: string,
  withTime: boolean
): string | undefined => {
  const picks = leaves.map((b) => b.pick)
  if (picks.length === 0 || picks.some((p) => p === undefined) || (withTime && picks.length !== 1)) return undefined
  const series = Array.from({ length: seriesTagCount }, (_, i) => `__sk${i}`)
  const partial = (picks as ReadonlyArray<SelectorLeaf>).flatMap((p, j) => {
    const filter = `FILTER (WHERE ${p.arg} IS NOT NULL)`
    const first = p.name === "first"
    return [
      `${first ? "arg_min" : "arg_max"}(${p.arg}, epoch_ns("time")) ${filter} AS __pv${j}`,
      `${first ? "min" : "max"}(epoch_ns("time")) ${filter} AS __pt${j}`
    ]
  })
  // One first() or last() reads only its group's rows at the group's first or last time: one per series there (a
  // series has one row per time), so the series' ties are all kept, and the per-series grouping (by every tag) runs
  // over those few rows, not the whole range (last per host over 864,000 rows: 64 -> 29 ms in DuckDB). The window
  // compares the time column itself: DuckDB then joins the rows to their group's extreme time with that time pushed
  // into the scan as a filter (through epoch_ns it cannot; the same query: 19.5 -> 14.3 ms).
  const [only] = picks as ReadonlyArray<SelectorLeaf>
  const rows =
    picks.length === 1 && only !== undefined
      ? `SELECT * FROM (${src}) WHERE ${only.arg} IS NOT NULL QUALIFY "time" = ${only.name === "first" ? "min" : "max"}("time") OVER (PARTITION BY ${[...tagRefs, "__b"].join(", ")})`
      : src
  const perSeries = `SELECT ${[...tagRefs, "__b", ...series, ...partial].join(", ")} FROM (${rows}) GROUP BY ${[...tagRefs, "__b", ...series].join(", ")}`
  const final = (picks as ReadonlyArray<SelectorLeaf>).map((p, j) => {
    const pick = selectorPick(p.name, `__pv${j}`, tie, leaves[j]!.kind, `__pt${j}`)!
    return { value: `${pick.fn}(__pv${j}, ${pick.key}) FILTER (WHERE __pt${j} IS NOT NULL)`, time: `${pick.fn}(__pt${j}, ${pick.key}) FILTER (WHERE __pt${j} IS NOT NULL)` }
  })
  const selected = withTime ? `${final[0]!.time} AS __sel` : "__b"
  return `SELECT ${[...tagRefs, selected, "__b AS __bucket", ...final.map((f, j) => `${f.value} AS __a${j}`)].join(", ")} FROM (${perSeries}) GROUP BY ${[...tagRefs, "__b"].join(", ")}`
}
