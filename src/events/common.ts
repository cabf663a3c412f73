import { Schema } from "effect"

/** Nanoseconds since the epoch, carried as a decimal string so no precision is lost in JSON. */
export const Nanos = Schema.BigInt

/** The column types a table can hold, named as InfluxDB 3 names them. */
export const ColumnType = Schema.Literal("tag", "time", "float", "integer", "uinteger", "string", "boolean")
export type ColumnType = typeof ColumnType.Type

export const ColumnDef = Schema.Struct({
  id: Schema.Number,
  name: Schema.String,
  type: ColumnType
})
export type ColumnDef = typeof ColumnDef.Type
