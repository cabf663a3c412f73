import { Schema } from "effect"

/** A last-value cache on a table: the newest `count` rows per combination of key column values. */
export class LastCacheCreated extends Schema.TaggedClass<LastCacheCreated>()("LastCacheCreated", {
  version: Schema.Literal(1),
  dbId: Schema.Number,
  tableId: Schema.Number,
  cacheId: Schema.Number,
  name: Schema.String,
  keyColumnIds: Schema.Array(Schema.Number),
  /** Null: every non-key column, including those added later. */
  valueColumnIds: Schema.NullOr(Schema.Array(Schema.Number)),
  count: Schema.Number,
  ttlSeconds: Schema.Number,
  /** The `node_spec` as given (InfluxDB 3 Enterprise's node selection); null means all nodes. */
  nodeSpec: Schema.NullOr(Schema.Unknown)
}) {}

export class LastCacheDeleted extends Schema.TaggedClass<LastCacheDeleted>()("LastCacheDeleted", {
  version: Schema.Literal(1),
  dbId: Schema.Number,
  tableId: Schema.Number,
  name: Schema.String
}) {}

/** A distinct-value cache on a table: the distinct combinations of its (tag or string) columns seen lately. */
export class DistinctCacheCreated extends Schema.TaggedClass<DistinctCacheCreated>()("DistinctCacheCreated", {
  version: Schema.Literal(1),
  dbId: Schema.Number,
  tableId: Schema.Number,
  cacheId: Schema.Number,
  name: Schema.String,
  columnIds: Schema.Array(Schema.Number),
  maxCardinality: Schema.Number,
  maxAgeSeconds: Schema.Number,
  nodeSpec: Schema.NullOr(Schema.Unknown)
}) {}

export class DistinctCacheDeleted extends Schema.TaggedClass<DistinctCacheDeleted>()("DistinctCacheDeleted", {
  version: Schema.Literal(1),
  dbId: Schema.Number,
  tableId: Schema.Number,
  name: Schema.String
}) {}
