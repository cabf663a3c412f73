import type { ColumnType } from "../../events/index.ts"
import type { Expr, Field, SelectStatement } from "../ast.ts"
import { type Built, isMath, MATH_ARITY, mathSql } from "../functions.ts"
import { floatLiteral, kindOfType, lit, NUMERIC_ONLY, q, type Schema, SELECTS_POINTS, TRANSFORMS } from "./common.ts"
import { Fail, regexOrFail } from "./failure.ts"
import { hasCall, hasWildcard, refsOf } from "./names.ts"
import { arith } from "./where.ts"

/** Stage 3: the selected fields (wildcards expanded, checked as 1.x checks them) and raw expressions as SQL. */

/** The fields a statement selects, with wildcards expanded against the measurements. */
export const expandFields = (
  stmt: SelectStatement,
  schemas: ReadonlyArray<Schema>,
  groupTags: (s: Schema) => ReadonlyArray<string>
): Array<Field> => {
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
    if (pattern._tag !== "regex") return () => true
    const re = regexOrFail(pattern.pattern)
    return (name: string) => re.test(name)
  }
  const isPattern = (a: Expr | undefined) => a?._tag === "wildcard" || a?._tag === "regex"
  for (const f of stmt.fields) {
    const e = f.expr
    if (e._tag === "wildcard" || e._tag === "regex") {
      const keep = matching(e)
      for (const [name] of allColumns(e._tag === "wildcard" ? e.only : undefined, true))
        if (keep(name)) fields.push({ expr: { _tag: "ref", name } })
      continue
    }
    // fn(*) runs the function over every field (fn(/re/) over those matching): columns `fn_field`.
    if (e._tag === "call" && e.args.length >= 1 && isPattern(e.args[0]) && !SELECTS_POINTS.has(e.name)) {
      const keep = matching(e.args[0]!)
      for (const [name, type] of allColumns("field", false)) {
        if (!keep(name)) continue
        if (type === "tag" || (NUMERIC_ONLY.has(e.name) && (type === "string" || type === "boolean"))) continue
        fields.push({
          expr: { ...e, args: [{ _tag: "ref", name }, ...e.args.slice(1)] },
          alias: `${f.alias ?? e.name}_${name}`
        })
      }
      continue
    }
    // A transformation of an aggregate of every field: `derivative(mean(*))` gives `derivative_field` columns.
    const inner = e._tag === "call" ? e.args[0] : undefined
    if (e._tag === "call" && inner?._tag === "call" && isPattern(inner.args[0])) {
      const keep = matching(inner.args[0]!)
      for (const [name, type] of allColumns("field", false)) {
        if (!keep(name)) continue
        if (
          type === "tag" ||
          ((NUMERIC_ONLY.has(e.name) || NUMERIC_ONLY.has(inner.name)) && (type === "string" || type === "boolean"))
        )
          continue
        const arg: Expr = { ...inner, args: [{ _tag: "ref", name }, ...inner.args.slice(1)] }
        fields.push({ expr: { ...e, args: [arg, ...e.args.slice(1)] }, alias: `${f.alias ?? e.name}_${name}` })
      }
      continue
    }
    if (e._tag === "ref" && e.name.toLowerCase() === "time") continue
    fields.push(f)
  }
  return fields
}

/** The SQL of a selected expression in a raw (non-aggregate) query. */
export const rawSql = (e: Expr, s: Schema): Built => {
  switch (e._tag) {
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

export const binarySql = (op: string, l: Built, r: Built): Built => {
  // 1.x answers 0 for a division by zero (an integer or a float zero alike), not an error or infinity.
  if (op === "/") return { sql: `(CASE WHEN ${r.sql} = 0 AND ${l.sql} IS NOT NULL THEN CAST(0 AS DOUBLE) ELSE CAST(${l.sql} AS DOUBLE) / ${r.sql} END)`, kind: "float" }
  return { sql: `(${l.sql} ${arith(op)} ${r.sql})`, kind: l.kind === "float" || r.kind === "float" ? "float" : l.kind === "int" && r.kind === "int" ? "int" : "other" }
}

/** 1.x's checks of a field before planning: a variable somewhere, and math calls with their number of arguments. */
export const validateField = (e: Expr) => {
  if (refsOf(e).length === 0 && !hasWildcard(e)) throw new Fail("field must contain at least one variable")
  const walk = (x: Expr) => {
    if (x._tag === "call") {
      const arity = MATH_ARITY.get(x.name)
      if (arity !== undefined && x.args.length !== arity) throw new Fail(`invalid number of arguments for ${x.name}, expected ${arity}, got ${x.args.length}`)
      x.args.forEach(walk)
    } else if (x._tag === "binary") {
      walk(x.left)
      walk(x.right)
    } else if (x._tag === "paren") walk(x.expr)
  }
  walk(e)
}

/**
 * A math call around a transformation (`abs(derivative(x))`), peeled: the transformation, and the math to apply to
 * its answers. Anything else is its own core.
 */
export const peelMath = (e: Expr): { core: Expr; wrap: (b: Built) => Built } => {
  const identity = { core: e, wrap: (b: Built) => b }
  if (e._tag === "paren") return peelMath(e.expr)
  if (e._tag !== "call" || !isMath(e.name) || !hasCall(e, (n) => TRANSFORMS.has(n))) return identity
  const target = e.args.findIndex((a) => hasCall(a, (n) => TRANSFORMS.has(n)))
  const inner = peelMath(e.args[target]!)
  const literal = (a: Expr): Built => (a._tag === "number" ? { sql: a.integer ? a.raw : floatLiteral(a.value), kind: a.integer ? "int" : "float" } : { sql: "NULL", kind: "other" })
  return {
    core: inner.core,
    wrap: (b) =>
      mathSql(
        e.name,
        e.args.map((a, i) => (i === target ? inner.wrap(b) : literal(a)))
      )
  }
}
