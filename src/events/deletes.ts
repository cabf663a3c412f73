import { Schema } from "effect"
import { Nanos } from "./common.ts"

/** One `tag = 'value'` term of a row-delete predicate (terms are joined by AND). */
export const TagEquality = Schema.Struct({ column: Schema.String, value: Schema.String })
export type TagEquality = typeof TagEquality.Type

/**
 * A row-delete request was accepted: rows of the table in [minTimeNs, maxTimeNs) matching every term, written before
 * this event (its seq is the request's `sequence`), are hidden from queries at once and rewritten out of the Parquet
 * files by the Compactor once the request is older than `--row-delete-min-age`. `requestId` lets the caller find
 * the sequence it got.
 */
export class RowDeleteRequested extends Schema.TaggedClass<RowDeleteRequested>()("RowDeleteRequested", {
  version: Schema.Literal(1),
  requestId: Schema.String,
  dbId: Schema.Number,
  tableId: Schema.Number,
  dbName: Schema.String,
  tableName: Schema.String,
  predicateText: Schema.String,
  predicate: Schema.Array(TagEquality),
  /** Inclusive; null for no lower bound. */
  minTimeNs: Schema.NullOr(Nanos),
  /** Exclusive; null for no upper bound. */
  maxTimeNs: Schema.NullOr(Nanos)
}) {}

/** A pending row-delete request was aborted: its rows are visible again where no rewrite removed them yet. */
export class RowDeleteAborted extends Schema.TaggedClass<RowDeleteAborted>()("RowDeleteAborted", {
  version: Schema.Literal(1),
  sequence: Schema.Number,
  reason: Schema.String
}) {}

/**
 * The Compactor rewrote every Parquet file the request touched (`files` of them): no stored row matches it any more.
 */
export class RowDeleteCompleted extends Schema.TaggedClass<RowDeleteCompleted>()("RowDeleteCompleted", {
  version: Schema.Literal(1),
  sequence: Schema.Number,
  files: Schema.Number
}) {}

/** A file index on `columns` for a table (or, with `tableId` null, every table of the database). */
export class FileIndexCreated extends Schema.TaggedClass<FileIndexCreated>()("FileIndexCreated", {
  version: Schema.Literal(1),
  dbId: Schema.Number,
  tableId: Schema.NullOr(Schema.Number),
  columns: Schema.Array(Schema.String)
}) {}

/** A file index was deleted: compactions stop recording values for it (files keep what they recorded). */
export class FileIndexDeleted extends Schema.TaggedClass<FileIndexDeleted>()("FileIndexDeleted", {
  version: Schema.Literal(1),
  dbId: Schema.Number,
  tableId: Schema.NullOr(Schema.Number)
}) {}

export const DeleteEvent = Schema.Union(
  RowDeleteRequested,
  RowDeleteAborted,
  RowDeleteCompleted,
  FileIndexCreated,
  FileIndexDeleted
)
export type DeleteEvent = typeof DeleteEvent.Type
