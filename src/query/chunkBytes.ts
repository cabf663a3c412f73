import duckdb from "@duckdb/node-bindings"
import { DuckDBTypeId, type DuckDBDataChunk, type DuckDBType } from "@duckdb/node-api"
import {
  asciiInto,
  type ByteSink,
  copyInto,
  type Literal,
  literal,
  LITERAL_SLACK,
  literalInto,
  utf8Bytes
} from "./byteSink.ts"
import {
  dayBytes,
  divide,
  END_SECONDS,
  floatInto,
  integerInto,
  MIN_SECONDS,
  remainder,
  TIME_SLACK,
  timeInto
} from "./numberBytes.ts"

/**
 * The json, jsonl and csv bytes of DuckDB data chunks, written straight from the column vectors' memory: no value
 * objects, no per-cell strings for numbers, times and short strings, no BigInt arithmetic. Each cell's bytes are
 * exactly what the per-cell encoder (`encode.ts`'s `jsonOf`/`textOf`) gives; types without a byte writer here go
 * through that encoder cell by cell (`CellFallback`). One loop per chunk with the buffer and position in locals,
 * room for a whole row made once, and a switch per cell; strings that need escaping or sit behind a pointer, times
 * past the year 9999 and other types take a slower way through the sink.
 */

/** The per-cell encoder for types without a byte writer: JSON text (undefined for null), or a CSV field. */
export interface CellFallback {
  readonly json: (chunk: DuckDBDataChunk, column: number, row: number, typeId: DuckDBTypeId) => string | undefined
  readonly csv: (chunk: DuckDBDataChunk, column: number, row: number, typeId: DuckDBTypeId) => string
}

/** A row object's keys: `"name":` for its first member, `,"name":` for the others. */
export interface JsonKeys {
  readonly first: ReadonlyArray<Literal>
  readonly next: ReadonlyArray<Literal>
}

/** The keys of these columns, each given as its JSON string literal. */
export const jsonKeys = (quoted: ReadonlyArray<string>): JsonKeys => ({
  first: quoted.map((q) => literal(utf8Bytes(q + ":"))),
  next: quoted.map((q) => literal(utf8Bytes("," + q + ":")))
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

const F64 = 0
const F32 = 1
const I32 = 2
const SMALL_INT = 3
const BIGINT = 4
const BOOL = 5
const VARCHAR = 6
const TIME = 7
const DATE = 8
const OTHER = 9

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
  kind = OTHER
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

const columnOf = (chunk: DuckDBDataChunk, index: number, type: DuckDBType): Column => {
  const col = new Column(chunk, index, type)
  const n = chunk.rowCount
  const vector = duckdb.data_chunk_get_vector(chunk.chunk, index)
  const data = (bytes: number) => {
    const raw = duckdb.vector_get_data(vector, bytes)
    return new Uint8Array(raw.buffer, raw.byteOffset, bytes)
  }
  const typed = <T>(make: new (b: ArrayBuffer, o: number, n: number) => T, width: number): T => {
    const bytes = data(n * width)
    return new make(bytes.buffer as ArrayBuffer, bytes.byteOffset, n)
  }
  switch (col.typeId) {
    case DuckDBTypeId.DOUBLE:
      col.kind = F64
      col.f64 = typed(Float64Array, 8)
      break
    case DuckDBTypeId.FLOAT:
      col.kind = F32
      col.f32 = typed(Float32Array, 4)
      break
    case DuckDBTypeId.INTEGER:
      col.kind = I32
      col.i32 = typed(Int32Array, 4)
      break
    case DuckDBTypeId.TINYINT:
      col.kind = SMALL_INT
      col.ints = typed(Int8Array, 1)
      break
    case DuckDBTypeId.UTINYINT:
      col.kind = SMALL_INT
      col.ints = typed(Uint8Array, 1)
      break
    case DuckDBTypeId.SMALLINT:
      col.kind = SMALL_INT
      col.ints = typed(Int16Array, 2)
      break
    case DuckDBTypeId.USMALLINT:
      col.kind = SMALL_INT
      col.ints = typed(Uint16Array, 2)
      break
    case DuckDBTypeId.UINTEGER:
      col.kind = SMALL_INT
      col.ints = typed(Uint32Array, 4)
      break
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UBIGINT: {
      col.kind = BIGINT
      const bytes = data(n * 8)
      col.words = new Uint32Array(bytes.buffer as ArrayBuffer, bytes.byteOffset, n * 2)
      col.signed = col.typeId === DuckDBTypeId.BIGINT
      break
    }
    case DuckDBTypeId.BOOLEAN:
      col.kind = BOOL
      col.data = data(n)
      break
    case DuckDBTypeId.VARCHAR:
      col.kind = VARCHAR
      col.data = data(n * 16)
      col.view = new DataView(col.data.buffer as ArrayBuffer, col.data.byteOffset, n * 16)
      break
    case DuckDBTypeId.TIMESTAMP_NS:
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_TZ:
    case DuckDBTypeId.TIMESTAMP_MS:
    case DuckDBTypeId.TIMESTAMP_S: {
      col.kind = TIME
      const bytes = data(n * 8)
      col.words = new Uint32Array(bytes.buffer as ArrayBuffer, bytes.byteOffset, n * 2)
      col.unit = unitOf(col.typeId)
      col.nanosPerUnit = 1_000_000_000 / col.unit
      break
    }
    case DuckDBTypeId.DATE:
      col.kind = DATE
      col.i32 = typed(Int32Array, 4)
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
 * Row r of a TIME column in seconds (`nanos` holding the rest), or NaN when it does not render to the second in 19
 * bytes. Rows within 2^52 units of the column's base (a second read before) take one division of their distance
 * from it, exact in doubles; others a long division that sets the base.
 */
let nanos = 0
const secondsOf = (col: Column, r: number): number => {
  const lo = col.words[2 * r]!
  const hi = col.words[2 * r + 1]! | 0
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
    nanos = rest * col.nanosPerUnit
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
  nanos = rest * col.nanosPerUnit
  return seconds
}

const NEAR = 2 ** 52

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
  const columns = types.map((t, c) => columnOf(chunk, c, t))
  const count = columns.length
  const firstKeys = keys.first
  const nextKeys = keys.next
  // `,{` + every member at its widest + `}\n`: made room for once per row.
  let rowMax = 4 + LITERAL_SLACK
  for (let c = 0; c < count; c++) rowMax += nextKeys[c]!.bytes.length + WIDTH[columns[c]!.kind]!
  const n = chunk.rowCount
  let buf = sink.buf
  let view = sink.view
  let pos = sink.pos
  for (let r = 0; r < n; r++) {
    if (pos + rowMax > buf.length) {
      // A new buffer holds the bytes since the last piece was taken, at a new position.
      sink.pos = pos
      sink.ensure(rowMax)
      buf = sink.buf
      view = sink.view
      pos = sink.pos
    }
    if (!lines && (r > 0 || !first)) buf[pos++] = COMMA
    buf[pos++] = 123
    let empty = true
    for (let c = 0; c < count; c++) {
      const col = columns[c]!
      const valid = col.valid
      if (valid !== null && (valid[r >> 3]! & (1 << (r & 7))) === 0) continue
      const mark = pos
      pos = literalInto(view, pos, empty ? firstKeys[c]! : nextKeys[c]!)
      let done = true
      switch (col.kind) {
        case F64: {
          const v = col.f64[r]!
          pos = Number.isFinite(v) ? floatInto(buf, pos, v) : copyInto(buf, pos, NULL_JSON)
          break
        }
        case F32: {
          const v = col.f32[r]!
          pos = Number.isFinite(v) ? floatInto(buf, pos, v) : copyInto(buf, pos, NULL_JSON)
          break
        }
        case I32:
          pos = integerInto(buf, pos, col.i32[r]!)
          break
        case SMALL_INT:
          pos = integerInto(buf, pos, col.ints[r]!)
          break
        case BIGINT:
          pos = bigintInto(buf, pos, col, r)
          break
        case BOOL:
          pos = copyInto(buf, pos, col.data[r] !== 0 ? TRUE : FALSE)
          break
        case VARCHAR: {
          const length = col.view.getUint32(r * 16, true)
          done = false
          if (length > 12) break
          // Copied straight from the header unless something needs escaping.
          const data = col.data
          const start = r * 16 + 4
          let q = pos
          buf[q++] = QUOTE
          let i = start
          for (; i < start + length; i++) {
            const ch = data[i]!
            if (ch < 0x20 || ch === QUOTE || ch === 92) break
            buf[q++] = ch
          }
          if (i < start + length) break
          buf[q++] = QUOTE
          pos = q
          done = true
          break
        }
        case TIME: {
          const seconds = secondsOf(col, r)
          if (Number.isNaN(seconds)) {
            done = false
            break
          }
          buf[pos] = QUOTE
          pos = timeInto(view, buf, pos + 1, seconds, nanos)
          buf[pos++] = QUOTE
          break
        }
        case DATE: {
          const day = col.i32[r]!
          if (day * 86_400 < MIN_SECONDS || day * 86_400 >= END_SECONDS) {
            done = false
            break
          }
          buf[pos] = QUOTE
          pos = copyInto(buf, pos + 1, dayBytes(day))
          buf[pos++] = QUOTE
          break
        }
        default:
          done = false
      }
      if (!done) {
        sink.pos = pos
        const written = slowCellInto(sink, col, r, true, fallback)
        // Nothing written for a null, so nothing moved: the key goes.
        if (!written) sink.pos = mark
        sink.ensure(rowMax)
        buf = sink.buf
        view = sink.view
        pos = sink.pos
        if (!written) continue
      }
      empty = false
    }
    buf[pos++] = 125
    if (lines) buf[pos++] = 10
  }
  sink.pos = pos
}

/** Writes a chunk's rows as CSV lines (`\n` endings, null as an empty field). */
export const writeCsvRows = (
  sink: ByteSink,
  chunk: DuckDBDataChunk,
  types: ReadonlyArray<DuckDBType>,
  fallback: CellFallback
): void => {
  const columns = types.map((t, c) => columnOf(chunk, c, t))
  const count = columns.length
  let rowMax = 1
  for (let c = 0; c < count; c++) rowMax += 1 + WIDTH[columns[c]!.kind]!
  const n = chunk.rowCount
  let buf = sink.buf
  let view = sink.view
  let pos = sink.pos
  for (let r = 0; r < n; r++) {
    if (pos + rowMax > buf.length) {
      // A new buffer holds the bytes since the last piece was taken, at a new position.
      sink.pos = pos
      sink.ensure(rowMax)
      buf = sink.buf
      view = sink.view
      pos = sink.pos
    }
    for (let c = 0; c < count; c++) {
      if (c > 0) buf[pos++] = COMMA
      const col = columns[c]!
      const valid = col.valid
      if (valid !== null && (valid[r >> 3]! & (1 << (r & 7))) === 0) continue
      let done = true
      switch (col.kind) {
        case F64: {
          const v = col.f64[r]!
          pos = Number.isFinite(v) ? floatInto(buf, pos, v) : copyInto(buf, pos, v !== v ? NAN : v > 0 ? INF : NEG_INF)
          break
        }
        case F32: {
          const v = col.f32[r]!
          pos = Number.isFinite(v) ? floatInto(buf, pos, v) : copyInto(buf, pos, v !== v ? NAN : v > 0 ? INF : NEG_INF)
          break
        }
        case I32:
          pos = integerInto(buf, pos, col.i32[r]!)
          break
        case SMALL_INT:
          pos = integerInto(buf, pos, col.ints[r]!)
          break
        case BIGINT:
          pos = bigintInto(buf, pos, col, r)
          break
        case BOOL:
          pos = copyInto(buf, pos, col.data[r] !== 0 ? TRUE : FALSE)
          break
        case VARCHAR: {
          const length = col.view.getUint32(r * 16, true)
          done = false
          if (length > 12) break
          // Copied straight from the header unless it must be quoted.
          const data = col.data
          const start = r * 16 + 4
          let q = pos
          let i = start
          for (; i < start + length; i++) {
            const ch = data[i]!
            if (ch === COMMA || ch === QUOTE || ch === 10 || ch === 13) break
            buf[q++] = ch
          }
          if (i < start + length) break
          pos = q
          done = true
          break
        }
        case TIME: {
          const seconds = secondsOf(col, r)
          if (Number.isNaN(seconds)) done = false
          else pos = timeInto(view, buf, pos, seconds, nanos)
          break
        }
        case DATE: {
          const day = col.i32[r]!
          if (day * 86_400 < MIN_SECONDS || day * 86_400 >= END_SECONDS) done = false
          else pos = copyInto(buf, pos, dayBytes(day))
          break
        }
        default:
          done = false
      }
      if (!done) {
        sink.pos = pos
        slowCellInto(sink, col, r, false, fallback)
        sink.ensure(rowMax)
        buf = sink.buf
        view = sink.view
        pos = sink.pos
      }
    }
    buf[pos++] = 10
  }
  sink.pos = pos
}
