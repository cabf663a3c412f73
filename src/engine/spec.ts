import { type CronSchedule, nextCronTime, parseCron } from "./cron.ts"

/** A trigger specification, parsed. */
export type TriggerSpec =
  | { readonly _tag: "Table"; readonly table: string }
  | { readonly _tag: "AllTables" }
  | { readonly _tag: "Every"; readonly everyMs: number }
  | { readonly _tag: "Cron"; readonly expression: string; readonly schedule: CronSchedule }
  | { readonly _tag: "Request"; readonly path: string }

const FORMS =
  "expect one of the following forms: 'table:<TABLE_NAME>', 'all_tables', 'cron:<CRON_EXPRESSION>', " +
  "'every:<DURATION>', or 'request:<PATH>'"

const SECOND = 1000
// humantime's units: a month is 30.44 days and a year 365.25 days.
const UNITS: Record<string, number> = {
  nsec: 1e-6,
  ns: 1e-6,
  usec: 1e-3,
  us: 1e-3,
  msec: 1,
  millis: 1,
  ms: 1,
  seconds: SECOND,
  second: SECOND,
  sec: SECOND,
  secs: SECOND,
  s: SECOND,
  minutes: 60 * SECOND,
  minute: 60 * SECOND,
  min: 60 * SECOND,
  mins: 60 * SECOND,
  m: 60 * SECOND,
  hours: 3600 * SECOND,
  hour: 3600 * SECOND,
  hr: 3600 * SECOND,
  hrs: 3600 * SECOND,
  h: 3600 * SECOND,
  days: 86_400 * SECOND,
  day: 86_400 * SECOND,
  d: 86_400 * SECOND,
  weeks: 604_800 * SECOND,
  week: 604_800 * SECOND,
  w: 604_800 * SECOND,
  months: 2_630_016 * SECOND,
  month: 2_630_016 * SECOND,
  M: 2_630_016 * SECOND,
  years: 31_557_600 * SECOND,
  year: 31_557_600 * SECOND,
  y: 31_557_600 * SECOND
}
const YEAR_MS = 31_557_600 * SECOND

/** A humantime duration (`10s`, `1h 30m`, `1M`) in milliseconds, or undefined. */
export const parseHumantime = (text: string): number | undefined => {
  let rest = text.trim()
  if (rest === "") return undefined
  let total = 0
  while (rest.length > 0) {
    const m = /^(\d+)\s*([a-zA-Z]+)\s*/.exec(rest)
    if (m === null) return undefined
    const unit = UNITS[m[2]!] ?? UNITS[m[2]!.toLowerCase() === "m" ? "m" : m[2]!.toLowerCase()]
    if (unit === undefined) return undefined
    total += Number(m[1]) * unit
    rest = rest.slice(m[0].length)
  }
  return total
}

/** Parses a trigger specification as InfluxDB 3 does (trimmed, case-sensitive prefixes), or says what is wrong. */
export const parseTriggerSpec = (raw: string): TriggerSpec | string => {
  const spec = raw.trim()
  const bad = (why?: string) => `failed to parse trigger from ${raw}${why === undefined ? "" : ` (${why})`}: ${FORMS}`
  if (spec === "all_tables") return { _tag: "AllTables" }
  if (spec.startsWith("table:")) {
    const table = spec.slice("table:".length).trim()
    return table === "" ? bad("no table name") : { _tag: "Table", table }
  }
  if (spec.startsWith("every:")) {
    const everyMs = parseHumantime(spec.slice("every:".length))
    if (everyMs === undefined) return bad("invalid duration")
    if (everyMs < SECOND) return bad("the duration must be at least 1s")
    if (everyMs > YEAR_MS) return bad("the duration must be at most 1 year")
    return { _tag: "Every", everyMs }
  }
  if (spec.startsWith("cron:")) {
    const expression = spec.slice("cron:".length).trim()
    const schedule = parseCron(expression)
    if (typeof schedule === "string") return bad(`invalid cron expression: ${schedule}`)
    return { _tag: "Cron", expression, schedule }
  }
  if (spec.startsWith("request:")) {
    const path = spec.slice("request:".length).trim()
    if (
      path === "" ||
      !/^[A-Za-z0-9_\-/.]+$/.test(path) ||
      path.split("/").some((s) => s === "" || s === "." || s === "..")
    ) {
      return bad("invalid request path")
    }
    return { _tag: "Request", path }
  }
  return bad()
}

/** Whether the trigger is fed from committed writes. */
export const isWalSpec = (spec: TriggerSpec): spec is Extract<TriggerSpec, { _tag: "Table" | "AllTables" }> =>
  spec._tag === "Table" || spec._tag === "AllTables"

/**
 * The first time after `afterMs` a scheduled trigger fires. `every:` fires on multiples of its duration since the
 * epoch (so restarts keep the rhythm); cron on its expression's times, in UTC.
 */
export const nextFireTime = (spec: Extract<TriggerSpec, { _tag: "Every" | "Cron" }>, afterMs: number): number | null =>
  spec._tag === "Every" ? (Math.floor(afterMs / spec.everyMs) + 1) * spec.everyMs : nextCronTime(spec.schedule, afterMs)
