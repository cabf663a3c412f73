import { describe, expect, it } from "@effect/vitest"
import { parsePrecision, type Precision, toNanos } from "../../src/lineprotocol/index.ts"

const INT64_MAX = 2n ** 63n - 1n
const INT64_MIN = -(2n ** 63n)

describe("parsePrecision", () => {
  it("v3 defaults to auto", () => {
    expect(parsePrecision(undefined, "v3")).toBe("auto")
  })

  it("v1 and v2 default to nanoseconds", () => {
    expect(parsePrecision(undefined, "v2")).toBe("nanosecond")
    expect(parsePrecision(undefined, "v1")).toBe("nanosecond")
  })

  const v3: ReadonlyArray<[string, Precision]> = [
    ["auto", "auto"],
    ["nanosecond", "nanosecond"], ["ns", "nanosecond"], ["n", "nanosecond"],
    ["microsecond", "microsecond"], ["us", "microsecond"], ["u", "microsecond"], ["µ", "microsecond"],
    ["millisecond", "millisecond"], ["ms", "millisecond"],
    ["second", "second"], ["s", "second"]
  ]

  it("v3 accepts auto, the long names and ns, n, us, u, µ, ms, s", () => {
    for (const [value, precision] of v3) expect(parsePrecision(value, "v3")).toBe(precision)
  })

  it("v3 rejects minutes, hours, other spellings and other cases", () => {
    for (const value of ["m", "h", "minute", "hour", "NS", "Second", "", "seconds", "1s"]) {
      expect(parsePrecision(value, "v3")).toBeUndefined()
    }
  })

  const v2: ReadonlyArray<[string, Precision]> = [
    ["nanosecond", "nanosecond"], ["ns", "nanosecond"], ["n", "nanosecond"],
    ["microsecond", "microsecond"], ["us", "microsecond"], ["u", "microsecond"],
    ["millisecond", "millisecond"], ["ms", "millisecond"],
    ["second", "second"], ["s", "second"]
  ]

  it("v2 accepts ns, n, us, u, ms, s and the long names", () => {
    for (const [value, precision] of v2) expect(parsePrecision(value, "v2")).toBe(precision)
  })

  it("v2 rejects auto, µ, minutes and hours", () => {
    for (const value of ["auto", "µ", "m", "h", "minute", "hour", ""]) expect(parsePrecision(value, "v2")).toBeUndefined()
  })

  it("v1 accepts the v2 values plus m for minutes and h for hours", () => {
    for (const [value, precision] of v2) expect(parsePrecision(value, "v1")).toBe(precision)
    expect(parsePrecision("m", "v1")).toBe("minute")
    expect(parsePrecision("h", "v1")).toBe("hour")
  })

  it("v1 rejects auto and the long minute and hour names", () => {
    for (const value of ["auto", "minute", "hour", "M", "H"]) expect(parsePrecision(value, "v1")).toBeUndefined()
  })
})

describe("toNanos", () => {
  it("scales each fixed precision", () => {
    expect(toNanos(7n, "nanosecond")).toBe(7n)
    expect(toNanos(7n, "microsecond")).toBe(7_000n)
    expect(toNanos(7n, "millisecond")).toBe(7_000_000n)
    expect(toNanos(7n, "second")).toBe(7_000_000_000n)
    expect(toNanos(7n, "minute")).toBe(420_000_000_000n)
    expect(toNanos(7n, "hour")).toBe(25_200_000_000_000n)
    expect(toNanos(-2n, "second")).toBe(-2_000_000_000n)
  })

  it("auto reads seconds below 5e9", () => {
    expect(toNanos(1708473600n, "auto")).toBe(1708473600_000_000_000n)
    expect(toNanos(4_999_999_999n, "auto")).toBe(4_999_999_999_000_000_000n)
    expect(toNanos(0n, "auto")).toBe(0n)
  })

  it("auto reads milliseconds from 5e9 to below 5e12", () => {
    expect(toNanos(5_000_000_000n, "auto")).toBe(5_000_000_000_000_000n)
    expect(toNanos(1708473600000n, "auto")).toBe(1708473600000_000_000n)
    expect(toNanos(4_999_999_999_999n, "auto")).toBe(4_999_999_999_999_000_000n)
  })

  it("auto reads microseconds from 5e12 to below 5e15", () => {
    expect(toNanos(5_000_000_000_000n, "auto")).toBe(5_000_000_000_000_000n)
    expect(toNanos(4_999_999_999_999_999n, "auto")).toBe(4_999_999_999_999_999_000n)
  })

  it("auto reads nanoseconds from 5e15", () => {
    expect(toNanos(5_000_000_000_000_000n, "auto")).toBe(5_000_000_000_000_000n)
    expect(toNanos(1704067200000000000n, "auto")).toBe(1704067200000000000n)
  })

  it("auto uses the magnitude of negative timestamps", () => {
    expect(toNanos(-4_999_999_999n, "auto")).toBe(-4_999_999_999_000_000_000n)
    expect(toNanos(-5_000_000_000n, "auto")).toBe(-5_000_000_000_000_000n)
    expect(toNanos(-5_000_000_000_000_000n, "auto")).toBe(-5_000_000_000_000_000n)
  })

  it("returns undefined when scaling leaves the int64 range", () => {
    expect(toNanos(99999999999n, "second")).toBeUndefined()
    expect(toNanos(-99999999999n, "second")).toBeUndefined()
    expect(toNanos(INT64_MAX / 1000n + 1n, "microsecond")).toBeUndefined()
    expect(toNanos(2562048n, "hour")).toBeUndefined()
    expect(toNanos(153722868n, "minute")).toBeUndefined()
    expect(toNanos(4_999_999_999_999_999n, "auto")).toBe(4_999_999_999_999_999_000n)
  })

  it("keeps values right at the int64 bounds", () => {
    expect(toNanos(INT64_MAX, "nanosecond")).toBe(INT64_MAX)
    expect(toNanos(INT64_MIN, "nanosecond")).toBe(INT64_MIN)
    expect(toNanos(INT64_MAX, "auto")).toBe(INT64_MAX)
    expect(toNanos(INT64_MAX / 1_000_000_000n, "second")).toBe((INT64_MAX / 1_000_000_000n) * 1_000_000_000n)
    expect(toNanos(2562047n, "hour")).toBe(2562047n * 3_600_000_000_000n)
  })
})
