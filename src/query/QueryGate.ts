import { Effect, type Scope } from "effect"
import { acquireScoped } from "../scoped.ts"

/** The largest concurrency limit, tokio's `Semaphore::MAX_PERMITS` (usize::MAX >> 3) as InfluxDB 3 uses: no limit. */
export const MAX_QUERY_PERMITS = 2305843009213693951

/** The smallest limit accepted without `force=true`. */
export const MIN_UNFORCED_QUERY_PERMITS = 16

/**
 * The query concurrency limit: a semaphore whose size can change at run time. Queries over the limit wait for a
 * permit, in arrival order, as in InfluxDB 3; they are never rejected.
 */
export class QueryGate {
  private active = 0
  private readonly waiting: Array<() => void> = []
  private current: number

  constructor(readonly startupLimit: number) {
    this.current = startupLimit
  }

  get limit(): number {
    return this.current
  }

  get running(): number {
    return this.active
  }

  get queued(): number {
    return this.waiting.length
  }

  /** Sets the limit; waiting queries start at once if it grew. */
  setLimit(limit: number): void {
    this.current = limit
    this.admit()
  }

  /** Holds a permit for the scope's lifetime, waiting for one if the limit is reached. */
  readonly permit: Effect.Effect<void, never, Scope.Scope> = acquireScoped(
    Effect.async<void>((resume) => {
      if (this.active < this.current) {
        this.active++
        resume(Effect.void)
        return
      }
      const wake = () => {
        this.active++
        resume(Effect.void)
      }
      this.waiting.push(wake)
      return Effect.sync(() => {
        const at = this.waiting.indexOf(wake)
        if (at >= 0) this.waiting.splice(at, 1)
      })
    }),
    () =>
      Effect.sync(() => {
        this.active--
        this.admit()
      })
  )

  private admit() {
    while (this.active < this.current && this.waiting.length > 0) this.waiting.shift()!()
  }
}
