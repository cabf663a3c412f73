import {
  Bool,
  DataType,
  DenseUnion,
  Field,
  Float64,
  Int32,
  Int64,
  List,
  Map_,
  Message,
  MessageHeader,
  RecordBatch,
  Schema,
  Struct,
  Table,
  TimestampNanosecond,
  Type,
  Uint32,
  Uint64,
  Utf8,
  makeData,
  tableToIPC,
  vectorFromArray,
  type Data
} from "apache-arrow"
import { Stream } from "effect"
import * as Fs from "node:fs"
import { ParquetFile } from "parquet-wasm/node"
import type { TableState } from "../catalog/state.ts"
import type { ColumnType } from "../events/common.ts"
import { ExecutionFailed } from "../errors.ts"
import { columnsInOrder } from "../query/virtualTables.ts"

/**
 * Query answers as Arrow IPC for Flight. DuckDB writes the answer as Parquet (ADR 0005) and parquet-wasm reads it a
 * row group at a time into Arrow IPC record batches: no JavaScript per value (ADR 0011 has the measurements). The
 * schema message is re-encoded with InfluxDB 3's `iox::column::type` metadata on the columns read from tables.
 */

/** The field metadata key InfluxDB 3 puts on the columns of its tables. */
export const IOX_COLUMN_TYPE = "iox::column::type"

/**
 * Rows per record batch: at least DataFusion's 8,192, more while a batch stays near 2 MiB (fewer gRPC messages),
 * well under gRPC's default 4 MiB message limit for ordinary rows.
 */
const MIN_BATCH_ROWS = 8192
const MAX_BATCH_ROWS = 65_536
const BATCH_BYTES = 2 * 1024 * 1024

const batchRows = (rows: number, bytes: number): number =>
  rows === 0
    ? MIN_BATCH_ROWS
    : Math.max(MIN_BATCH_ROWS, Math.min(MAX_BATCH_ROWS, Math.floor(BATCH_BYTES / Math.max(1, bytes / rows))))

export const ioxColumnType = (type: ColumnType): string =>
  type === "tag"
    ? "iox::column_type::tag"
    : type === "time"
      ? "iox::column_type::timestamp"
      : `iox::column_type::field::${type}`

const arrowTypeOf: Record<ColumnType, () => DataType> = {
  tag: () => new Utf8(),
  time: () => new TimestampNanosecond(),
  float: () => new Float64(),
  integer: () => new Int64(),
  uinteger: () => new Uint64(),
  string: () => new Utf8(),
  boolean: () => new Bool()
}

/** Whether an answer's Arrow type is the one a column of this kind is read as (so the column is the table's). */
const sameKind = (type: DataType, kind: ColumnType): boolean => {
  switch (kind) {
    case "tag":
    case "string":
      return type.typeId === Type.Utf8 || type.typeId === Type.LargeUtf8 || type.typeId === Type.Utf8View
    case "time":
      return type.typeId === Type.Timestamp
    case "float":
      return type.typeId === Type.Float
    case "integer":
      return type.typeId === Type.Int && (type as Int64).bitWidth === 64 && (type as Int64).isSigned
    case "uinteger":
      return type.typeId === Type.Int && (type as Uint64).bitWidth === 64 && !(type as Uint64).isSigned
    case "boolean":
      return type.typeId === Type.Bool
  }
}

/**
 * The answer's schema with `iox::column::type` on each field named like a column of the tables the query read, whose
 * Arrow type fits that column (a computed `count` does not become a field). The first table naming it wins.
 */
export const withIoxMetadata = (schema: Schema, tables: ReadonlyArray<TableState>): Schema =>
  new Schema(
    schema.fields.map((field) => {
      for (const table of tables) {
        const column = table.columnsByName.get(field.name)
        if (column !== undefined && sameKind(field.type, column.type)) {
          return new Field(
            field.name,
            field.type,
            field.nullable,
            new Map([...field.metadata, [IOX_COLUMN_TYPE, ioxColumnType(column.type)]])
          )
        }
      }
      return field
    }),
    schema.metadata
  )

/** A user table's schema as InfluxDB 3 gives it: columns by name, each with its iox type. */
export const tableSchema = (table: TableState): Schema =>
  new Schema(
    columnsInOrder(table).map(
      (c) =>
        new Field(c.name, arrowTypeOf[c.type](), c.type !== "time", new Map([[IOX_COLUMN_TYPE, ioxColumnType(c.type)]]))
    )
  )

const duckToArrow: Record<string, () => DataType> = {
  VARCHAR: () => new Utf8(),
  BIGINT: () => new Int64(),
  UBIGINT: () => new Uint64(),
  INTEGER: () => new Int32(),
  DOUBLE: () => new Float64(),
  BOOLEAN: () => new Bool(),
  TIMESTAMP_NS: () => new TimestampNanosecond()
}

/** The schema of a virtual table's columns (SQL type names), strings where the type has no plain Arrow match. */
export const sqlColumnsSchema = (columns: ReadonlyArray<{ readonly name: string; readonly sqlType: string }>): Schema =>
  new Schema(columns.map((c) => new Field(c.name, (duckToArrow[c.sqlType] ?? (() => new Utf8()))(), true)))

// ---------------------------------------------------------------------------------------------------------------
// IPC messages

/** One encapsulated IPC message: its flatbuffer header and its body. */
export interface IpcMessage {
  readonly kind: MessageHeader
  readonly header: Uint8Array
  readonly body: Uint8Array
  /** The message as the stream framed it (continuation marker, length, header, body), when it had the marker. */
  readonly framed: Uint8Array | undefined
}

/** The messages of an Arrow IPC stream, up to its end marker. */
export const splitIpcStream = (bytes: Uint8Array): Array<IpcMessage> => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out: Array<IpcMessage> = []
  let offset = 0
  while (offset + 4 <= bytes.byteLength) {
    const start = offset
    let length = view.getInt32(offset, true)
    offset += 4
    const marked = length === -1
    if (marked) {
      length = view.getInt32(offset, true)
      offset += 4
    }
    if (length <= 0) break
    const header = bytes.subarray(offset, offset + length)
    offset += length
    const message = Message.decode(header)
    const bodyLength = Number(message.bodyLength)
    const body = bytes.subarray(offset, offset + bodyLength)
    offset += bodyLength
    out.push({ kind: message.headerType, header, body, framed: marked ? bytes.subarray(start, offset) : undefined })
  }
  return out
}

/** A message framed as in an IPC stream: continuation marker, padded header length, header, body. */
export const frame = (header: Uint8Array, body: Uint8Array = new Uint8Array(0)): Uint8Array => {
  const padded = (header.byteLength + 7) & ~7
  const out = new Uint8Array(8 + padded + body.byteLength)
  const view = new DataView(out.buffer)
  view.setInt32(0, -1, true)
  view.setInt32(4, padded, true)
  out.set(header, 8)
  out.set(body, 8 + padded)
  return out
}

/** The header and body of a framed message. */
export const unframe = (framed: Uint8Array): { readonly header: Uint8Array; readonly body: Uint8Array } => {
  const length = new DataView(framed.buffer, framed.byteOffset, framed.byteLength).getInt32(4, true)
  return { header: framed.subarray(8, 8 + length), body: framed.subarray(8 + length) }
}

/** A schema as a framed IPC message (what FlightInfo.schema and SchemaResult carry). */
export const schemaBytes = (schema: Schema): Uint8Array => frame(Message.encode(Message.from(schema)))

/** A small table's framed messages: its schema, then its record batches. */
export const tableFrames = (table: Table): Array<Uint8Array> =>
  splitIpcStream(tableToIPC(table, "stream"))
    .filter((m) => m.kind === MessageHeader.Schema || m.kind === MessageHeader.RecordBatch)
    .map((m) => frame(m.header, m.body))

/** A table of columns given as value arrays of the schema's types. */
export const tableOf = (schema: Schema, columns: ReadonlyArray<ReadonlyArray<unknown>>): Table => {
  const length = columns[0]?.length ?? 0
  const children = schema.fields.map((f, i) => vectorFromArray(columns[i] as Array<unknown>, f.type).data[0]!)
  const data = makeData({ type: new Struct(schema.fields), length, nullCount: 0, children })
  return new Table(schema, [new RecordBatch(schema, data)])
}

// ---------------------------------------------------------------------------------------------------------------
// Flight SQL's SqlInfo answer: info_name and a dense union of value kinds

const sqlInfoValueType = new DenseUnion(
  [0, 1, 2, 3, 4, 5],
  [
    new Field("string_value", new Utf8(), true),
    new Field("bool_value", new Bool(), true),
    new Field("bigint_value", new Int64(), true),
    new Field("int32_bitmask", new Int32(), true),
    new Field("string_list", new List(new Field("item", new Utf8(), true)), true),
    new Field(
      "int32_to_int32_list_map",
      new Map_(
        new Field(
          "entries",
          new Struct([
            new Field("key", new Int32(), false),
            new Field("value", new List(new Field("item", new Int32(), true)), true)
          ]) as never,
          false
        )
      ),
      true
    )
  ]
)

/** The `CommandGetSqlInfo` schema. */
export const sqlInfoSchema = new Schema([
  new Field("info_name", new Uint32(), false),
  new Field("value", sqlInfoValueType, false)
])

export type SqlInfoValue = string | boolean | bigint | number

/** The SqlInfo table: strings, booleans, bigints (int64) and numbers (int32 bitmasks). */
export const sqlInfoTable = (entries: ReadonlyArray<readonly [number, SqlInfoValue]>): Table => {
  const kindOf = (v: SqlInfoValue) =>
    typeof v === "string" ? 0 : typeof v === "boolean" ? 1 : typeof v === "bigint" ? 2 : 3
  const byKind: Array<Array<SqlInfoValue>> = [[], [], [], []]
  const typeIds = new Int8Array(entries.length)
  const offsets = new Int32Array(entries.length)
  entries.forEach(([, v], i) => {
    const k = kindOf(v)
    typeIds[i] = k
    offsets[i] = byKind[k]!.length
    byKind[k]!.push(v)
  })
  const children: Array<Data> = sqlInfoValueType.children.map((f, i) =>
    i < 4 ? vectorFromArray(byKind[i] as Array<unknown>, f.type).data[0]! : vectorFromArray([], f.type).data[0]!
  )
  const value = makeData({
    type: sqlInfoValueType,
    length: entries.length,
    nullCount: 0,
    typeIds,
    valueOffsets: offsets,
    children
  })
  const names = vectorFromArray(
    entries.map(([n]) => n),
    new Uint32()
  ).data[0]!
  const data = makeData({
    type: new Struct(sqlInfoSchema.fields),
    length: entries.length,
    nullCount: 0,
    children: [names, value]
  })
  return new Table(sqlInfoSchema, [new RecordBatch(sqlInfoSchema, data)])
}

// ---------------------------------------------------------------------------------------------------------------
// Parquet answers

const failed = (e: unknown) =>
  new ExecutionFailed({ message: `Arrow Flight: ${e instanceof Error ? e.message : String(e)}` })

async function* parquetFrames(file: string, tables: ReadonlyArray<TableState>): AsyncGenerator<Uint8Array> {
  const parquet = await ParquetFile.fromFile(await Fs.openAsBlob(file))
  try {
    const schema = splitIpcStream(parquet.schema().intoIPCStream())[0]
    if (schema === undefined) throw new Error("the answer's Parquet file has no schema")
    const decoded = Message.decode(schema.header).header()
    if (!(decoded instanceof Schema)) throw new Error("the answer's Parquet file has no schema")
    yield schemaBytes(withIoxMetadata(decoded, tables))
    const metadata = parquet.metadata()
    const groups = metadata.numRowGroups()
    for (let group = 0; group < groups; group++) {
      const meta = metadata.rowGroup(group)
      const batchSize = batchRows(meta.numRows(), meta.totalByteSize())
      const table = await parquet.read({ rowGroups: [group], batchSize })
      for (const m of splitIpcStream(table.intoIPCStream()))
        if (m.kind === MessageHeader.RecordBatch) yield m.framed ?? frame(m.header, m.body)
    }
  } finally {
    parquet.free()
  }
}

/** A Parquet answer as framed Arrow IPC messages (schema first), read a row group at a time. */
export const parquetAsArrow = (answer: {
  readonly file: string
  readonly tables: ReadonlyArray<TableState>
}): Stream.Stream<Uint8Array, ExecutionFailed> =>
  Stream.fromAsyncIterable(parquetFrames(answer.file, answer.tables), failed)
