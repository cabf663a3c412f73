import { Schema } from "effect"

/**
 * A restore took effect: the catalog (tokens, users and nodes kept as they are now) and the file index become the
 * backup's, as its checkpoint (`checkpoint`, the encoded checkpoint JSON at `backupSeq`) holds them. Every write
 * before this event is in those files or gone; the backup's unpersisted writes follow it as new WriteBatch events.
 */
export class RestoreApplied extends Schema.TaggedClass<RestoreApplied>()("RestoreApplied", {
  version: Schema.Literal(1),
  restoreId: Schema.String,
  backupName: Schema.String,
  backupSeq: Schema.Number,
  checkpoint: Schema.String
}) {}
