/**
 * InfluxDB 1.x's math functions as DuckDB SQL, with Go's `math` answers where DuckDB's differ: NaN for a square root
 * or logarithm of a negative number, ±Inf for a logarithm of zero, NaN for asin/acos outside [-1, 1] and for the
 * sine of an infinity (DuckDB raises errors for these). Integers stay integers through abs, ceil, floor and round.
 */

/** How a value is typed in the planner's SQL: 1.x's integer and float, or anything else (strings, booleans, null). */
export type ValueKind = "int" | "float" | "other"

/** A SQL expression and the kind of value it answers. */
export interface Built {
  readonly sql: string
  readonly kind: ValueKind
}

/** The math functions and how many arguments each takes (1.x's `compileMathFunction`). */
export const MATH_ARITY: ReadonlyMap<string, number> = new Map([
  ...["abs", "ceil", "floor", "round", "sqrt", "exp", "ln", "log2", "log10", "sin", "cos", "tan", "asin", "acos", "atan"].map((n) => [n, 1] as const),
  ...["atan2", "pow", "log"].map((n) => [n, 2] as const)
])

export const isMath = (name: string) => MATH_ARITY.has(name)

const NAN = `'NaN'::DOUBLE`
const NEG_INF = `'-Infinity'::DOUBLE`

let lambdaDepth = 0
/**
 * `body` over the value of `sql` computed once (a lambda over a one-element list): the guards below name their
 * argument several times, and nested calls would otherwise repeat it exponentially.
 */
const bind = (sql: string, body: (v: string) => string): string => {
  const v = `__m${lambdaDepth++}`
  try {
    return `list_transform([CAST(${sql} AS DOUBLE)], ${v} -> ${body(v)})[1]`
  } finally {
    lambdaDepth--
  }
}

const logOf = (v: string, fn: string) => `CASE WHEN ${v} < 0 THEN ${NAN} WHEN ${v} = 0 THEN ${NEG_INF} ELSE ${fn}(${v}) END`

/** The SQL of a math call over its (already built) arguments. */
export const mathSql = (name: string, args: ReadonlyArray<Built>): Built => {
  const [a, b] = args as [Built, Built | undefined]
  // A string, boolean or missing argument answers null, as 1.x's valuer does.
  if (a.kind === "other" || (b !== undefined && b.kind === "other")) return { sql: "CAST(NULL AS DOUBLE)", kind: name === "abs" || name === "ceil" || name === "floor" || name === "round" ? "other" : "float" }
  const float = (sql: string): Built => ({ sql, kind: "float" })
  switch (name) {
    case "abs":
      return { sql: `abs(${a.sql})`, kind: a.kind }
    case "ceil":
    case "floor":
    case "round":
      return a.kind === "int" ? a : float(`${name}(CAST(${a.sql} AS DOUBLE))`)
    case "sqrt":
      return float(bind(a.sql, (v) => `CASE WHEN ${v} < 0 THEN ${NAN} ELSE sqrt(${v}) END`))
    case "exp":
      return float(`exp(CAST(${a.sql} AS DOUBLE))`)
    case "ln":
    case "log2":
    case "log10":
      return float(bind(a.sql, (v) => logOf(v, name)))
    case "log":
      return float(`(${bind(a.sql, (v) => logOf(v, "ln"))} / ${bind(b!.sql, (v) => logOf(v, "ln"))})`)
    case "sin":
    case "cos":
    case "tan":
      return float(bind(a.sql, (v) => `CASE WHEN isinf(${v}) THEN ${NAN} ELSE ${name}(${v}) END`))
    case "asin":
    case "acos":
      return float(bind(a.sql, (v) => `CASE WHEN ${v} < -1 OR ${v} > 1 THEN ${NAN} ELSE ${name}(${v}) END`))
    case "atan":
      return float(`atan(CAST(${a.sql} AS DOUBLE))`)
    case "atan2":
      return float(`atan2(CAST(${a.sql} AS DOUBLE), CAST(${b!.sql} AS DOUBLE))`)
    case "pow":
      return float(`pow(CAST(${a.sql} AS DOUBLE), CAST(${b!.sql} AS DOUBLE))`)
    default:
      throw new Error(`not a math function: ${name}`)
  }
}
