// Cron expressions in the `cron` crate's format, as InfluxDB 3 reads `cron:<expr>`: 6 or 7 fields, seconds first
// (sec min hour day-of-month month day-of-week [year]), evaluated in UTC.

/** A parsed cron expression: the allowed values of each field. */
export interface CronSchedule {
  readonly seconds: ReadonlySet<number>
  readonly minutes: ReadonlySet<number>
  readonly hours: ReadonlySet<number>
  readonly daysOfMonth: ReadonlySet<number>
  readonly months: ReadonlySet<number>
  /** 0 = Sunday … 6 = Saturday (7 is read as Sunday too). */
  readonly daysOfWeek: ReadonlySet<number>
  readonly years: ReadonlySet<number> | null
  readonly domRestricted: boolean
  readonly dowRestricted: boolean
}

const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]

interface FieldSpec {
  readonly name: string
  readonly min: number
  readonly max: number
  readonly names?: ReadonlyArray<string>
  /** The value a name at index 0 stands for. */
  readonly nameBase?: number
}

const FIELDS: ReadonlyArray<FieldSpec> = [
  { name: "seconds", min: 0, max: 59 },
  { name: "minutes", min: 0, max: 59 },
  { name: "hours", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: MONTHS, nameBase: 1 },
  { name: "day of week", min: 0, max: 7, names: DAYS, nameBase: 0 },
  { name: "year", min: 1970, max: 2099 }
]

const value = (text: string, spec: FieldSpec): number | string => {
  const upper = text.toUpperCase()
  const named = spec.names?.indexOf(upper) ?? -1
  if (named >= 0) return named + (spec.nameBase ?? 0)
  if (!/^\d+$/.test(text)) return `invalid value '${text}' in the ${spec.name} field`
  const n = Number(text)
  return n < spec.min || n > spec.max ? `value ${n} out of range ${spec.min}-${spec.max} in the ${spec.name} field` : n
}

/** The values one field allows, or what is wrong with it. */
const parseField = (text: string, spec: FieldSpec): Set<number> | string => {
  const out = new Set<number>()
  for (const part of text.split(",")) {
    const [range, stepText, extra] = part.split("/")
    if (extra !== undefined || range === undefined || range === "") return `invalid ${spec.name} field '${text}'`
    let step = 1
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) === 0)
        return `invalid step '${stepText}' in the ${spec.name} field`
      step = Number(stepText)
    }
    let from: number
    let to: number
    if (range === "*" || range === "?") {
      from = spec.min
      to = spec.max
    } else {
      const [a, b, more] = range.split("-")
      if (more !== undefined) return `invalid range '${range}' in the ${spec.name} field`
      const lo = value(a!, spec)
      if (typeof lo === "string") return lo
      from = lo
      if (b !== undefined) {
        const hi = value(b, spec)
        if (typeof hi === "string") return hi
        if (hi < lo) return `invalid range '${range}' in the ${spec.name} field`
        to = hi
      } else {
        to = stepText === undefined ? lo : spec.max
      }
    }
    for (let v = from; v <= to; v += step) out.add(v)
  }
  return out
}

/** Parses a 6- or 7-field cron expression (seconds first), or says what is wrong with it. */
export const parseCron = (expression: string): CronSchedule | string => {
  const fields = expression.trim().split(/\s+/)
  if (fields.length !== 6 && fields.length !== 7) return `expected 6 or 7 fields (seconds first), got ${fields.length}`
  const sets: Array<Set<number>> = []
  for (let i = 0; i < fields.length; i++) {
    const parsed = parseField(fields[i]!, FIELDS[i]!)
    if (typeof parsed === "string") return parsed
    sets.push(parsed)
  }
  const dow = sets[5]!
  if (dow.has(7)) dow.add(0)
  const unrestricted = (f: string) => f === "*" || f === "?"
  return {
    seconds: sets[0]!,
    minutes: sets[1]!,
    hours: sets[2]!,
    daysOfMonth: sets[3]!,
    months: sets[4]!,
    daysOfWeek: dow,
    years: sets[6] ?? null,
    domRestricted: !unrestricted(fields[3]!),
    dowRestricted: !unrestricted(fields[5]!)
  }
}

const dayMatches = (s: CronSchedule, d: Date) => {
  const dom = s.daysOfMonth.has(d.getUTCDate())
  const dow = s.daysOfWeek.has(d.getUTCDay())
  // As Vixie cron: with both fields restricted, either may match.
  if (s.domRestricted && s.dowRestricted) return dom || dow
  return dom && dow
}

/** The first time (ms since the epoch, whole seconds, UTC) after `afterMs` the schedule fires; null if never. */
export const nextCronTime = (s: CronSchedule, afterMs: number): number | null => {
  const d = new Date(Math.floor(afterMs / 1000) * 1000 + 1000)
  const limit = d.getUTCFullYear() + 200
  while (d.getUTCFullYear() <= limit) {
    if (s.years !== null && !s.years.has(d.getUTCFullYear())) {
      d.setUTCFullYear(d.getUTCFullYear() + 1, 0, 1)
      d.setUTCHours(0, 0, 0, 0)
      continue
    }
    if (!s.months.has(d.getUTCMonth() + 1)) {
      d.setUTCMonth(d.getUTCMonth() + 1, 1)
      d.setUTCHours(0, 0, 0, 0)
      continue
    }
    if (!dayMatches(s, d)) {
      d.setUTCDate(d.getUTCDate() + 1)
      d.setUTCHours(0, 0, 0, 0)
      continue
    }
    if (!s.hours.has(d.getUTCHours())) {
      d.setUTCHours(d.getUTCHours() + 1, 0, 0, 0)
      continue
    }
    if (!s.minutes.has(d.getUTCMinutes())) {
      d.setUTCMinutes(d.getUTCMinutes() + 1, 0, 0)
      continue
    }
    if (!s.seconds.has(d.getUTCSeconds())) {
      d.setUTCSeconds(d.getUTCSeconds() + 1, 0)
      continue
    }
    return d.getTime()
  }
  return null
}
