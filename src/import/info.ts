import { liveTable, type CatalogState } from "../catalog/state.ts"
import type { LiveProgress } from "../jobs/Jobs.ts"
import { isFinished, rowsDone, type JobState } from "../jobs/state.ts"
import { indexedPaths, type FileIndexState } from "../storage/files.ts"
import type { ImportSpec } from "./spec.ts"

/** The seed's status: a completed job is `imported` until compaction replaced every file it added. */
export const seedStatus = (job: JobState, indexed: ReadonlySet<string>): string => {
  switch (job.status) {
    case "completed": {
      const paths = job.inputs.flatMap((i) => i.added)
      return paths.length > 0 && paths.every((p) => !indexed.has(p)) ? "compacted" : "imported"
    }
    default:
      return job.status
  }
}

/**
 * A job as `UploadedImportInfo` (every field of the seed) plus progress and its files, given the catalog, the file
 * index and the running input's progress (undefined when none runs).
 */
export const importInfo = (
  job: JobState,
  state: CatalogState,
  files: FileIndexState,
  live: LiveProgress | undefined
) => {
  const spec = job.spec as ImportSpec
  // A table created by the job has its id only once the job made it.
  const db = state.databases.get(spec.dbId)
  const tableId = spec.tableId ?? (db === undefined ? undefined : liveTable(db, spec.table)?.id) ?? null
  const indexed = indexedPaths(files)
  const up = spec.upload
  const rows = rowsDone(job)
  const done = job.inputs.filter((i) => i.status === "done").length
  const now = isFinished(job) ? undefined : live
  const fraction = now === undefined || job.inputs[now.input]?.status === "done" ? 0 : now.fraction
  const progressOf = (index: number) =>
    now === undefined || now.input !== index || job.inputs[index]!.status === "done"
      ? null
      : {
          phase: now.phase,
          bytes_done: now.bytesDone,
          bytes_total: now.bytesTotal < 0 ? null : now.bytesTotal,
          rows_done: now.rowsDone,
          rows_total: now.rowsTotal < 0 ? null : now.rowsTotal,
          percent: Math.floor(100 * now.fraction)
        }
  return {
    upload_uuid: job.id,
    db_id: spec.dbId,
    table_id: tableId,
    filename: up?.filename ?? job.inputs[0]?.name ?? "",
    status: seedStatus(job, indexed),
    last_message: job.lastMessage,
    created_at: Number(job.createdAt),
    started_at: job.startedAt === null ? null : Number(job.startedAt),
    completed_at: job.completedAt === null ? null : Number(job.completedAt),
    last_updated_at: Number(job.lastUpdatedAt),
    column_metadata: { column_mapping: spec.mapping },
    iox_parquet: up?.ioxParquet ?? false,
    size_bytes: up?.sizeBytes ?? job.inputs.reduce((n, i) => n + Math.max(0, i.bytes), 0),
    row_count: up?.rowCount ?? rows,
    min_timestamp_ns: up === null ? null : Number(up.minTimestampNs),
    max_timestamp_ns: up === null ? null : Number(up.maxTimestampNs),
    database: spec.database,
    table: spec.table,
    on_error: spec.onError,
    rows_imported: rows,
    rows_skipped: job.inputs.reduce((n, i) => n + i.skipped, 0),
    files_total: job.inputs.length,
    files_done: done,
    percent_complete: job.status === "completed" ? 100 : job.inputs.length === 0 ? 0 : Math.floor((100 * (done + fraction)) / job.inputs.length),
    files: job.inputs.map((i, index) => {
      const file = { name: i.name, rows: i.rows, skipped: i.skipped, status: i.status, error: i.status !== "done" && isFinished(job) && job.status !== "completed" ? job.lastMessage : null }
      // Only the input in progress has (in-memory) progress: bytes and rows so far, updated while it runs.
      const progress = progressOf(index)
      return progress === null ? file : { ...file, progress }
    })
  }
}
