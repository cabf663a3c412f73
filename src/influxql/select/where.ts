import type { TableState } from "../../catalog/state.ts"
import type { Expr } from "../ast.ts"
import { type Built, isMath, mathSql } from "../functions.ts"
import { evalTime } from "../time.ts"
import { floatLiteral, lit, q, type Schema } from "./common.ts"
import { Fail, failure, type PlanFailure, regexOrFail } from "./failure.ts"
import { exprText, refsOf } from "./names.ts"

/** Stage 2: WHERE split into its time range and the rest, the rest as SQL over a measurement. */

interface TimeRange {
  lo: bigint | undefined
  hi: bigint | undefined
}

const isTimeRef = (e: Expr) => e._tag === "ref" && e.name.toLowerCase() === "time"

const mentionsTime = (e: Expr): boolean => refsOf(e).some((n) => n.toLowerCase() === "time")

/** Splits WHERE into its time range (top-level AND terms on time) and the rest. */
export const splitWhere = (where: Expr | undefined, nowNs: bigint): { range: TimeRange; rest: Array<Expr> } => {
  const range: TimeRange = { lo: undefined, hi: undefined }
  const rest: Array<Expr> = []
  const terms: Array<Expr> = []
  const collect = (e: Expr) => {
    if (e._tag === "paren") collect(e.expr)
    else if (e._tag === "binary" && e.op === "AND") {
      collect(e.left)
      collect(e.right)
    } else terms.push(e)
  }
  if (where !== undefined) collect(where)
  for (const t of terms) {
    if (t._tag === "binary" && (isTimeRef(t.left) || isTimeRef(t.right)) && ["=", "<", "<=", ">", ">="].includes(t.op)) {
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

/** A WHERE condition (without time) as SQL over a measurement. */
export const conditionSql = (e: Expr, s: Schema): string => {
  switch (e._tag) {
    case "paren":
      return `(${conditionSql(e.expr, s)})`
    case "bool":
      return e.value ? "TRUE" : "FALSE"
    case "binary": {
      if (e.op === "AND" || e.op === "OR") return `(${conditionSql(e.left, s)} ${e.op} ${conditionSql(e.right, s)})`
      if (e.op === "=~" || e.op === "!~") {
        if (e.right._tag !== "regex") throw new Fail("expected regular expression")
        // DuckDB's regexp_matches is RE2 too; compiling here refuses a bad pattern with Go's words, not DuckDB's.
        regexOrFail(e.right.pattern)
        const left = operandSql(e.left, s)
        // A number or boolean matches neither =~ nor !~ in 1.x (and DuckDB has no regexp_matches over them).
        if (left.kind === "number" || left.kind === "bool") return "FALSE"
        const m = `coalesce(regexp_matches(${left.sql}, ${lit(e.right.pattern)}), FALSE)`
        return e.op === "=~" ? m : `NOT ${m}`
      }
      if (["=", "!=", "<", "<=", ">", ">="].includes(e.op)) {
        const tagEquality = e.op === "=" ? tagEqualsText(e.left, e.right, s) ?? tagEqualsText(e.right, e.left, s) : undefined
        if (tagEquality !== undefined) return tagEquality
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

/**
 * `tag = 'text'` with non-empty text as the plain comparison: a missing tag ('' in InfluxQL) never equals it, and
 * conditions only ever filter (no NOT), where NULL drops a row as FALSE does. DuckDB prunes Parquet row groups and
 * reads dictionaries by a plain comparison, not by the COALESCE form: a one-host aggregate reads 4,320 rows, not
 * 864,000.
 */
const tagEqualsText = (tag: Expr, text: Expr, s: Schema): string | undefined =>
  tag._tag === "ref" && s.types.get(tag.name) === "tag" && text._tag === "string" && text.value !== ""
    ? `(${q(tag.name)} = ${lit(text.value)})`
    : undefined

type OperandKind = "string" | "number" | "bool" | "null" | "unknown"

const operandSql = (e: Expr, s: Schema): { sql: string; kind: OperandKind } => {
  switch (e._tag) {
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
        if (a._tag === "binary") return { sql: "NULL", kind: "other" }
        const o = operandSql(a, s)
        return { sql: o.sql, kind: o.kind === "number" ? "float" : "other" }
      })
      return { sql: mathSql(e.name, args).sql, kind: "number" }
    }
    default:
      throw new Fail("invalid condition operand")
  }
}

export const arith = (op: string) => {
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
