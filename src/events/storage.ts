import { Schema } from "effect"
import { Nanos } from "./common.ts"

/** One Parquet file a persist wrote: where it is (relative to the data dir), whose rows, how many, which times. */
export const PersistedFile = Schema.Struct({
  path: Schema.String,
  dbId: Schema.Number,
  tableId: Schema.Number,
  rows: Schema.Number,
  minTimeNs: Nanos,
  maxTimeNs: Nanos,
  bytes: Schema.Number,
  /** The table's tag and field columns the file holds (later columns read as NULL from it). */
  columns: Schema.Array(Schema.String),
  /**
   * File index: the distinct non-null values of each indexed column (written by compaction; absent when not indexed).
   */
  index: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Array(Schema.String) }))
})
export type PersistedFile = typeof PersistedFile.Type

/**
 * Buffered rows were written to Parquet: every row of every write event up to `persistedSeq` (that was not deleted
 * since) is in `files`, or in the files of earlier persists. A start re-applies only the writes after it.
 */
export class SnapshotPersisted extends Schema.TaggedClass<SnapshotPersisted>()("SnapshotPersisted", {
  version: Schema.Literal(1),
  persistedSeq: Schema.Number,
  files: Schema.Array(PersistedFile)
}) {}

/** A file a removal names: its path and whose rows it held. */
export const RemovedFile = Schema.Struct({ path: Schema.String, dbId: Schema.Number, tableId: Schema.Number })
export type RemovedFile = typeof RemovedFile.Type

/**
 * Persisted files left the index for `reason` (`retention`: every row is older than now − the retention period when
 * the Compactor checked). The files themselves are deleted only after this commits; a crash in between leaves
 * files no index names, removed at start.
 */
export class FilesRemoved extends Schema.TaggedClass<FilesRemoved>()("FilesRemoved", {
  version: Schema.Literal(1),
  reason: Schema.Literal("retention"),
  files: Schema.Array(RemovedFile)
}) {}

/**
 * The files of one table and one 24-hour UTC window (`window`, `YYYY-MM-DD`) were compacted: `removed` (gen1 files
 * and earlier compacted ones) are replaced by `added` (deduplicated, sorted), which rank as the newest of the files
 * they replace. The removed files are deleted only after this commits; a crash in between leaves files no index
 * names, removed at start.
 */
export class WindowCompacted extends Schema.TaggedClass<WindowCompacted>()("WindowCompacted", {
  version: Schema.Literal(1),
  dbId: Schema.Number,
  tableId: Schema.Number,
  window: Schema.String,
  generation: Schema.Number,
  removed: Schema.Array(Schema.String),
  added: Schema.Array(PersistedFile)
}) {}

/**
 * The projections (catalog, tokens, file index) as of `seq` were written to `path` (relative to the data dir). A start
 * loads the newest checkpoint whose file verifies (`sha256`) and applies only the events after `seq`.
 */
export class CheckpointWritten extends Schema.TaggedClass<CheckpointWritten>()("CheckpointWritten", {
  version: Schema.Literal(1),
  seq: Schema.Number,
  path: Schema.String,
  bytes: Schema.Number,
  sha256: Schema.String
}) {}

export const StorageEvent = Schema.Union(SnapshotPersisted, FilesRemoved, WindowCompacted, CheckpointWritten)
export type StorageEvent = typeof StorageEvent.Type
