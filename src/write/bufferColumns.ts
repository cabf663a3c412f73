import { DuckDBAppender, DuckDBBigIntType, DuckDBBooleanType, DuckDBDoubleType, DuckDBTimestampNanosecondsType, type DuckDBType, DuckDBUBigIntType, DuckDBVarCharType } from "@duckdb/node-api"
import duckdb from "@duckdb/node-bindings"
import type { ColumnType } from "../events/index.ts"
import { FieldKind, type FieldShape } from "../lineprotocol/index.ts"
import { sqlIdentifier as quote } from "../query/literal.ts"

/** The write buffer's column plumbing: DuckDB types, typed-array copies into vectors, 64-bit time halves. */

export const VECTOR_SIZE = duckdb.vector_size()

/** Which 32-bit half of a 64-bit typed-array element is the low one, on this host. */
export const LOW = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1 ? 0 : 1

export const HIGH = 1 - LOW

export const duckType = (type: ColumnType): DuckDBType => {
  switch (type) {
    case "float":
      return DuckDBDoubleType.instance
    case "integer":
      return DuckDBBigIntType.instance
    case "uinteger":
      return DuckDBUBigIntType.instance
    case "string":
    case "tag":
      return DuckDBVarCharType.instance
    case "boolean":
      return DuckDBBooleanType.instance
    case "time":
      return DuckDBTimestampNanosecondsType.instance
  }
}

export const sqlType = (type: ColumnType) =>
  ({ float: "DOUBLE", integer: "BIGINT", uinteger: "UBIGINT", string: "VARCHAR", tag: "VARCHAR", boolean: "BOOLEAN", time: "TIMESTAMP_NS" })[type]

/** One buffered table: DuckDB tables for rows and series, plus the JS-side series dictionary. */
export interface BufferedTable {
  readonly dbId: number
  readonly tableId: number
  /** Field columns in DuckDB column order (after `_sid` and `time`). */
  readonly fields: Array<{ name: string; type: ColumnType }>
  readonly fieldIndex: Map<string, number>
  /** Tag columns in DuckDB column order (after `_sid`). */
  readonly tags: Array<string>
  readonly tagIndex: Map<string, number>
  /**
   * Series id by the series text as a client wrote it (or its tags in line order), and by canonical (sorted) tag text.
   */
  readonly seriesByRaw: Map<string, number>
  readonly seriesByCanonical: Map<string, number>
  /** Series ids by tag and value: the series a query's `tag = 'value'` conditions leave (see seriesMatching). */
  readonly seriesByTagValue: Map<string, Map<string, Array<number>>>
  /** Each series' latest time as two 32-bit halves (low unsigned, high signed), so comparing allocates no bigint. */
  lastTimeLo: Uint32Array
  lastTimeHi: Int32Array
  hasLastTime: Uint8Array
  /** True once some series received a time not after its previous one: queries must then deduplicate. */
  mayHaveDuplicates: boolean
  /** The range of buffered times as 32-bit halves (bounds only: rows taken back or persisted may leave it wider). */
  minTimeLo: number
  minTimeHi: number
  maxTimeLo: number
  maxTimeHi: number
  hasTimes: boolean
  /**
   * Rows ever appended, taken back or not: the `_row` the next row gets. `_row` orders rows and is never reused;
   * DuckDB's own rowid is not stable (deleting whole row groups renumbers the rows after them).
   */
  appended: number
  rows: number
  bytes: number
  rowsAppender: DuckDBAppender
  seriesAppender: DuckDBAppender
}

export type ScratchColumn = Float64Array | BigInt64Array | BigUint64Array | Uint8Array

export const join64 = (lo: number, hi: number) => (BigInt(hi) << 32n) | BigInt(lo >>> 0)

export const setHalves = (t: BufferedTable, which: "min" | "max", value: bigint) => {
  const lo = Number(value & 0xffffffffn)
  const hi = Number(BigInt.asIntN(32, value >> 32n))
  if (which === "min") (t.minTimeLo = lo), (t.minTimeHi = hi)
  else (t.maxTimeLo = lo), (t.maxTimeHi = hi)
}

/** Where a field shape's values go in a table: a column per field (-1 if none), and the columns it leaves null. */
export interface ShapeLayout {
  readonly columns: Int32Array
  readonly kinds: ReadonlyArray<FieldKind>
  readonly missing: Int32Array
  /** Buffer bytes of its numeric and boolean values (strings are counted per value). */
  readonly fixedBytes: number
}

export const shapeLayout = (t: BufferedTable, shape: FieldShape): ShapeLayout => {
  const columns = new Int32Array(shape.keys.length)
  const present = new Uint8Array(t.fields.length)
  let fixedBytes = 0
  for (let f = 0; f < shape.keys.length; f++) {
    const col = t.fieldIndex.get(shape.keys[f]!) ?? -1
    columns[f] = col
    if (col === -1) continue
    present[col] = 1
    const kind = shape.kinds[f]!
    if (kind === FieldKind.Boolean) fixedBytes += 1
    else if (kind !== FieldKind.String) fixedBytes += 8
  }
  const missing: Array<number> = []
  for (let col = 0; col < t.fields.length; col++) if (present[col] === 0) missing.push(col)
  return { columns, kinds: shape.kinds, missing: Int32Array.from(missing), fixedBytes }
}

export const copyFloats = (
  target: Float64Array,
  floats: Float64Array,
  fieldStart: Int32Array,
  lines: Int32Array,
  f: number,
  from: number,
  to: number
) => {
  for (let r = from; r < to; r++) target[r] = floats[fieldStart[lines[r]!]! + f]!
}

export const copyBooleans = (
  target: Uint8Array,
  floats: Float64Array,
  fieldStart: Int32Array,
  lines: Int32Array,
  f: number,
  from: number,
  to: number
) => {
  for (let r = from; r < to; r++) target[r] = floats[fieldStart[lines[r]!]! + f]!
}

/** Copies 64-bit integers as pairs of 32-bit halves: reading a BigInt64Array element would allocate a bigint. */
export const copyIntegers = (
  target: BigInt64Array | BigUint64Array,
  integers: BigInt64Array,
  fieldStart: Int32Array,
  lines: Int32Array,
  f: number,
  from: number,
  to: number
) => {
  const to32 = new Int32Array(target.buffer, target.byteOffset, target.length * 2)
  const from32 = new Int32Array(integers.buffer, integers.byteOffset, integers.length * 2)
  for (let r = from; r < to; r++) {
    const k = (fieldStart[lines[r]!]! + f) * 2
    to32[2 * r] = from32[k]!
    to32[2 * r + 1] = from32[k + 1]!
  }
}

export const allocate = (type: ColumnType, n: number) => {
  switch (type) {
    case "float":
      return new Float64Array(n)
    case "integer":
      return new BigInt64Array(n)
    case "uinteger":
      return new BigUint64Array(n)
    case "boolean":
      return new Uint8Array(n)
    default:
      return new Array<string | undefined>(n)
  }
}

export const copyTyped = (
  vector: duckdb.Vector,
  source: Int32Array | BigInt64Array | Float64Array | BigUint64Array | Uint8Array,
  start: number,
  count: number
) => {
  const width = source.BYTES_PER_ELEMENT
  duckdb.copy_data_to_vector(vector, 0, source.buffer as ArrayBuffer, source.byteOffset + start * width, count * width)
}

/** A series key part as `<length>:<text>`, so that no two tag sets join into the same key. */
export const lengthPrefixed = (s: string) => s.length + ":" + s

/** A table's rows a persist takes: those with `_row` below `upTo`, with the table's columns as they were then. */
export interface PersistTarget {
  /** The buffer's table object: a table dropped and re-created since is another object. */
  readonly table: object
  readonly dbId: number
  readonly tableId: number
  readonly upTo: number
  /** Tag columns in series-key order, and field columns. */
  readonly tags: ReadonlyArray<string>
  readonly fields: ReadonlyArray<{ readonly name: string; readonly type: ColumnType }>
  /** Whether some series may have two rows at one time among them (then they are merged as queries merge them). */
  readonly mayHaveDuplicates: boolean
}

/** Name of the DuckDB table holding a buffered table's rows, and of its series dictionary. */
export const rowsTableName = (tableId: number) => `buf.t${tableId}`

export const seriesTableName = (tableId: number) => `buf.s${tableId}`

/**
 * SQL of a table's rows merged per series and time: field by field, the last non-null value (by `_row`) wins. The
 * tag expressions, then `time`, then fields; `series` joins the series dictionary as `s` (or is empty).
 */
const mergedSql = (
  tableId: number,
  tags: ReadonlyArray<string>,
  fields: ReadonlyArray<{ readonly name: string }>,
  series: string,
  where = ""
) => {
  const merged = fields.map((f) => `, arg_max(${quote(f.name)}, _row) FILTER (WHERE ${quote(f.name)} IS NOT NULL) AS ${quote(f.name)}`).join("")
  const columns = [...tags, "d.time", ...fields.map((f) => `d.${quote(f.name)}`)].join(", ")
  return `SELECT ${columns} FROM (SELECT _sid, time${merged} FROM ${rowsTableName(tableId)}${where} GROUP BY _sid, time) d${series}`
}

/** Notes a new series under one of its tag values. */
export const indexSeries = (t: BufferedTable, tag: string, value: string, sid: number) => {
  let byValue = t.seriesByTagValue.get(tag)
  if (byValue === undefined) t.seriesByTagValue.set(tag, (byValue = new Map()))
  const sids = byValue.get(value)
  if (sids === undefined) byValue.set(value, [sid])
  else sids.push(sid)
}

/** Most series a buffer view lists by id; past it the view reads every series (the list would cost more). */
const MAX_LISTED_SERIES = 2_000

/** The condition keeping the rows of the listed series (`column` names the series id); undefined for all of them. */
export const seriesCondition = (column: string, series: ReadonlyArray<number> | undefined): string | undefined =>
  series === undefined ? undefined : series.length === 0 ? "false" : `${column} IN (${series.join(", ")})`

/** ` WHERE` and the conditions joined by AND, or "" when there are none. */
export const whereSql = (...conditions: ReadonlyArray<string | undefined>): string => {
  const kept = conditions.filter((c): c is string => c !== undefined)
  return kept.length === 0 ? "" : ` WHERE ${kept.join(" AND ")}`
}

/** A query's `column = 'value'` (or `IN`) conditions: column → the values a row may have. */
export type Equalities = ReadonlyMap<string, ReadonlySet<string>>

/**
 * Series ids of a buffered table that include every one whose tags meet the `tag = 'value'` conditions: those of the
 * tag condition matching fewest series (the query still applies them all). Undefined when no condition is on one of
 * its tags or too many series match to list.
 */
export const matchingSeries = (t: BufferedTable, equalities: Equalities): ReadonlyArray<number> | undefined => {
  let fewest: Array<ReadonlyArray<number>> | undefined
  let fewestCount = Infinity
  for (const [column, values] of equalities) {
    if (!t.tagIndex.has(column)) continue
    const byValue = t.seriesByTagValue.get(column)
    const lists = [...values].map((v) => byValue?.get(v) ?? [])
    const count = lists.reduce((n, l) => n + l.length, 0)
    if (count < fewestCount) [fewest, fewestCount] = [lists, count]
  }
  if (fewest === undefined || fewestCount > MAX_LISTED_SERIES) return undefined
  return [...new Set(fewest.flat())].sort((a, b) => a - b)
}

/**
 * SQL reading one buffered table as the user sees it: tags (NULL without `withTags`), `time`, fields; with
 * `deduplicate`, rows with the same series and time merged field by field (last non-null wins); with `series`, only
 * the rows of those series.
 */
export const bufferViewSql = (
  t: BufferedTable,
  deduplicate: boolean,
  withTags: boolean,
  series: ReadonlyArray<number> | undefined
) => {
  const tags = t.tags.map((n) => (withTags ? `s.${quote(n)}` : `CAST(NULL AS VARCHAR) AS ${quote(n)}`))
  const join = withTags ? ` JOIN ${seriesTableName(t.tableId)} s USING (_sid)` : ""
  if (!deduplicate) {
    const columns = [...tags, "b.time", ...t.fields.map((f) => `b.${quote(f.name)}`)].join(", ")
    return `SELECT ${columns} FROM ${rowsTableName(t.tableId)} b${join}${whereSql(seriesCondition("b._sid", series))}`
  }
  return mergedSql(t.tableId, tags, t.fields, join, whereSql(seriesCondition("_sid", series)))
}
