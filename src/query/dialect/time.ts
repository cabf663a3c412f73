/**
 * Timestamps and intervals as InfluxDB 3 (Arrow/DataFusion) reads them, computed here in exact nanoseconds so no
 * precision or offset is lost on the way into DuckDB.
 */

const NS_PER_MS = 1_000_000n
const NS_PER_SECOND = 1_000_000_000n

// Arrow's string-to-timestamp grammar: a date, optionally `T` or space and a time with up to 9 fraction digits,
// optionally `Z` or a numeric offset. Applied to a literal's value, never to SQL text.
const TIMESTAMP_TEXT =
  /^\s*(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?\s*$/

/** Parses an RFC3339-like timestamp (offsets honoured, none means UTC) into epoch nanoseconds. */
export const parseTimestampNs = (text: string): bigint | undefined => {
  const m = TIMESTAMP_TEXT.exec(text)
  if (m === null) return undefined
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((s) => Number(s ?? "0")) as [
    number,
    number,
    number,
    number,
    number,
    number
  ]
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined
  const ms = Date.UTC(year, month - 1, day, hour, minute, second)
  const check = new Date(ms)
  if (check.getUTCDate() !== day || check.getUTCMonth() !== month - 1) return undefined
  const fraction = BigInt((m[7] ?? "").padEnd(9, "0") || "0")
  let offsetMinutes = 0
  if (m[9] !== undefined) {
    const hours = Number(m[10])
    const minutes = Number(m[11] ?? "0")
    if (hours > 23 || minutes > 59) return undefined
    offsetMinutes = (m[9] === "-" ? -1 : 1) * (hours * 60 + minutes)
  }
  return BigInt(ms) * NS_PER_MS + fraction - BigInt(offsetMinutes) * 60n * NS_PER_SECOND
}

const pad = (n: number | bigint, width: number) => String(n).padStart(width, "0")

/** Formats epoch nanoseconds as `YYYY-MM-DD HH:MM:SS.nnnnnnnnn` (UTC), which DuckDB casts to TIMESTAMP_NS exactly. */
export const formatTimestampNs = (ns: bigint): string => {
  let seconds = ns / NS_PER_SECOND
  let fraction = ns % NS_PER_SECOND
  if (fraction < 0n) {
    fraction += NS_PER_SECOND
    seconds -= 1n
  }
  const d = new Date(Number(seconds) * 1000)
  const year = d.getUTCFullYear()
  const date = `${year < 0 ? "-" + pad(-year, 4) : pad(year, 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}`
  return `${date} ${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}.${pad(fraction, 9)}`
}

/** An interval in Arrow's IntervalMonthDayNano parts. */
export interface IntervalParts {
  readonly months: number
  readonly days: number
  readonly nanoseconds: bigint
}

const UNIT_NS: Record<string, bigint> = {
  nanosecond: 1n,
  ns: 1n,
  microsecond: 1000n,
  us: 1000n,
  millisecond: NS_PER_MS,
  ms: NS_PER_MS,
  second: NS_PER_SECOND,
  sec: NS_PER_SECOND,
  s: NS_PER_SECOND,
  minute: 60n * NS_PER_SECOND,
  min: 60n * NS_PER_SECOND,
  m: 60n * NS_PER_SECOND,
  hour: 3600n * NS_PER_SECOND,
  hr: 3600n * NS_PER_SECOND,
  h: 3600n * NS_PER_SECOND
}
const UNIT_DAYS: Record<string, number> = { day: 1, d: 1, week: 7, w: 7 }
const UNIT_MONTHS: Record<string, number> = { month: 1, mon: 1, year: 12, y: 12, decade: 120, century: 1200 }

/** Parses interval text such as `1 hour`, `5 minutes`, `1 day 2 hours`, `90s` into Arrow's parts. */
export const parseInterval = (text: string): IntervalParts | undefined => {
  const tokens = text.trim().toLowerCase().match(/-?\d+(?:\.\d+)?|[a-z]+/g)
  if (tokens === null) return undefined
  let months = 0
  let days = 0
  let nanoseconds = 0n
  for (let i = 0; i < tokens.length; i += 2) {
    const amount = tokens[i]!
    const rawUnit = tokens[i + 1] ?? "second"
    if (!/^-?\d/.test(amount) || /^-?\d/.test(rawUnit)) return undefined
    const unit = rawUnit.length > 3 && rawUnit.endsWith("s") ? rawUnit.slice(0, -1) : rawUnit
    const value = Number(amount)
    if (unit in UNIT_NS) {
      const [whole, frac = ""] = amount.replace("-", "").split(".")
      const scale = UNIT_NS[unit]!
      const ns = BigInt(whole!) * scale + (BigInt(frac.padEnd(18, "0").slice(0, 18)) * scale) / 10n ** 18n
      nanoseconds += amount.startsWith("-") ? -ns : ns
    } else if (unit in UNIT_DAYS && Number.isInteger(value)) days += value * UNIT_DAYS[unit]!
    else if (unit in UNIT_MONTHS && Number.isInteger(value)) months += value * UNIT_MONTHS[unit]!
    else return undefined
  }
  return { months, days, nanoseconds }
}
