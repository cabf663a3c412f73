import { Schema } from "effect"
import { PersistedFile } from "./storage.ts"

/** One input of a job: a name to report it by, where it is read from, its size when known (-1 otherwise). */
export const JobInput = Schema.Struct({
  name: Schema.String,
  source: Schema.String,
  bytes: Schema.Number
})
export type JobInput = typeof JobInput.Type

/**
 * A job came to be: `kind` says which worker runs it (`import`, later `backup`), `inputs` are the files it works
 * through in order, `spec` is the worker's own description (JSON). `idempotencyKey` names the request that made it.
 */
export class JobCreated extends Schema.TaggedClass<JobCreated>()("JobCreated", {
  version: Schema.Literal(1),
  jobId: Schema.String,
  kind: Schema.String,
  inputs: Schema.Array(JobInput),
  spec: Schema.Unknown,
  idempotencyKey: Schema.NullOr(Schema.String)
}) {}

/** The runner picked the job up (again, after a restart or a failed attempt). */
export class JobDispatched extends Schema.TaggedClass<JobDispatched>()("JobDispatched", {
  version: Schema.Literal(1),
  jobId: Schema.String,
  attempt: Schema.Number
}) {}

/** The runner began one input. A start that finds it begun but not done redoes it: nothing of it is visible yet. */
export class JobInputStarted extends Schema.TaggedClass<JobInputStarted>()("JobInputStarted", {
  version: Schema.Literal(1),
  jobId: Schema.String,
  input: Schema.Number
}) {}

/**
 * One input is done: `rows` taken, `skipped` refused (per-row errors), and `added` the Parquet files that now hold
 * its rows. The file index takes `added` from this very event, so the input's rows become visible all at once.
 */
export class JobInputDone extends Schema.TaggedClass<JobInputDone>()("JobInputDone", {
  version: Schema.Literal(1),
  jobId: Schema.String,
  input: Schema.Number,
  rows: Schema.Number,
  skipped: Schema.Number,
  added: Schema.Array(PersistedFile)
}) {}

/** How far a running input has come (rows read so far), for progress reports of long inputs. */
export class JobProgress extends Schema.TaggedClass<JobProgress>()("JobProgress", {
  version: Schema.Literal(1),
  jobId: Schema.String,
  input: Schema.Number,
  rowsRead: Schema.Number
}) {}

/** An attempt failed (`terminal`: the runner gives up; otherwise it retries later). */
export class JobFailed extends Schema.TaggedClass<JobFailed>()("JobFailed", {
  version: Schema.Literal(1),
  jobId: Schema.String,
  message: Schema.String,
  terminal: Schema.Boolean
}) {}

/** The job was cancelled: inputs already done stay, nothing of the input in progress becomes visible. */
export class JobCancelled extends Schema.TaggedClass<JobCancelled>()("JobCancelled", {
  version: Schema.Literal(1),
  jobId: Schema.String
}) {}

/** Every input is done. */
export class JobCompleted extends Schema.TaggedClass<JobCompleted>()("JobCompleted", {
  version: Schema.Literal(1),
  jobId: Schema.String
}) {}

/** A finished job's record is removed (a deleted backup): it is listed no more. */
export class JobDeleted extends Schema.TaggedClass<JobDeleted>()("JobDeleted", {
  version: Schema.Literal(1),
  jobId: Schema.String
}) {}

export const JobEvent = Schema.Union(
  JobCreated,
  JobDispatched,
  JobInputStarted,
  JobInputDone,
  JobProgress,
  JobFailed,
  JobCancelled,
  JobCompleted,
  JobDeleted
)
export type JobEvent = typeof JobEvent.Type
