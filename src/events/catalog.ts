import { Schema } from "effect"
import { DistinctCacheCreated, DistinctCacheDeleted, LastCacheCreated, LastCacheDeleted } from "./caches.ts"
import { ColumnDef, Nanos } from "./common.ts"

export class DatabaseCreated extends Schema.TaggedClass<DatabaseCreated>()("DatabaseCreated", {
  version: Schema.Literal(1),
  dbId: Schema.Number,
  name: Schema.String,
  retentionPeriodNs: Schema.NullOr(Nanos)
}) {}

export class DatabaseRetentionSet extends Schema.TaggedClass<DatabaseRetentionSet>()("DatabaseRetentionSet", {
  version: Schema.Literal(1),
  dbId: Schema.Number,
  retentionPeriodNs: Schema.NullOr(Nanos)
}) {}

/** A soft delete: the database is renamed so its name can be reused, and scheduled for hard deletion. */
export class DatabaseSoftDeleted extends Schema.TaggedClass<DatabaseSoftDeleted>()("DatabaseSoftDeleted", {
  version: Schema.Literal(1),
  dbId: Schema.Number,
  newName: Schema.String,
  hardDeleteAtNs: Schema.NullOr(Nanos)
}) {}

/** The database and its data are gone; its id is never reused. */
export class DatabaseHardDeleted extends Schema.TaggedClass<DatabaseHardDeleted>()("DatabaseHardDeleted", {
  version: Schema.Literal(1),
  dbId: Schema.Number
}) {}

/** `data_only` delete: rows go, schema stays; with `removeTables` the tables go too. */
export class DatabaseDataDeleted extends Schema.TaggedClass<DatabaseDataDeleted>()("DatabaseDataDeleted", {
  version: Schema.Literal(1),
  dbId: Schema.Number,
  removeTables: Schema.Boolean
}) {}

export class TableCreated extends Schema.TaggedClass<TableCreated>()("TableCreated", {
  version: Schema.Literal(1),
  dbId: Schema.Number,
  tableId: Schema.Number,
  name: Schema.String,
  columns: Schema.Array(ColumnDef),
  retentionPeriodNs: Schema.NullOr(Nanos)
}) {}

/** Schema-on-write: new tag or field columns; new tags extend the series key. */
export class ColumnsAdded extends Schema.TaggedClass<ColumnsAdded>()("ColumnsAdded", {
  version: Schema.Literal(1),
  dbId: Schema.Number,
  tableId: Schema.Number,
  columns: Schema.Array(ColumnDef)
}) {}

export class TableRetentionSet extends Schema.TaggedClass<TableRetentionSet>()("TableRetentionSet", {
  version: Schema.Literal(1),
  dbId: Schema.Number,
  tableId: Schema.Number,
  retentionPeriodNs: Schema.NullOr(Nanos)
}) {}

export class TableSoftDeleted extends Schema.TaggedClass<TableSoftDeleted>()("TableSoftDeleted", {
  version: Schema.Literal(1),
  dbId: Schema.Number,
  tableId: Schema.Number,
  newName: Schema.String,
  hardDeleteAtNs: Schema.NullOr(Nanos)
}) {}

export class TableHardDeleted extends Schema.TaggedClass<TableHardDeleted>()("TableHardDeleted", {
  version: Schema.Literal(1),
  dbId: Schema.Number,
  tableId: Schema.Number
}) {}

export class TableDataDeleted extends Schema.TaggedClass<TableDataDeleted>()("TableDataDeleted", {
  version: Schema.Literal(1),
  dbId: Schema.Number,
  tableId: Schema.Number
}) {}

export const CatalogEvent = Schema.Union(
  DatabaseCreated,
  DatabaseRetentionSet,
  DatabaseSoftDeleted,
  DatabaseHardDeleted,
  DatabaseDataDeleted,
  TableCreated,
  ColumnsAdded,
  TableRetentionSet,
  TableSoftDeleted,
  TableHardDeleted,
  TableDataDeleted,
  LastCacheCreated,
  LastCacheDeleted,
  DistinctCacheCreated,
  DistinctCacheDeleted
)
export type CatalogEvent = typeof CatalogEvent.Type
