import { describe, expect, it } from "@effect/vitest"
import { JobCancelled, JobCompleted, JobCreated, JobDispatched, JobFailed, JobInputDone, JobInputStarted, type StrataEvent } from "../../src/events/index.ts"
import { applyJobs, emptyJobs, nextInput, rowsDone, type JobsState } from "../../src/jobs/state.ts"
import type { Envelope } from "../../src/log/EventLog.ts"

let seq = 0
const env = (event: StrataEvent): Envelope => ({ seq: ++seq, at: BigInt(seq) * 1000n, node: "n", event, payload: null })
const apply = (state: JobsState, ...events: Array<StrataEvent>) => events.reduce((s, e) => applyJobs(s, env(e)), state)
const inputs = [0, 1, 2].map((i) => ({ name: `f${i}`, source: `file:///f${i}`, bytes: 10 }))
const created = new JobCreated({ version: 1, jobId: "j", kind: "import", inputs, spec: { any: "thing" }, idempotencyKey: "k" })
const done = (input: number, rows: number) => new JobInputDone({ version: 1, jobId: "j", input, rows, skipped: 1, added: [] })

describe("the job reducer", () => {
  it("a created job is queued with every input pending, and its idempotency key names it", () => {
    const s = apply(emptyJobs, created)
    expect(s.jobs.get("j")).toMatchObject({ status: "queued", attempts: 0, startedAt: null, lastMessage: null })
    expect(s.jobs.get("j")!.inputs.map((i) => i.status)).toEqual(["pending", "pending", "pending"])
    expect(s.byIdempotencyKey.get("k")).toBe("j")
  })

  it("resumes from the first input not recorded as done: a started but unfinished input is redone", () => {
    const s = apply(emptyJobs, created, new JobDispatched({ version: 1, jobId: "j", attempt: 1 }), new JobInputStarted({ version: 1, jobId: "j", input: 0 }), done(0, 5), new JobInputStarted({ version: 1, jobId: "j", input: 1 }))
    const job = s.jobs.get("j")!
    expect(job.status).toBe("dispatched")
    expect(job.inputs.map((i) => i.status)).toEqual(["done", "running", "pending"])
    expect(nextInput(job)).toBe(1)
    expect(rowsDone(job)).toBe(5)
  })

  it("a failed attempt is retryable, a terminal one is final with its message", () => {
    const failed = apply(emptyJobs, created, new JobFailed({ version: 1, jobId: "j", message: "disk full", terminal: false }))
    expect(failed.jobs.get("j")).toMatchObject({ status: "failed", lastMessage: "disk full", completedAt: null })
    const again = apply(failed, new JobDispatched({ version: 1, jobId: "j", attempt: 2 }), new JobFailed({ version: 1, jobId: "j", message: "bad row", terminal: true }))
    expect(again.jobs.get("j")).toMatchObject({ status: "terminal_failed", lastMessage: "bad row", attempts: 2 })
  })

  it("nothing changes a finished job: events after a cancel or completion are ignored", () => {
    const cancelled = apply(emptyJobs, created, new JobCancelled({ version: 1, jobId: "j" }))
    expect(apply(cancelled, done(0, 5), new JobCompleted({ version: 1, jobId: "j" })).jobs.get("j")).toEqual(cancelled.jobs.get("j"))
    const completed = apply(emptyJobs, created, done(0, 1), done(1, 2), done(2, 3), new JobCompleted({ version: 1, jobId: "j" }))
    expect(completed.jobs.get("j")!.status).toBe("completed")
    expect(apply(completed, new JobCancelled({ version: 1, jobId: "j" })).jobs.get("j")!.status).toBe("completed")
  })

  it("a repeated JobCreated does not reset a job", () => {
    const s = apply(emptyJobs, created, done(0, 5))
    expect(apply(s, created)).toBe(s)
  })
})
