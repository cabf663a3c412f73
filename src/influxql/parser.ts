import {
  type BinaryOp,
  type Expr,
  type Field,
  type Fill,
  type GroupBy,
  ParseError,
  type SelectStatement,
  type Source,
  type Statement
} from "./ast.ts"
import { BindError, Lexer, parseDuration, type BoundParams, type Token } from "./lexer.ts"
import { INT64_MAX } from "./params.ts"
import { parseShow } from "./showParser.ts"

/**
 * The InfluxQL parser: recursive descent over the lexer's tokens, covering SELECT and the SHOW statements. Failures
 * are values (`ParseError`) worded as InfluxDB 1.x words them.
 */

const KEYWORDS = new Set([
  "ALL", "ALTER", "ANALYZE", "ANY", "AS", "ASC", "BEGIN", "BY", "CARDINALITY", "CREATE", "CONTINUOUS", "DATABASE", "DATABASES", "DEFAULT",
  "DELETE", "DESC", "DESTINATIONS", "DIAGNOSTICS", "DISTINCT", "DROP", "DURATION", "END", "EVERY", "EXACT", "EXPLAIN", "FIELD", "FOR", "FROM",
  "GRANT", "GRANTS", "GROUP", "GROUPS", "IN", "INF", "INSERT", "INTO", "KEY", "KEYS", "KILL", "LIMIT", "MEASUREMENT", "MEASUREMENTS", "NAME",
  "OFFSET", "ON", "ORDER", "PASSWORD", "POLICIES", "POLICY", "PRIVILEGES", "QUERIES", "QUERY", "READ", "REPLICATION", "RESAMPLE", "RETENTION",
  "REVOKE", "SELECT", "SERIES", "SET", "SHARD", "SHARDS", "SLIMIT", "SOFFSET", "STATS", "SUBSCRIPTION", "SUBSCRIPTIONS", "TAG", "TO", "USER",
  "USERS", "VALUES", "WHERE", "WITH", "WRITE", "AND", "OR", "TRUE", "FALSE"
])

const PRECEDENCE: Record<string, number> = {
  OR: 1,
  AND: 2,
  "=": 3,
  "!=": 3,
  "=~": 3,
  "!~": 3,
  "<": 3,
  "<=": 3,
  ">": 3,
  ">=": 3,
  "+": 4,
  "-": 4,
  "|": 4,
  "^": 4,
  "*": 5,
  "/": 5,
  "%": 5,
  "&": 5
}

class Failure {
  constructor(readonly message: string) {}
}

/**
 * The deepest expression tree a statement may hold, counting operators, parentheses and calls (a chain of 1,500
 * `OR`s is 1,500 deep). The parser and planner walk trees recursively, and DuckDB refuses SQL nested deeper anyway.
 */
export const MAX_EXPRESSION_DEPTH = 1000

/** The most subqueries nested in one another (`FROM (SELECT … FROM (SELECT …))`). */
export const MAX_SUBQUERY_DEPTH = 100

const describe = (t: Token): string => {
  switch (t.type) {
    case "eof":
      return "EOF"
    case "string":
      return `'${t.text}'`
    case "ident":
      return t.quoted ? `"${t.text}"` : t.text
    case "regex":
      return `/${t.text}/`
    default:
      return t.text
  }
}

/** The SELECT grammar and the token helpers the SHOW grammar (`showParser.ts`) reads with too. */
export class Parser {
  readonly lx: Lexer
  /** `expr` calls on the stack: bounded before the recursion can overflow it. */
  private nesting = 0
  private subqueries = 0
  /** The depth of each composite expression built so far (leaves are 1). */
  private readonly depths = new WeakMap<Expr, number>()
  constructor(input: string, params: BoundParams) {
    this.lx = new Lexer(input, params)
  }

  /** Fails with 1.x's wording of a literal it cannot hold, at the literal. */
  unusable(t: Token, message: string): never {
    const at = this.lx.where(t.pos)
    throw new Failure(`${message} at line ${at.line}, char ${at.char}`)
  }

  /** A number token's value: a float past ±1.8e308 or an integer past uint64 is refused, as 1.x refuses them. */
  numberValue(t: Token): number {
    const v = Number(t.text)
    if (t.type === "number" && !Number.isFinite(v)) this.unusable(t, "unable to parse number")
    if (t.type === "integer" && !fitsUint64(t.text)) this.unusable(t, "unable to parse integer")
    return v
  }

  /** A duration token's nanoseconds: past int64 it is refused, as 1.x refuses it. */
  durationValue(t: Token): bigint {
    const ns = parseDuration(t.text)
    if (ns === undefined) this.fail(t, "duration")
    if (ns > INT64_MAX) this.unusable(t, "invalid duration")
    return ns
  }

  tooDeep(what: string, limit: number): never {
    const at = this.lx.where(this.lx.peek().pos)
    throw new Failure(`${what} nested too deeply: more than ${limit} levels at line ${at.line}, char ${at.char}`)
  }

  /** A composite expression, its depth recorded and checked against MAX_EXPRESSION_DEPTH. */
  node<E extends Expr>(e: E, children: ReadonlyArray<Expr>): E {
    let depth = 1
    for (const c of children) depth = Math.max(depth, (this.depths.get(c) ?? 1) + 1)
    if (depth > MAX_EXPRESSION_DEPTH) this.tooDeep("expression", MAX_EXPRESSION_DEPTH)
    this.depths.set(e, depth)
    return e
  }

  fail(t: Token, expected: string): never {
    if (t.type === "illegal") {
      const at = this.lx.where(t.pos)
      throw new Failure(`${t.text.length > 1 ? t.text : `found ${t.text}, expected ${expected}`} at line ${at.line}, char ${at.char}`)
    }
    const at = this.lx.where(t.pos)
    // InfluxDB 1.x reports EOF one character past the end.
    if (t.type === "eof") at.char++
    throw new Failure(`found ${describe(t)}, expected ${expected} at line ${at.line}, char ${at.char}`)
  }

  isKeyword(t: Token, kw: string) {
    return t.type === "ident" && !t.quoted && t.text.toUpperCase() === kw
  }

  acceptKeyword(kw: string): boolean {
    if (!this.isKeyword(this.lx.peek(), kw)) return false
    this.lx.next()
    return true
  }

  expectKeyword(kw: string) {
    const t = this.lx.next()
    if (!this.isKeyword(t, kw)) this.fail(t, kw)
  }

  isOp(t: Token, op: string) {
    return t.type === "op" && t.text === op
  }

  acceptOp(op: string): boolean {
    if (!this.isOp(this.lx.peek(), op)) return false
    this.lx.next()
    return true
  }

  expectOp(op: string) {
    const t = this.lx.next()
    if (!this.isOp(t, op)) this.fail(t, op)
  }

  ident(): string {
    const t = this.lx.next()
    if (t.type !== "ident" || (!t.quoted && KEYWORDS.has(t.text.toUpperCase()))) this.fail(t, "identifier")
    return t.text
  }

  identOrString(): string {
    const t = this.lx.next()
    if (t.type === "string") return t.text
    if (t.type !== "ident" || (!t.quoted && KEYWORDS.has(t.text.toUpperCase()))) this.fail(t, "identifier, string")
    return t.text
  }

  integer(what: string): number {
    const t = this.lx.next()
    if (t.type !== "integer") this.fail(t, "integer")
    const n = Number(t.text)
    if (!Number.isSafeInteger(n)) this.fail(t, what)
    return n
  }

  statements(): Array<Statement> {
    const out: Array<Statement> = []
    for (;;) {
      while (this.acceptOp(";")) {
        // empty statements are skipped
      }
      if (this.lx.peek().type === "eof") break
      out.push(this.statement())
      const t = this.lx.peek()
      if (t.type === "eof") break
      if (!this.isOp(t, ";")) this.fail(t, ";")
    }
    return out
  }

  statement(): Statement {
    const t = this.lx.next()
    if (this.isKeyword(t, "SELECT")) return this.select()
    if (this.isKeyword(t, "SHOW")) return parseShow(this)
    return this.fail(t, "SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, ALTER, SET, KILL")
  }

  // ---------------------------------------------------------------------------------------------------------------
  // SELECT

  select(): SelectStatement {
    const fields = this.fields()
    if (this.isKeyword(this.lx.peek(), "INTO")) this.fail(this.lx.peek(), "FROM")
    this.expectKeyword("FROM")
    const sources = this.sources()
    const where = this.acceptKeyword("WHERE") ? this.expr() : undefined
    let groupBy: GroupBy = { tags: [], allTags: false, tagRegexes: [] }
    if (this.acceptKeyword("GROUP")) {
      this.expectKeyword("BY")
      groupBy = this.groupBy()
    }
    let fill: Fill = { _tag: "null" }
    if (this.isFill(this.lx.peek())) fill = this.fill()
    let descending = false
    if (this.acceptKeyword("ORDER")) {
      this.expectKeyword("BY")
      const t = this.lx.next()
      if (t.type !== "ident" || t.text.toLowerCase() !== "time") {
        const at = this.lx.where(t.pos)
        throw new Failure(`only ORDER BY time supported at this time at line ${at.line}, char ${at.char}`)
      }
      if (this.acceptKeyword("DESC")) descending = true
      else this.acceptKeyword("ASC")
    }
    const limit = this.acceptKeyword("LIMIT") ? this.integer("integer") : undefined
    const offset = this.acceptKeyword("OFFSET") ? this.integer("integer") : undefined
    const slimit = this.acceptKeyword("SLIMIT") ? this.integer("integer") : undefined
    const soffset = this.acceptKeyword("SOFFSET") ? this.integer("integer") : undefined
    let tz: string | undefined
    const t = this.lx.peek()
    if (t.type === "ident" && !t.quoted && t.text.toLowerCase() === "tz") {
      this.lx.next()
      this.expectOp("(")
      const s = this.lx.next()
      if (s.type !== "string") this.fail(s, "string")
      tz = s.text
      this.expectOp(")")
    }
    return {
      _tag: "select",
      fields,
      sources,
      groupBy,
      fill,
      descending,
      ...(where === undefined ? {} : { where }),
      ...(limit === undefined ? {} : { limit }),
      ...(offset === undefined ? {} : { offset }),
      ...(slimit === undefined ? {} : { slimit }),
      ...(soffset === undefined ? {} : { soffset }),
      ...(tz === undefined ? {} : { tz })
    }
  }

  fields(): Array<Field> {
    const out: Array<Field> = []
    do {
      // A regex field stands for every field and tag whose name matches it (`SELECT /usage_.*/ FROM cpu`).
      const re = this.isOp(this.lx.peek(), "/") ? this.lx.regex() : undefined
      if (re !== undefined && re.type === "illegal") this.fail(re, "regex")
      const expr: Expr = re !== undefined ? { _tag: "regex", pattern: re.text } : this.expr()
      let alias: string | undefined
      if (this.acceptKeyword("AS")) alias = this.ident()
      out.push(alias === undefined ? { expr } : { expr, alias })
    } while (this.acceptOp(","))
    return out
  }

  sources(): Array<Source> {
    const out: Array<Source> = []
    do out.push(this.source())
    while (this.acceptOp(","))
    return out
  }

  source(): Source {
    const re = this.lx.regex()
    if (re !== undefined) {
      if (re.type === "illegal") this.fail(re, "regex")
      return { regex: re.text }
    }
    const first = this.lx.peek()
    if (this.isOp(first, "(")) {
      this.lx.next()
      this.expectKeyword("SELECT")
      if (++this.subqueries > MAX_SUBQUERY_DEPTH) this.tooDeep("subqueries", MAX_SUBQUERY_DEPTH)
      const subquery = this.select()
      this.subqueries--
      this.expectOp(")")
      return { subquery }
    }
    // [db.[rp].]measurement, where the measurement may be a regex.
    const parts: Array<string> = [this.ident()]
    while (this.acceptOp(".")) {
      if (this.isOp(this.lx.peek(), ".")) {
        parts.push("")
        continue
      }
      const r = this.lx.regex()
      if (r !== undefined) {
        if (r.type === "illegal") this.fail(r, "regex")
        parts.push(`/${r.text}/`)
        break
      }
      parts.push(this.ident())
    }
    if (parts.length > 3) this.fail(this.lx.peek(), "measurement")
    const name = parts[parts.length - 1]!
    const measurement: Source = name.startsWith("/") && name.endsWith("/") && name.length >= 2 && parts.length > 1 ? { regex: name.slice(1, -1) } : { name }
    if (parts.length === 3) return { ...measurement, db: parts[0]!, ...(parts[1] === "" ? {} : { rp: parts[1]! }) }
    if (parts.length === 2) return { ...measurement, rp: parts[0]! }
    return measurement
  }

  groupBy(): GroupBy {
    let time: GroupBy["time"]
    const tags: Array<string> = []
    const tagRegexes: Array<string> = []
    let allTags = false
    do {
      if (this.acceptOp("*")) {
        allTags = true
        continue
      }
      const re = this.lx.regex()
      if (re !== undefined) {
        if (re.type === "illegal") this.fail(re, "regex")
        tagRegexes.push(re.text)
        continue
      }
      const t = this.lx.peek()
      if (t.type === "ident" && !t.quoted && t.text.toLowerCase() === "time") {
        this.lx.next()
        if (!this.isOp(this.lx.peek(), "(")) {
          tags.push("time")
          continue
        }
        this.lx.next()
        const interval = this.durationArg()
        let offsetNs = 0n
        if (this.acceptOp(",")) {
          const negative = this.acceptOp("-")
          const o = this.durationArg()
          offsetNs = negative ? -o : o
        }
        this.expectOp(")")
        if (interval <= 0n) throw new Failure("time dimension must have positive interval")
        if (time !== undefined) throw new Failure("multiple time dimensions not allowed")
        time = { intervalNs: interval, offsetNs }
        continue
      }
      if (this.isKeyword(t, "NAME")) {
        this.lx.next()
        throw new Failure("invalid InfluxQL statement: GROUP BY name")
      }
      tags.push(this.ident())
    } while (this.acceptOp(","))
    return { tags, allTags, tagRegexes, ...(time === undefined ? {} : { time }) }
  }

  durationArg(): bigint {
    const t = this.lx.next()
    if (t.type !== "duration") this.fail(t, "duration")
    return this.durationValue(t)
  }

  isFill(t: Token) {
    return t.type === "ident" && !t.quoted && t.text.toLowerCase() === "fill"
  }

  fill(): Fill {
    this.lx.next()
    this.expectOp("(")
    const negative = this.acceptOp("-")
    const t = this.lx.next()
    let fill: Fill
    if (t.type === "integer" || t.type === "number") {
      const v = this.numberValue(t)
      fill = { _tag: "value", value: negative ? -v : v, integer: t.type === "integer" }
    } else if (t.type === "ident" && !negative) {
      const word = t.text.toLowerCase()
      if (word === "null") fill = { _tag: "null" }
      else if (word === "none") fill = { _tag: "none" }
      else if (word === "previous") fill = { _tag: "previous" }
      else if (word === "linear") fill = { _tag: "linear" }
      else {
        const at = this.lx.where(t.pos)
        throw new Failure(`fill must be a function call at line ${at.line}, char ${at.char}`)
      }
    } else return this.fail(t, "null, none, previous, linear, number")
    this.expectOp(")")
    return fill
  }

  // ---------------------------------------------------------------------------------------------------------------
  // Expressions

  expr(minPrecedence = 1): Expr {
    if (++this.nesting > MAX_EXPRESSION_DEPTH) this.tooDeep("expression", MAX_EXPRESSION_DEPTH)
    const e = this.operators(minPrecedence)
    this.nesting--
    return e
  }

  /** Precedence climbing: operators binding at least `minPrecedence`, left to right. */
  operators(minPrecedence: number): Expr {
    let left = this.unary()
    for (;;) {
      const t = this.lx.peek()
      const op = t.type === "op" ? t.text : t.type === "ident" && !t.quoted ? t.text.toUpperCase() : ""
      const p = PRECEDENCE[op]
      if (p === undefined || p < minPrecedence || (t.type === "ident" && op !== "AND" && op !== "OR")) return left
      this.lx.next()
      if (op === "=~" || op === "!~") {
        const re = this.lx.regex()
        if (re === undefined) this.fail(this.lx.peek(), "regex")
        if (re.type === "illegal") this.fail(re, "regex")
        left = this.node({ _tag: "binary", op: op as BinaryOp, left, right: { _tag: "regex", pattern: re.text } }, [left])
        continue
      }
      const right = this.expr(p + 1)
      left = this.node({ _tag: "binary", op: op as BinaryOp, left, right }, [left, right])
    }
  }

  unary(): Expr {
    if (this.isOp(this.lx.peek(), "-") || this.isOp(this.lx.peek(), "+")) {
      const sign = this.lx.next().text
      const t = this.lx.peek()
      if (t.type === "integer" || t.type === "number") {
        this.lx.next()
        const v = this.numberValue(t)
        return { _tag: "number", value: sign === "-" ? -v : v, integer: t.type === "integer", raw: (sign === "-" ? "-" : "") + t.text }
      }
      if (t.type === "duration") {
        this.lx.next()
        const ns = this.durationValue(t)
        return { _tag: "duration", ns: sign === "-" ? -ns : ns, raw: t.text }
      }
      const inner = this.primary()
      return sign === "-" ? this.node({ _tag: "binary", op: "*", left: { _tag: "number", value: -1, integer: true, raw: "-1" }, right: inner }, [inner]) : inner
    }
    return this.primary()
  }

  primary(): Expr {
    const t = this.lx.next()
    switch (t.type) {
      case "integer":
      case "number":
        return { _tag: "number", value: this.numberValue(t), integer: t.type === "integer", raw: t.text }
      case "string":
        return { _tag: "string", value: t.text }
      case "duration":
        return { _tag: "duration", ns: this.durationValue(t), raw: t.text }
      case "op":
        if (t.text === "(") {
          const inner = this.expr()
          this.expectOp(")")
          return this.node({ _tag: "paren", expr: inner }, [inner])
        }
        if (t.text === "*") return this.wildcardCast()
        if (t.text === "/") {
          // A regex where an expression starts: only meaningful as a function argument (e.g. mean(/re/)).
          return this.fail(t, "identifier, string, number, bool")
        }
        return this.fail(t, "identifier, string, number, bool")
      case "ident": {
        const upper = t.text.toUpperCase()
        if (!t.quoted && (upper === "TRUE" || upper === "FALSE")) return { _tag: "bool", value: upper === "TRUE" }
        if (!t.quoted && this.isOp(this.lx.peek(), "(") && (upper === "DISTINCT" || !KEYWORDS.has(upper))) return this.call(t.text)
        if (!t.quoted && KEYWORDS.has(upper)) this.fail(t, "identifier, string, number, bool")
        let name = t.text
        // `"m"."field"` style references keep the last part.
        while (this.isOp(this.lx.peek(), ".")) {
          this.lx.next()
          name = this.ident()
        }
        if (this.acceptOp("::")) {
          const cast = this.ident().toLowerCase()
          if (!["float", "integer", "unsigned", "string", "boolean", "field", "tag"].includes(cast)) this.fail(this.lx.peek(), "float, integer, unsigned, string, boolean, field, tag")
          return { _tag: "ref", name, cast }
        }
        return { _tag: "ref", name }
      }
      default:
        return this.fail(t, "identifier, string, number, bool")
    }
  }

  wildcardCast(): Expr {
    if (this.acceptOp("::")) {
      const t = this.lx.next()
      const kind = t.type === "ident" ? t.text.toLowerCase() : ""
      if (kind !== "field" && kind !== "tag") this.fail(t, "field, tag")
      return { _tag: "wildcard", only: kind }
    }
    return { _tag: "wildcard" }
  }

  call(name: string): Expr {
    this.expectOp("(")
    const args: Array<Expr> = []
    if (!this.acceptOp(")")) {
      do {
        const re = this.isOp(this.lx.peek(), "/") ? this.lx.regex() : undefined
        if (re !== undefined) {
          if (re.type === "illegal") this.fail(re, "regex")
          args.push({ _tag: "regex", pattern: re.text })
          continue
        }
        if (this.isOp(this.lx.peek(), "*")) {
          this.lx.next()
          args.push(this.wildcardCast())
          continue
        }
        // distinct(x) may also be written `count(DISTINCT x)`.
        if (this.isKeyword(this.lx.peek(), "DISTINCT")) {
          this.lx.next()
          const arg = this.expr()
          args.push(this.node({ _tag: "call", name: "distinct", args: [arg] }, [arg]))
          continue
        }
        args.push(this.expr())
      } while (this.acceptOp(","))
      this.expectOp(")")
    }
    return this.node({ _tag: "call", name: name.toLowerCase(), args }, args)
  }
}

export type { BoundParams } from "./lexer.ts"
export { boundParams, boundParamsOf } from "./params.ts"

const UINT64_MAX = 18_446_744_073_709_551_615n

/** Whether an integer literal's digits fit a uint64, as Go's `strconv.ParseUint` requires (1.x's widest integer). */
const fitsUint64 = (text: string): boolean => {
  const digits = text.startsWith("-") ? text.slice(1) : text
  return digits.length < 20 || (digits.length === 20 && BigInt(digits) <= UINT64_MAX)
}

/** Parses one or more `;`-separated InfluxQL statements, with `$name` parameters bound from `params`. */
export const parseInfluxQl = (text: string, params: BoundParams = {}): ReadonlyArray<Statement> | ParseError => {
  try {
    return new Parser(text, params).statements()
  } catch (e) {
    if (e instanceof Failure || e instanceof BindError) return new ParseError({ message: e.message })
    throw e
  }
}

/** Whether a parse answered with an error. */
export const isParseError = (v: ReadonlyArray<Statement> | ParseError): v is ParseError => !Array.isArray(v)
