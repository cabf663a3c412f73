import { Clock, Effect, Metric } from "effect"
import { Catalog } from "../catalog/Catalog.ts"
import type { CatalogState } from "../catalog/state.ts"
import { FilesRemoved, type RemovedFile } from "../events/index.ts"
import { EventLog } from "../log/EventLog.ts"
import { FileIndex } from "../storage/FileIndex.ts"
import { indexedPaths, type FileIndexState } from "../storage/files.ts"
import { ObjectStore } from "../storage/ObjectStore.ts"
import { retentionCutoffNs } from "../storage/retention.ts"
import { TableSources } from "../storage/TableSource.ts"

export const retentionFilesRemovedTotal = Metric.counter("strata_retention_files_removed_total", {
  description: "Parquet files taken out of the index because every row was older than the table's retention"
})
export const storeFilesDeletedTotal = Metric.counter("strata_store_files_deleted_total", {
  description: "Parquet files deleted from the store after the index dropped them (retention, deletes, replaced files)"
})

/** The indexed files whose rows are all older than their table's retention cutoff at `nowMs` (max time before it). */
export const filesOutsideRetention = (
  catalog: CatalogState,
  index: FileIndexState,
  nowMs: number
): ReadonlyArray<RemovedFile> => {
  const out: Array<RemovedFile> = []
  for (const [tableId, files] of index.tables) {
    const dbId = files[0]?.dbId
    const db = dbId === undefined ? undefined : catalog.databases.get(dbId)
    const table = db?.tables.get(tableId)
    if (db === undefined || table === undefined) continue
    const cutoff = retentionCutoffNs(db, table, nowMs)
    if (cutoff === undefined) continue
    for (const f of files) if (f.maxTimeNs < cutoff) out.push({ path: f.path, dbId: f.dbId, tableId: f.tableId })
  }
  return out
}

/**
 * The Compactor's retention and deletion sweep. It records the files wholly outside retention as one FilesRemoved
 * event and applies it to the index; then every file the index dropped since the last sweep (by that event, a table
 * or database deletion, a compaction) is deleted from the store, once the queries that may have planned with it are
 * done. A crash between the commit and the deletion leaves files no index names, which a start removes.
 */
export const makeRetentionSweep = Effect.gen(function* () {
  const catalog = yield* Catalog
  const fileIndex = yield* FileIndex
  const sources = yield* TableSources
  const store = yield* ObjectStore
  const log = yield* EventLog

  return Effect.gen(function* () {
    const nowMs = yield* Clock.currentTimeMillis
    const expired = filesOutsideRetention(yield* catalog.current, fileIndex.unsafeCurrent(), nowMs)
    if (expired.length > 0) {
      // The file index applies the event before the append returns.
      yield* log.append([{ event: new FilesRemoved({ version: 1, reason: "retention", files: expired }) }])
      yield* Metric.incrementBy(retentionFilesRemovedTotal, expired.length)
      yield* Effect.logInfo(`${expired.length} Parquet file(s) are wholly outside retention; removing them`)
    }
    const released = yield* fileIndex.takeReleased
    if (released.length === 0) return
    yield* sources.drainReaders
    // A restore meanwhile may have named a released file again.
    const indexed = indexedPaths(fileIndex.unsafeCurrent())
    for (const path of released) {
      if (indexed.has(path)) continue
      yield* store.remove(path).pipe(
        Effect.zipRight(Metric.increment(storeFilesDeletedTotal)),
        // Left on disk, it is named by no index: the next start removes it.
        Effect.catchAll((e) => Effect.logWarning(`could not delete ${path} (the next start removes it): ${e.message}`))
      )
    }
  })
})
