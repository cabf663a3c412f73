import { Effect, Metric } from "effect"
import { Checkpoints } from "../checkpoint/Checkpoints.ts"
import { EventLog, type Envelope } from "../log/EventLog.ts"
import { applyFileIndex, indexedPaths } from "./files.ts"
import { ObjectStore, SCRATCH_MARK } from "./ObjectStore.ts"

/** Where persisted table files live in the object store. */
export const DBS_PREFIX = "dbs/"

export const persistedFilesGauge = Metric.gauge("strata_persisted_files", { description: "Parquet files in the persisted-file index" })
export const persistedBytesGauge = Metric.gauge("strata_persisted_bytes", { description: "Bytes of the Parquet files in the persisted-file index" })
export const orphanFilesRemovedTotal = Metric.counter("strata_orphan_files_removed_total", {
  description: "Files under dbs/ removed at start because no persist recorded them (a crash while persisting)"
})

const relevant = (e: Envelope) =>
  e.event._tag === "SnapshotPersisted" ||
  e.event._tag === "JobInputDone" ||
  e.event._tag === "FilesRemoved" ||
  e.event._tag === "WindowCompacted" ||
  e.event._tag === "TableDataDeleted" ||
  e.event._tag === "TableHardDeleted" ||
  e.event._tag === "DatabaseDataDeleted" ||
  e.event._tag === "DatabaseHardDeleted" ||
  e.event._tag === "RestoreApplied"

/**
 * The persisted-file index, projected from the log: at start from the checkpoint and the events after it, then live,
 * each committed event applied before its append returns (so rows leave the buffer only once queries find them in
 * files). At start, files under `dbs/` that no persist recorded (a crash
 * between writing and recording, or scratch files) are removed.
 */
export class FileIndex extends Effect.Service<FileIndex>()("strata/FileIndex", {
  dependencies: [Checkpoints.Default, EventLog.Default],
  scoped: Effect.gen(function* () {
    const log = yield* EventLog
    const store = yield* ObjectStore
    let state = (yield* Checkpoints).recovered.files

    const indexed = indexedPaths(state)
    const present = yield* store.list(DBS_PREFIX)
    const orphans = present.filter((p) => !indexed.has(p) || p.includes(SCRATCH_MARK))
    for (const path of orphans) yield* store.remove(path)
    if (orphans.length > 0) {
      yield* Metric.incrementBy(orphanFilesRemovedTotal, orphans.length)
      yield* Effect.logWarning(`removed ${orphans.length} file(s) under dbs/ that no persist recorded (left by a crash while persisting)`)
    }

    const publish = Effect.suspend(() => {
      let files = 0
      let bytes = 0
      for (const list of state.tables.values()) for (const f of list) (files += 1), (bytes += f.bytes)
      return Effect.zipRight(Metric.set(persistedFilesGauge, files), Metric.set(persistedBytesGauge, bytes))
    })
    yield* publish

    // Paths the index dropped since the Compactor last took them: their files are deleted once no query reads them.
    let released = new Set<string>()

    /** Applies committed envelopes to the index. */
    const apply = (envelopes: ReadonlyArray<Envelope>) =>
      Effect.suspend(() => {
        for (const e of envelopes) {
          if (!relevant(e)) continue
          const before = state
          state = applyFileIndex(state, e)
          if (before !== state && e.event._tag !== "SnapshotPersisted") {
            const kept = indexedPaths(state)
            for (const p of indexedPaths(before)) if (!kept.has(p)) released.add(p)
            // A restore may name again a file released earlier (and put back in dbs/): it must not be deleted.
            if (e.event._tag === "RestoreApplied") for (const p of kept) released.delete(p)
          }
        }
        return publish
      })

    yield* log.project("file-index", apply)

    return {
      /** The index as it stands. */
      current: Effect.sync(() => state),
      /** The index as it stands, without an effect (the planner reads it while translating). */
      unsafeCurrent: () => state,
      /**
       * The paths the index dropped since the last call (deletes, retention, replaced files), to delete from the store.
       */
      takeReleased: Effect.sync((): ReadonlyArray<string> => {
        const out = [...released]
        released = new Set()
        return out
      })
    } as const
  })
}) {}
