import { Effect, Metric, Schedule, type Scope } from "effect"
import { actorRestartsTotal } from "./metrics/prometheus.ts"

/**
 * Forks an actor's loop into the caller's scope under the shared supervision policy (as `EventLog`'s writer and the
 * Compactor run): a defect or failure is logged and counted in `strata_actor_restarts_total{actor}`, and the loop
 * starts again after a capped exponential backoff. Interruption (the scope closing) ends it.
 */
export const forkSupervised = <E, R>(
  actor: string,
  loop: Effect.Effect<unknown, E, R>
): Effect.Effect<void, never, R | Scope.Scope> => {
  const restarts = actorRestartsTotal.pipe(Metric.tagged("actor", actor))
  return loop.pipe(
    Effect.sandbox,
    Effect.tapError((cause) =>
      Effect.zipRight(Metric.increment(restarts), Effect.logError(`${actor} crashed, restarting`, cause))
    ),
    Effect.retry(Schedule.exponential("100 millis").pipe(Schedule.union(Schedule.spaced("30 seconds")))),
    Effect.annotateLogs("actor", actor),
    Effect.forkScoped,
    Effect.asVoid
  )
}
