import duckdb from "@duckdb/node-bindings"
import { DuckDBTypeId, type DuckDBDataChunk, type DuckDBType } from "@duckdb/node-api"
import { formatDate } from "./time.ts"

/**
 * The json, jsonl and csv bytes of DuckDB data chunks, written straight from the column vectors' memory: no value
 * objects, no per-cell strings for numbers, times and short strings, and no BigInt arithmetic. Each cell's bytes are
 * exactly what the per-cell encoder (`encode.ts`'s `jsonOf`/`textOf`) gives; types without a fast writer here go
 * through that encoder cell by cell (`fallback`).
 */

/** The per-cell encoder for types without a byte writer: JSON text (undefined for null), or a CSV field. */
export interface CellFallback {
  readonly json: (chunk: DuckDBDataChunk, column: number, row: number, typeId: DuckDBTypeId) => string | undefined
  readonly csv: (chunk: DuckDBDataChunk, column: number, row: number, typeId: DuckDBTypeId) => string
}

// ---------------------------------------------------------------------------------------------------------------
// The output buffer

/**
 * Uninitialised bytes as a plain Uint8Array: every array the writers touch is the same kind, which keeps V8's
 * element access monomorphic (mixing Buffer and Uint8Array cost a third of the time).
 */
const bytesOfSize = (size: number) => {
  const b = Buffer.allocUnsafeSlow(size)
  return new Uint8Array(b.buffer, b.byteOffset, size)
}

/** A growable byte buffer; `take` hands out what was written and starts afresh. */
export class ByteSink {
  buf: Uint8Array
  pos = 0
  constructor(size: number) {
    this.buf = bytesOfSize(size)
  }
  /** Room for n more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    const next = bytesOfSize(Math.max(this.buf.length * 2, this.pos + n))
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
  }
  /** The bytes written so far; the next piece gets a buffer of the same size. */
  take(): Uint8Array {
    const out = this.buf.subarray(0, this.pos)
    this.buf = bytesOfSize(this.buf.length)
    this.pos = 0
    return out
  }
  bytes(b: Uint8Array): void {
    const n = b.length
    this.ensure(n)
    // A loop beats TypedArray#set for the short pieces (keys, values) this writes most.
    if (n > 64) {
      this.buf.set(b, this.pos)
      this.pos += n
      return
    }
    const buf = this.buf
    let p = this.pos
    for (let i = 0; i < n; i++) buf[p++] = b[i]!
    this.pos = p
  }
  /** An ASCII string (numbers as JavaScript prints them). */
  ascii(s: string): void {
    this.ensure(s.length)
    const buf = this.buf
    let p = this.pos
    for (let i = 0; i < s.length; i++) buf[p++] = s.charCodeAt(i)
    this.pos = p
  }
  /** Any string as UTF-8. */
  utf8(s: string): void {
    this.ensure(s.length * 3)
    this.pos += utf8Encoder.encodeInto(s, this.buf.subarray(this.pos)).written
  }
  /** A whole number of magnitude below 2^53, in decimal. */
  integer(v: number): void {
    this.ensure(24)
    const buf = this.buf
    if (v < 0) {
      buf[this.pos++] = 45
      v = -v
    }
    if (v < 10) {
      buf[this.pos++] = 48 + v
      return
    }
    let digits = 0
    for (let t = v; t >= 1; t = Math.floor(t / 10)) digits++
    let p = this.pos + digits
    this.pos = p
    while (v >= 1) {
      const d = v % 10
      buf[--p] = 48 + d
      v = (v - d) / 10
    }
  }
}

const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder()
const ascii = (s: string) => new Uint8Array(utf8Encoder.encode(s))

const QUOTE = 34
const COMMA = 44
const NULL_JSON = ascii("null")
const TRUE = ascii("true")
const FALSE = ascii("false")
const NAN = ascii("NaN")
const INF = ascii("inf")
const NEG_INF = ascii("-inf")

// ---------------------------------------------------------------------------------------------------------------
// Values

const TWO_32 = 4294967296

const POWERS = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000]

/**
 * A float as arrow-rs writes it (whole numbers keep `.0`), the same text as encode.ts's formatFloat. Numbers with a
 * few decimals skip String(v): the fewest decimals k for which round(v * 10^k) / 10^k === v round-trip (division
 * is correctly rounded, so that is parsing the decimal), and below 2^30 two k-decimal numbers are further apart
 * than a double's spacing, so that decimal is the unique shortest one: JavaScript's own digits.
 */
const writeFloat = (sink: ByteSink, v: number) => {
  if (Number.isInteger(v)) {
    if (Math.abs(v) < 1e16) {
      sink.integer(v)
      sink.ensure(2)
      sink.buf[sink.pos++] = 46
      sink.buf[sink.pos++] = 48
      return
    }
  } else if (v < 1073741824 && v > -1073741824) {
    for (let k = 1; k <= 6; k++) {
      const scale = POWERS[k]!
      const m = Math.round(v * scale)
      if (m / scale === v) {
        writeDecimal(sink, m, k, scale)
        return
      }
    }
  }
  sink.ascii(String(v))
}

/** m / 10^k in fixed notation with exactly k decimals (m not a multiple of 10, so no trailing zero). */
const writeDecimal = (sink: ByteSink, m: number, k: number, scale: number) => {
  sink.ensure(24)
  if (m < 0) {
    sink.buf[sink.pos++] = 45
    m = -m
  }
  const whole = Math.floor(m / scale)
  sink.integer(whole)
  const buf = sink.buf
  buf[sink.pos++] = 46
  digitsInto(buf, sink.pos, m - whole * scale, k)
  sink.pos += k
}

/** Text and bytes of the last day rendered: times in a result mostly share their day. */
let cachedDay = Number.NaN
let cachedDayBytes = new Uint8Array(0)
const dayBytes = (day: number) => {
  if (day !== cachedDay) {
    cachedDayBytes = ascii(formatDate(day))
    cachedDay = day
  }
  return cachedDayBytes
}

// Years 0000 to 9999 render in 19 bytes to the second; times outside go through the per-cell encoder.
const MIN_SECONDS = -62_167_219_200
const END_SECONDS = 253_402_300_800

const two = (buf: Uint8Array, p: number, n: number) => {
  buf[p] = 48 + Math.floor(n / 10)
  buf[p + 1] = 48 + (n % 10)
}

const digitsInto = (buf: Uint8Array, p: number, n: number, width: number) => {
  for (let i = width - 1; i >= 0; i--) {
    const d = n % 10
    buf[p + i] = 48 + d
    n = (n - d) / 10
  }
}

/**
 * `YYYY-MM-DDTHH:MM:SS[.fff|.ffffff|.fffffffff]`, as time.ts renders it: the fraction left out when zero, else in
 * 3, 6 or 9 digits as needed.
 */
const writeTime = (sink: ByteSink, seconds: number, nanos: number) => {
  if (seconds === cachedSecond) {
    sink.bytes(cachedSecondBytes)
  } else {
    writeSecond(sink, seconds)
    cachedSecondBytes = sink.buf.slice(sink.pos - 19, sink.pos)
    cachedSecond = seconds
  }
  sink.ensure(10)
  const buf = sink.buf
  let p = sink.pos
  if (nanos !== 0) {
    buf[p++] = 46
    if (nanos % 1_000_000 === 0) {
      digitsInto(buf, p, nanos / 1_000_000, 3)
      p += 3
    } else if (nanos % 1000 === 0) {
      digitsInto(buf, p, nanos / 1000, 6)
      p += 6
    } else {
      digitsInto(buf, p, nanos, 9)
      p += 9
    }
  }
  sink.pos = p
}

// Rows in a result often share their second (one per series at each time): its 19 bytes are kept.
let cachedSecond = Number.NaN
let cachedSecondBytes = new Uint8Array(0)

/** `YYYY-MM-DDTHH:MM:SS` (19 bytes for years 0 to 9999). */
const writeSecond = (sink: ByteSink, seconds: number) => {
  const day = Math.floor(seconds / 86_400)
  const inDay = seconds - day * 86_400
  sink.bytes(dayBytes(day))
  sink.ensure(19)
  const buf = sink.buf
  let p = sink.pos
  buf[p] = 84
  two(buf, p + 1, Math.floor(inDay / 3600))
  buf[p + 3] = 58
  two(buf, p + 4, Math.floor((inDay % 3600) / 60))
  buf[p + 6] = 58
  two(buf, p + 7, inDay % 60)
  sink.pos = p + 9
}

/**
 * Splits the int64 `hi * 2^32 + lo` into `q * unit + rem` with 0 <= rem < unit (unit at most 1e9) in exact double
 * arithmetic: long division in 16-bit steps, so no intermediate passes 2^53. Returns q; the remainder is left in
 * `divided.rem`.
 */
const divided = { rem: 0 }
const divide = (hi: number, lo: number, unit: number) => {
  const hq = Math.floor(hi / unit)
  const hr = hi - hq * unit
  const x = hr * 65536 + (lo >>> 16)
  const q2 = Math.floor(x / unit)
  const y = (x - q2 * unit) * 65536 + (lo & 0xffff)
  const q3 = Math.floor(y / unit)
  divided.rem = y - q3 * unit
  return hq * TWO_32 + q2 * 65536 + q3
}

// ---------------------------------------------------------------------------------------------------------------
// Columns

/** Writes one cell of a column; false (and nothing written) for null. */
type CellWriter = (sink: ByteSink, row: number) => boolean

type Mode = "json" | "csv"

const validityOf = (vector: duckdb.Vector, n: number): Uint8Array | null =>
  duckdb.vector_get_validity(vector, Math.ceil(n / 64) * 8) ?? null

const dataOf = (vector: duckdb.Vector, bytes: number) => {
  const raw = duckdb.vector_get_data(vector, bytes)
  const buffer = raw.buffer as ArrayBuffer
  return { data: new Uint8Array(buffer, raw.byteOffset, bytes), buffer, offset: raw.byteOffset }
}

const isValid = (mask: Uint8Array | null, r: number) => mask === null || (mask[r >> 3]! & (1 << (r & 7))) !== 0

/** A cell writer for one column of a chunk, in the given mode. */
const columnWriter = (
  chunk: DuckDBDataChunk,
  column: number,
  typeId: DuckDBTypeId,
  mode: Mode,
  fallback: CellFallback
): CellWriter => {
  const n = chunk.rowCount
  const vector = duckdb.data_chunk_get_vector(chunk.chunk, column)
  const mask = () => validityOf(vector, n)
  switch (typeId) {
    case DuckDBTypeId.DOUBLE:
    case DuckDBTypeId.FLOAT: {
      const { buffer, offset } = dataOf(vector, n * (typeId === DuckDBTypeId.DOUBLE ? 8 : 4))
      const items = typeId === DuckDBTypeId.DOUBLE ? new Float64Array(buffer, offset, n) : new Float32Array(buffer, offset, n)
      const valid = mask()
      if (mode === "json") {
        return (sink, r) => {
          if (!isValid(valid, r)) return false
          const v = items[r]!
          if (Number.isFinite(v)) writeFloat(sink, v)
          else sink.bytes(NULL_JSON)
          return true
        }
      }
      return (sink, r) => {
        if (!isValid(valid, r)) return false
        const v = items[r]!
        if (Number.isFinite(v)) writeFloat(sink, v)
        else sink.bytes(Number.isNaN(v) ? NAN : v > 0 ? INF : NEG_INF)
        return true
      }
    }
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.UTINYINT:
    case DuckDBTypeId.USMALLINT:
    case DuckDBTypeId.UINTEGER: {
      const items = smallIntegers(vector, typeId, n)
      const valid = mask()
      return (sink, r) => {
        if (!isValid(valid, r)) return false
        sink.integer(items[r]!)
        return true
      }
    }
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UBIGINT: {
      const { buffer, offset } = dataOf(vector, n * 8)
      const words = new Uint32Array(buffer, offset, n * 2)
      const signed = typeId === DuckDBTypeId.BIGINT
      const big = signed ? new BigInt64Array(buffer, offset, n) : new BigUint64Array(buffer, offset, n)
      const valid = mask()
      return (sink, r) => {
        if (!isValid(valid, r)) return false
        const lo = words[2 * r]!
        const hiBits = words[2 * r + 1]!
        const hi = signed ? hiBits | 0 : hiBits
        // Within ±2^53 the double is exact; beyond it BigInt prints the digits.
        if (hi >= -2097152 && hi < 2097152) sink.integer(hi * TWO_32 + lo)
        else sink.ascii(big[r]!.toString())
        return true
      }
    }
    case DuckDBTypeId.BOOLEAN: {
      const { data } = dataOf(vector, n)
      const valid = mask()
      return (sink, r) => {
        if (!isValid(valid, r)) return false
        sink.bytes(data[r] !== 0 ? TRUE : FALSE)
        return true
      }
    }
    case DuckDBTypeId.VARCHAR:
      return varcharWriter(vector, n, mode)
    case DuckDBTypeId.TIMESTAMP_NS:
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_TZ:
    case DuckDBTypeId.TIMESTAMP_MS:
    case DuckDBTypeId.TIMESTAMP_S: {
      const { buffer, offset } = dataOf(vector, n * 8)
      const words = new Uint32Array(buffer, offset, n * 2)
      const unit = unitOf(typeId)
      const nanosPerUnit = 1_000_000_000 / unit
      const valid = mask()
      const slow = cellFallback(chunk, column, typeId, mode, fallback)
      const quote = mode === "json"
      return (sink, r) => {
        if (!isValid(valid, r)) return false
        const seconds = divide(words[2 * r + 1]! | 0, words[2 * r]!, unit)
        if (seconds < MIN_SECONDS || seconds >= END_SECONDS) return slow(sink, r)
        const nanos = divided.rem * nanosPerUnit
        if (quote) {
          sink.ensure(1)
          sink.buf[sink.pos++] = QUOTE
        }
        writeTime(sink, seconds, nanos)
        if (quote) {
          sink.ensure(1)
          sink.buf[sink.pos++] = QUOTE
        }
        return true
      }
    }
    case DuckDBTypeId.DATE: {
      const { buffer, offset } = dataOf(vector, n * 4)
      const days = new Int32Array(buffer, offset, n)
      const valid = mask()
      const slow = cellFallback(chunk, column, typeId, mode, fallback)
      const quote = mode === "json"
      return (sink, r) => {
        if (!isValid(valid, r)) return false
        const day = days[r]!
        if (day * 86_400 < MIN_SECONDS || day * 86_400 >= END_SECONDS) return slow(sink, r)
        if (quote) {
          sink.ensure(1)
          sink.buf[sink.pos++] = QUOTE
        }
        sink.bytes(dayBytes(day))
        if (quote) {
          sink.ensure(1)
          sink.buf[sink.pos++] = QUOTE
        }
        return true
      }
    }
    default:
      return cellFallback(chunk, column, typeId, mode, fallback)
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

const smallIntegers = (vector: duckdb.Vector, typeId: DuckDBTypeId, n: number) => {
  switch (typeId) {
    case DuckDBTypeId.TINYINT: {
      const { buffer, offset } = dataOf(vector, n)
      return new Int8Array(buffer, offset, n)
    }
    case DuckDBTypeId.UTINYINT: {
      const { buffer, offset } = dataOf(vector, n)
      return new Uint8Array(buffer, offset, n)
    }
    case DuckDBTypeId.SMALLINT: {
      const { buffer, offset } = dataOf(vector, n * 2)
      return new Int16Array(buffer, offset, n)
    }
    case DuckDBTypeId.USMALLINT: {
      const { buffer, offset } = dataOf(vector, n * 2)
      return new Uint16Array(buffer, offset, n)
    }
    case DuckDBTypeId.UINTEGER: {
      const { buffer, offset } = dataOf(vector, n * 4)
      return new Uint32Array(buffer, offset, n)
    }
    default: {
      const { buffer, offset } = dataOf(vector, n * 4)
      return new Int32Array(buffer, offset, n)
    }
  }
}

/**
 * VARCHAR cells from DuckDB's 16-byte string headers: strings of up to 12 bytes are inline, longer ones behind a
 * pointer. Bytes are copied as they are unless they need escaping (JSON: control characters, `"` and `\`; CSV:
 * comma, quote, line breaks), which goes the way encode.ts goes (JSON.stringify; doubled quotes).
 */
const varcharWriter = (vector: duckdb.Vector, n: number, mode: Mode): CellWriter => {
  const { data, buffer, offset } = dataOf(vector, n * 16)
  const view = new DataView(buffer, offset, n * 16)
  const valid = validityOf(vector, n)
  // Strings of up to 12 bytes sit in the header itself (read in place); longer ones are fetched by pointer.
  const long = (r: number, length: number): Uint8Array => {
    const raw = duckdb.get_data_from_pointer(buffer, offset + r * 16 + 8, length)
    return new Uint8Array(raw.buffer, raw.byteOffset, length)
  }
  if (mode === "json") {
    return (sink, r) => {
      if (!isValid(valid, r)) return false
      const length = view.getUint32(r * 16, true)
      const bytes = length <= 12 ? data : long(r, length)
      const start = length <= 12 ? r * 16 + 4 : 0
      const end = start + length
      for (let i = start; i < end; i++) {
        const c = bytes[i]!
        if (c < 0x20 || c === QUOTE || c === 92) {
          sink.utf8(JSON.stringify(utf8Decoder.decode(bytes.subarray(start, end))))
          return true
        }
      }
      sink.ensure(length + 2)
      const buf = sink.buf
      let p = sink.pos
      buf[p++] = QUOTE
      if (length > 64) {
        buf.set(bytes.subarray(start, end), p)
        p += length
      } else {
        for (let i = start; i < end; i++) buf[p++] = bytes[i]!
      }
      buf[p++] = QUOTE
      sink.pos = p
      return true
    }
  }
  return (sink, r) => {
    if (!isValid(valid, r)) return false
    const length = view.getUint32(r * 16, true)
    const bytes = length <= 12 ? data : long(r, length)
    const start = length <= 12 ? r * 16 + 4 : 0
    const end = start + length
    let quotes = -1
    for (let i = start; i < end; i++) {
      const c = bytes[i]!
      if (c === COMMA || c === QUOTE || c === 10 || c === 13) {
        quotes = 0
        for (let j = i; j < end; j++) if (bytes[j] === QUOTE) quotes++
        break
      }
    }
    sink.ensure(length + quotes + 3)
    const buf = sink.buf
    let p = sink.pos
    if (quotes < 0) {
      for (let i = start; i < end; i++) buf[p++] = bytes[i]!
    } else {
      buf[p++] = QUOTE
      for (let i = start; i < end; i++) {
        const c = bytes[i]!
        buf[p++] = c
        if (c === QUOTE) buf[p++] = QUOTE
      }
      buf[p++] = QUOTE
    }
    sink.pos = p
    return true
  }
}

/** A column written through the per-cell encoder. */
const cellFallback = (chunk: DuckDBDataChunk, column: number, typeId: DuckDBTypeId, mode: Mode, fallback: CellFallback): CellWriter =>
  mode === "json"
    ? (sink, r) => {
        const text = fallback.json(chunk, column, r, typeId)
        if (text === undefined) return false
        sink.utf8(text)
        return true
      }
    : (sink, r) => {
        sink.utf8(fallback.csv(chunk, column, r, typeId))
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
  keys: ReadonlyArray<Uint8Array>,
  types: ReadonlyArray<DuckDBType>,
  lines: boolean,
  first: boolean,
  fallback: CellFallback
): void => {
  const writers = types.map((t, c) => columnWriter(chunk, c, t.typeId, "json", fallback))
  const n = chunk.rowCount
  const columns = writers.length
  for (let r = 0; r < n; r++) {
    sink.ensure(2)
    if (!lines && (r > 0 || !first)) sink.buf[sink.pos++] = COMMA
    sink.buf[sink.pos++] = 123
    let empty = true
    for (let c = 0; c < columns; c++) {
      const mark = sink.pos
      if (!empty) {
        sink.ensure(1)
        sink.buf[sink.pos++] = COMMA
      }
      sink.bytes(keys[c]!)
      if (writers[c]!(sink, r)) empty = false
      else sink.pos = mark
    }
    sink.ensure(2)
    sink.buf[sink.pos++] = 125
    if (lines) sink.buf[sink.pos++] = 10
  }
}

/** Writes a chunk's rows as CSV lines (`\n` endings, null as an empty field). */
export const writeCsvRows = (sink: ByteSink, chunk: DuckDBDataChunk, types: ReadonlyArray<DuckDBType>, fallback: CellFallback): void => {
  const writers = types.map((t, c) => columnWriter(chunk, c, t.typeId, "csv", fallback))
  const n = chunk.rowCount
  const columns = writers.length
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < columns; c++) {
      if (c > 0) {
        sink.ensure(1)
        sink.buf[sink.pos++] = COMMA
      }
      writers[c]!(sink, r)
    }
    sink.ensure(1)
    sink.buf[sink.pos++] = 10
  }
}
