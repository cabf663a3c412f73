import { Schema } from "effect"

/** What a trigger does when its plugin raises: log and go on, run the same input again, or disable the trigger. */
export const ErrorBehavior = Schema.Literal("log", "retry", "disable")
export type ErrorBehavior = typeof ErrorBehavior.Type

/**
 * A processing-engine trigger was created on a database: `specification` is the trigger specification as given
 * (`table:<t>`, `all_tables`, `every:<d>`, `cron:<expr>`, `request:<path>`), validated before the event is logged.
 */
export class TriggerCreated extends Schema.TaggedClass<TriggerCreated>()("TriggerCreated", {
  version: Schema.Literal(1),
  dbId: Schema.Number,
  name: Schema.String,
  pluginFilename: Schema.String,
  specification: Schema.String,
  arguments: Schema.NullOr(Schema.Record({ key: Schema.String, value: Schema.String })),
  runAsync: Schema.Boolean,
  errorBehavior: ErrorBehavior,
  disabled: Schema.Boolean
}) {}

/** A trigger was enabled: a WAL trigger sees the writes committed from this event on. */
export class TriggerEnabled extends Schema.TaggedClass<TriggerEnabled>()("TriggerEnabled", {
  version: Schema.Literal(1),
  dbId: Schema.Number,
  name: Schema.String
}) {}

/** A trigger was disabled, by request or by its `error_behavior` (`reason` says which). */
export class TriggerDisabled extends Schema.TaggedClass<TriggerDisabled>()("TriggerDisabled", {
  version: Schema.Literal(1),
  dbId: Schema.Number,
  name: Schema.String,
  reason: Schema.NullOr(Schema.String)
}) {}

export class TriggerDeleted extends Schema.TaggedClass<TriggerDeleted>()("TriggerDeleted", {
  version: Schema.Literal(1),
  dbId: Schema.Number,
  name: Schema.String
}) {}

/**
 * A WAL trigger processed every write of its database up to `throughSeq`. Logged in the same commit as the plugin's
 * buffered writes (or alone when it wrote nothing), so a restart neither skips nor repeats a batch.
 */
export class TriggerBatchProcessed extends Schema.TaggedClass<TriggerBatchProcessed>()("TriggerBatchProcessed", {
  version: Schema.Literal(1),
  dbId: Schema.Number,
  name: Schema.String,
  throughSeq: Schema.Number
}) {}

export const EngineEvent = Schema.Union(
  TriggerCreated,
  TriggerEnabled,
  TriggerDisabled,
  TriggerDeleted,
  TriggerBatchProcessed
)
export type EngineEvent = typeof EngineEvent.Type
