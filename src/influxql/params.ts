import { Either } from "effect"
import { INTEGER, type BoundParams } from "./lexer.ts"

/** The `params` of an InfluxQL query (`$name` values), read as InfluxDB 1.x reads them. */

/**
 * The `params` of a v1 query (a JSON object) as bound values: numbers written without a `.` are integers, others
 * floats, as InfluxDB 1.x decodes them; a message when the JSON is not an object.
 */
export const boundParams = (json: string): Either.Either<BoundParams, string> => {
  let parsed: unknown
  let outOfRange: string | undefined
  try {
    // Whole numbers are marked before JSON.parse turns them into doubles (`1` and `1.0` differ in InfluxQL).
    parsed = JSON.parse(json.replace(/("(?:[^"\\]|\\.)*")|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)/g, (m, str: string | undefined, num: string | undefined) => {
      if (str !== undefined) return str
      if (/^-?\d+$/.test(num!)) {
        if (!fitsInt64(num!)) outOfRange ??= `strconv.ParseInt: parsing "${num}": value out of range`
        return `{${JSON.stringify(INTEGER)}:"${num}"}`
      }
      // JSON.parse would make these ±Infinity; InfluxDB 1.x refuses them.
      if (!Number.isFinite(Number(num))) outOfRange ??= `strconv.ParseFloat: parsing "${num}": value out of range`
      return m
    }))
  } catch (e) {
    return Either.left(`error parsing query parameters: ${(e as Error).message}`)
  }
  if (outOfRange !== undefined) return Either.left(`error parsing json value: ${outOfRange}`)
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    if (parsed === null) return Either.right({})
    const kind = Array.isArray(parsed) ? "array" : typeof parsed === "boolean" ? "bool" : typeof parsed
    return Either.left(`error parsing query parameters: json: cannot unmarshal ${kind} into Go value of type map[string]interface {}`)
  }
  return Either.right(parsed as BoundParams)
}

/** Parameters given as an already parsed JSON object (a POST body's `params`): whole numbers bind as integers. */
export const boundParamsOf = (params: unknown): Either.Either<BoundParams, string> => {
  if (params === undefined || params === null) return Either.right({})
  if (typeof params !== "object" || Array.isArray(params)) return Either.left("invalid value for field `params`: expected a JSON object")
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(params)) {
    // JSON.parse has already made numbers past ±1.8e308 ±Infinity, in the value or in its typed form (`{"number": …}`).
    const typed = typeof v === "object" && v !== null && !Array.isArray(v) ? Object.values(v)[0] : undefined
    if ((typeof v === "number" && !Number.isFinite(v)) || (typeof typed === "number" && !Number.isFinite(typed))) {
      return Either.left(`invalid value for field \`params.${k}\`: number out of range`)
    }
    // Whole numbers past 2^53 (`1e300`) are floats, as serde_json reads them.
    out[k] = typeof v === "number" && Number.isSafeInteger(v) ? { [INTEGER]: String(v) } : v
  }
  return Either.right(out)
}

export const INT64_MAX = 9_223_372_036_854_775_807n

/**
 * Whether a decimal integer's text fits an int64, as Go's `strconv.ParseInt` requires (length first: no huge BigInt).
 */
const fitsInt64 = (digits: string): boolean => {
  const magnitude = digits.startsWith("-") ? digits.slice(1) : digits
  if (magnitude.length !== 19) return magnitude.length < 19
  const n = BigInt(digits)
  return n <= INT64_MAX && n >= -INT64_MAX - 1n
}
