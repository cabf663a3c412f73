import { Metric } from "effect"
import type { CatalogState } from "../catalog/state.ts"
import { windowOf, type WindowFiles } from "../compactor/compaction.ts"
import { filesOf, type FileIndexState, type IndexedFile } from "../storage/files.ts"
import { deletesOf, requestApplies, type RowDeleteRequest } from "./state.ts"

export const rowDeletesCompletedTotal = Metric.counter("strata_row_deletes_completed_total", {
  description: "Row-delete requests the Compactor completed (every file they touched rewritten without their rows)"
})
export const rowDeleteFilesRewrittenTotal = Metric.counter("strata_row_delete_files_rewritten_total", {
  description: "Parquet files replaced by row-delete rewrites"
})

/** A pending row-delete request old enough to be applied, and the windows (all their files) it must rewrite. */
export interface DueRowDelete {
  readonly request: RowDeleteRequest
  readonly windows: ReadonlyArray<WindowFiles>
}

/** The files a request may still hide rows of. */
export const applicableFiles = (index: FileIndexState, r: RowDeleteRequest): ReadonlyArray<IndexedFile> =>
  filesOf(index, r.tableId).filter((f) => requestApplies(r, f))

/**
 * The pending requests older than `minAgeMs` at `nowMs`, oldest first, each with the 24-hour windows holding files
 * it applies to. Rewriting a window merges all its files (with every active request's rows left out), so a request
 * is complete once its windows are rewritten.
 */
export const dueRowDeletes = (
  catalog: CatalogState,
  index: FileIndexState,
  nowMs: number,
  minAgeMs: number
): ReadonlyArray<DueRowDelete> => {
  const due: Array<DueRowDelete> = []
  const nowNs = BigInt(nowMs) * 1_000_000n
  const minAgeNs = BigInt(minAgeMs) * 1_000_000n
  for (const r of [...deletesOf(catalog).requests.values()].sort((a, b) => a.sequence - b.sequence)) {
    if (r.disposition !== "pending" || r.createdAtNs + minAgeNs > nowNs) continue
    const days = new Set(applicableFiles(index, r).map((f) => windowOf(f.minTimeNs)))
    const byDay = new Map<bigint, Array<IndexedFile>>()
    for (const f of filesOf(index, r.tableId)) {
      const day = windowOf(f.minTimeNs)
      if (!days.has(day)) continue
      const list = byDay.get(day)
      if (list === undefined) byDay.set(day, [f])
      else list.push(f)
    }
    const windows = [...byDay].map(([day, files]): WindowFiles => ({ tableId: r.tableId, day, files, newestGen1: 0 }))
    due.push({ request: r, windows })
  }
  return due
}
