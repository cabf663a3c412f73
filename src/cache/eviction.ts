import { Clock, Duration, Effect, Schedule } from "effect"
import { forkSupervised } from "../supervision.ts"

/** Anything that drops what has expired as of a time. */
export interface Evictable {
  readonly evict: (nowNs: bigint) => number
}

/** How often expired cache entries are dropped (InfluxDB 3's eviction loops run every 10 s). */
export const EVICTION_INTERVAL = Duration.seconds(10)

/**
 * Evicts every cache `caches()` lists by the Clock's time, every `interval`, for as long as the scope lives. Reads
 * skip expired entries anyway, so this bounds memory, not correctness.
 */
export const evictPeriodically = (
  caches: () => Iterable<Evictable>,
  interval: Duration.DurationInput = EVICTION_INTERVAL
) =>
  Effect.flatMap(Clock.currentTimeNanos, (nowNs) =>
    Effect.sync(() => {
      let removed = 0
      for (const cache of caches()) removed += cache.evict(nowNs)
      return removed
    })
  ).pipe(Effect.repeat(Schedule.spaced(interval)), (loop) => forkSupervised("cache-eviction", loop))
