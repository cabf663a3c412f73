import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, TestClock } from "effect"
import { DistinctValueCache } from "../../src/cache/DistinctValueCache.ts"
import { evictPeriodically } from "../../src/cache/eviction.ts"
import { LastValueCache } from "../../src/cache/LastValueCache.ts"

const SECOND_NS = 1_000_000_000n
const HOUR_NS = 3600n * SECOND_NS

const values = (usage: number) => new Map([["usage", usage]])
const lastUsage = (cache: LastValueCache, nowNs: bigint) =>
  cache
    .rows(nowNs)
    .map(({ keys, row }) => [keys[0], row.values.get("usage"), row.timeNs] as const)
    .sort((a, b) => String(a[0]).localeCompare(String(b[0])))

describe("LastValueCache", () => {
  it.effect("keeps the newest `count` rows per key, newest first; older rows are dropped", () =>
    Effect.sync(() => {
      const cache = new LastValueCache(2, 4n * HOUR_NS)
      for (const [t, u] of [[10n, 1], [30n, 3], [20n, 2], [5n, 0]] as const) cache.insert(["a"], t, values(u), 0n)
      expect(cache.rows(0n).map(({ row }) => [row.timeNs, row.values.get("usage")])).toEqual([
        [30n, 3],
        [20n, 2]
      ])
    }))

  it.effect("a row at the time of a cached one is merged into it, last write wins field by field", () =>
    Effect.sync(() => {
      const cache = new LastValueCache(1, HOUR_NS)
      cache.insert(["a"], 10n, new Map<string, number | null>([["usage", 1], ["idle", 9]]), 0n)
      cache.insert(["a"], 10n, new Map<string, number | null>([["usage", 2], ["idle", null]]), 0n)
      expect([...cache.rows(0n)[0]!.row.values]).toEqual([
        ["usage", 2],
        ["idle", 9]
      ])
    }))

  it.scoped("rows not seen within the ttl are evicted by the eviction loop (TestClock)", () =>
    Effect.gen(function* () {
      const cache = new LastValueCache(1, 4n * HOUR_NS)
      cache.insert(["a"], 1n, values(1), yield* Clock.currentTimeNanos)
      yield* TestClock.adjust("3 hours")
      cache.insert(["b"], 2n, values(2), yield* Clock.currentTimeNanos)
      // Every 10 minutes here (10 s in the server): fewer wake-ups for the TestClock to run through.
      yield* evictPeriodically(() => [cache], "10 minutes")
      yield* TestClock.adjust("1 hour")
      expect(cache.size).toBe(2)
      // Past a's ttl: the next round drops it; b, seen three hours later, stays.
      yield* TestClock.adjust("10 minutes")
      expect(cache.size).toBe(1)
      expect(lastUsage(cache, yield* Clock.currentTimeNanos)).toEqual([["b", 2, 2n]])
      yield* TestClock.adjust("3 hours")
      expect(cache.size).toBe(0)
    }))

  it.scoped("a new write to a key renews its ttl", () =>
    Effect.gen(function* () {
      const cache = new LastValueCache(1, HOUR_NS)
      yield* evictPeriodically(() => [cache], "10 minutes")
      cache.insert(["a"], 1n, values(1), yield* Clock.currentTimeNanos)
      yield* TestClock.adjust("50 minutes")
      cache.insert(["a"], 2n, values(2), yield* Clock.currentTimeNanos)
      yield* TestClock.adjust("50 minutes")
      expect(lastUsage(cache, yield* Clock.currentTimeNanos)).toEqual([["a", 2, 2n]])
    }))

  it.effect("reads leave out expired rows even before the loop has run", () =>
    Effect.sync(() => {
      const cache = new LastValueCache(1, HOUR_NS)
      cache.insert(["a"], 1n, values(1), 0n)
      expect(cache.rows(HOUR_NS + 1n)).toEqual([])
      expect(cache.size).toBe(1)
    }))
})

describe("DistinctValueCache", () => {
  it.effect("answers each combination once, sorted column by column with NULLs last", () =>
    Effect.sync(() => {
      const cache = new DistinctValueCache(100, HOUR_NS)
      for (const v of [["us", "b"], ["eu", "a"], ["us", "b"], ["us", null], ["us", "a"]] as const) cache.insert(v, 0n)
      expect(cache.values(0n)).toEqual([["eu", "a"], ["us", "a"], ["us", "b"], ["us", null]])
    }))

  it.scoped("combinations older than max_age are evicted (TestClock)", () =>
    Effect.gen(function* () {
      const cache = new DistinctValueCache(100, 24n * HOUR_NS)
      yield* evictPeriodically(() => [cache], "1 hour")
      cache.insert(["a"], yield* Clock.currentTimeNanos)
      yield* TestClock.adjust("12 hours")
      cache.insert(["b"], yield* Clock.currentTimeNanos)
      yield* TestClock.adjust("12 hours")
      expect(cache.size).toBe(2)
      yield* TestClock.adjust("1 hour")
      expect(cache.size).toBe(1)
      expect(cache.values(yield* Clock.currentTimeNanos)).toEqual([["b"]])
      yield* TestClock.adjust("12 hours")
      expect(cache.size).toBe(0)
    }))

  it.scoped("past max_cardinality the least recently seen combinations go", () =>
    Effect.gen(function* () {
      const cache = new DistinctValueCache(3, 24n * HOUR_NS)
      for (const host of ["a", "b", "c"]) {
        cache.insert([host], yield* Clock.currentTimeNanos)
        yield* TestClock.adjust("1 second")
      }
      // Seeing a again makes b the least recently seen.
      cache.insert(["a"], yield* Clock.currentTimeNanos)
      yield* TestClock.adjust("1 second")
      cache.insert(["d"], yield* Clock.currentTimeNanos)
      expect(cache.values(yield* Clock.currentTimeNanos)).toEqual([["a"], ["c"], ["d"]])
    }))
})
