import { asciiInto, utf8Bytes } from "./byteSink.ts"
import { formatDate } from "./time.ts"

/**
 * Numbers and times written as bytes, exactly as encode.ts's per-cell encoder writes their text: no strings, no
 * Date objects, no BigInt. Each writer takes the buffer and a position with room made and returns the position
 * after what it wrote.
 */

/** "00" to "99": two digits per step. */
const PAIRS = (() => {
  const pairs = new Uint8Array(200)
  for (let i = 0; i < 100; i++) {
    pairs[2 * i] = 48 + Math.floor(i / 10)
    pairs[2 * i + 1] = 48 + (i % 10)
  }
  return pairs
})()

/** 1 for the two-digit numbers 10, 20, ..., 90 (a pair whose last digit can go), else 0. */
const ENDS_IN_ZERO = (() => {
  const ends = new Uint8Array(100)
  for (let i = 10; i < 100; i += 10) ends[i] = 1
  return ends
})()

/** Decimal digits of a whole number 0 <= v < 2^53. */
const digitCount = (v: number) => {
  if (v < 100_000) return v < 10 ? 1 : v < 100 ? 2 : v < 1000 ? 3 : v < 10_000 ? 4 : 5
  if (v < 10_000_000_000) return v < 1_000_000 ? 6 : v < 10_000_000 ? 7 : v < 100_000_000 ? 8 : v < 1e9 ? 9 : 10
  let digits = 11
  for (let t = 1e11; t <= v; t *= 10) digits++
  return digits
}

/** The digits of a whole number 0 <= v < 2^53, ending just before `end`. */
const digitsBefore = (buf: Uint8Array, end: number, v: number) => {
  let q = end
  // Beyond 2^31, steps in double arithmetic (exact: whole numbers below 2^53) until small integers take over.
  while (v >= 2147483648) {
    const next = Math.floor(v / 100)
    const pair = (v - next * 100) * 2
    buf[--q] = PAIRS[pair + 1]!
    buf[--q] = PAIRS[pair]!
    v = next
  }
  let i = v | 0
  while (i >= 100) {
    const next = (i / 100) | 0
    const pair = (i - next * 100) << 1
    buf[--q] = PAIRS[pair + 1]!
    buf[--q] = PAIRS[pair]!
    i = next
  }
  if (i >= 10) {
    buf[--q] = PAIRS[(i << 1) + 1]!
    buf[--q] = PAIRS[i << 1]!
  } else buf[--q] = 48 + i
}

/** A whole number of magnitude below 2^53 in decimal (at most 17 bytes). */
export const integerInto = (buf: Uint8Array, p: number, v: number): number => {
  if (v < 0) {
    buf[p++] = 45
    v = -v
  }
  const end = p + digitCount(v)
  digitsBefore(buf, end, v)
  return end
}

/** 0 <= n < 10^width in exactly `width` digits, zeros first (width at most 9). */
const paddedInto = (buf: Uint8Array, p: number, n: number, width: number): number => {
  let i = n | 0
  for (let q = p + width - 1; q >= p; q--) {
    const next = (i / 10) | 0
    buf[q] = 48 + i - next * 10
    i = next
  }
  return p + width
}

/**
 * A finite float as arrow-rs writes it (whole numbers keep `.0`): the text of encode.ts's formatFloat, at most 24
 * bytes. Below 2^30, when m = round(v * 10^6) gives v back, m / 10^6 === v means the decimal round-trips (division is
 * correctly rounded, so that is parsing it), and below 2^30 two six-decimal numbers are further apart than a
 * double's spacing, so m's digits without trailing zeros are the unique shortest decimal: JavaScript's own digits.
 * (Fewer decimals k round-trip exactly when 10^(6-k) divides m: below 2^30, v * 10^6 is within 0.2 of the decimal's
 * exact value.) Those are written from m; others through otherFloatInto.
 */
export const finiteFloatInto = (buf: Uint8Array, p: number, v: number): number => {
  const m = Math.round(v * 1000000)
  return v < 1073741824 && v > -1073741824 && m / 1000000 === v ? sixDecimalsInto(buf, p, m) : otherFloatInto(buf, p, v)
}

/**
 * m / 10^6 written as whole part, point, and the six decimals as pairs; the end is after the last pair that is not
 * 00, less its last digit if that is 0 (a whole number keeps `.0`).
 */
const sixDecimalsInto = (buf: Uint8Array, p: number, m: number): number => {
  let a = m
  if (a < 0) {
    buf[p++] = 45
    a = -a
  }
  const whole = (a / 1000000) | 0
  const fraction = a - whole * 1000000
  if (whole < 10) buf[p++] = 48 + whole
  else if (whole < 100) {
    buf[p] = PAIRS[whole << 1]!
    buf[p + 1] = PAIRS[(whole << 1) + 1]!
    p += 2
  } else p = integerInto(buf, p, whole)
  buf[p] = 46
  const high = (fraction / 10000) | 0
  const rest = fraction - high * 10000
  const middle = (rest / 100) | 0
  const low = (rest - middle * 100) << 1
  buf[p + 1] = PAIRS[high << 1]!
  buf[p + 2] = PAIRS[(high << 1) + 1]!
  buf[p + 3] = PAIRS[middle << 1]!
  buf[p + 4] = PAIRS[(middle << 1) + 1]!
  buf[p + 5] = PAIRS[low]!
  buf[p + 6] = PAIRS[low + 1]!
  if (low !== 0) return p + 7 - ENDS_IN_ZERO[low >> 1]!
  if (middle !== 0) return p + 5 - ENDS_IN_ZERO[middle]!
  return high !== 0 ? p + 3 - ENDS_IN_ZERO[high]! : p + 2
}

/** A finite float finiteFloatInto's six-decimal path leaves: above 2^30 or with more decimals. */
const otherFloatInto = (buf: Uint8Array, p: number, v: number): number => {
  if (Number.isInteger(v) && Math.abs(v) < 1e16) {
    p = integerInto(buf, p, v)
    buf[p] = 46
    buf[p + 1] = 48
    return p + 2
  }
  return asciiInto(buf, p, String(v))
}

// ---------------------------------------------------------------------------------------------------------------
// Times

/** Seconds of 0000-01-01T00:00:00 and of 10000-01-01: between them a time renders in 19 bytes to the second. */
export const MIN_SECONDS = -62_167_219_200
export const END_SECONDS = 253_402_300_800

let cachedDay = Number.NaN
let cachedDayBytes: Uint8Array = new Uint8Array(0)

/** `YYYY-MM-DD` of a day since the epoch (years 0000 to 9999). */
export const dayBytes = (day: number): Uint8Array => {
  if (day !== cachedDay) {
    cachedDayBytes = utf8Bytes(formatDate(day))
    cachedDay = day
  }
  return cachedDayBytes
}

// Rows in a result often share their second (one per series at each time), or at least their day: the rendered
// `YYYY-MM-DDTHH:MM:SS` is kept as five little-endian words (the last holding 3 bytes and a zero).
/** The last second rendered, as those words; the row loops write them (rowCode.ts). */
export const SECOND = {
  value: Number.NaN,
  // The first second of the day whose `YYYY-MM-DD` the first words hold.
  dayStart: Number.NaN,
  // The third word's `DD` (the day of month), the rest of it filled per second.
  dayOfMonth: 0,
  w0: 0,
  w1: 0,
  w2: 0,
  w3: 0,
  w4: 0
}
const cachedDayView = new DataView(new ArrayBuffer(12))

/** "00" to "99" as little-endian 16-bit words (two ASCII digits). */
const PAIR_WORDS = (() => {
  const words = new Int32Array(100)
  for (let i = 0; i < 100; i++) words[i] = PAIRS[2 * i]! | (PAIRS[2 * i + 1]! << 8)
  return words
})()

// `T`, `:` and `:` in their places in the third, fourth and fifth words.
const T_AT_2 = 84 << 16
const COLON_AT_1 = 58 << 8
const COLON_AT_0 = 58

/** The words of `YYYY-MM-DDTHH:MM:SS` into SECOND, computed from the cached day and the time of day. */
export const renderSecond = (seconds: number): void => {
  const c = SECOND
  let inDay = seconds - c.dayStart
  if (!(inDay >= 0 && inDay < 86_400)) {
    const day = Math.floor(seconds / 86_400)
    const bytes = dayBytes(day)
    for (let i = 0; i < 10; i++) cachedDayView.setUint8(i, bytes[i]!)
    c.dayStart = day * 86_400
    c.w0 = cachedDayView.getInt32(0, true)
    c.w1 = cachedDayView.getInt32(4, true)
    c.dayOfMonth = cachedDayView.getUint16(8, true)
    inDay = seconds - c.dayStart
  }
  inDay |= 0
  const h = (inDay / 3600) | 0
  inDay -= h * 3600
  const m = (inDay / 60) | 0
  const hours = PAIR_WORDS[h]!
  c.w2 = c.dayOfMonth | T_AT_2 | ((hours & 0xff) << 24)
  c.w3 = (hours >> 8) | COLON_AT_1 | (PAIR_WORDS[m]! << 16)
  c.w4 = COLON_AT_0 | (PAIR_WORDS[inDay - m * 60]! << 8)
  c.value = seconds
}

/** Slack a time's writing needs past what it writes: the byte after the seconds, which the caller writes next. */
export const TIME_SLACK = 1

/** `.fff`, `.ffffff` or `.fffffffff` of 0 < nanos < 10^9, in as few of those widths as it needs. */
export const fractionInto = (buf: Uint8Array, p: number, nanos: number): number => {
  buf[p++] = 46
  if (nanos % 1_000_000 === 0) return paddedInto(buf, p, nanos / 1_000_000, 3)
  if (nanos % 1000 === 0) return paddedInto(buf, p, nanos / 1000, 6)
  return paddedInto(buf, p, nanos, 9)
}

const TWO_32 = 4294967296

/** The remainder of the last `divide`. */
export let remainder = 0

/**
 * Splits the int64 `hi * 2^32 + lo` into `q * unit + rem` with 0 <= rem < unit (unit at most 1e9) in exact double
 * arithmetic: long division in 16-bit steps, so no intermediate passes 2^53. Returns q; `remainder` holds rem.
 */
export const divide = (hi: number, lo: number, unit: number): number => {
  const hq = Math.floor(hi / unit)
  const x = (hi - hq * unit) * 65536 + (lo >>> 16)
  const q2 = Math.floor(x / unit)
  const y = (x - q2 * unit) * 65536 + (lo & 0xffff)
  const q3 = Math.floor(y / unit)
  remainder = y - q3 * unit
  return hq * TWO_32 + q2 * 65536 + q3
}
