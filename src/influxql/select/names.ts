import type { Expr, Field } from "../ast.ts"
import { isMath } from "../functions.ts"
import { SELECTORS } from "./common.ts"

/** The names InfluxDB gives selected columns, and walks over expressions that find calls and references. */

/**
 * The column name InfluxDB gives a field: alias, call name, reference name, or the names in an expression joined by
 * `_`.
 */
export const fieldName = (f: Field): string => {
  if (f.alias !== undefined) return f.alias
  const names: Array<string> = []
  const walk = (e: Expr) => {
    switch (e._tag) {
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
export const uniqueNames = (names: ReadonlyArray<string>): Array<string> => {
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

export const hasCall = (e: Expr, pred: (name: string) => boolean): boolean => {
  switch (e._tag) {
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

export const refsOf = (e: Expr, out: Array<string> = []): Array<string> => {
  switch (e._tag) {
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

/** An expression as 1.x prints it in messages: `mean(usage)`. */
export const exprText = (e: Expr): string => {
  switch (e._tag) {
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

/** The selector a field is, alone or under math (`abs(max(x))` reports the time of the point max selected). */
export const selectorOf = (e: Expr): Extract<Expr, { _tag: "call" }> | undefined => {
  if (e._tag === "paren") return selectorOf(e.expr)
  if (e._tag === "binary" && e.right._tag === "number") return selectorOf(e.left)
  if (e._tag === "binary" && e.left._tag === "number") return selectorOf(e.right)
  if (e._tag !== "call") return undefined
  if (SELECTORS.has(e.name)) return e
  if (!isMath(e.name)) return undefined
  const vars = e.args.filter((a) => a._tag !== "number")
  return vars.length === 1 ? selectorOf(vars[0]!) : undefined
}

/** The name of the first call in an expression (outermost first) that `pred` holds for. */
export const firstCall = (e: Expr, pred: (name: string) => boolean): string | undefined => {
  switch (e._tag) {
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

/**
 * Whether an expression names columns by pattern: `*`, or a regex as the field or a function's argument (not math's).
 */
export const hasWildcard = (e: Expr): boolean =>
  e._tag === "wildcard" ||
  e._tag === "regex" ||
  (e._tag === "call" && e.args.some((a) => (a._tag === "regex" ? !isMath(e.name) : hasWildcard(a)))) ||
  (e._tag === "binary" && (hasWildcard(e.left) || hasWildcard(e.right))) ||
  (e._tag === "paren" && hasWildcard(e.expr))
