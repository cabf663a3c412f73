import type { JobInput } from "../events/index.ts"
import type { Envelope } from "../log/EventLog.ts"

/** Where a job stands. `failed` is an attempt that failed (retried); `terminal_failed` is given up. */
export type JobStatus = "queued" | "dispatched" | "completed" | "failed" | "terminal_failed" | "cancelled"

/** One input of a job as far as it went. */
export interface JobInputState extends JobInput {
  readonly status: "pending" | "running" | "done"
  readonly rows: number
  readonly skipped: number
  /** Rows read so far while running (progress). */
  readonly rowsRead: number
  /** The object-store paths its rows went to. */
  readonly added: ReadonlyArray<string>
}

/** A job: a projection of its events. Times are ns since the epoch, from the envelopes. */
export interface JobState {
  readonly id: string
  readonly kind: string
  readonly spec: unknown
  readonly idempotencyKey: string | null
  readonly status: JobStatus
  readonly attempts: number
  readonly inputs: ReadonlyArray<JobInputState>
  readonly lastMessage: string | null
  readonly createdAt: bigint
  readonly startedAt: bigint | null
  readonly completedAt: bigint | null
  readonly lastUpdatedAt: bigint
  /** Seq of the JobCreated event: jobs run in this order. */
  readonly createdSeq: number
}

/** Every job, by id, and the idempotency keys that made them. */
export interface JobsState {
  readonly jobs: ReadonlyMap<string, JobState>
  readonly byIdempotencyKey: ReadonlyMap<string, string>
}

export const emptyJobs: JobsState = { jobs: new Map(), byIdempotencyKey: new Map() }

/** Whether a job can change no more. */
export const isFinished = (job: JobState) => job.status === "completed" || job.status === "terminal_failed" || job.status === "cancelled"

/** The index of the first input not done: where a (re)started job continues. */
export const nextInput = (job: JobState): number => {
  const i = job.inputs.findIndex((f) => f.status !== "done")
  return i < 0 ? job.inputs.length : i
}

/** Rows taken so far, over every done input. */
export const rowsDone = (job: JobState): number => job.inputs.reduce((n, f) => n + f.rows, 0)

const updateInput = (job: JobState, index: number, f: (input: JobInputState) => JobInputState): JobState => {
  const input = job.inputs[index]
  if (input === undefined) return job
  const inputs = job.inputs.slice()
  inputs[index] = f(input)
  return { ...job, inputs }
}

/**
 * Applies one envelope to the jobs. Events of a finished job change nothing (the runner records nothing after a
 * cancel, but a replay must not be able to revive one either).
 */
export const applyJobs = (state: JobsState, envelope: Envelope): JobsState => {
  const event = envelope.event
  if (event._tag === "JobCreated") {
    if (state.jobs.has(event.jobId)) return state
    const job: JobState = {
      id: event.jobId,
      kind: event.kind,
      spec: event.spec,
      idempotencyKey: event.idempotencyKey,
      status: "queued",
      attempts: 0,
      inputs: event.inputs.map((i) => ({ ...i, status: "pending", rows: 0, skipped: 0, rowsRead: 0, added: [] })),
      lastMessage: null,
      createdAt: envelope.at,
      startedAt: null,
      completedAt: null,
      lastUpdatedAt: envelope.at,
      createdSeq: envelope.seq
    }
    const byIdempotencyKey =
      event.idempotencyKey === null
        ? state.byIdempotencyKey
        : new Map(state.byIdempotencyKey).set(event.idempotencyKey, event.jobId)
    return { jobs: new Map(state.jobs).set(job.id, job), byIdempotencyKey }
  }
  if (!("jobId" in event) || typeof event.jobId !== "string") return state
  const job = state.jobs.get(event.jobId)
  if (event._tag === "JobDeleted") {
    if (job === undefined || !isFinished(job)) return state
    const jobs = new Map(state.jobs)
    jobs.delete(job.id)
    return { ...state, jobs }
  }
  if (job === undefined || isFinished(job)) return state
  const at = envelope.at
  let next: JobState
  switch (event._tag) {
    case "JobDispatched":
      next = { ...job, status: "dispatched", attempts: event.attempt, startedAt: job.startedAt ?? at }
      break
    case "JobInputStarted":
      next = updateInput(job, event.input, (i) => ({ ...i, status: "running", rowsRead: 0 }))
      break
    case "JobProgress":
      next = updateInput(job, event.input, (i) => ({ ...i, rowsRead: event.rowsRead }))
      break
    case "JobInputDone":
      next = updateInput(job, event.input, (i) => ({ ...i, status: "done", rows: event.rows, skipped: event.skipped, rowsRead: event.rows + event.skipped, added: event.added.map((f) => f.path) }))
      break
    case "JobFailed":
      next = { ...job, status: event.terminal ? "terminal_failed" : "failed", lastMessage: event.message, completedAt: event.terminal ? at : null }
      break
    case "JobCancelled":
      next = { ...job, status: "cancelled", completedAt: at }
      break
    case "JobCompleted":
      next = { ...job, status: "completed", completedAt: at }
      break
    default:
      return state
  }
  return { ...state, jobs: new Map(state.jobs).set(job.id, { ...next, lastUpdatedAt: at }) }
}

/** Whether an envelope is a job event (the projection skips the rest). */
export const isJobEvent = (envelope: Envelope): boolean => envelope.event._tag.startsWith("Job")
