import type { DatabaseState, TableState } from "../catalog/state.ts"
import type { ColumnType } from "../events/index.ts"
import { sqlString } from "../query/literal.ts"
import type { Expr, Field, SelectStatement, Source } from "./ast.ts"
import { ANALYSIS_FUNCTIONS, type AnalysisName, type SeriesFunction, type Warmup } from "./analysis.ts"
import { type Built, isMath, MATH_ARITY, mathSql, type ValueKind } from "./functions.ts"
import { compileRegex, isRegexError, type UserRegex } from "./regex.ts"
import { evalTime, zoneOffsetMinutes } from "./time.ts"

/**
 * The InfluxQL SELECT planner: one DuckDB SQL query per measurement, with InfluxDB 1.x's semantics (series by tags,
 * time buckets with fill, selectors' times, per-series LIMIT) written into the SQL. Every query answers the columns
 * `iox::measurement`, `time`, the grouping tags, then the selected columns, ordered by tags then time.
 */

/** One measurement's query. */
export interface MeasurementQuery {
  readonly measurement: string
  readonly sql: string
  /** The grouping tags of this measurement's series, in order (their columns follow `time`). */
  readonly tags: ReadonlyArray<string>
}

/**
 * A sequential computation 1.x does point by point (the technical-analysis functions), run between two SQL steps:
 * `sql` answers the points (`__g<i>` grouping tags, `__time`, `__x`) ordered by series then time; their answers
 * (`__g<i>`, `__time`, `__v`) stand in for the table name `id` in the SQL of the queries and of later stages.
 */
export interface Stage {
  readonly id: string
  readonly sql: string
  /** How many grouping tags lead each row. */
  readonly tags: number
  readonly args: SeriesFunction
}

export interface SelectPlan {
  readonly kind: "select"
  /** The stages to run, in order, before the queries (each may read those before it). */
  readonly stages: ReadonlyArray<Stage>
  /** The selected columns' names, in order (after `time`). */
  readonly columns: ReadonlyArray<string>
  readonly queries: ReadonlyArray<MeasurementQuery>
  readonly tz?: string
}

/** A statement that cannot be planned; the message is InfluxDB's. */
export interface PlanFailure {
  readonly _tag: "PlanFailure"
  readonly message: string
}

const failure = (message: string): PlanFailure => ({ _tag: "PlanFailure", message })

/** Thrown inside planning, answered as a PlanFailure; named so the SHOW planner, which shares resolveSources, knows it. */
class Fail extends Error {
  override readonly name = "PlanFailure"
}

/** A float literal as a DOUBLE: DuckDB reads `1000.7` (and, once the planner has re-rendered it, `1.0007e3`) as a DECIMAL, and an integer times a DECIMAL stays one. */
const floatLiteral = (x: number) => `CAST('${x.toExponential()}' AS DOUBLE)`

const q = (name: string) => `"${name.replace(/"/g, '""')}"`
const lit = sqlString

const MIN_TIME = -9223372036854775806n
const MAX_TIME = 9223372036854775806n
const MAX_BUCKETS = 100_000

const SELECTS_POINTS = new Set(["top", "bottom"])
const AGGREGATES = new Set(["count", "sum", "mean", "median", "min", "max", "first", "last", "spread", "stddev", "percentile", "distinct", "mode"])
const SELECTORS = new Set(["min", "max", "first", "last", "percentile"])
/** Functions whose wildcard forms skip string and boolean fields. */
const NUMERIC_ONLY = new Set([...MATH_ARITY.keys(), "sum", "mean", "median", "spread", "stddev", "percentile", "min", "max", "derivative", "non_negative_derivative", "difference", "non_negative_difference", "moving_average", "cumulative_sum", ...ANALYSIS_FUNCTIONS])
const BASIC_TRANSFORMS = new Set(["derivative", "non_negative_derivative", "difference", "non_negative_difference", "moving_average", "cumulative_sum", "elapsed"])
const HOLT_WINTERS = new Set(["holt_winters", "holt_winters_with_fit"])
const TRANSFORMS = new Set([...BASIC_TRANSFORMS, ...ANALYSIS_FUNCTIONS, ...HOLT_WINTERS])
const UNSUPPORTED = new Set([
  // integral() is planned on its own path when it is the only field (see integralSql); beside others it is not.
  "integral", "sample"
])

/** A user pattern compiled with RE2 (linear time), or the statement fails with Go's compile error. */
const regexOrFail = (pattern: string): UserRegex => {
  const re = compileRegex(pattern)
  if (isRegexError(re)) throw new Fail(re.message)
  return re
}

/** Resolves the measurements a statement reads: names as given (missing ones skipped), regexes over the db's tables. */
export const resolveSources = (sources: ReadonlyArray<Source>, db: DatabaseState): Array<TableState> => {
  const out = new Map<string, TableState>()
  const live = [...db.tables.values()].filter((t) => !t.deleted)
  for (const s of sources) {
    if (s.regex !== undefined) {
      const re = regexOrFail(s.regex)
      for (const t of live) if (re.test(t.name)) out.set(t.name, t)
    } else if (s.name !== undefined) {
      const t = live.find((x) => x.name === s.name)
      if (t !== undefined) out.set(t.name, t)
    }
  }
  return [...out.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}

/** The column name InfluxDB gives a field: alias, call name, reference name, or the names in an expression joined by `_`. */
const fieldName = (f: Field): string => {
  if (f.alias !== undefined) return f.alias
  const names: Array<string> = []
  const walk = (e: Expr) => {
    switch (e.kind) {
      case "call":
        names.push(e.name)
        return
      case "ref":
        names.push(e.name)
        return
      case "binary":
        walk(e.left)
        walk(e.right)
        return
      case "paren":
        walk(e.expr)
        return
      default:
        return
    }
  }
  walk(f.expr)
  return names.join("_")
}

/** Column names made unique as InfluxDB does: `mean`, `mean_1`, … (`time` is taken). */
const uniqueNames = (names: ReadonlyArray<string>): Array<string> => {
  const seen = new Map<string, number>([["time", 1]])
  return names.map((name) => {
    const count = seen.get(name)
    if (count === undefined) {
      seen.set(name, 1)
      return name
    }
    for (let n = count; ; n++) {
      const candidate = `${name}_${n}`
      if (!seen.has(candidate)) {
        seen.set(name, n + 1)
        seen.set(candidate, 1)
        return candidate
      }
    }
  })
}

const hasCall = (e: Expr, pred: (name: string) => boolean): boolean => {
  switch (e.kind) {
    case "call":
      return pred(e.name) || e.args.some((a) => hasCall(a, pred))
    case "binary":
      return hasCall(e.left, pred) || hasCall(e.right, pred)
    case "paren":
      return hasCall(e.expr, pred)
    default:
      return false
  }
}

const refsOf = (e: Expr, out: Array<string> = []): Array<string> => {
  switch (e.kind) {
    case "ref":
      out.push(e.name)
      break
    case "call":
      e.args.forEach((a) => refsOf(a, out))
      break
    case "binary":
      refsOf(e.left, out)
      refsOf(e.right, out)
      break
    case "paren":
      refsOf(e.expr, out)
      break
  }
  return out
}

interface TimeRange {
  lo: bigint | undefined
  hi: bigint | undefined
}

const isTimeRef = (e: Expr) => e.kind === "ref" && e.name.toLowerCase() === "time"
const mentionsTime = (e: Expr): boolean => refsOf(e).some((n) => n.toLowerCase() === "time")

/** Splits WHERE into its time range (top-level AND terms on time) and the rest. */
const splitWhere = (where: Expr | undefined, nowNs: bigint): { range: TimeRange; rest: Array<Expr> } => {
  const range: TimeRange = { lo: undefined, hi: undefined }
  const rest: Array<Expr> = []
  const terms: Array<Expr> = []
  const collect = (e: Expr) => {
    if (e.kind === "paren") collect(e.expr)
    else if (e.kind === "binary" && e.op === "AND") {
      collect(e.left)
      collect(e.right)
    } else terms.push(e)
  }
  if (where !== undefined) collect(where)
  for (const t of terms) {
    if (t.kind === "binary" && (isTimeRef(t.left) || isTimeRef(t.right)) && ["=", "<", "<=", ">", ">="].includes(t.op)) {
      const flipped = isTimeRef(t.right)
      const other = flipped ? t.left : t.right
      const v = evalTime(other, nowNs)
      if (typeof v === "string") throw new Fail(v)
      let op = t.op
      if (flipped) op = op === "<" ? ">" : op === ">" ? "<" : op === "<=" ? ">=" : op === ">=" ? "<=" : op
      const raise = (lo: bigint) => (range.lo = range.lo === undefined || lo > range.lo ? lo : range.lo)
      const lower = (hi: bigint) => (range.hi = range.hi === undefined || hi < range.hi ? hi : range.hi)
      if (op === ">") raise(v + 1n)
      else if (op === ">=") raise(v)
      else if (op === "<") lower(v - 1n)
      else if (op === "<=") lower(v)
      else {
        raise(v)
        lower(v)
      }
      continue
    }
    if (mentionsTime(t)) throw new Fail("invalid time comparison: time conditions must be combined with AND")
    rest.push(t)
  }
  return { range, rest }
}

/** What the planner knows of a measurement's columns. */
interface Schema {
  readonly table: { readonly name: string }
  readonly types: ReadonlyMap<string, ColumnType>
  /** The SQL to read rows from when not the table itself (a subquery's rows). */
  readonly from?: string
}

/** Time bounds an outer statement hands to its subquery when the subquery has none of its own. */
interface Bounds {
  readonly lo?: bigint | undefined
  readonly hi?: bigint | undefined
}

const kindOfType = (t: ColumnType | undefined): ValueKind => (t === "float" ? "float" : t === "integer" || t === "uinteger" ? "int" : "other")

/** A WHERE condition (without time) as SQL over a measurement. */
const conditionSql = (e: Expr, s: Schema): string => {
  switch (e.kind) {
    case "paren":
      return `(${conditionSql(e.expr, s)})`
    case "bool":
      return e.value ? "TRUE" : "FALSE"
    case "binary": {
      if (e.op === "AND" || e.op === "OR") return `(${conditionSql(e.left, s)} ${e.op} ${conditionSql(e.right, s)})`
      if (e.op === "=~" || e.op === "!~") {
        if (e.right.kind !== "regex") throw new Fail("expected regular expression")
        // DuckDB's regexp_matches is RE2 too; compiling here refuses a bad pattern with Go's words, not DuckDB's.
        regexOrFail(e.right.pattern)
        const left = operandSql(e.left, s)
        // A number or boolean matches neither =~ nor !~ in 1.x (and DuckDB has no regexp_matches over them).
        if (left.kind === "number" || left.kind === "bool") return "FALSE"
        const m = `coalesce(regexp_matches(${left.sql}, ${lit(e.right.pattern)}), FALSE)`
        return e.op === "=~" ? m : `NOT ${m}`
      }
      if (["=", "!=", "<", "<=", ">", ">="].includes(e.op)) {
        const l = operandSql(e.left, s)
        const r = operandSql(e.right, s)
        const op = e.op === "!=" ? "<>" : e.op
        // Values of different kinds never compare equal (a number against a string is false, as InfluxDB has it).
        if ((l.kind === "string" && r.kind === "number") || (l.kind === "number" && r.kind === "string") || l.kind === "bool" !== (r.kind === "bool")) {
          return l.kind === "null" || r.kind === "null" ? "FALSE" : "FALSE"
        }
        return `coalesce(${l.sql} ${op} ${r.sql}, FALSE)`
      }
      throw new Fail(`invalid condition: ${e.op}`)
    }
    default:
      throw new Fail("invalid condition")
  }
}

/** An expression as 1.x prints it in messages: `mean(usage)`. */
const exprText = (e: Expr): string => {
  switch (e.kind) {
    case "ref":
      return /^[A-Za-z_][A-Za-z0-9_]*$/.test(e.name) ? e.name : `"${e.name.replace(/"/g, '\\"')}"`
    case "call":
      return `${e.name}(${e.args.map(exprText).join(", ")})`
    case "number":
      return e.raw
    case "string":
      return `'${e.value.replace(/'/g, "\\'")}'`
    case "bool":
      return e.value ? "true" : "false"
    case "duration":
      return e.raw
    case "regex":
      return `/${e.pattern}/`
    case "binary":
      return `${exprText(e.left)} ${e.op} ${exprText(e.right)}`
    case "paren":
      return `(${exprText(e.expr)})`
    case "wildcard":
      return "*"
  }
}

type OperandKind = "string" | "number" | "bool" | "null" | "unknown"

const operandSql = (e: Expr, s: Schema): { sql: string; kind: OperandKind } => {
  switch (e.kind) {
    case "ref": {
      const type = s.types.get(e.name)
      if (type === undefined) return { sql: "NULL", kind: "null" }
      if (type === "tag") return { sql: `coalesce(${q(e.name)}, '')`, kind: "string" }
      return { sql: q(e.name), kind: type === "string" ? "string" : type === "boolean" ? "bool" : "number" }
    }
    case "string":
      return { sql: lit(e.value), kind: "string" }
    case "number":
      return { sql: e.integer ? e.raw : floatLiteral(e.value), kind: "number" }
    case "bool":
      return { sql: e.value ? "TRUE" : "FALSE", kind: "bool" }
    case "duration":
      return { sql: e.ns.toString(), kind: "number" }
    case "paren": {
      const inner = operandSql(e.expr, s)
      return { sql: `(${inner.sql})`, kind: inner.kind }
    }
    case "binary": {
      const l = operandSql(e.left, s)
      const r = operandSql(e.right, s)
      return { sql: `(${l.sql} ${arith(e.op)} ${r.sql})`, kind: "number" }
    }
    case "call": {
      if (!isMath(e.name)) throw new Fail(`invalid function call in condition: ${exprText(e)}`)
      const args = e.args.map((a): Built => {
        // 1.x's condition valuer gives math over arithmetic (`abs(x - 5)`) no value: the comparison is false.
        if (a.kind === "binary") return { sql: "NULL", kind: "other" }
        const o = operandSql(a, s)
        return { sql: o.sql, kind: o.kind === "number" ? "float" : "other" }
      })
      return { sql: mathSql(e.name, args).sql, kind: "number" }
    }
    default:
      throw new Fail("invalid condition operand")
  }
}

const arith = (op: string) => {
  switch (op) {
    case "+":
    case "-":
    case "*":
    case "/":
    case "%":
    case "&":
    case "|":
      return op
    case "^":
      return "#"
    default:
      throw new Fail(`invalid operator ${op} in an expression`)
  }
}

/** The fields a statement selects, with wildcards expanded against the measurements. */
const expandFields = (stmt: SelectStatement, schemas: ReadonlyArray<Schema>, groupTags: (s: Schema) => ReadonlyArray<string>): Array<Field> => {
  const fields: Array<Field> = []
  const allColumns = (only: "field" | "tag" | undefined, excludeTags: boolean) => {
    const names = new Map<string, ColumnType>()
    for (const s of schemas) {
      const grouped = new Set(groupTags(s))
      for (const [name, type] of s.types) {
        if (type === "time") continue
        if (only === "field" && type === "tag") continue
        if (only === "tag" && type !== "tag") continue
        if (excludeTags && type === "tag" && grouped.has(name)) continue
        names.set(name, type)
      }
    }
    return [...names.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  }
  // `*` is every column; a regex, those whose names it matches (RE2, linear time).
  const matching = (pattern: Expr) => {
    if (pattern.kind !== "regex") return () => true
    const re = regexOrFail(pattern.pattern)
    return (name: string) => re.test(name)
  }
  const isPattern = (a: Expr | undefined) => a?.kind === "wildcard" || a?.kind === "regex"
  for (const f of stmt.fields) {
    const e = f.expr
    if (e.kind === "wildcard" || e.kind === "regex") {
      const keep = matching(e)
      for (const [name] of allColumns(e.kind === "wildcard" ? e.only : undefined, true)) if (keep(name)) fields.push({ expr: { kind: "ref", name } })
      continue
    }
    // fn(*) runs the function over every field (fn(/re/) over those matching): columns `fn_field`.
    if (e.kind === "call" && e.args.length >= 1 && isPattern(e.args[0]) && !SELECTS_POINTS.has(e.name)) {
      const keep = matching(e.args[0]!)
      for (const [name, type] of allColumns("field", false)) {
        if (!keep(name)) continue
        if (type === "tag" || (NUMERIC_ONLY.has(e.name) && (type === "string" || type === "boolean"))) continue
        fields.push({ expr: { ...e, args: [{ kind: "ref", name }, ...e.args.slice(1)] }, alias: `${f.alias ?? e.name}_${name}` })
      }
      continue
    }
    // A transformation of an aggregate of every field: `derivative(mean(*))` gives `derivative_field` columns.
    const inner = e.kind === "call" ? e.args[0] : undefined
    if (e.kind === "call" && inner?.kind === "call" && isPattern(inner.args[0])) {
      const keep = matching(inner.args[0]!)
      for (const [name, type] of allColumns("field", false)) {
        if (!keep(name)) continue
        if (type === "tag" || ((NUMERIC_ONLY.has(e.name) || NUMERIC_ONLY.has(inner.name)) && (type === "string" || type === "boolean"))) continue
        const arg: Expr = { ...inner, args: [{ kind: "ref", name }, ...inner.args.slice(1)] }
        fields.push({ expr: { ...e, args: [arg, ...e.args.slice(1)] }, alias: `${f.alias ?? e.name}_${name}` })
      }
      continue
    }
    if (e.kind === "ref" && e.name.toLowerCase() === "time") continue
    fields.push(f)
  }
  return fields
}

/** The SQL of a selected expression in a raw (non-aggregate) query. */
const rawSql = (e: Expr, s: Schema): Built => {
  switch (e.kind) {
    case "ref": {
      const type = s.types.get(e.name)
      if (type === undefined || type === "time") return { sql: "NULL", kind: "other" }
      if (e.cast === "tag" && type !== "tag") return { sql: "NULL", kind: "other" }
      if (e.cast === "field" && type === "tag") return { sql: "NULL", kind: "other" }
      return { sql: q(e.name), kind: kindOfType(type) }
    }
    case "number":
      return { sql: e.integer ? e.raw : floatLiteral(e.value), kind: e.integer ? "int" : "float" }
    case "string":
      return { sql: lit(e.value), kind: "other" }
    case "bool":
      return { sql: e.value ? "TRUE" : "FALSE", kind: "other" }
    case "paren":
      return rawSql(e.expr, s)
    case "binary":
      return binarySql(e.op, rawSql(e.left, s), rawSql(e.right, s))
    case "call":
      if (isMath(e.name)) return mathSql(e.name, e.args.map((a) => rawSql(a, s)))
      throw new Fail(`unsupported call: ${e.name}`)
    default:
      throw new Fail("unsupported expression")
  }
}

const binarySql = (op: string, l: Built, r: Built): Built => {
  // 1.x answers 0 for a division by zero (an integer or a float zero alike), not an error or infinity.
  if (op === "/") return { sql: `(CASE WHEN ${r.sql} = 0 AND ${l.sql} IS NOT NULL THEN CAST(0 AS DOUBLE) ELSE CAST(${l.sql} AS DOUBLE) / ${r.sql} END)`, kind: "float" }
  return { sql: `(${l.sql} ${arith(op)} ${r.sql})`, kind: l.kind === "float" || r.kind === "float" ? "float" : l.kind === "int" && r.kind === "int" ? "int" : "other" }
}

/**
 * How a selector breaks ties between series (points of several series grouped together): `key` orders the series as
 * 1.x's series keys do; `aux` says whether plain fields are selected beside it (1.x then reduces the raw points in
 * its merge order rather than each series' own pick).
 */
interface SeriesTie {
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
const selectorPick = (name: string, arg: string, tie: SeriesTie = NO_TIE, kind: ValueKind = "float"): { fn: "arg_min" | "arg_max"; key: string } | undefined => {
  const t = `epoch_ns("time")`
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

const percentileIndex = (arg: string, p: number) => `CAST(floor(count(${arg}) * ${p} / 100.0 + 0.5) AS BIGINT)`

/** The SQL of an aggregate call over the rows of one bucket. */
const aggregateSql = (e: Extract<Expr, { kind: "call" }>, s: Schema, tie: SeriesTie = NO_TIE): Built => {
  const name = e.name
  const arg0 = e.args[0]
  if (arg0 === undefined) throw new Fail(`invalid number of arguments for ${name}, expected at least 1, got 0`)
  if (name === "count" && arg0.kind === "call" && arg0.name === "distinct") {
    const inner = arg0.args[0]
    if (inner?.kind !== "ref") throw new Fail("expected field argument in distinct()")
    const a = rawSql(inner, s)
    return { sql: `count(DISTINCT ${a.sql})`, kind: "int" }
  }
  if (arg0.kind !== "ref") throw new Fail(`expected field argument in ${name}()`)
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
      return { sql: `${pick.fn}(${arg}, ${pick.key}) FILTER (WHERE ${arg} IS NOT NULL)`, kind }
    }
    case "percentile": {
      numericOnly("percentile")
      const p = e.args[1]
      if (e.args.length !== 2 || p === undefined || p.kind !== "number") throw new Fail("expected float argument in percentile()")
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
const integralSql = (
  call: Extract<Expr, { kind: "call" }>,
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
  if (arg?.kind !== "ref") throw new Fail("expected field argument in integral()")
  const unitArg = call.args[1]
  if (unitArg !== undefined && unitArg.kind !== "duration") throw new Fail("second argument must be a duration")
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
const integralOrder = (tagRefs: ReadonlyArray<string>) =>
  `ORDER BY ${["__lw", ...tagRefs.map((t) => `CASE WHEN NOT __lw THEN ${t} END`), ...tagRefs.map((t) => `CASE WHEN __lw THEN ${t} END DESC`), "__time"].join(", ")}`

/**
 * The SQL of a selected expression in an aggregate query (aggregates, math and arithmetic over them). Each aggregate
 * goes through `leaf`, which answers the column its bucket value is read from: 1.x fills the aggregates themselves,
 * then evaluates the expression over the filled values (`cos(mean(x))` with fill(0) answers cos(0)).
 */
const aggregateExprSql = (e: Expr, s: Schema, leaf: (b: Built, call: string) => Built, tie: SeriesTie = NO_TIE): Built => {
  switch (e.kind) {
    case "call":
      if (isMath(e.name)) return mathSql(e.name, e.args.map((a) => aggregateExprSql(a, s, leaf, tie)))
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

/** The selector a field is, alone or under math (`abs(max(x))` reports the time of the point max selected). */
const selectorOf = (e: Expr): Extract<Expr, { kind: "call" }> | undefined => {
  if (e.kind === "paren") return selectorOf(e.expr)
  if (e.kind === "binary" && e.right.kind === "number") return selectorOf(e.left)
  if (e.kind === "binary" && e.left.kind === "number") return selectorOf(e.right)
  if (e.kind !== "call") return undefined
  if (SELECTORS.has(e.name)) return e
  if (!isMath(e.name)) return undefined
  const vars = e.args.filter((a) => a.kind !== "number")
  return vars.length === 1 ? selectorOf(vars[0]!) : undefined
}

/** The name of the first call in an expression (outermost first) that `pred` holds for. */
const firstCall = (e: Expr, pred: (name: string) => boolean): string | undefined => {
  switch (e.kind) {
    case "call":
      if (pred(e.name)) return e.name
      for (const a of e.args) {
        const n = firstCall(a, pred)
        if (n !== undefined) return n
      }
      return undefined
    case "binary":
      return firstCall(e.left, pred) ?? firstCall(e.right, pred)
    case "paren":
      return firstCall(e.expr, pred)
    default:
      return undefined
  }
}

/** Whether an expression names columns by pattern: `*`, or a regex as the field or a function's argument (not math's). */
const hasWildcard = (e: Expr): boolean =>
  e.kind === "wildcard" ||
  e.kind === "regex" ||
  (e.kind === "call" && e.args.some((a) => (a.kind === "regex" ? !isMath(e.name) : hasWildcard(a)))) ||
  (e.kind === "binary" && (hasWildcard(e.left) || hasWildcard(e.right))) ||
  (e.kind === "paren" && hasWildcard(e.expr))

/** 1.x's checks of a field before planning: a variable somewhere, and math calls with their number of arguments. */
const validateField = (e: Expr) => {
  if (refsOf(e).length === 0 && !hasWildcard(e)) throw new Fail("field must contain at least one variable")
  const walk = (x: Expr) => {
    if (x.kind === "call") {
      const arity = MATH_ARITY.get(x.name)
      if (arity !== undefined && x.args.length !== arity) throw new Fail(`invalid number of arguments for ${x.name}, expected ${arity}, got ${x.args.length}`)
      x.args.forEach(walk)
    } else if (x.kind === "binary") {
      walk(x.left)
      walk(x.right)
    } else if (x.kind === "paren") walk(x.expr)
  }
  walk(e)
}

/**
 * A math call around a transformation (`abs(derivative(x))`), peeled: the transformation, and the math to apply to
 * its answers. Anything else is its own core.
 */
const peelMath = (e: Expr): { core: Expr; wrap: (b: Built) => Built } => {
  const identity = { core: e, wrap: (b: Built) => b }
  if (e.kind === "paren") return peelMath(e.expr)
  if (e.kind !== "call" || !isMath(e.name) || !hasCall(e, (n) => TRANSFORMS.has(n))) return identity
  const target = e.args.findIndex((a) => hasCall(a, (n) => TRANSFORMS.has(n)))
  const inner = peelMath(e.args[target]!)
  const literal = (a: Expr): Built => (a.kind === "number" ? { sql: a.integer ? a.raw : floatLiteral(a.value), kind: a.integer ? "int" : "float" } : { sql: "NULL", kind: "other" })
  return { core: inner.core, wrap: (b) => mathSql(e.name, e.args.map((a, i) => (i === target ? inner.wrap(b) : literal(a)))) }
}

/** The time-bucket start of a row in ns: floor((t - offset) / interval) * interval + offset, exact in integers. */
const bucketSql = (timeNs: string, interval: bigint, offset: bigint) => {
  const shifted = `(${timeNs} - (${offset}))`
  return `(${shifted} - (((${shifted} % ${interval}) + ${interval}) % ${interval}) + (${offset}))`
}

const bucketOf = (t: bigint, interval: bigint, offset: bigint) => {
  const shifted = t - offset
  return shifted - (((shifted % interval) + interval) % interval) + offset
}

/** A transformation function over a series' points (raw or one aggregate per time bucket), as InfluxDB 1.x has it. */
interface Transform {
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

const literalType = (e: Expr) =>
  e.kind === "number" ? (e.integer ? "*influxql.IntegerLiteral" : "*influxql.NumberLiteral") : e.kind === "string" ? "*influxql.StringLiteral" : e.kind === "ref" ? "*influxql.VarRef" : "*influxql.Call"

/** Reads a transformation call's arguments, with InfluxDB's messages for wrong ones. */
const transformOf = (e: Extract<Expr, { kind: "call" }>, interval: bigint | undefined): Transform => {
  const name = e.name
  const arg = e.args[0]
  const argCount = (expected: number) => {
    if (e.args.length !== expected) throw new Fail(`invalid number of arguments for ${name}, expected ${expected}, got ${e.args.length}`)
  }
  const unit = (fallback: bigint): bigint => {
    const u = e.args[1]
    if (e.args.length > 2) throw new Fail(`invalid number of arguments for ${name}, expected at least 1 but no more than 2, got ${e.args.length}`)
    if (u === undefined) return fallback
    if (u.kind !== "duration") throw new Fail(`second argument to ${name} must be a duration, got ${literalType(u)}`)
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
      if (n.kind !== "number" || !n.integer) throw new Fail(`second argument for moving_average must be an integer, got ${literalType(n)}`)
      if (n.value <= 1) throw new Fail(`moving_average window must be greater than 1, got ${n.value}`)
      return { name, arg, unitNs: 0n, n: n.value }
    }
    case "holt_winters":
    case "holt_winters_with_fit": {
      argCount(3)
      if (arg.kind !== "call") throw new Fail(`must use aggregate function with ${name}`)
      const [, n, m] = e.args
      if (n!.kind !== "number" || !n!.integer) throw new Fail(`expected integer argument as second arg in ${name}`)
      if (n!.value <= 0) throw new Fail(`second arg to ${name} must be greater than 0, got ${n!.value}`)
      if (m!.kind !== "number" || !m!.integer) throw new Fail(`expected integer argument as third arg in ${name}`)
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
      if (p!.kind !== "number" || !p!.integer) throw new Fail(`second argument for ${name} must be an integer, got ${literalType(p!)}`)
      if (p!.value < 1) throw new Fail(`${name} period must be greater than or equal to 1`)
      let hold = -1
      if (h !== undefined) {
        if (h.kind !== "number" || !h.integer) throw new Fail(`third argument for ${name} must be an integer, got ${literalType(h)}`)
        // TRIX's first answer is always dropped (a rate needs a previous average), so 1.x asks for a hold of 1 or more.
        const least = name === "triple_exponential_derivative" ? 1 : 0
        if (h.value < least) throw new Fail(`${name} hold period must be greater than or equal to ${least}`)
        hold = h.value
      }
      let warmup: Warmup = name === "chande_momentum_oscillator" ? "none" : "exponential"
      if (w !== undefined) {
        if (w.kind !== "string") throw new Fail(`fourth argument for ${name} must be a string, got ${literalType(w)}`)
        const allowed = name === "chande_momentum_oscillator" ? ["none", "exponential", "simple"] : ["exponential", "simple"]
        if (!allowed.includes(w.value)) throw new Fail(`${name} warmup type must be one of: ${allowed.map((a) => `'${a}'`).join(" ")}`)
        warmup = w.value as Warmup
      }
      if (name === "chande_momentum_oscillator" && warmup === "none" && p!.value < 2) throw new Fail(`${name} period must be greater than or equal to 2`)
      return { name, arg, unitNs: 0n, n: p!.value, analysis: { name: name as AnalysisName, period: p!.value, hold, warmup } }
    }
  }
}

/**
 * The transformations over a body of rows (`__time`, the grouping tags and one value column per field), each over
 * its own field's non-null points of each series, as window functions; fields whose points fall at different times
 * give rows with nulls. Answers the grouping tags, `__time` and `__v0…`.
 */
const transformsSql = (
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

/** Collects a plan's stages (its subqueries' too) and names each uniquely. */
interface StageSink {
  add(sql: string, tags: number, args: SeriesFunction): string
  readonly all: Array<Stage>
}

const stageSink = (): StageSink => {
  const all: Array<Stage> = []
  return {
    all,
    add: (sql, tags, args) => {
      const id = `__strata_stage_${all.length}`
      all.push({ id, sql, tags, args })
      return id
    }
  }
}

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
  const schemas: Array<Schema> = resolveSources(named, db).map((table) => ({ table, types: new Map(table.columns.map((c) => [c.name, c.type] as const)) }))
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
  const isAggregate = stmt.fields.some((f) => hasCall(f.expr, (n) => AGGREGATES.has(n) || UNSUPPORTED.has(n) || TRANSFORMS.has(n) || SELECTS_POINTS.has(n)))
  if (!isAggregate) {
    for (const f of stmt.fields) {
      const name = firstCall(f.expr, (n) => !isMath(n))
      if (name !== undefined) throw new Fail(`undefined function ${name}()`)
    }
  }
  if (fields.length === 0 && stmt.fields.every((f) => f.expr.kind === "ref" && f.expr.name.toLowerCase() === "time")) {
    throw new Fail("at least 1 non-time field must be queried")
  }
  const names = uniqueNames(fields.map(fieldName))
  // top()/bottom(): N points of a field by value (optionally the best of each tag value), reported at their own times.
  let pointSelector: { readonly name: string; readonly field: string; readonly tags: ReadonlyArray<string>; readonly n: number } | undefined
  const selectorCall = fields.find((f) => f.expr.kind === "call" && SELECTS_POINTS.has(f.expr.name))?.expr
  if (selectorCall?.kind === "call") {
    if (fields.length > 1) throw new Fail(`selector function ${selectorCall.name}() cannot be combined with other functions`)
    const args = selectorCall.args
    const last = args[args.length - 1]
    if (args.length < 2) throw new Fail(`invalid number of arguments for ${selectorCall.name}, expected at least 2, got ${args.length}`)
    const a0 = args[0]!
    if (a0.kind !== "ref") throw new Fail(`expected first argument to be a field in ${selectorCall.name}(), found ${a0.kind === "regex" ? exprText(a0) : literalType(a0)}`)
    if (last?.kind !== "number" || !last.integer) throw new Fail(`expected integer as last argument in ${selectorCall.name}(), found ${literalType(last!)}`)
    if (last.value <= 0) throw new Fail(`limit (${last.value}) in ${selectorCall.name} function must be at least 1`)
    const tagArgs = args.slice(1, -1).map((a) => {
      if (a.kind !== "ref") throw new Fail(`only fields or tags are allowed in ${selectorCall.name}(), found ${literalType(a)}`)
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
  if (fields.some((f) => f.expr.kind === "call" && TRANSFORMS.has(f.expr.name))) {
    const isTransform = (c: Expr): c is Extract<Expr, { kind: "call" }> => c.kind === "call" && TRANSFORMS.has(c.name)
    nested = fields.some((f) => isTransform(f.expr) && f.expr.args[0]?.kind === "call")
    // Beside transformations of aggregates, plain aggregates are allowed: they pass through unchanged.
    const isPlain = (c: Expr): c is Extract<Expr, { kind: "call" }> => nested && c.kind === "call" && ((AGGREGATES.has(c.name) && c.name !== "distinct") || isMath(c.name))
    const calls = fields.map((f) => f.expr)
    if (!calls.every((c) => isTransform(c) || isPlain(c))) throw new Fail("mixing aggregate and non-aggregate queries is not supported")
    for (const c of calls.filter(isTransform)) {
      const a = c.args[0]
      if (HOLT_WINTERS.has(c.name) && a !== undefined && a.kind !== "call") throw new Fail(`must use aggregate function with ${c.name}`)
      if (a !== undefined && nested !== (a.kind === "call")) throw new Fail("mixing aggregate and non-aggregate queries is not supported")
      if (nested && gb.time === undefined) throw new Fail(`${c.name} aggregate requires a GROUP BY interval`)
      if (a?.kind === "call" && isMath(a.name)) throw new Fail(`unsupported call: ${a.name}`)
      if (!nested && gb.time !== undefined) throw new Fail(`aggregate function required inside the call to ${c.name}`)
      if (a !== undefined && !nested && a.kind !== "ref") throw new Fail(`expected field argument in ${c.name}()`)
    }
    transforms = calls.map((c) => (isTransform(c) ? transformOf(c, nested ? gb.time!.intervalNs : undefined) : { name: "value", arg: c, unitNs: 0n, n: 0 }))
    fields = transforms.map((t) => ({ expr: t.arg }))
  }
  if (gb.time !== undefined && !isAggregate) throw new Fail("GROUP BY requires at least one aggregate function")
  const distinctCall = fields.find((f) => f.expr.kind === "call" && f.expr.name === "distinct")
  // integral() is computed alone: its area is accumulated point to point, not from a bucket's rows.
  const onlyField = fields.length === 1 ? fields[0]!.expr : undefined
  const integral = onlyField?.kind === "call" && onlyField.name === "integral" ? onlyField : undefined
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
  const firstBucket = interval !== undefined && range.lo !== undefined ? bucketOf(range.lo, interval, offset) : undefined
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
      const best = tagKeys.length === 0 ? src : `SELECT * FROM (${src}) QUALIFY row_number() OVER (PARTITION BY ${[...tagRefs, "__b", ...tagKeys].join(", ")} ORDER BY ${by}, __time) = 1`
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
          const type = t.arg.kind === "ref" ? s.types.get(t.arg.name) : undefined
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
      const call = distinctCall.expr as Extract<Expr, { kind: "call" }>
      const arg = call.args[0]
      if (arg?.kind !== "ref") throw new Fail("expected field argument in distinct()")
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
    const auxRefs = fields.filter((f) => f.expr.kind === "ref")
    const calls = fields.filter((f) => f.expr.kind !== "ref")
    let auxPick: { fn: string; key: string; arg: string } | undefined
    const tie: SeriesTie = { key: seriesKey, aux: auxRefs.length > 0, byTime: interval !== undefined }
    if (auxRefs.length > 0) {
      const only = calls.length === 1 ? selectorOf(calls[0]!.expr) : undefined
      if (only === undefined || selectorPick(only.name, "") === undefined) throw new Fail("mixing aggregate and non-aggregate queries is not supported")
      const a0 = only.args[0]
      const t0 = a0?.kind === "ref" ? s.types.get(a0.name) : undefined
      const arg = a0?.kind === "ref" && t0 !== undefined && t0 !== "tag" ? q(a0.name) : "NULL"
      auxPick = { ...selectorPick(only.name, arg, tie, kindOfType(t0))!, arg }
    }
    // Each aggregate is a column `__a<j>` of a bucket's row (filled on its own); each field an expression over them.
    const leaves: Array<Built & { readonly call: string }> = []
    const leaf = (b: Built, call: string): Built => {
      leaves.push({ ...b, call })
      return { sql: `__a${leaves.length - 1}`, kind: b.kind }
    }
    const built = fields.map((f): Built => {
      if (integral !== undefined) return leaf({ sql: "", kind: "float" }, "integral")
      if (f.expr.kind === "ref" && auxPick !== undefined) {
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
    if (interval === undefined && fields.filter((f) => f.expr.kind !== "ref").length === 1 && selectorField.length === 1) {
      const call = selectorField[0]!
      const arg0 = call.args[0]
      const argType = arg0?.kind === "ref" ? s.types.get(arg0.name) : undefined
      const arg = arg0?.kind === "ref" && argType !== undefined && argType !== "tag" ? q(arg0.name) : "NULL"
      const pick = selectorPick(call.name, arg, tie, kindOfType(argType))
      if (pick !== undefined) timeSql = `${pick.fn}(epoch_ns("time"), ${pick.key}) FILTER (WHERE ${arg} IS NOT NULL)`
      else if (call.name === "percentile") {
        const p = (call.args[1] as Extract<Expr, { kind: "number" }>).value
        const idx = percentileIndex(arg, p)
        timeSql = `CASE WHEN ${idx} >= 1 AND ${idx} <= count(${arg}) THEN list_sort(list({'v': ${arg}, 't': epoch_ns("time")}) FILTER (WHERE ${arg} IS NOT NULL))[${idx}]['t'] END`
      }
    }
    const aggs = leaves.map((b, j) => `${b.sql} AS __a${j}`)
    const agg =
      integral !== undefined
        ? integralSql(integral, s, tagCols, tagRefs, from, where, bucketExpr, interval)
        : `SELECT ${[...tagRefs, timeSql === "__b" ? "__b" : `${timeSql} AS __sel`, "__b AS __bucket", ...aggs].join(", ")} FROM (${src}) GROUP BY ${[...tagRefs, "__b"].join(", ")}`
    const fillKind = stmt.fill.kind
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
    const grid = `SELECT DISTINCT ${[...tagRefs, `unnest(range(${lo}, ${gridEnd}, ${interval})) AS __time`].join(", ")} FROM (${agg})`
    const joinOn = [...tagRefs.map((t) => `g.${t} = a.${t}`), "g.__time = a.__bucket"].join(" AND ")
    const joined = `SELECT ${[...tagRefs.map((t) => `g.${t}`), "g.__time", ...leaves.map((_, j) => `a.__a${j}`)].join(", ")} FROM (${grid}) g LEFT JOIN (${agg}) a ON ${joinOn}`
    const w = `OVER (${partition}ORDER BY __time ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)`
    const wNext = `OVER (${partition}ORDER BY __time ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING)`
    const filled = leaves.map((b, j) => {
      const v = `__a${j}`
      switch (stmt.fill.kind) {
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
  return { kind: "select", columns: names, queries, ...(stmt.tz === undefined ? {} : { tz: stmt.tz }) }
}

/** The database a statement names in its FROM clause (`db.rp.m`, `db..m`), if any. */
export const sourceDatabase = (sources: ReadonlyArray<Source>): string | undefined => {
  for (const s of sources) {
    const db = s.db ?? (s.subquery !== undefined ? sourceDatabase(s.subquery.sources) : undefined)
    if (db !== undefined) return db
  }
  return undefined
}

/** A WHERE condition over tags and fields (no time) as SQL over one measurement, for the SHOW statements. */
export const whereSql = (where: Expr, table: TableState): string | PlanFailure => {
  try {
    const { rest } = splitWhere(where, 0n)
    const schema: Schema = { table, types: new Map(table.columns.map((c) => [c.name, c.type] as const)) }
    return rest.length === 0 ? "TRUE" : rest.map((r) => conditionSql(r, schema)).join(" AND ")
  } catch (e) {
    if (e instanceof Fail) return failure(e.message)
    throw e
  }
}
