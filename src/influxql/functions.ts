/**
 * InfluxDB 1.x's math functions as DuckDB SQL, answering as Go's `math` package does: NaN for a square root or
 * logarithm of a negative number, -Inf for a logarithm of zero, NaN for asin/acos outside [-1, 1] and for the sine
 * of an infinity (DuckDB raises errors for these). The logarithms and the trigonometric functions are Go's own
 * algorithms (FreeBSD's log, Cephes' sin/cos/tan/atan) written out operation by operation, so they round as 1.x
 * does to the last bit; glibc's differ in the last digit for about a third of inputs. exp and pow are DuckDB's (Go's
 * amd64 exp uses FMA instructions SQL cannot reproduce). Integers stay integers through abs, ceil, floor and round.
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
 * `body` over the value of `sql` computed once (a lambda over a one-element list): the algorithms below name their
 * intermediate values several times, and nested calls would otherwise repeat them exponentially.
 */
const let_ = (sql: string, body: (v: string) => string): string => {
  const v = `__m${lambdaDepth++}`
  try {
    return `list_transform([${sql}], ${v} -> ${body(v)})[1]`
  } finally {
    lambdaDepth--
  }
}
const bind = (sql: string, body: (v: string) => string): string => let_(`CAST(${sql} AS DOUBLE)`, body)

/** A float64 constant as a DOUBLE that parses back to the same bits (DuckDB reads number literals as DECIMALs). */
const c = (x: number) => `CAST('${x.toExponential()}' AS DOUBLE)`

// Go's constants, correctly rounded from their exact values.
const PI = c(3.14159265358979323846264338327950288419716939937510582097494459)
const PI_2 = c(1.57079632679489661923132169163975144209858469968755291048747229)
const PI_4 = c(0.785398163397448309615660845819875721049292349843776455243736148)
const FOUR_OVER_PI = c(1.27323954473516268615107010698011489627567716592365)
const SQRT1_2 = c(0.707106781186547524400844362104849039284835937688474036588339869)
const LOG2E = c(1.44269504088896340735992468100189213742664595415298593413544940)
const LOG10E = c(0.434294481903251827651128918916605082294397005803666566114453783)

/** Go's Frexp for a finite x > 0: [f in [0.5, 1), e] with x = f × 2^e, exact (division by a power of two). */
const frexp = (x: string, body: (f: string, e: string) => string) =>
  let_(`CAST(floor(log2(${x})) AS BIGINT) + 1`, (e0) =>
    let_(`CASE WHEN ${x} / pow(2.0, ${e0}) >= 1 THEN ${e0} + 1 WHEN ${x} / pow(2.0, ${e0}) < 0.5 THEN ${e0} - 1 ELSE ${e0} END`, (e) => let_(`${x} / pow(2.0, ${e})`, (f) => body(f, e)))
  )

/** Go's math.Log of a finite x > 0 (FreeBSD's e_log.c, as Go's log.go and log_amd64.s compute it). */
const logPositive = (x: string) =>
  frexp(x, (f1, e) =>
    let_(`CASE WHEN ${f1} < ${SQRT1_2} THEN ${f1} * 2 ELSE ${f1} END - 1`, (f) =>
      let_(`CASE WHEN ${f1} < ${SQRT1_2} THEN ${e} - 1 ELSE ${e} END`, (k) =>
        let_(`${f} / (2 + ${f})`, (s) =>
          let_(`${s} * ${s}`, (s2) =>
            let_(`${s2} * ${s2}`, (s4) =>
              let_(`0.5 * ${f} * ${f}`, (hfsq) => {
                const t1 = `${s2} * (${c(6.66666666666673513e-1)} + ${s4} * (${c(2.857142874366239149e-1)} + ${s4} * (${c(1.818357216161805012e-1)} + ${s4} * ${c(1.479819860511658591e-1)})))`
                const t2 = `${s4} * (${c(3.999999999940941908e-1)} + ${s4} * (${c(2.222219843214978396e-1)} + ${s4} * ${c(1.531383769920937332e-1)}))`
                return `${k} * ${c(6.9314718036912381649e-1)} - ((${hfsq} - (${s} * (${hfsq} + (${t1} + ${t2})) + ${k} * ${c(1.90821492927058770002e-10)})) - ${f})`
              })
            )
          )
        )
      )
    )
  )

/** A logarithm with Go's special cases: NaN and +Inf stay, negative → NaN, zero → -Inf. */
const goLog = (x: string, positive: (x: string) => string) =>
  `CASE WHEN isnan(${x}) OR ${x} = 'Infinity'::DOUBLE THEN ${x} WHEN ${x} < 0 THEN ${NAN} WHEN ${x} = 0 THEN ${NEG_INF} ELSE ${positive(x)} END`
const log2Positive = (x: string) => frexp(x, (f, e) => `CASE WHEN ${f} = 0.5 THEN CAST(${e} - 1 AS DOUBLE) ELSE ${logPositive(f)} * ${LOG2E} + ${e} END`)

/** Go's reduction of x ≥ 0 to z in [-π/4, π/4] and its octant j (0…7), Cody-Waite in three parts. */
const octant = (x: string, body: (j: string, z: string) => string) =>
  let_(`trunc(${x} * ${FOUR_OVER_PI})`, (j0) =>
    let_(`CASE WHEN ${j0} % 2 = 1 THEN ${j0} + 1 ELSE ${j0} END`, (y) =>
      let_(`((${x} - ${y} * ${c(7.85398125648498535156e-1)}) - ${y} * ${c(3.77489470793079817668e-8)}) - ${y} * ${c(2.69515142907905952645e-15)}`, (z) =>
        let_(`CAST(${y} % 8 AS INTEGER)`, (j) => body(j, z))
      )
    )
  )
const sinPoly = (z: string, zz: string) =>
  `${z} + ${z} * ${zz} * ((((((${c(1.5896230157654656806e-10)} * ${zz}) + ${c(-2.50507477628578072866e-8)}) * ${zz} + ${c(2.75573136213857245213e-6)}) * ${zz} + ${c(-1.98412698295895385996e-4)}) * ${zz} + ${c(8.33333333332211858878e-3)}) * ${zz} + ${c(-1.66666666666666307295e-1)})`
const cosPoly = (zz: string) =>
  `1.0 - 0.5 * ${zz} + ${zz} * ${zz} * ((((((${c(-1.135853652138768173e-11)} * ${zz}) + ${c(2.08757008419747316778e-9)}) * ${zz} + ${c(-2.75573141792967388112e-7)}) * ${zz} + ${c(2.48015872888517045348e-5)}) * ${zz} + ${c(-1.38888888888730564116e-3)}) * ${zz} + ${c(4.16666666666665929218e-2)})`

const goSin = (x: string) =>
  `CASE WHEN ${x} = 0 OR isnan(${x}) THEN ${x} WHEN isinf(${x}) THEN ${NAN} ELSE ${octant(`abs(${x})`, (j, z) =>
    let_(`${z} * ${z}`, (zz) => let_(`CASE WHEN ${j} IN (1, 2, 5, 6) THEN ${cosPoly(zz)} ELSE ${sinPoly(z, zz)} END`, (y) => `CASE WHEN (${x} < 0) <> (${j} > 3) THEN -${y} ELSE ${y} END`))
  )} END`
const goCos = (x: string) =>
  `CASE WHEN isnan(${x}) OR isinf(${x}) THEN ${NAN} ELSE ${octant(`abs(${x})`, (j, z) =>
    let_(`${z} * ${z}`, (zz) => let_(`CASE WHEN ${j} IN (1, 2, 5, 6) THEN ${sinPoly(z, zz)} ELSE ${cosPoly(zz)} END`, (y) => `CASE WHEN (${j} > 3) <> (${j} % 4 > 1) THEN -${y} ELSE ${y} END`))
  )} END`
const goTan = (x: string) =>
  `CASE WHEN ${x} = 0 OR isnan(${x}) THEN ${x} WHEN isinf(${x}) THEN ${NAN} ELSE ${octant(`abs(${x})`, (j, z) =>
    let_(`${z} * ${z}`, (zz) =>
      let_(
        `CASE WHEN ${zz} > ${c(1e-14)} THEN ${z} + ${z} * (${zz} * (((${c(-1.30936939181383777646e4)} * ${zz}) + ${c(1.15351664838587416140e6)}) * ${zz} + ${c(-1.79565251976484877988e7)}) / ((((${zz} + ${c(1.36812963470692954678e4)}) * ${zz} + ${c(-1.32089234440210967447e6)}) * ${zz} + ${c(2.50083801823357915839e7)}) * ${zz} + ${c(-5.38695755929454629881e7)})) ELSE ${z} END`,
        (y0) => let_(`CASE WHEN ${j} % 4 >= 2 THEN -1 / ${y0} ELSE ${y0} END`, (y) => `CASE WHEN ${x} < 0 THEN -${y} ELSE ${y} END`)
      )
    )
  )} END`

/** Cephes' atan kernel on [0, 0.66]. */
const xatan = (x: string) =>
  let_(`${x} * ${x}`, (z) =>
    let_(
      `${z} * ((((${c(-8.750608600031904122785e-1)} * ${z} + ${c(-1.615753718733365076637e1)}) * ${z} + ${c(-7.50085579231470466734e1)}) * ${z} + ${c(-1.22886668449013617341e2)}) * ${z} + ${c(-6.485021904942025371773e1)}) / (((((${z} + ${c(2.485846490142306297962e1)}) * ${z} + ${c(1.650270098316988542046e2)}) * ${z} + ${c(4.328810604912902668951e2)}) * ${z} + ${c(4.853903996359136964868e2)}) * ${z} + ${c(1.945506571482613964425e2)})`,
      (z2) => `${x} * ${z2} + ${x}`
    )
  )
const MOREBITS = c(6.12323399573676588613e-17)
/** Go's satan: atan of x ≥ 0, reduced to [0, 0.66]. */
const satan = (x: string) =>
  `CASE WHEN ${x} <= 0.66 THEN ${xatan(x)} WHEN ${x} > ${c(2.4142135623730950488)} THEN ${PI_2} - ${let_(`1 / ${x}`, xatan)} + ${MOREBITS} ELSE ${PI_4} + ${let_(`(${x} - 1) / (${x} + 1)`, xatan)} + 0.5 * ${MOREBITS} END`
const goAtan = (x: string) => `CASE WHEN ${x} = 0 THEN ${x} WHEN ${x} > 0 THEN ${satan(x)} ELSE -${let_(`-${x}`, satan)} END`
const goAsin = (x: string) =>
  `CASE WHEN ${x} = 0 THEN ${x} WHEN abs(${x}) > 1 OR isnan(${x}) THEN ${NAN} ELSE ${let_(`abs(${x})`, (ax) =>
    let_(`sqrt(1 - ${ax} * ${ax})`, (t) => let_(`CASE WHEN ${ax} > 0.7 THEN ${PI_2} - ${let_(`${t} / ${ax}`, satan)} ELSE ${let_(`${ax} / ${t}`, satan)} END`, (r) => `CASE WHEN ${x} < 0 THEN -${r} ELSE ${r} END`))
  )} END`
const goAtan2 = (y: string, x: string) =>
  `CASE WHEN isnan(${y}) OR isnan(${x}) THEN ${NAN} ` +
  `WHEN ${y} = 0 THEN CASE WHEN ${x} >= 0 AND NOT signbit(${x}) THEN ${y} WHEN signbit(${y}) THEN -${PI} ELSE ${PI} END ` +
  `WHEN ${x} = 0 THEN CASE WHEN signbit(${y}) THEN -${PI_2} ELSE ${PI_2} END ` +
  `WHEN isinf(${x}) THEN CASE WHEN ${x} > 0 THEN CASE WHEN isinf(${y}) THEN sign(${y}) * ${PI_4} ELSE sign(${y}) * 0.0 END WHEN isinf(${y}) THEN sign(${y}) * 3 * ${PI_4} ELSE sign(${y}) * ${PI} END ` +
  `WHEN isinf(${y}) THEN sign(${y}) * ${PI_2} ` +
  `ELSE ${let_(`${goAtan(`(${y} / ${x})`)}`, (q) => `CASE WHEN ${x} < 0 THEN CASE WHEN ${q} <= 0 THEN ${q} + ${PI} ELSE ${q} - ${PI} END ELSE ${q} END`)} END`

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
      return float(bind(a.sql, (v) => goLog(v, logPositive)))
    case "log2":
      return float(bind(a.sql, (v) => goLog(v, log2Positive)))
    case "log10":
      // Go: Log(x) * (1/Ln10).
      return float(`(${bind(a.sql, (v) => goLog(v, logPositive))} * ${LOG10E})`)
    case "log":
      return float(`(${bind(a.sql, (v) => goLog(v, logPositive))} / ${bind(b!.sql, (v) => goLog(v, logPositive))})`)
    case "sin":
      return float(bind(a.sql, goSin))
    case "cos":
      return float(bind(a.sql, goCos))
    case "tan":
      return float(bind(a.sql, goTan))
    case "asin":
      return float(bind(a.sql, goAsin))
    case "acos":
      return float(`(${PI_2} - ${bind(a.sql, goAsin)})`)
    case "atan":
      return float(bind(a.sql, goAtan))
    case "atan2":
      return float(bind(a.sql, (y) => bind(b!.sql, (x) => goAtan2(y, x))))
    case "pow":
      return float(`pow(CAST(${a.sql} AS DOUBLE), CAST(${b!.sql} AS DOUBLE))`)
    default:
      throw new Error(`not a math function: ${name}`)
  }
}
