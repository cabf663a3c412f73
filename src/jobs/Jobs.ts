import { Cause, Clock, Data, Effect, Exit, Fiber, Metric, Schedule } from "effect"
import { Checkpoints } from "../checkpoint/Checkpoints.ts"
import { JobCancelled, JobCompleted, JobCreated, JobDeleted, JobDispatched, JobFailed, JobInputDone, JobInputStarted, JobProgress, type JobInput, type PersistedFile, type StrataEvent } from "../events/index.ts"
import { EventLog, type Envelope, type LogWriteFailed } from "../log/EventLog.ts"
import { actorRestartsTotal } from "../metrics/prometheus.ts"
import { applyJobs, isFinished, isJobEvent, nextInput, type JobsState, type JobState } from "./state.ts"

/** Why an attempt at a job failed: `terminal` when retrying cannot help (bad data), else it is retried later. */
export class JobError extends Data.TaggedError("JobError")<{ readonly message: string; readonly terminal: boolean; readonly cause?: unknown }> {}

/** The job was cancelled or finished meanwhile: nothing more of it may be recorded. */
export class JobGone extends Data.TaggedError("JobGone")<{ readonly jobId: string }> {}

/** What one input produced. */
export interface InputOutcome {
  readonly rows: number
  readonly skipped: number
  /** Files holding the rows, written but not yet recorded: recorded by JobInputDone, or removed when that fails. */
  readonly added: ReadonlyArray<PersistedFile>
}

/** What the runner asks of the worker of one kind of job. */
export interface JobWorker {
  /** Once per attempt, before the first input it runs (e.g. validating every input first). */
  readonly prepare: (
    job: JobState,
    progress: ProgressReporter
  ) => Effect.Effect<void, JobError | JobGone | LogWriteFailed>
  /** Runs one input, writing its output without recording it. */
  readonly runInput: (
    job: JobState,
    index: number,
    progress: ProgressReporter
  ) => Effect.Effect<InputOutcome, JobError | JobGone | LogWriteFailed>
  /** Removes an outcome's files that could not be recorded (the job was cancelled meanwhile). */
  readonly discard: (outcome: InputOutcome) => Effect.Effect<void>
  /** Once the job is finished (completed, given up or cancelled): e.g. removing staged inputs. */
  readonly finished: (job: JobState) => Effect.Effect<void>
}

/**
 * How far the input in progress has come, kept in memory only (no event): a worker updates it as often as it likes,
 * GET shows it, and a restart forgets it (the durable resume point is the inputs recorded done).
 */
export interface LiveProgress {
  readonly input: number
  /** What the worker is doing to the input (e.g. downloading, reading, writing). */
  readonly phase: string
  readonly bytesDone: number
  /** -1 when unknown. */
  readonly bytesTotal: number
  readonly rowsDone: number
  /** -1 when unknown. */
  readonly rowsTotal: number
  /** The worker's estimate of how much of the input is done, 0 to 1. */
  readonly fraction: number
}

/** Records how far an input has come. */
export type ProgressReporter = (input: number, rowsRead: number) => Effect.Effect<void, JobGone | LogWriteFailed>

/** Attempts a job gets before a retryable failure becomes terminal. */
export const MAX_ATTEMPTS = 3

const jobRestarts = actorRestartsTotal.pipe(Metric.tagged("actor", "job-runner"))

/**
 * Jobs as a projection of their events (created, dispatched, input started/done, progress, failed, cancelled,
 * completed), with one runner fiber per kind that works through queued jobs one at a time, input by input. A start
 * continues every unfinished job from its first input not recorded as done. Every record goes through one lock with
 * cancel, so an input is either recorded before a cancel or never.
 */
export class Jobs extends Effect.Service<Jobs>()("strata/Jobs", {
  dependencies: [Checkpoints.Default, EventLog.Default],
  scoped: Effect.gen(function* () {
    const log = yield* EventLog
    // The projection starts from the checkpoint plus the events after it, and is saved with the next checkpoints.
    const checkpoints = yield* Checkpoints
    let state: JobsState = checkpoints.recovered.jobs
    yield* checkpoints.captureJobs(Effect.sync(() => state))
    yield* log.project("jobs", (envelopes: ReadonlyArray<Envelope>) =>
      Effect.sync(() => {
        for (const e of envelopes) if (isJobEvent(e)) state = applyJobs(state, e)
      })
    )
    const lock = yield* Effect.makeSemaphore(1)
    const running = new Map<string, Fiber.RuntimeFiber<void, never>>()
    const live = new Map<string, LiveProgress>()

    const append = (events: ReadonlyArray<StrataEvent>) => log.append(events.map((event) => ({ event })))

    /** Appends events of a job unless it is finished (then JobGone), serialised with cancel. */
    const record = (jobId: string, events: ReadonlyArray<StrataEvent>) =>
      lock.withPermits(1)(
        Effect.suspend((): Effect.Effect<void, JobGone | LogWriteFailed> => {
          const job = state.jobs.get(jobId)
          return job === undefined || isFinished(job)
            ? Effect.fail(new JobGone({ jobId }))
            : Effect.asVoid(append(events))
        })
      )

    const progress = (jobId: string): ProgressReporter => (input, rowsRead) =>
      record(jobId, [new JobProgress({ version: 1, jobId, input, rowsRead })])

    /** One attempt at a job: every input from the first not done, then completion; failures recorded. */
    const attempt = (job: JobState, worker: JobWorker) =>
      Effect.gen(function* () {
        const jobId = job.id
        yield* record(jobId, [new JobDispatched({ version: 1, jobId, attempt: job.attempts + 1 })])
        yield* worker.prepare(state.jobs.get(jobId)!, progress(jobId))
        for (;;) {
          const current = state.jobs.get(jobId)!
          const index = nextInput(current)
          if (index >= current.inputs.length) break
          yield* record(jobId, [new JobInputStarted({ version: 1, jobId, input: index })])
          // Once an input's files are in place, they are recorded or removed: a cancel landing between the two
          // (it records first, then stops the attempt) would leave them in dbs/ until the next start.
          yield* Effect.uninterruptibleMask((restore) =>
            Effect.flatMap(restore(worker.runInput(state.jobs.get(jobId)!, index, progress(jobId))), (outcome) =>
              record(jobId, [
                new JobInputDone({
                  version: 1,
                  jobId,
                  input: index,
                  rows: outcome.rows,
                  skipped: outcome.skipped,
                  added: outcome.added
                })
              ]).pipe(Effect.tapError(() => worker.discard(outcome)))
            )
          )
          live.delete(jobId)
        }
        yield* record(jobId, [new JobCompleted({ version: 1, jobId })])
      }).pipe(
        Effect.catchTag("JobError", (e) =>
          record(job.id, [
            new JobFailed({
              version: 1,
              jobId: job.id,
              message: e.message,
              terminal: e.terminal || job.attempts + 1 >= MAX_ATTEMPTS
            })
          ])
        ),
        Effect.catchTag("JobGone", () => Effect.void),
        Effect.catchTag("LogWriteFailed", (e) =>
          Effect.logError(`job ${job.id}: the event log could not be written (retried later): ${e.message}`)
        ),
        Effect.ensuring(
          Effect.suspend(() => {
            live.delete(job.id)
            const after = state.jobs.get(job.id)
            return after !== undefined && isFinished(after) ? worker.finished(after) : Effect.void
          })
        )
      )

    // A failed attempt waits this long before the next.
    const retryAfterNs = 2_000_000_000n

    /** The next job of `kind` to run: the oldest queued or interrupted one, or a failed one whose wait is over. */
    const nextJob = (kind: string, nowNs: bigint): JobState | undefined => {
      let best: JobState | undefined
      for (const job of state.jobs.values()) {
        if (job.kind !== kind || isFinished(job)) continue
        if (job.status === "failed" && nowNs - job.lastUpdatedAt < retryAfterNs) continue
        if (best === undefined || job.createdSeq < best.createdSeq) best = job
      }
      return best
    }

    /** Runs jobs of `kind` with `worker`, one at a time, for the caller's scope (supervised: a defect restarts it). */
    const runJobs = (kind: string, worker: JobWorker) =>
      Effect.gen(function* () {
        const nowNs = BigInt(yield* Clock.currentTimeMillis) * 1_000_000n
        const job = nextJob(kind, nowNs)
        if (job === undefined) return
        const fiber = yield* Effect.fork(Effect.annotateLogs(attempt(job, worker), "job", job.id))
        running.set(job.id, fiber)
        const exit = yield* Fiber.await(fiber)
        running.delete(job.id)
        if (Exit.isFailure(exit) && !Exit.isInterrupted(exit)) yield* Effect.failCause(exit.cause)
      }).pipe(
        Effect.repeat(Schedule.spaced("100 millis")),
        Effect.sandbox,
        Effect.tapError((cause) => Effect.zipRight(Metric.increment(jobRestarts), Effect.logError(`${kind} job runner crashed, restarting`, Cause.squash(cause)))),
        Effect.retry(Schedule.exponential("100 millis").pipe(Schedule.union(Schedule.spaced("30 seconds")))),
        Effect.annotateLogs("actor", `${kind}-jobs`),
        Effect.forkScoped,
        Effect.asVoid
      )

    return {
      /** Every job, oldest first. */
      list: Effect.sync(() => [...state.jobs.values()].sort((a, b) => a.createdSeq - b.createdSeq)),
      get: (jobId: string) => Effect.sync(() => state.jobs.get(jobId)),
      /** Sets how far a running job's input has come (in memory; see LiveProgress). */
      reportLive: (jobId: string, progress: LiveProgress) => void live.set(jobId, progress),
      /** How far a running job's input has come, if it is running. */
      liveOf: (jobId: string): LiveProgress | undefined => live.get(jobId),
      /** The job an idempotency key made, if any. */
      byIdempotencyKey: (key: string) => Effect.sync(() => {
        const id = state.byIdempotencyKey.get(key)
        return id === undefined ? undefined : state.jobs.get(id)
      }),
      /**
       * Creates a job, or returns the one `idempotencyKey` already made (`created: false`). `prepare` runs under the
       * lock before the event, so two requests with one key do not both create.
       */
      create: (options: {
        readonly jobId: string
        readonly kind: string
        readonly inputs: ReadonlyArray<JobInput>
        readonly spec: unknown
        readonly idempotencyKey: string | null
      }) =>
        lock.withPermits(1)(
          Effect.gen(function* () {
            if (options.idempotencyKey !== null) {
              const id = state.byIdempotencyKey.get(options.idempotencyKey)
              if (id !== undefined) return { job: state.jobs.get(id)!, created: false }
            }
            yield* append([new JobCreated({ version: 1, ...options, inputs: [...options.inputs] })])
            return { job: state.jobs.get(options.jobId)!, created: true }
          })
        ) as Effect.Effect<{ readonly job: JobState; readonly created: boolean }, LogWriteFailed>,
      /**
       * Cancels a job that is not finished: the cancel is recorded, then the attempt running it (if any) is stopped.
       * Answers the job as it then stands, or undefined for an unknown id.
       */
      cancel: (jobId: string) =>
        Effect.gen(function* () {
          const cancelled = yield* lock.withPermits(1)(
            Effect.gen(function* () {
              const job = state.jobs.get(jobId)
              if (job === undefined || isFinished(job)) return false
              yield* append([new JobCancelled({ version: 1, jobId })])
              return true
            })
          )
          const fiber = running.get(jobId)
          if (cancelled && fiber !== undefined) yield* Fiber.interrupt(fiber)
          return state.jobs.get(jobId)
        }),
      /** Removes the record of a finished job; false when it is unknown or not finished. */
      remove: (jobId: string) =>
        lock.withPermits(1)(
          Effect.suspend((): Effect.Effect<boolean, LogWriteFailed> => {
            const job = state.jobs.get(jobId)
            if (job === undefined || !isFinished(job)) return Effect.succeed(false)
            return Effect.as(append([new JobDeleted({ version: 1, jobId })]), true)
          })
        ),
      runJobs
    } as const
  })
}) {}
