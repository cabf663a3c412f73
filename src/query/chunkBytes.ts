import duckdb from "@duckdb/node-bindings"
import { DuckDBTypeId, type DuckDBDataChunk, type DuckDBType } from "@duckdb/node-api"
import { asciiInto, type ByteSink, copyInto, LITERAL_SLACK, utf8Bytes } from "./byteSink.ts"
import {
  dayBytes,
  divide,
  END_SECONDS,
  finiteFloatInto,
  integerInto,
  MIN_SECONDS,
  remainder,
  fractionInto,
  renderSecond,
  SECOND,
  TIME_SLACK
} from "./numberBytes.ts"
import { csvRowLoop, jsonRowLoop, type KeyBytes, Kind, type RowLoop } from "./rowCode.ts"

/**
 * The json, jsonl and csv bytes of DuckDB data chunks, written straight from the column vectors' memory: no value
 * objects, no per-cell strings for numbers, times and short strings, no BigInt arithmetic. Each cell's bytes are
 * exactly what the per-cell encoder (`encode.ts`'s `jsonOf`/`textOf`) gives; types without a byte writer here go
 * through that encoder cell by cell (`CellFallback`). One loop per chunk, compiled for the answer's columns
 * (rowCode.ts), with the buffer and position in locals and room for a whole row made once; strings that need
 * escaping or sit behind a pointer, times past the year 9999 and other types take a slower way through the sink.
 */

/** The per-cell encoder for types without a byte writer: JSON text (undefined for null), or a CSV field. */
export interface CellFallback {
  readonly json: (chunk: DuckDBDataChunk, column: number, row: number, typeId: DuckDBTypeId) => string | undefined
  readonly csv: (chunk: DuckDBDataChunk, column: number, row: number, typeId: DuckDBTypeId) => string
}

/** A row object's keys: `"name":` for its first member, `,"name":` for the others. */
export interface JsonKeys extends KeyBytes {
  /** The keys, as part of a compiled row loop's cache key. */
  readonly shape: string
}

/** The keys of these columns, each given as its JSON string literal. */
export const jsonKeys = (quoted: ReadonlyArray<string>): JsonKeys => ({
  first: quoted.map((q) => utf8Bytes(q + ":")),
  next: quoted.map((q) => utf8Bytes("," + q + ":")),
  shape: quoted.join(",")
})

const QUOTE = 34
const COMMA = 44
const NULL_JSON = utf8Bytes("null")
const TRUE = utf8Bytes("true")
const FALSE = utf8Bytes("false")
const NAN = utf8Bytes("NaN")
const INF = utf8Bytes("inf")
const NEG_INF = utf8Bytes("-inf")
const TWO_32 = 4294967296

// ---------------------------------------------------------------------------------------------------------------
// Columns

const { F64, F32, I32, SMALL_INT, BIGINT, BOOL, VARCHAR, TIME, DATE, OTHER } = Kind

/** Bytes a cell of each kind takes at most, quotes included (inline strings: 12; others make room themselves). */
const WIDTH = [24, 24, 11, 11, 20, 5, 14, 31 + TIME_SLACK, 12, 0]

const EMPTY_F64 = new Float64Array(0)
const EMPTY_F32 = new Float32Array(0)
const EMPTY_I32 = new Int32Array(0)
const EMPTY_U32 = new Uint32Array(0)
const EMPTY_U8 = new Uint8Array(0)
const EMPTY_VIEW = new DataView(new ArrayBuffer(0))

/**
 * One column of a chunk, read in place: one shape for every kind, and one typed-array kind per field, so the
 * loop's reads stay monomorphic (only the narrow integer widths share `ints`).
 */
class Column {
  kind: number = OTHER
  valid: Uint8Array | null = null
  f64: Float64Array = EMPTY_F64
  f32: Float32Array = EMPTY_F32
  i32: Int32Array = EMPTY_I32
  ints: Int16Array | Int8Array | Uint32Array | Uint16Array | Uint8Array = EMPTY_U8
  words: Uint32Array = EMPTY_U32
  signed = true
  data: Uint8Array = EMPTY_U8
  view: DataView = EMPTY_VIEW
  unit = 1
  nanosPerUnit = 1
  // A second read before (one that renders in 19 bytes), as raw value and seconds: rows near it need one division.
  baseHi = Number.NaN
  baseLo = Number.NaN
  baseSeconds = 0
  /** The nanoseconds past the second of the last row `secondsOf` read. */
  nanos = 0
  // The last row's raw value and its seconds: rows that repeat it (series sharing a time) need no division.
  lastLo = Number.NaN
  lastHi = Number.NaN
  lastSeconds = Number.NaN
  typeId: DuckDBTypeId
  constructor(
    readonly chunk: DuckDBDataChunk,
    readonly index: number,
    type: DuckDBType
  ) {
    this.typeId = type.typeId
  }
}

const unitOf = (typeId: DuckDBTypeId) =>
  typeId === DuckDBTypeId.TIMESTAMP_NS
    ? 1_000_000_000
    : typeId === DuckDBTypeId.TIMESTAMP_MS
      ? 1000
      : typeId === DuckDBTypeId.TIMESTAMP_S
        ? 1
        : 1_000_000

/** A vector's first bytes (a copy: the bindings hand no external memory to JavaScript). */
const vectorBytes = (vector: duckdb.Vector, bytes: number): Uint8Array => {
  const raw = duckdb.vector_get_data(vector, bytes)
  return new Uint8Array(raw.buffer, raw.byteOffset, bytes)
}

/** A vector's n items of `width` bytes as a typed array. */
const typedOf = <T>(
  make: new (b: ArrayBuffer, o: number, n: number) => T,
  vector: duckdb.Vector,
  n: number,
  width: number
): T => {
  const bytes = vectorBytes(vector, n * width)
  return new make(bytes.buffer as ArrayBuffer, bytes.byteOffset, n)
}

/** A DOUBLE column of a chunk: its values, and its validity bits (bit r set when row r has a value; null if all do). */
export const doubleColumn = (chunk: DuckDBDataChunk, index: number) => {
  const n = chunk.rowCount
  const vector = duckdb.data_chunk_get_vector(chunk.chunk, index)
  const valid: Uint8Array | null = duckdb.vector_get_validity(vector, Math.ceil(n / 64) * 8) ?? null
  return { values: typedOf(Float64Array, vector, n, 8), valid }
}

const columnOf = (chunk: DuckDBDataChunk, n: number, index: number, type: DuckDBType): Column => {
  const col = new Column(chunk, index, type)
  const vector = duckdb.data_chunk_get_vector(chunk.chunk, index)
  switch (col.typeId) {
    case DuckDBTypeId.DOUBLE:
      col.kind = F64
      col.f64 = typedOf(Float64Array, vector, n, 8)
      break
    case DuckDBTypeId.FLOAT:
      col.kind = F32
      col.f32 = typedOf(Float32Array, vector, n, 4)
      break
    case DuckDBTypeId.INTEGER:
      col.kind = I32
      col.i32 = typedOf(Int32Array, vector, n, 4)
      break
    case DuckDBTypeId.TINYINT:
      col.kind = SMALL_INT
      col.ints = typedOf(Int8Array, vector, n, 1)
      break
    case DuckDBTypeId.UTINYINT:
      col.kind = SMALL_INT
      col.ints = typedOf(Uint8Array, vector, n, 1)
      break
    case DuckDBTypeId.SMALLINT:
      col.kind = SMALL_INT
      col.ints = typedOf(Int16Array, vector, n, 2)
      break
    case DuckDBTypeId.USMALLINT:
      col.kind = SMALL_INT
      col.ints = typedOf(Uint16Array, vector, n, 2)
      break
    case DuckDBTypeId.UINTEGER:
      col.kind = SMALL_INT
      col.ints = typedOf(Uint32Array, vector, n, 4)
      break
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UBIGINT: {
      col.kind = BIGINT
      const bytes = vectorBytes(vector, n * 8)
      col.words = new Uint32Array(bytes.buffer as ArrayBuffer, bytes.byteOffset, n * 2)
      col.signed = col.typeId === DuckDBTypeId.BIGINT
      break
    }
    case DuckDBTypeId.BOOLEAN:
      col.kind = BOOL
      col.data = vectorBytes(vector, n)
      break
    case DuckDBTypeId.VARCHAR:
      col.kind = VARCHAR
      col.data = vectorBytes(vector, n * 16)
      col.view = new DataView(col.data.buffer as ArrayBuffer, col.data.byteOffset, n * 16)
      break
    case DuckDBTypeId.TIMESTAMP_NS:
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_TZ:
    case DuckDBTypeId.TIMESTAMP_MS:
    case DuckDBTypeId.TIMESTAMP_S: {
      col.kind = TIME
      const bytes = vectorBytes(vector, n * 8)
      col.words = new Uint32Array(bytes.buffer as ArrayBuffer, bytes.byteOffset, n * 2)
      col.unit = unitOf(col.typeId)
      col.nanosPerUnit = 1_000_000_000 / col.unit
      break
    }
    case DuckDBTypeId.DATE:
      col.kind = DATE
      col.i32 = typedOf(Int32Array, vector, n, 4)
      break
    default:
      return col
  }
  col.valid = duckdb.vector_get_validity(vector, Math.ceil(n / 64) * 8) ?? null
  return col
}

// ---------------------------------------------------------------------------------------------------------------
// Cells

/**
 * Row r of a TIME column in seconds (the column's `nanos` holding the rest), or NaN when it does not render to the
 * second in 19 bytes. A row repeating the last row's value reuses its answer; rows within 2^52 units of the column's
 * base (a second read before) take one division of their distance from it, exact in doubles; others a long division
 * that sets the base.
 */
const secondsOf = (col: Column, r: number): number => {
  const lo = col.words[2 * r]!
  const hi = col.words[2 * r + 1]! | 0
  if (lo === col.lastLo && hi === col.lastHi) return col.lastSeconds
  col.lastLo = lo
  col.lastHi = hi
  col.lastSeconds = secondsAt(col, lo, hi)
  return col.lastSeconds
}

const secondsAt = (col: Column, lo: number, hi: number): number => {
  // Exact while the two values are within 2^53 of each other; beyond, outside the window anyway.
  const d = (hi - col.baseHi) * TWO_32 + (lo - col.baseLo)
  if (d > -NEAR && d < NEAR) {
    const unit = col.unit
    let q = Math.floor(d / unit)
    let rest = d - q * unit
    // The quotient's rounding, corrected (it cannot be off by more than one).
    if (rest < 0) {
      q--
      rest += unit
    } else if (rest >= unit) {
      q++
      rest -= unit
    }
    const seconds = col.baseSeconds + q
    if (seconds < MIN_SECONDS || seconds >= END_SECONDS) return Number.NaN
    col.nanos = rest * col.nanosPerUnit
    return seconds
  }
  const seconds = divide(hi, lo, col.unit)
  if (seconds < MIN_SECONDS || seconds >= END_SECONDS) return Number.NaN
  const rest = remainder
  let baseLo = lo - rest
  let baseHi = hi
  if (baseLo < 0) {
    baseLo += TWO_32
    baseHi -= 1
  }
  col.baseHi = baseHi
  col.baseLo = baseLo
  col.baseSeconds = seconds
  col.nanos = rest * col.nanosPerUnit
  return seconds
}

const NEAR = 2 ** 52

// Four bytes at a time (SWAR): a word's high bit set in each byte that is zero; exact for any byte with a zero below
// it too, since borrows only run towards higher bytes. Inline strings are checked and copied as three words.
const ZERO_BYTES = (x: number) => (x - 0x01010101) & ~x & 0x80808080

/** Bytes of a word that JSON must escape: below 0x20, `"` or `\`. */
const jsonSpecial = (x: number) =>
  ((x - 0x20202020) & ~x & 0x80808080) | ZERO_BYTES(x ^ 0x22222222) | ZERO_BYTES(x ^ 0x5c5c5c5c)

/** Bytes of a word that make a CSV field quoted: `,`, `"`, `\n` or `\r`. */
const csvSpecial = (x: number) =>
  ZERO_BYTES(x ^ 0x2c2c2c2c) | ZERO_BYTES(x ^ 0x22222222) | ZERO_BYTES(x ^ 0x0a0a0a0a) | ZERO_BYTES(x ^ 0x0d0d0d0d)

/** For an inline string of length L (0-12), the high bits of its bytes in each of the three words: [3L + word]. */
const INLINE_MASKS = (() => {
  const masks = new Int32Array(39)
  for (let length = 0; length <= 12; length++)
    for (let word = 0; word < 3; word++) {
      let mask = 0
      for (let b = 0; b < 4; b++) if (word * 4 + b < length) mask |= 0x80 << (8 * b)
      masks[3 * length + word] = mask
    }
  return masks
})()

/**
 * An inline string (at most 12 bytes, three words of its 16-byte head) copied at p, as a JSON string or a CSV field,
 * when none of its bytes needs escaping (JSON) or quoting (CSV): the position after it, or -1 when it is longer or
 * does (the cell's slow way writes it then). Shared by every row loop, so it is optimized once for all of them.
 */
const inlineStringInto = (
  buf: Uint8Array,
  view: DataView,
  p: number,
  head: DataView,
  r: number,
  json: boolean
): number => {
  const at = r * 16
  const length = head.getUint32(at, true)
  if (length > 12) return -1
  const a = head.getInt32(at + 4, true)
  const b = head.getInt32(at + 8, true)
  const d = head.getInt32(at + 12, true)
  const ma = INLINE_MASKS[3 * length]!
  const mb = INLINE_MASKS[3 * length + 1]!
  const md = INLINE_MASKS[3 * length + 2]!
  const special = json
    ? (jsonSpecial(a) & ma) | (jsonSpecial(b) & mb) | (jsonSpecial(d) & md)
    : (csvSpecial(a) & ma) | (csvSpecial(b) & mb) | (csvSpecial(d) & md)
  if (special !== 0) return -1
  if (json) buf[p++] = 34
  view.setInt32(p, a, true)
  view.setInt32(p + 4, b, true)
  view.setInt32(p + 8, d, true)
  p += length
  if (json) buf[p++] = 34
  return p
}

/** A BIGINT/UBIGINT cell's digits at p: within ±2^53 from the double, beyond it through BigInt. */
const bigintInto = (buf: Uint8Array, p: number, col: Column, r: number) => {
  const lo = col.words[2 * r]!
  const hi = col.signed ? col.words[2 * r + 1]! | 0 : col.words[2 * r + 1]!
  if (hi >= -2097152 && hi < 2097152) return integerInto(buf, p, hi * TWO_32 + lo)
  const words = col.words
  const big = col.signed
    ? new BigInt64Array(words.buffer, words.byteOffset + r * 8, 1)
    : new BigUint64Array(words.buffer, words.byteOffset + r * 8, 1)
  return asciiInto(buf, p, big[0]!.toString())
}

/** A VARCHAR cell's bytes: up to 12 inline in its 16-byte header, longer ones behind the header's pointer. */
const stringBytes = (col: Column, r: number, length: number): Uint8Array => {
  if (length <= 12) return col.data.subarray(r * 16 + 4, r * 16 + 4 + length)
  const raw = duckdb.get_data_from_pointer(col.data.buffer as ArrayBuffer, col.data.byteOffset + r * 16 + 8, length)
  return new Uint8Array(raw.buffer, raw.byteOffset, length)
}

const utf8Decoder = new TextDecoder()

/** A JSON string from UTF-8 bytes: copied, or through JSON.stringify when something needs escaping. */
const jsonStringInto = (sink: ByteSink, bytes: Uint8Array) => {
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!
    if (c < 0x20 || c === QUOTE || c === 92) {
      sink.utf8(JSON.stringify(utf8Decoder.decode(bytes)))
      return
    }
  }
  sink.ensure(bytes.length + 2)
  const buf = sink.buf
  let p = sink.pos
  buf[p++] = QUOTE
  p = copyInto(buf, p, bytes)
  buf[p++] = QUOTE
  sink.pos = p
}

/** A CSV field from UTF-8 bytes: quoted, with quotes doubled, when it holds a comma, quote or line break. */
const csvStringInto = (sink: ByteSink, bytes: Uint8Array) => {
  let quotes = -1
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!
    if (c === COMMA || c === QUOTE || c === 10 || c === 13) {
      quotes = 0
      for (let j = i; j < bytes.length; j++) if (bytes[j] === QUOTE) quotes++
      break
    }
  }
  sink.ensure(bytes.length + quotes + 3)
  const buf = sink.buf
  let p = sink.pos
  if (quotes < 0) {
    sink.pos = copyInto(buf, p, bytes)
    return
  }
  buf[p++] = QUOTE
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!
    buf[p++] = c
    if (c === QUOTE) buf[p++] = QUOTE
  }
  buf[p++] = QUOTE
  sink.pos = p
}

/**
 * The cells the row loops leave to the sink: strings behind a pointer or needing escapes, times outside years
 * 0000-9999, and types without a byte writer (through the per-cell encoder, which decides their nulls). False, and
 * nothing written, for a null.
 */
const slowCellInto = (sink: ByteSink, col: Column, r: number, json: boolean, fallback: CellFallback): boolean => {
  if (col.kind === VARCHAR) {
    const bytes = stringBytes(col, r, col.view.getUint32(r * 16, true))
    if (json) jsonStringInto(sink, bytes)
    else csvStringInto(sink, bytes)
    return true
  }
  if (json) {
    const text = fallback.json(col.chunk, col.index, r, col.typeId)
    if (text === undefined) return false
    sink.utf8(text)
    return true
  }
  sink.utf8(fallback.csv(col.chunk, col.index, r, col.typeId))
  return true
}

// ---------------------------------------------------------------------------------------------------------------
// Rows

/** What the compiled row loops (rowCode.ts) call. */
const HELPERS = {
  finiteFloatInto,
  inlineStringInto,
  integerInto,
  copyInto,
  bigintInto,
  secondsOf,
  SECOND,
  renderSecond,
  fractionInto,
  dayBytes,
  slowCellInto,
  NULL_JSON,
  TRUE,
  FALSE,
  NAN,
  INF,
  NEG_INF,
  MIN_SECONDS,
  END_SECONDS
}

type Loop = RowLoop<ByteSink, Column, CellFallback>

// Compiled loops by shape (format, column types and kinds, JSON keys); a few hundred shapes at most are kept.
const loops = new Map<string, Loop>()
const MAX_LOOPS = 256

const loopOf = (shape: string, make: () => Loop): Loop => {
  let compiled = loops.get(shape)
  if (compiled === undefined) {
    if (loops.size >= MAX_LOOPS) loops.clear()
    compiled = make()
    loops.set(shape, compiled)
  }
  return compiled
}

const shapeOf = (columns: ReadonlyArray<Column>) => columns.map((col) => `${col.kind}:${col.typeId}`).join(",")

/**
 * Writes a chunk's rows as JSON objects (`{"a":1,"b":"x"}`, nulls left out): one per line when `lines`, else
 * comma-separated, with a comma before the chunk's first row unless it is the answer's `first`.
 */
export const writeJsonRows = (
  sink: ByteSink,
  chunk: DuckDBDataChunk,
  keys: JsonKeys,
  types: ReadonlyArray<DuckDBType>,
  lines: boolean,
  first: boolean,
  fallback: CellFallback
): void => {
  const n = chunk.rowCount
  const columns = types.map((t, c) => columnOf(chunk, n, c, t))
  const kinds = columns.map((col) => col.kind)
  // `,{` + every member at its widest + `}\n`: made room for once per row.
  let rowMax = 4 + LITERAL_SLACK
  for (let c = 0; c < columns.length; c++) rowMax += keys.next[c]!.length + WIDTH[kinds[c]!]!
  const loop = loopOf(`${lines ? "jsonl" : "json"}|${shapeOf(columns)}|${keys.shape}`, () =>
    jsonRowLoop(kinds, keys, lines, HELPERS)
  )
  loop(sink, columns, n, first, fallback, rowMax)
}

/** Writes a chunk's rows as CSV lines (`\n` endings, null as an empty field). */
export const writeCsvRows = (
  sink: ByteSink,
  chunk: DuckDBDataChunk,
  types: ReadonlyArray<DuckDBType>,
  fallback: CellFallback
): void => {
  const n = chunk.rowCount
  const columns = types.map((t, c) => columnOf(chunk, n, c, t))
  const kinds = columns.map((col) => col.kind)
  let rowMax = 1
  for (let c = 0; c < columns.length; c++) rowMax += 1 + WIDTH[kinds[c]!]!
  const loop = loopOf(`csv|${shapeOf(columns)}`, () => csvRowLoop(kinds, HELPERS))
  loop(sink, columns, n, true, fallback, rowMax)
}
