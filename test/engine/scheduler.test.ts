import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { nextCronTime, parseCron } from "../../src/engine/cron.ts"
import { Scheduler } from "../../src/engine/Scheduler.ts"
import { nextFireTime, parseHumantime, parseTriggerSpec } from "../../src/engine/spec.ts"

/** Lets the scheduler's loop and timers reach their sleeps before the clock moves. */
const settle = Effect.repeatN(Effect.yieldNow(), 50)

const cronAt = (expression: string, from: string) => {
  const schedule = parseCron(expression)
  if (typeof schedule === "string") throw new Error(schedule)
  const next = nextCronTime(schedule, Date.parse(from))
  return next === null ? null : new Date(next).toISOString()
}

describe("trigger specifications", () => {
  it("parses the five forms and refuses anything else with InfluxDB 3's message", () => {
    expect(parseTriggerSpec(" table:cpu ")).toEqual({ _tag: "Table", table: "cpu" })
    expect(parseTriggerSpec("all_tables")).toEqual({ _tag: "AllTables" })
    expect(parseTriggerSpec("every:1h 30m")).toEqual({ _tag: "Every", everyMs: 5_400_000 })
    expect(parseTriggerSpec("request:hello-world")).toEqual({ _tag: "Request", path: "hello-world" })
    expect(parseTriggerSpec("cron:0 */5 * * * *")).toMatchObject({ _tag: "Cron", expression: "0 */5 * * * *" })
    expect(parseTriggerSpec("Table:cpu")).toMatch(
      /^failed to parse trigger from Table:cpu: expect one of the following forms/
    )
    expect(parseTriggerSpec("cron:*/5 * * * *")).toMatch(/expected 6 or 7 fields/)
    expect(parseTriggerSpec("every:2y")).toMatch(/at most 1 year/)
    expect(parseTriggerSpec("request:../x")).toMatch(/invalid request path/)
  })

  it("reads humantime durations, M as months and m as minutes", () => {
    expect(parseHumantime("10s")).toBe(10_000)
    expect(parseHumantime("5m")).toBe(300_000)
    expect(parseHumantime("1M")).toBe(2_630_016_000)
    expect(parseHumantime("1y")).toBe(31_557_600_000)
    expect(parseHumantime("ten")).toBeUndefined()
  })

  it("cron expressions are seconds first, in UTC, with ranges, steps, lists and names", () => {
    // 2026-11-28 is a Saturday: weekdays at 06:00 next fire on Monday.
    expect(cronAt("0 0 6 * * 1-5", "2026-11-28T07:00:00Z")).toBe("2026-11-30T06:00:00.000Z")
    expect(cronAt("0 0 6 * * MON-FRI", "2026-11-30T06:00:00Z")).toBe("2026-12-01T06:00:00.000Z")
    expect(cronAt("*/15 * * * * *", "2026-01-01T00:00:07Z")).toBe("2026-01-01T00:00:15.000Z")
    expect(cronAt("0 30 14 * * 5", "2026-11-29T00:00:00Z")).toBe("2026-12-04T14:30:00.000Z")
    expect(cronAt("0 0 0 1 * *", "2026-11-29T00:00:00Z")).toBe("2026-12-01T00:00:00.000Z")
    expect(cronAt("0 0 0 29 2 * 2028", "2026-01-01T00:00:00Z")).toBe("2028-02-29T00:00:00.000Z")
    expect(cronAt("0 0 12 1,15 JAN *", "2026-01-02T00:00:00Z")).toBe("2026-01-15T12:00:00.000Z")
    expect(parseCron("60 * * * * *")).toMatch(/out of range/)
  })

  it("every: fires on multiples of its duration since the epoch", () => {
    expect(nextFireTime({ _tag: "Every", everyMs: 10_000 }, 12_345)).toBe(20_000)
    expect(nextFireTime({ _tag: "Every", everyMs: 10_000 }, 20_000)).toBe(30_000)
  })
})

describe("Scheduler actor (TestClock)", () => {
  it.scoped("every:10s fires at 10, 20 and 30 s; removed, it fires no more", () =>
    Effect.gen(function* () {
      const scheduler = yield* Scheduler
      const fired: Array<number> = []
      yield* scheduler.set("db/every", { _tag: "Every", everyMs: 10_000 }, false, (t) =>
        Effect.sync(() => void fired.push(t))
      )
      yield* settle
      yield* TestClock.adjust("35 seconds")
      expect(fired).toEqual([10_000, 20_000, 30_000])
      yield* scheduler.remove("db/every")
      yield* settle
      yield* TestClock.adjust("60 seconds")
      expect(fired).toEqual([10_000, 20_000, 30_000])
      expect(yield* scheduler.scheduled).toEqual([])
    }).pipe(Effect.provide(Scheduler.Default))
  )

  it.scoped("cron:*/20 * * * * * fires at each matching second; a run that overruns skips the times it covered", () =>
    Effect.gen(function* () {
      const scheduler = yield* Scheduler
      const spec = parseTriggerSpec("cron:*/20 * * * * *")
      if (typeof spec === "string" || spec._tag !== "Cron") throw new Error("expected a cron spec")
      const fired: Array<number> = []
      yield* scheduler.set("db/cron", spec, false, (t) => Effect.sync(() => void fired.push(t)))
      yield* settle
      yield* TestClock.adjust("65 seconds")
      expect(fired).toEqual([20_000, 40_000, 60_000])

      const slow: Array<number> = []
      yield* scheduler.set("db/cron", spec, false, (t) =>
        Effect.zipRight(
          Effect.sync(() => void slow.push(t)),
          Effect.sleep("30 seconds")
        )
      )
      yield* settle
      for (let i = 0; i < 12; i++) {
        yield* TestClock.adjust("10 seconds")
        yield* settle
      }
      // From 65 s: 80 s runs until 110 s, so 100 s is skipped; 120 s runs until 150 s, so 140 s is skipped.
      expect(slow).toEqual([80_000, 120_000, 160_000])
    }).pipe(Effect.provide(Scheduler.Default))
  )

  it.scoped("run_async runs overlapping calls without waiting for the previous one", () =>
    Effect.gen(function* () {
      const scheduler = yield* Scheduler
      const started: Array<number> = []
      yield* scheduler.set("db/async", { _tag: "Every", everyMs: 10_000 }, true, (t) =>
        Effect.zipRight(
          Effect.sync(() => void started.push(t)),
          Effect.sleep("25 seconds")
        )
      )
      yield* settle
      for (let i = 0; i < 4; i++) {
        yield* TestClock.adjust("10 seconds")
        yield* settle
      }
      expect(started).toEqual([10_000, 20_000, 30_000, 40_000])
    }).pipe(Effect.provide(Scheduler.Default))
  )
})
