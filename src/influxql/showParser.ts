import type { KeyFilter, ShowStatement } from "./ast.ts"
import type { Parser } from "./parser.ts"

/** The SHOW statements' grammar, read with the SELECT parser's tokens and helpers. */

export const parseShow = (p: Parser): ShowStatement => {
  const t = p.lx.next()
  const word = t.type === "ident" && !t.quoted ? t.text.toUpperCase() : ""
  switch (word) {
    case "DATABASES":
      return { _tag: "showDatabases" }
    case "RETENTION": {
      p.expectKeyword("POLICIES")
      const on = onClause(p)
      return { _tag: "showRetentionPolicies", ...(on === undefined ? {} : { on }) }
    }
    case "MEASUREMENTS": {
      const on = onClause(p)
      let measurement: KeyFilter | undefined
      if (p.acceptKeyword("WITH")) {
        p.expectKeyword("MEASUREMENT")
        measurement = keyFilter(p, false)
      }
      const where = p.acceptKeyword("WHERE") ? p.expr() : undefined
      return { _tag: "showMeasurements", ...opt({ on, measurement, where }), ...limitOffset(p) }
    }
    case "TAG": {
      const next = p.lx.next()
      if (p.isKeyword(next, "KEYS")) {
        const on = onClause(p)
        const from = p.acceptKeyword("FROM") ? p.sources() : []
        const where = p.acceptKeyword("WHERE") ? p.expr() : undefined
        return { _tag: "showTagKeys", from, ...opt({ on, where }), ...limitOffset(p) }
      }
      if (p.isKeyword(next, "VALUES")) {
        const on = onClause(p)
        const from = p.acceptKeyword("FROM") ? p.sources() : []
        p.expectKeyword("WITH")
        p.expectKeyword("KEY")
        const key = keyFilter(p, true)
        const where = p.acceptKeyword("WHERE") ? p.expr() : undefined
        return { _tag: "showTagValues", from, key, ...opt({ on, where }), ...limitOffset(p) }
      }
      return p.fail(next, "KEYS, VALUES")
    }
    case "FIELD": {
      p.expectKeyword("KEYS")
      const on = onClause(p)
      const from = p.acceptKeyword("FROM") ? p.sources() : []
      return { _tag: "showFieldKeys", from, ...opt({ on }), ...limitOffset(p) }
    }
    case "SERIES": {
      const on = onClause(p)
      const from = p.acceptKeyword("FROM") ? p.sources() : []
      const where = p.acceptKeyword("WHERE") ? p.expr() : undefined
      return { _tag: "showSeries", from, ...opt({ on, where }), ...limitOffset(p) }
    }
    default:
      return p.fail(
        t,
        "CONTINUOUS, DATABASES, DIAGNOSTICS, FIELD, GRANTS, MEASUREMENT, MEASUREMENTS, QUERIES, RETENTION, SERIES, SHARD, SHARDS, STATS, SUBSCRIPTIONS, TAG, USERS"
      )
  }
}

const onClause = (p: Parser): string | undefined => {
  return p.acceptKeyword("ON") ? p.ident() : undefined
}

const limitOffset = (p: Parser): { limit?: number; offset?: number } => {
  const limit = p.acceptKeyword("LIMIT") ? p.integer("integer") : undefined
  const offset = p.acceptKeyword("OFFSET") ? p.integer("integer") : undefined
  return opt({ limit, offset })
}

const keyFilter = (p: Parser, allowIn: boolean): KeyFilter => {
  const t = p.lx.next()
  if (allowIn && p.isKeyword(t, "IN")) {
    p.expectOp("(")
    const values: Array<string> = []
    do values.push(p.identOrString())
    while (p.acceptOp(","))
    p.expectOp(")")
    return { op: "in", values }
  }
  if (p.isOp(t, "=") || p.isOp(t, "!=")) {
    const value = allowIn ? p.identOrString() : p.ident()
    return { op: t.text as "=" | "!=", value }
  }
  if (p.isOp(t, "=~") || p.isOp(t, "!~")) {
    const re = p.lx.regex()
    if (re === undefined) p.fail(p.lx.peek(), "regex")
    if (re.type === "illegal") p.fail(re, "regex")
    return { op: t.text as "=~" | "!~", pattern: re.text }
  }
  return p.fail(t, allowIn ? "=, !=, =~, !~, IN" : "=, !=, =~, !~")
}

const opt = <T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } => {
  const out: Record<string, unknown> = {}
  for (const k in o) if (o[k] !== undefined) out[k] = o[k]
  return out as { [K in keyof T]?: Exclude<T[K], undefined> }
}
