import duckdb from "@duckdb/node-bindings"
import { DuckDBTypeId, type DuckDBDataChunk, type DuckDBType } from "@duckdb/node-api"
import { formatDate } from "./time.ts"

/**
 * The json, jsonl and csv bytes of DuckDB data chunks, written straight from the column vectors' memory: no value
 * objects, no per-cell strings for numbers, times and short strings, no BigInt arithmetic. Each cell's bytes are
 * exactly what the per-cell encoder (`encode.ts`'s `jsonOf`/`textOf`) gives; types without a byte writer here go
 * through that encoder cell by cell (`CellFallback`). One loop per chunk with the buffer and position in locals and
 * a switch per cell (closures per cell and a shared sink object cost twice the time).
 */

/** The per-cell encoder for types without a byte writer: JSON text (undefined for null), or a CSV field. */
export interface CellFallback {
  readonly json: (chunk: DuckDBDataChunk, column: number, row: number, typeId: DuckDBTypeId) => string | undefined
  readonly csv: (chunk: DuckDBDataChunk, column: number, row: number, typeId: DuckDBTypeId) => string
}

// ---------------------------------------------------------------------------------------------------------------
// The output buffer

/**
 * Uninitialised bytes as a plain Uint8Array: every array the loop touches is the same kind, which keeps V8's element
 * access monomorphic (mixing Buffer and Uint8Array cost a third of the time).
 */
const bytesOfSize = (size: number) => {
  const b = Buffer.allocUnsafeSlow(size)
  return new Uint8Array(b.buffer, b.byteOffset, size)
}

const viewOf = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength)

/** Constant bytes (JSON keys), kept also as little-endian 32-bit words: one store per four bytes. */
export interface Literal {
  readonly bytes: Uint8Array
  readonly words: Uint32Array
}

/** A literal of these bytes. */
export const literal = (bytes: Uint8Array): Literal => {
  const words = new Uint32Array(bytes.length >> 2)
  for (let i = 0; i < words.length; i++) {
    words[i] = (bytes[4 * i]! | (bytes[4 * i + 1]! << 8) | (bytes[4 * i + 2]! << 16) | (bytes[4 * i + 3]! << 24)) >>> 0
  }
  return { bytes, words }
}

const literalInto = (view: DataView, buf: Uint8Array, p: number, lit: Literal) => {
  const words = lit.words
  for (let i = 0; i < words.length; i++) {
    view.setUint32(p, words[i]!, true)
    p += 4
  }
  const bytes = lit.bytes
  for (let i = words.length * 4; i < bytes.length; i++) buf[p++] = bytes[i]!
  return p
}

const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder()
const ascii = (s: string) => new Uint8Array(utf8Encoder.encode(s))

/** A growable byte buffer; `take` hands out what was written and starts afresh. */
export class ByteSink {
  buf: Uint8Array
  /** The same bytes, for writing four at a time. */
  view: DataView
  pos = 0
  constructor(size: number) {
    this.buf = bytesOfSize(size)
    this.view = viewOf(this.buf)
  }
  /** Room for n more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    const next = bytesOfSize(Math.max(this.buf.length * 2, this.pos + n))
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
    this.view = viewOf(next)
  }
  /** The bytes written so far; the next piece gets a buffer of the same size. */
  take(): Uint8Array {
    const out = this.buf.subarray(0, this.pos)
    this.buf = bytesOfSize(this.buf.length)
    this.view = viewOf(this.buf)
    this.pos = 0
    return out
  }
  /** Any string as UTF-8. */
  utf8(s: string): void {
    this.ensure(s.length * 3)
    this.pos += utf8Encoder.encodeInto(s, this.buf.subarray(this.pos)).written
  }
}

const QUOTE = 34
const COMMA = 44
const NULL_JSON = ascii("null")
const TRUE = ascii("true")
const FALSE = ascii("false")
const NAN = ascii("NaN")
const INF = ascii("inf")
const NEG_INF = ascii("-inf")

const copyInto = (buf: Uint8Array, p: number, b: Uint8Array) => {
  for (let i = 0; i < b.length; i++) buf[p++] = b[i]!
  return p
}

const asciiInto = (buf: Uint8Array, p: number, s: string) => {
  for (let i = 0; i < s.length; i++) buf[p++] = s.charCodeAt(i)
  return p
}

// ---------------------------------------------------------------------------------------------------------------
// Numbers

const TWO_32 = 4294967296
const POWERS = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000]

/** A whole number of magnitude below 2^53 in decimal (at most 17 bytes). */
const integerInto = (buf: Uint8Array, p: number, v: number) => {
  if (v < 0) {
    buf[p++] = 45
    v = -v
  }
  if (v < 10) {
    buf[p++] = 48 + v
    return p
  }
  let digits = 1
  for (let t = 10; t <= v; t *= 10) digits++
  const end = p + digits
  if (v < 2147483648) {
    // Small integer arithmetic: no floating-point remainders.
    let i = v | 0
    for (let q = end - 1; q >= p; q--) {
      const next = (i / 10) | 0
      buf[q] = 48 + i - next * 10
      i = next
    }
    return end
  }
  for (let q = end - 1; q >= p; q--) {
    const d = v % 10
    buf[q] = 48 + d
    v = (v - d) / 10
  }
  return end
}

const digitsInto = (buf: Uint8Array, p: number, n: number, width: number) => {
  for (let i = width - 1; i >= 0; i--) {
    const d = n % 10
    buf[p + i] = 48 + d
    n = (n - d) / 10
  }
  return p + width
}

/**
 * A finite float as arrow-rs writes it (whole numbers keep `.0`), the text of encode.ts's formatFloat, at most 24
 * bytes. Numbers with few decimals skip String(v): the fewest decimals k for which round(v * 10^k) / 10^k === v
 * round-trip (division is correctly rounded, so that is parsing the decimal), and below 2^30 two k-decimal numbers
 * are further apart than a double's spacing, so that decimal is the unique shortest one: JavaScript's own digits.
 */
const floatInto = (buf: Uint8Array, p: number, v: number) => {
  if (Number.isInteger(v)) {
    if (Math.abs(v) < 1e16) {
      p = integerInto(buf, p, v)
      buf[p] = 46
      buf[p + 1] = 48
      return p + 2
    }
  } else if (v < 1073741824 && v > -1073741824) {
    for (let k = 1; k <= 6; k++) {
      const scale = POWERS[k]!
      const m = Math.round(v * scale)
      if (m / scale === v) {
        let a = m
        if (a < 0) {
          buf[p++] = 45
          a = -a
        }
        const whole = Math.floor(a / scale)
        p = integerInto(buf, p, whole)
        buf[p++] = 46
        return digitsInto(buf, p, a - whole * scale, k)
      }
    }
  }
  return asciiInto(buf, p, String(v))
}

// ---------------------------------------------------------------------------------------------------------------
// Times

// Years 0000 to 9999 render in 19 bytes to the second; times outside go through the per-cell encoder.
const MIN_SECONDS = -62_167_219_200
const END_SECONDS = 253_402_300_800

let cachedDay = Number.NaN
let cachedDayBytes = new Uint8Array(0)
const dayBytes = (day: number) => {
  if (day !== cachedDay) {
    cachedDayBytes = ascii(formatDate(day))
    cachedDay = day
  }
  return cachedDayBytes
}

// Rows in a result often share their second (one per series at each time): its 19 bytes are kept.
let cachedSecond = Number.NaN
const cachedSecondBytes = new Uint8Array(19)
const cachedSecondView = new DataView(cachedSecondBytes.buffer)
let w0 = 0
let w1 = 0
let w2 = 0
let w3 = 0

const two = (buf: Uint8Array, p: number, n: number) => {
  const tens = Math.floor(n / 10)
  buf[p] = 48 + tens
  buf[p + 1] = 48 + n - tens * 10
}

/**
 * `YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]` as time.ts renders it (the fraction left out when zero, else in
 * 3, 6 or 9 digits as needed), at most 29 bytes.
 */
const timeInto = (view: DataView, buf: Uint8Array, p: number, seconds: number, nanos: number) => {
  if (seconds !== cachedSecond) {
    const day = Math.floor(seconds / 86_400)
    const inDay = seconds - day * 86_400
    const c = cachedSecondBytes
    copyInto(c, 0, dayBytes(day))
    c[10] = 84
    two(c, 11, Math.floor(inDay / 3600))
    c[13] = 58
    two(c, 14, Math.floor((inDay % 3600) / 60))
    c[16] = 58
    two(c, 17, inDay % 60)
    cachedSecond = seconds
    w0 = cachedSecondView.getUint32(0, true)
    w1 = cachedSecondView.getUint32(4, true)
    w2 = cachedSecondView.getUint32(8, true)
    w3 = cachedSecondView.getUint32(12, true)
  }
  view.setUint32(p, w0, true)
  view.setUint32(p + 4, w1, true)
  view.setUint32(p + 8, w2, true)
  view.setUint32(p + 12, w3, true)
  buf[p + 16] = cachedSecondBytes[16]!
  buf[p + 17] = cachedSecondBytes[17]!
  buf[p + 18] = cachedSecondBytes[18]!
  p += 19
  if (nanos === 0) return p
  buf[p++] = 46
  if (nanos % 1_000_000 === 0) return digitsInto(buf, p, nanos / 1_000_000, 3)
  if (nanos % 1000 === 0) return digitsInto(buf, p, nanos / 1000, 6)
  return digitsInto(buf, p, nanos, 9)
}

/**
 * Splits the int64 `hi * 2^32 + lo` into `q * unit + rem` with 0 <= rem < unit (unit at most 1e9) in exact double
 * arithmetic: long division in 16-bit steps, so no intermediate passes 2^53. Returns q; `remainder` holds rem.
 */
let remainder = 0
const divide = (hi: number, lo: number, unit: number) => {
  const hq = Math.floor(hi / unit)
  const x = (hi - hq * unit) * 65536 + (lo >>> 16)
  const q2 = Math.floor(x / unit)
  const y = (x - q2 * unit) * 65536 + (lo & 0xffff)
  const q3 = Math.floor(y / unit)
  remainder = y - q3 * unit
  return hq * TWO_32 + q2 * 65536 + q3
}

// ---------------------------------------------------------------------------------------------------------------
// Columns

const FLOAT = 0
const INT = 1
const BIGINT = 2
const BOOL = 3
const VARCHAR = 4
const TIME = 5
const DATE = 6
const OTHER = 7

/** Bytes a cell of each kind may take, at most (strings and other types make room themselves). */
const WIDTH = [24, 17, 20, 5, 0, 31, 12, 0]

/** One column of a chunk, read in place: one shape for every kind, so the loop's property reads stay monomorphic. */
class Column {
  kind = OTHER
  valid: Uint8Array | null = null
  floats: Float64Array | Float32Array = EMPTY_F64
  ints: Int32Array | Int16Array | Int8Array | Uint32Array | Uint16Array | Uint8Array = EMPTY_I32
  words: Uint32Array = EMPTY_U32
  signed = true
  data: Uint8Array = EMPTY_U8
  view: DataView = EMPTY_VIEW
  unit = 1
  nanosPerUnit = 1
  typeId: DuckDBTypeId
  constructor(
    readonly chunk: DuckDBDataChunk,
    readonly index: number,
    type: DuckDBType
  ) {
    this.typeId = type.typeId
  }
}

const EMPTY_F64 = new Float64Array(0)
const EMPTY_I32 = new Int32Array(0)
const EMPTY_U32 = new Uint32Array(0)
const EMPTY_U8 = new Uint8Array(0)
const EMPTY_VIEW = new DataView(new ArrayBuffer(0))

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
      col.kind = FLOAT
      col.floats = typed(Float64Array, 8)
      break
    case DuckDBTypeId.FLOAT:
      col.kind = FLOAT
      col.floats = typed(Float32Array, 4)
      break
    case DuckDBTypeId.TINYINT:
      col.kind = INT
      col.ints = typed(Int8Array, 1)
      break
    case DuckDBTypeId.UTINYINT:
      col.kind = INT
      col.ints = typed(Uint8Array, 1)
      break
    case DuckDBTypeId.SMALLINT:
      col.kind = INT
      col.ints = typed(Int16Array, 2)
      break
    case DuckDBTypeId.USMALLINT:
      col.kind = INT
      col.ints = typed(Uint16Array, 2)
      break
    case DuckDBTypeId.INTEGER:
      col.kind = INT
      col.ints = typed(Int32Array, 4)
      break
    case DuckDBTypeId.UINTEGER:
      col.kind = INT
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
    case DuckDBTypeId.VARCHAR: {
      col.kind = VARCHAR
      col.data = data(n * 16)
      col.view = new DataView(col.data.buffer as ArrayBuffer, col.data.byteOffset, n * 16)
      break
    }
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
      col.ints = typed(Int32Array, 4)
      break
    default:
      return col
  }
  col.valid = duckdb.vector_get_validity(vector, Math.ceil(n / 64) * 8) ?? null
  return col
}

/** A VARCHAR cell's bytes: up to 12 inline in its 16-byte header, longer ones behind the header's pointer. */
const stringBytes = (col: Column, r: number, length: number): Uint8Array => {
  if (length <= 12) return col.data.subarray(r * 16 + 4, r * 16 + 4 + length)
  const raw = duckdb.get_data_from_pointer(col.data.buffer as ArrayBuffer, col.data.byteOffset + r * 16 + 8, length)
  return new Uint8Array(raw.buffer, raw.byteOffset, length)
}

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

/** Inline VARCHAR bytes with nothing to escape are copied straight from the header; true when done. */
const inlineStringInto = (sink: ByteSink, col: Column, r: number, length: number, json: boolean) => {
  const data = col.data
  const start = r * 16 + 4
  const end = start + length
  for (let i = start; i < end; i++) {
    const c = data[i]!
    if (json ? c < 0x20 || c === QUOTE || c === 92 : c === COMMA || c === QUOTE || c === 10 || c === 13) return false
  }
  const buf = sink.buf
  let p = sink.pos
  if (json) buf[p++] = QUOTE
  for (let i = start; i < end; i++) buf[p++] = data[i]!
  if (json) buf[p++] = QUOTE
  sink.pos = p
  return true
}

/**
 * Writes cell r of a column at the sink's position, room for WIDTH[kind] bytes already made; false (and nothing
 * written) for null. Columns of other kinds have no validity read here: the per-cell encoder decides their nulls.
 */
const cellInto = (sink: ByteSink, col: Column, r: number, json: boolean, fallback: CellFallback): boolean => {
  const valid = col.valid
  if (valid !== null && (valid[r >> 3]! & (1 << (r & 7))) === 0) return false
  const buf = sink.buf
  const p = sink.pos
  switch (col.kind) {
    case FLOAT: {
      const v = col.floats[r]!
      if (Number.isFinite(v)) sink.pos = floatInto(buf, p, v)
      else sink.pos = copyInto(buf, p, json ? NULL_JSON : Number.isNaN(v) ? NAN : v > 0 ? INF : NEG_INF)
      return true
    }
    case INT:
      sink.pos = integerInto(buf, p, col.ints[r]!)
      return true
    case BIGINT: {
      const lo = col.words[2 * r]!
      const hi = col.signed ? col.words[2 * r + 1]! | 0 : col.words[2 * r + 1]!
      // Within ±2^53 the double is exact; beyond it BigInt prints the digits.
      if (hi >= -2097152 && hi < 2097152) sink.pos = integerInto(buf, p, hi * TWO_32 + lo)
      else sink.pos = asciiInto(buf, p, bigintAt(col, r))
      return true
    }
    case BOOL:
      sink.pos = copyInto(buf, p, col.data[r] !== 0 ? TRUE : FALSE)
      return true
    case VARCHAR: {
      const length = col.view.getUint32(r * 16, true)
      if (length <= 12) {
        sink.ensure(length + 2)
        if (inlineStringInto(sink, col, r, length, json)) return true
      }
      const bytes = stringBytes(col, r, length)
      if (json) jsonStringInto(sink, bytes)
      else csvStringInto(sink, bytes)
      return true
    }
    case TIME: {
      const seconds = divide(col.words[2 * r + 1]! | 0, col.words[2 * r]!, col.unit)
      if (seconds < MIN_SECONDS || seconds >= END_SECONDS) return otherInto(sink, col, r, json, fallback)
      let q = p
      if (json) buf[q++] = QUOTE
      q = timeInto(sink.view, buf, q, seconds, remainder * col.nanosPerUnit)
      if (json) buf[q++] = QUOTE
      sink.pos = q
      return true
    }
    case DATE: {
      const day = col.ints[r]!
      if (day * 86_400 < MIN_SECONDS || day * 86_400 >= END_SECONDS) return otherInto(sink, col, r, json, fallback)
      let q = p
      if (json) buf[q++] = QUOTE
      q = copyInto(buf, q, dayBytes(day))
      if (json) buf[q++] = QUOTE
      sink.pos = q
      return true
    }
    default:
      return otherInto(sink, col, r, json, fallback)
  }
}

const bigintAt = (col: Column, r: number) => {
  const words = col.words
  const big = col.signed
    ? new BigInt64Array(words.buffer, words.byteOffset + r * 8, 1)
    : new BigUint64Array(words.buffer, words.byteOffset + r * 8, 1)
  return big[0]!.toString()
}

/** A cell through the per-cell encoder. */
const otherInto = (sink: ByteSink, col: Column, r: number, json: boolean, fallback: CellFallback): boolean => {
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
  keys: ReadonlyArray<Literal>,
  types: ReadonlyArray<DuckDBType>,
  lines: boolean,
  first: boolean,
  fallback: CellFallback
): void => {
  const columns = types.map((t, c) => columnOf(chunk, c, t))
  const widths = columns.map((col, c) => keys[c]!.bytes.length + 1 + WIDTH[col.kind]!)
  const n = chunk.rowCount
  for (let r = 0; r < n; r++) {
    sink.ensure(2)
    if (!lines && (r > 0 || !first)) sink.buf[sink.pos++] = COMMA
    sink.buf[sink.pos++] = 123
    let empty = true
    for (let c = 0; c < columns.length; c++) {
      sink.ensure(widths[c]!)
      const mark = sink.pos
      let p = mark
      if (!empty) sink.buf[p++] = COMMA
      sink.pos = literalInto(sink.view, sink.buf, p, keys[c]!)
      if (cellInto(sink, columns[c]!, r, true, fallback)) empty = false
      else sink.pos = mark
    }
    sink.ensure(2)
    sink.buf[sink.pos++] = 125
    if (lines) sink.buf[sink.pos++] = 10
  }
}

/** Writes a chunk's rows as CSV lines (`\n` endings, null as an empty field). */
export const writeCsvRows = (
  sink: ByteSink,
  chunk: DuckDBDataChunk,
  types: ReadonlyArray<DuckDBType>,
  fallback: CellFallback
): void => {
  const columns = types.map((t, c) => columnOf(chunk, c, t))
  const widths = columns.map((col) => 1 + WIDTH[col.kind]!)
  const n = chunk.rowCount
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < columns.length; c++) {
      sink.ensure(widths[c]!)
      if (c > 0) sink.buf[sink.pos++] = COMMA
      cellInto(sink, columns[c]!, r, false, fallback)
    }
    sink.ensure(1)
    sink.buf[sink.pos++] = 10
  }
}
