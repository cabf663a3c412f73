import { Schema } from "effect"

/**
 * The log dropped the rows of persisted write events up to `throughSeq` (their rows are in Parquet): the `events`
 * write events with `payloadBytes` of payload, all but the newest `--snapshotted-log-keep`. Every other kind of event
 * stays. A start never reads writes up to the last persist, so nothing it rebuilds changes.
 */
export class LogTruncated extends Schema.TaggedClass<LogTruncated>()("LogTruncated", {
  version: Schema.Literal(1),
  /** The oldest write event dropped. */
  fromSeq: Schema.Number,
  throughSeq: Schema.Number,
  events: Schema.Number,
  payloadBytes: Schema.Number
}) {}

export const LogEvent = Schema.Union(LogTruncated)
export type LogEvent = typeof LogEvent.Type
