/**
 * InfluxDB 3's time rendering in query results: `YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]`, no `Z`, the
 * fraction left out when zero and otherwise given in 3, 6 or 9 digits as needed.
 */

const NANOS_PER_SECOND = 1_000_000_000n
const SECONDS_PER_DAY = 86_400

let cachedDay = Number.NaN
let cachedDayText = ""

const pad2 = (n: number) => (n < 10 ? "0" + n : String(n))

const dayText = (day: number) => {
  if (day !== cachedDay) {
    const iso = new Date(day * SECONDS_PER_DAY * 1000).toISOString()
    // toISOString writes years beyond 9999 as `+010000`; keep the plain form.
    cachedDayText = iso.slice(0, iso.indexOf("T"))
    cachedDay = day
  }
  return cachedDayText
}

const fraction = (nanos: number) => {
  if (nanos === 0) return ""
  if (nanos % 1_000_000 === 0) return "." + String(nanos / 1_000_000).padStart(3, "0")
  if (nanos % 1_000 === 0) return "." + String(nanos / 1_000).padStart(6, "0")
  return "." + String(nanos).padStart(9, "0")
}

const render = (seconds: number, nanos: number) => {
  const day = Math.floor(seconds / SECONDS_PER_DAY)
  const inDay = seconds - day * SECONDS_PER_DAY
  const h = Math.floor(inDay / 3600)
  const m = Math.floor((inDay % 3600) / 60)
  const s = inDay % 60
  return `${dayText(day)}T${pad2(h)}:${pad2(m)}:${pad2(s)}${fraction(nanos)}`
}

/** Renders nanoseconds since the epoch. */
export const formatTimeNs = (ns: bigint): string => {
  let seconds = ns / NANOS_PER_SECOND
  let nanos = ns - seconds * NANOS_PER_SECOND
  if (nanos < 0n) {
    seconds -= 1n
    nanos += NANOS_PER_SECOND
  }
  return render(Number(seconds), Number(nanos))
}

/** Renders a count of 1/`perSecond` seconds since the epoch (micro- or milliseconds). */
const formatTimeIn = (value: bigint, perSecond: bigint): string => {
  let seconds = value / perSecond
  let rest = value - seconds * perSecond
  if (rest < 0n) {
    seconds -= 1n
    rest += perSecond
  }
  return render(Number(seconds), Number(rest * (NANOS_PER_SECOND / perSecond)))
}

/** Renders microseconds since the epoch. */
export const formatTimeUs = (us: bigint): string => formatTimeIn(us, 1_000_000n)

/** Renders milliseconds since the epoch. */
export const formatTimeMs = (ms: bigint): string => formatTimeIn(ms, 1000n)

/** Renders seconds since the epoch. */
export const formatTimeS = (s: bigint): string => render(Number(s), 0)

/** Renders days since the epoch as a date, `YYYY-MM-DD`. */
export const formatDate = (days: number): string => dayText(days)
