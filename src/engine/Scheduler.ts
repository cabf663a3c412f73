import { Clock, Duration, Effect, Fiber, Metric, Queue, Schedule } from "effect"
import { actorRestartsTotal } from "../metrics/prometheus.ts"
import { nextFireTime, type TriggerSpec } from "./spec.ts"

/** A schedule: `every:` or `cron:`. */
export type ScheduleSpec = Extract<TriggerSpec, { _tag: "Every" | "Cron" }>

/** What runs when a schedule fires, given the scheduled time (ms since the epoch). */
export type Fire = (scheduledMs: number) => Effect.Effect<void>

type Message =
  | {
      readonly _tag: "Set"
      readonly key: string
      readonly spec: ScheduleSpec
      readonly runAsync: boolean
      readonly fire: Fire
    }
  | { readonly _tag: "Remove"; readonly key: string }

const restarts = actorRestartsTotal.pipe(Metric.tagged("actor", "engine-scheduler"))

/**
 * The timer of one schedule: sleeps (on the Clock, so TestClock drives it) until the next time after the last one,
 * fires, repeats. In order unless `runAsync`: a run that overruns its period makes the times it covered be skipped.
 */
export const runSchedule = (spec: ScheduleSpec, fire: Fire, runAsync: boolean) =>
  Effect.gen(function* () {
    let last = yield* Clock.currentTimeMillis
    while (true) {
      const next = nextFireTime(spec, last)
      if (next === null) return
      const now = yield* Clock.currentTimeMillis
      if (next > now) yield* Effect.sleep(Duration.millis(next - now))
      if (runAsync) yield* Effect.forkDaemon(fire(next))
      else yield* fire(next)
      last = Math.max(next, yield* Clock.currentTimeMillis)
    }
  })

/**
 * The Scheduler actor drives `every:` and `cron:` triggers: its inbox takes schedules set and removed, its loop keeps
 * one timer fiber per schedule.
 */
export class Scheduler extends Effect.Service<Scheduler>()("strata/engine/Scheduler", {
  scoped: Effect.gen(function* () {
    const inbox = yield* Queue.bounded<Message>(1024)
    const timers = new Map<string, Fiber.RuntimeFiber<void>>()
    const scope = yield* Effect.scope
    yield* Effect.addFinalizer(() => Effect.forEach([...timers.values()], Fiber.interrupt, { discard: true }))

    const handle = (message: Message) =>
      Effect.gen(function* () {
        const running = timers.get(message.key)
        if (running !== undefined) {
          timers.delete(message.key)
          yield* Fiber.interrupt(running)
        }
        if (message._tag === "Set") {
          const timer = runSchedule(message.spec, message.fire, message.runAsync).pipe(
            Effect.catchAllCause((cause) => Effect.logError(`schedule ${message.key} stopped`, cause))
          )
          timers.set(message.key, yield* Effect.forkIn(timer, scope))
        }
      })

    yield* Queue.take(inbox).pipe(
      Effect.flatMap(handle),
      Effect.forever,
      Effect.sandbox,
      Effect.tapError((cause) =>
        Effect.zipRight(Metric.increment(restarts), Effect.logError("the engine scheduler crashed, restarting", cause))
      ),
      Effect.retry(Schedule.exponential("100 millis").pipe(Schedule.union(Schedule.spaced("30 seconds")))),
      Effect.annotateLogs("actor", "engine-scheduler"),
      Effect.forkScoped
    )

    return {
      /** Sets (or replaces) the schedule under `key`. */
      set: (key: string, spec: ScheduleSpec, runAsync: boolean, fire: Fire) =>
        Queue.offer(inbox, { _tag: "Set", key, spec, runAsync, fire }),
      /** Removes the schedule under `key`, stopping its timer (a run in progress is interrupted). */
      remove: (key: string) => Queue.offer(inbox, { _tag: "Remove", key }),
      /** The keys scheduled now. */
      scheduled: Effect.sync(() => [...timers.keys()])
    } as const
  })
}) {}
