/**
 * Time values of InfluxQL: literal parsing (RFC3339, integers, `now() - 1h`) and RFC3339 rendering as InfluxDB 1.x
 * writes it.
 */

import type { Expr } from "./ast.ts"

/** Parses `2024-01-01T00:00:00Z`, `2024-01-01T00:00:00.5+01:00`, `2024-01-01 00:00:00` and `2024-01-01` to epoch ns. */
export const parseTimeString = (text: string): bigint | undefined => {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?$/.exec(
    text.trim()
  )
  if (m === null) return undefined
  const [, y, mo, d, h = "0", mi = "0", s = "0", frac = "", zone = "Z"] = m
  const ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s))
  if (Number.isNaN(ms)) return undefined
  let ns = BigInt(ms) * 1_000_000n + BigInt(frac.padEnd(9, "0") || "0")
  if (zone !== "Z") {
    const sign = zone[0] === "-" ? -1n : 1n
    const offsetMin = BigInt(Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)))
    ns -= sign * offsetMin * 60_000_000_000n
  }
  return ns
}

/**
 * Evaluates a time expression (`now() - 1h`, a string, an integer of ns, sums of durations); a message when it is not
 * one.
 */
export const evalTime = (expr: Expr, nowNs: bigint): bigint | string => {
  switch (expr._tag) {
    case "paren":
      return evalTime(expr.expr, nowNs)
    case "string": {
      const ns = parseTimeString(expr.value)
      return ns ?? `invalid operation: time and *influxql.StringLiteral are not compatible`
    }
    case "number":
      return expr.integer ? BigInt(expr.raw) : BigInt(Math.trunc(expr.value))
    case "duration":
      return expr.ns
    case "call":
      return expr.name === "now" && expr.args.length === 0 ? nowNs : `invalid time expression: ${expr.name}()`
    case "binary": {
      if (expr.op !== "+" && expr.op !== "-") return "invalid time expression"
      const l = evalTime(expr.left, nowNs)
      const r = evalTime(expr.right, nowNs)
      if (typeof l === "string") return l
      if (typeof r === "string") return r
      return expr.op === "+" ? l + r : l - r
    }
    default:
      return "invalid time expression"
  }
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0")

/** The fraction InfluxDB 1.x writes (Go's RFC3339Nano): trailing zeros trimmed, left out when zero. */
const fraction = (nanos: number) => (nanos === 0 ? "" : "." + String(nanos).padStart(9, "0").replace(/0+$/, ""))

// Making a formatter costs tens of microseconds, using one a few: one per zone (null for an unknown zone).
const zoneFormats = new Map<string, Intl.DateTimeFormat | null>()

const zoneFormat = (zone: string): Intl.DateTimeFormat | null => {
  let format = zoneFormats.get(zone)
  if (format === undefined) {
    try {
      format = new Intl.DateTimeFormat("en-US", { timeZone: zone, timeZoneName: "longOffset" })
    } catch {
      format = null
    }
    // Zone names come from queries: the cache stays small whatever they name.
    if (zoneFormats.size >= 1024) zoneFormats.clear()
    zoneFormats.set(zone, format)
  }
  return format
}

/** Offset of a time zone at an instant, in minutes east of UTC; undefined for an unknown zone. */
export const zoneOffsetMinutes = (zone: string, ms: number): number | undefined => {
  const format = zoneFormat(zone)
  if (format === null) return undefined
  try {
    const parts = format.formatToParts(new Date(ms))
    const name = parts.find((p) => p.type === "timeZoneName")?.value ?? "GMT"
    const m = /GMT([+-])(\d{2}):(\d{2})/.exec(name)
    if (m === null) return 0
    return (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]))
  } catch {
    return undefined
  }
}

const TWO_DIGITS = Array.from({ length: 60 }, (_, i) => pad(i))

// Answers' times run in order, so the date part is usually the previous row's.
let cachedDay = NaN
let cachedDayText = ""

/** `YYYY-MM-DDTHH:MM:SS` of seconds since the epoch (UTC), as Date's UTC fields give it. */
const dateTimeText = (seconds: number): string => {
  const day = Math.floor(seconds / 86_400)
  if (day !== cachedDay) {
    const d = new Date(day * 86_400_000)
    cachedDayText = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T`
    cachedDay = day
  }
  const inDay = seconds - day * 86_400
  const h = Math.floor(inDay / 3600)
  const m = Math.floor((inDay - h * 3600) / 60)
  return cachedDayText + TWO_DIGITS[h] + ":" + TWO_DIGITS[m] + ":" + TWO_DIGITS[inDay - h * 3600 - m * 60]
}

/** Epoch ns as RFC3339 with `Z` (or the zone's offset), fraction as short as possible, as InfluxDB 1.x writes times. */
export const formatRfc3339 = (ns: bigint, zone?: string): string => {
  let seconds = ns / 1_000_000_000n
  let nanos = ns - seconds * 1_000_000_000n
  if (nanos < 0n) {
    seconds -= 1n
    nanos += 1_000_000_000n
  }
  let offset = 0
  if (zone !== undefined && zone !== "UTC") offset = zoneOffsetMinutes(zone, Number(seconds) * 1000) ?? 0
  const base = dateTimeText(Number(seconds) + offset * 60)
  const suffix = offset === 0 ? "Z" : `${offset < 0 ? "-" : "+"}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`
  return base + fraction(Number(nanos)) + suffix
}
