import { Schema } from "effect"
import { Nanos } from "./common.ts"

/**
 * One accepted write batch. The line protocol itself travels in the envelope's payload (not in this body),
 * so the hot path never JSON-encodes it; replay re-parses the payload, skips `rejectedLines`, and uses
 * `defaultTimeNs` for lines without a timestamp, which reproduces exactly the rows that were acknowledged.
 */
export class WriteBatch extends Schema.TaggedClass<WriteBatch>()("WriteBatch", {
  version: Schema.Literal(1),
  db: Schema.String,
  dbId: Schema.Number,
  precision: Schema.String,
  defaultTimeNs: Nanos,
  rejectedLines: Schema.Array(Schema.Number)
}) {}
