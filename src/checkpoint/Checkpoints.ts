import { Effect, Metric, Stream } from "effect"
import { applyEnvelope, emptyCatalog, type CatalogState } from "../catalog/state.ts"
import { CheckpointWritten } from "../events/index.ts"
import { applyJobs, emptyJobs, isJobEvent, type JobsState } from "../jobs/state.ts"
import { EventLog, type LogWriteFailed } from "../log/EventLog.ts"
import { applyFileIndex, emptyFileIndex, type FileIndexState } from "../storage/files.ts"
import { ObjectStore, type StorageError } from "../storage/ObjectStore.ts"
import { decodeCheckpoint, encodeCheckpoint, sha256, type ProjectionsAt } from "./codec.ts"

/** Where checkpoint files live in the object store. */
export const CHECKPOINTS_PREFIX = "checkpoints/"

export const checkpointsWrittenTotal = Metric.counter("strata_checkpoints_written_total", { description: "Checkpoints of the projections written" })
export const checkpointEventsReplayed = Metric.gauge("strata_start_events_replayed", {
  description: "Events (writes left out) the last start applied after its checkpoint"
})

const checkpointPath = (seq: number) => `${CHECKPOINTS_PREFIX}${String(seq).padStart(12, "0")}.json`

/**
 * Checkpoints of the catalog (with tokens) and the file index. At start it loads the newest checkpoint the log names
 * whose file verifies, and applies the events after it (writes left out: the write buffer replays those itself);
 * the Catalog and the FileIndex start from what it recovered. Without a usable checkpoint the whole log is read.
 */
export class Checkpoints extends Effect.Service<Checkpoints>()("strata/Checkpoints", {
  dependencies: [EventLog.Default],
  scoped: Effect.gen(function* () {
    const log = yield* EventLog
    const store = yield* ObjectStore

    let loaded: ProjectionsAt | undefined
    let loadedPath: string | undefined
    for (const envelope of yield* log.latestOfKind("CheckpointWritten", 3)) {
      const e = envelope.event as CheckpointWritten
      const bytes = yield* Effect.either(store.get(e.path))
      if (bytes._tag === "Left") {
        yield* Effect.logWarning(`checkpoint ${e.path} (seq ${e.seq}) cannot be read, trying an older one: ${bytes.left.message}`)
        continue
      }
      if (sha256(bytes.right) !== e.sha256) {
        yield* Effect.logWarning(`checkpoint ${e.path} (seq ${e.seq}) does not match its checksum, trying an older one`)
        continue
      }
      try {
        loaded = decodeCheckpoint(bytes.right)
        loadedPath = e.path
        break
      } catch (error) {
        yield* Effect.logWarning(`checkpoint ${e.path} (seq ${e.seq}) cannot be decoded, trying an older one: ${String(error)}`)
      }
    }

    let catalog: CatalogState = loaded?.catalog ?? emptyCatalog
    let files: FileIndexState = loaded?.files ?? emptyFileIndex
    let jobs: JobsState = loaded?.jobs ?? emptyJobs
    // A checkpoint of an older server has no jobs: they are rebuilt from the job events up to it.
    if (loaded !== undefined && loaded.jobs === undefined) {
      const upTo = loaded.seq
      yield* log.stream(0, { excludeKind: "WriteBatch" }).pipe(
        Stream.takeWhile((e) => e.seq <= upTo),
        Stream.runForEach((e) => Effect.sync(() => void (isJobEvent(e) && (jobs = applyJobs(jobs, e)))))
      )
    }
    let replayed = 0
    yield* log.stream(loaded?.seq ?? 0, { excludeKind: "WriteBatch" }).pipe(
      Stream.runForEach((e) =>
        Effect.sync(() => {
          replayed += 1
          catalog = applyEnvelope(catalog, e)
          files = applyFileIndex(files, e)
          if (isJobEvent(e)) jobs = applyJobs(jobs, e)
        })
      )
    )
    yield* Metric.set(checkpointEventsReplayed, replayed)
    const recovered = { catalog, files, jobs, checkpointSeq: loaded?.seq ?? 0 } as const

    // Checkpoint files but the one loaded are superseded, or were written by a crash before their event committed.
    for (const path of yield* store.list(CHECKPOINTS_PREFIX)) if (path !== loadedPath) yield* store.remove(path)

    let lastSeq = loaded?.seq ?? 0
    let lastPath = loadedPath
    // Events the projections applied since the last checkpoint (writes left out): a start re-applies those.
    let eventsSince = replayed
    yield* log.project("checkpoint-counter", (envelopes) =>
      Effect.sync(() => {
        for (const e of envelopes) if (e.event._tag !== "WriteBatch") eventsSince += 1
      })
    )

    // The jobs projection lives in Jobs (built after the Compactor that writes checkpoints): Jobs hands its state here.
    let captureJobs: Effect.Effect<JobsState> | undefined

    /**
     * Writes a checkpoint of the projections `capture` reads (and the jobs, once Jobs runs), taken while no projection
     * is applying, then records it
     * in the log; the previous checkpoint's file is removed once the new one is recorded.
     */
    const write = (capture: Effect.Effect<{ readonly catalog: CatalogState; readonly files: FileIndexState }>) =>
      Effect.gen(function* () {
        const [seq, states] = yield* log.atCommitBoundary(Effect.zip(capture, captureJobs ?? Effect.succeed(undefined)))
        if (seq <= lastSeq) return undefined
        const counted = eventsSince
        const bytes = encodeCheckpoint({ seq, catalog: states[0].catalog, files: states[0].files, jobs: states[1] })
        const path = checkpointPath(seq)
        yield* store.put(path, bytes)
        yield *
          log
            .append([
              {
                event: new CheckpointWritten({ version: 1, seq, path, bytes: bytes.byteLength, sha256: sha256(bytes) })
              }
            ])
            .pipe(Effect.tapError(() => store.remove(path).pipe(Effect.ignore)))
        if (lastPath !== undefined) yield* store.remove(lastPath).pipe(Effect.ignore)
        lastSeq = seq
        lastPath = path
        // The CheckpointWritten itself counted one; events applied meanwhile stay counted.
        eventsSince = Math.max(0, eventsSince - counted)
        yield* Metric.increment(checkpointsWrittenTotal)
        yield* Effect.logDebug(`checkpoint of the projections at seq ${seq} written to ${path} (${bytes.byteLength} bytes)`)
        return { seq, path, bytes: bytes.byteLength }
      }) satisfies Effect.Effect<unknown, StorageError | LogWriteFailed>

    return {
      /** The projections as the start recovered them: from the newest checkpoint plus the events after it. */
      recovered,
      write,
      /** Makes checkpoints hold the jobs projection `capture` reads, for the caller's scope. */
      captureJobs: (capture: Effect.Effect<JobsState>) =>
        Effect.acquireRelease(
          Effect.sync(() => void (captureJobs = capture)),
          () => Effect.sync(() => void (captureJobs = undefined))
        ),
      /** Events (writes left out) applied since the last checkpoint. */
      eventsSince: Effect.sync(() => eventsSince)
    } as const
  })
}) {}
