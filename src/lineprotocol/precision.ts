// Write precisions: which query values each API flavour accepts, and scaling raw timestamps to nanoseconds.
import type { Precision } from "./types.ts"

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

const V3: ReadonlyMap<string, Precision> = new Map<string, Precision>([
  ["auto", "auto"],
  ["nanosecond", "nanosecond"],
  ["ns", "nanosecond"],
  ["n", "nanosecond"],
  ["microsecond", "microsecond"],
  ["us", "microsecond"],
  ["u", "microsecond"],
  ["\u00b5", "microsecond"],
  ["millisecond", "millisecond"],
  ["ms", "millisecond"],
  ["second", "second"],
  ["s", "second"]
])

const V2: ReadonlyMap<string, Precision> = new Map<string, Precision>([
  ["nanosecond", "nanosecond"],
  ["ns", "nanosecond"],
  ["n", "nanosecond"],
  ["microsecond", "microsecond"],
  ["us", "microsecond"],
  ["u", "microsecond"],
  ["millisecond", "millisecond"],
  ["ms", "millisecond"],
  ["second", "second"],
  ["s", "second"]
])

// Our product spec lets v1 /write take minutes and hours (InfluxDB 3 Core rejects them).
const V1: ReadonlyMap<string, Precision> = new Map<string, Precision>([...V2, ["m", "minute"], ["h", "hour"]])

/** Maps a `precision` query value to a Precision for an API flavour; undefined when that flavour rejects it. */
export const parsePrecision = (value: string | undefined, api: "v3" | "v2" | "v1"): Precision | undefined => {
  if (value === undefined) return api === "v3" ? "auto" : "nanosecond"
  return (api === "v3" ? V3 : api === "v2" ? V2 : V1).get(value)
}

/** Nanoseconds in one unit of each explicit precision. */
export const NANOS_PER: Readonly<Record<Exclude<Precision, "auto">, bigint>> = {
  nanosecond: 1n,
  microsecond: 1_000n,
  millisecond: 1_000_000n,
  second: 1_000_000_000n,
  minute: 60_000_000_000n,
  hour: 3_600_000_000_000n
}

/** The unit `auto` picks from a timestamp's magnitude: below 5e9 seconds, 5e12 ms, 5e15 µs, else ns. */
const autoUnit = (raw: bigint): bigint => {
  const magnitude = raw < 0n ? -raw : raw
  if (magnitude < 5_000_000_000n) return 1_000_000_000n
  if (magnitude < 5_000_000_000_000n) return 1_000_000n
  if (magnitude < 5_000_000_000_000_000n) return 1_000n
  return 1n
}

/** Scales a raw timestamp to nanoseconds; undefined when the result leaves the int64 range. */
export const toNanos = (raw: bigint, precision: Precision): bigint | undefined => {
  const ns = raw * (precision === "auto" ? autoUnit(raw) : NANOS_PER[precision])
  return ns < INT64_MIN || ns > INT64_MAX ? undefined : ns
}
