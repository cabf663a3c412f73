// The line-protocol parser: the hot path of every write endpoint.
//
// It follows InfluxDB 3's nom grammar (`core/influxdb_line_protocol`), its error texts and its Go-derived line
// splitter, with our product's deviations: CRLF and trailing spaces or tabs are accepted, a repeated tag keeps its
// last value, `1.e5` is a float, comment lines end at their newline, and line numbers are physical. It is a plain
// loop over char codes: names are sliced from the body and unescaped only when they contain a backslash, numbers
// are read without allocating substrings where that is exact, and what lines of a batch repeat (series, tag and
// field keys, timestamps) is recognised and reused rather than rebuilt. It never throws; a bad line becomes a
// `LineError`.
import { Buffer } from "node:buffer"
import {
  type BatchSeries,
  FieldKind,
  type FieldShape,
  type FieldValue,
  type LineError,
  type ParsedBatch,
  type ParsedLine,
  type ParseResult
} from "./types.ts"

const NUL = 0
const TAB = 9
const LF = 10
const CR = 13
const SP = 32
const DQ = 34
const HASH = 35
const PLUS = 43
const COMMA = 44
const MINUS = 45
const DOT = 46
const D0 = 48
const D9 = 57
const EQ = 61
const UPPER_E = 69
const UPPER_F = 70
const UPPER_T = 84
const BSL = 92
const LOWER_E = 101
const LOWER_F = 102
const LOWER_I = 105
const LOWER_T = 116
const LOWER_U = 117

/** InfluxDB 3 builds with `large-strings`: names and string fields may be at most 1 MiB of UTF-8. */
const MAX_STRING_BYTES = 1_048_576

const NO_FIELDS = "No fields were provided"
const BAD_MEASUREMENT = "Invalid measurement was provided"
const ENDS_WITH_BACKSLASH = "Measurements, tag keys and values, and field keys may not end with a backslash"
const STRING_TOO_LARGE = "String is greater than 1MB"

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n
const UINT64_MAX = 2n ** 64n - 1n

/** Powers of ten that are exact doubles, for the exact fast path of decimal parsing. */
const POW10: ReadonlyArray<number> = Array.from({ length: 23 }, (_, i) => Number(`1e${i}`))

/** Beyond this many series a body is treated as high-cardinality and the series memo stops growing. */
const SERIES_MEMO_MAX = 50_000

const SOFT_FAIL = -1
const HARD_FAIL = -2

const EMPTY: ReadonlyArray<string> = []
const EMPTY_FLOATS = new Float64Array(0)

/** A parsed series remembered under its raw text; entries whose sampled hashes collide are chained. */
interface SeriesEntry {
  readonly raw: string
  /** Its place in the batch's series list. */
  readonly index: number
  readonly measurement: string
  readonly tagKeys: ReadonlyArray<string>
  readonly tagValues: ReadonlyArray<string>
  readonly next: SeriesEntry | undefined
}

const isDigit = (c: number): boolean => c >= D0 && c <= D9

/**
 * Where a batch's column buffers come from: at least `bytes` long, contents undefined. A parse worker reuses the
 * buffers the main thread hands back, so that their memory is not allocated (and collected) batch after batch.
 */
export type Allocate = (bytes: number) => ArrayBuffer

const newBuffer: Allocate = (bytes) => new ArrayBuffer(bytes)

/** A body's UTF-16 code units, index for index with its string: its bytes when it is ASCII. */
export type Codes = Uint8Array | Uint16Array

/** The code units of a string, copied natively. */
export const codesOf = (text: string): Codes => {
  const bytes = Buffer.from(text, "utf16le")
  return bytes.byteOffset % 2 === 0
    ? new Uint16Array(bytes.buffer, bytes.byteOffset, text.length)
    : new Uint16Array(new Uint8Array(bytes).buffer)
}

/**
 * Whether `text` occurs in `body` at `p`. A loop over char codes: `String.prototype.startsWith` with a position
 * took half of the parser's time (measured), and keys and timestamps are short.
 */
const matchesAt = (codes: Codes, p: number, text: string): boolean => {
  const n = text.length
  if (p + n > codes.length) return false
  for (let i = 0; i < n; i++) if (codes[p + i] !== text.charCodeAt(i)) return false
  return true
}

/**
 * A copy of a slice of the body that does not keep the body alive. V8 represents slices of 13 or more characters
 * as views into their parent, so a stored tag value or string field would otherwise pin a whole 10 MB request.
 */
const detach = (s: string): string => (s.length < 13 ? s : (" " + s).slice(1))

/** Whether the `n` code units at `a` equal those at `b` (an earlier occurrence of the same text in the body). */
const sameAt = (codes: Codes, a: number, b: number, n: number): boolean => {
  if (a + n > codes.length) return false
  for (let i = 0; i < n; i++) if (codes[a + i] !== codes[b + i]) return false
  return true
}


/** UTF-8 length of a JS string (lone surrogates count as the 3-byte replacement character). */
const utf8Length = (s: string): number => {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4
      i++
    } else n += 3
  }
  return n
}

const tooLarge = (s: string): boolean =>
  s.length * 3 > MAX_STRING_BYTES && (s.length > MAX_STRING_BYTES || utf8Length(s) > MAX_STRING_BYTES)

/** The first `n` code points of `s`. */
const firstChars = (s: string, n: number): string => {
  let i = 0
  for (let count = 0; i < s.length && count < n; count++) {
    const c = s.charCodeAt(i)
    i += c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00 ? 2 : 1
  }
  return s.slice(0, i)
}

/** InfluxDB cuts error contexts longer than 10 bytes to their first 10 characters plus `...`. */
const errorContext = (body: string, s: number, e: number): string => {
  if (e - s <= 10) {
    const t = body.slice(s, e)
    return utf8Length(t) <= 10 ? t : firstChars(t, 10) + "..."
  }
  return firstChars(body.slice(s, s + 20), 10) + "..."
}

const expected = (what: string, body: string, s: number, e: number): string =>
  s >= e ? `Expected ${what}, got end of input` : `Expected ${what}, got \`${errorContext(body, s, e)}\``

const trailing = (body: string, s: number, e: number): string =>
  `Could not parse entire line. Found trailing content: \`${errorContext(body, s, e)}\``

/**
 * Unescapes a measurement (`\,` `\ ` `\\`) or a tag key, tag value or field key (also `\=`). Any other `\x` is
 * kept as both characters. The caller guarantees no lone backslash at `e - 1`.
 */
const unescapeName = (body: string, s: number, e: number, isMeasurement: boolean): string => {
  let out = ""
  let from = s
  for (let i = s; i < e; i++) {
    if (body.charCodeAt(i) !== BSL) continue
    const n = body.charCodeAt(i + 1)
    if (n === COMMA || n === SP || n === BSL || (n === EQ && !isMeasurement)) {
      out += body.slice(from, i)
      from = i + 1
    }
    i++
  }
  return detach(out + body.slice(from, e))
}

/** Unescapes a string field's content: only `\"` and `\\` are escapes. */
const unescapeString = (body: string, s: number, e: number): string => {
  let out = ""
  let from = s
  for (let i = s; i < e; i++) {
    if (body.charCodeAt(i) !== BSL) continue
    const n = body.charCodeAt(i + 1)
    if (i + 1 < e && (n === DQ || n === BSL)) {
      out += body.slice(from, i)
      from = i + 1
      i++
    }
  }
  return detach(out + body.slice(from, e))
}

/** Parses one body. One instance per call keeps the memos and scan positions in plain fields (no closures). */
class BodyParser {
  private readonly body: string
  /** The body's UTF-16 code units as a typed array: the hot loops read these, several times faster than charCodeAt. */
  private readonly codes: Codes
  private readonly length: number
  /** Positions of the next `"`, `\` and space at or after the current line, found lazily (amortised linear). */
  private nextQuote = -1
  private nextBackslash = -1
  private nextSpace = -1
  /** Physical newlines inside the last logical line (multi-line strings, escaped newlines). */
  private innerNewlines = 0
  private error = ""
  // Outputs of the sub-parsers, kept in fields to avoid allocating result tuples.
  private pos = 0
  private measurement = ""
  private tagKeys: ReadonlyArray<string> = EMPTY
  private tagValues: ReadonlyArray<string> = EMPTY
  private kind: FieldKind = FieldKind.Float
  // A float goes to its own field so that V8 keeps it unboxed; mixing it with bigints and strings in one field
  // would allocate a heap number per float once any line had another kind.
  private float = 0
  private value: FieldValue = 0
  // Memos: series text -> parsed series, and the previous timestamp's text and value.
  private readonly seriesMemo = new Map<number, SeriesEntry>()
  private seriesLookups = 0
  private seriesHits = 0
  private seriesMemoOn = true
  private prevTagKeys: ReadonlyArray<string> = EMPTY
  private prevTagKeysPlain = true
  private prevFieldKeys: ReadonlyArray<string> = EMPTY
  private prevFieldKinds: ReadonlyArray<FieldKind> = []
  /** Whether no key of prevFieldKeys was escaped, so each can be matched against the body as it stands. */
  private prevKeysPlain = true
  /** Where in the body each of prevFieldKeys was read (valid when prevKeysPlain), and the same for the current line. */
  private prevKeyAt = new Int32Array(16)
  private lineKeyAt = new Int32Array(16)
  private prevTsText = ""
  private prevTsAt = 0
  private prevTs = 0n
  // The batch being built, in columns (see ParsedBatch); arrays grow by doubling.
  private count = 0
  private lineNumbers: Int32Array
  private lineSeries: Int32Array
  private lineShape: Int32Array
  private fieldStart: Int32Array
  private times: BigInt64Array
  private hasTime: Uint8Array
  private fieldCount = 0
  private floats: Float64Array
  private integers: BigInt64Array | undefined
  private strings: Array<string | undefined> | undefined
  private readonly series: Array<BatchSeries> = []
  private readonly shapes: Array<FieldShape> = []
  private readonly shapeIds = new Map<string, number>()
  private readonly interned = new Map<string, string>()
  private shapeKeys: ReadonlyArray<string> = EMPTY
  private shapeKinds: ReadonlyArray<FieldKind> = []
  private shapeId = -1

  constructor(
    body: string,
    codes: Codes,
    private readonly allocate: Allocate
  ) {
    this.body = body
    this.codes = codes
    this.length = body.length
    // A line per newline at most: counting them (a native scan) sizes the columns once, which keeps the batch small
    // (its buffers are what a parse worker hands over, and what the garbage collector accounts for).
    let lines = 1
    for (let i = body.indexOf("\n"); i !== -1; i = body.indexOf("\n", i + 1)) lines++
    this.lineNumbers = this.int32s(lines)
    this.lineSeries = this.int32s(lines)
    this.lineShape = this.int32s(lines)
    this.fieldStart = this.int32s(lines)
    this.times = new BigInt64Array(this.allocate(lines * 8), 0, lines)
    this.hasTime = new Uint8Array(this.allocate(lines), 0, lines)
    this.floats = EMPTY_FLOATS
  }

  // The batch's columns come from `allocate`, which may hand out used buffers: every element read later is written.
  private int32s(n: number): Int32Array {
    return new Int32Array(this.allocate(n * 4), 0, n)
  }

  private growLines(): void {
    const n = this.lineNumbers.length * 2
    this.lineNumbers = grown(this.lineNumbers, this.int32s(n))
    this.lineSeries = grown(this.lineSeries, this.int32s(n))
    this.lineShape = grown(this.lineShape, this.int32s(n))
    this.fieldStart = grown(this.fieldStart, this.int32s(n))
    this.times = grown(this.times, new BigInt64Array(this.allocate(n * 8), 0, n))
    this.hasTime = grown(this.hasTime, new Uint8Array(this.allocate(n), 0, n))
  }

  private growKeyAt(): void {
    this.prevKeyAt = grown(this.prevKeyAt, new Int32Array(this.prevKeyAt.length * 2))
    this.lineKeyAt = grown(this.lineKeyAt, new Int32Array(this.lineKeyAt.length * 2))
  }

  private growFields(needed: number): void {
    let n = this.floats.length === 0 ? Math.max(16, needed) : this.floats.length * 2
    while (n < needed) n *= 2
    this.floats = grown(this.floats, new Float64Array(this.allocate(n * 8), 0, n))
    if (this.integers !== undefined) this.integers = grown(this.integers, new BigInt64Array(this.allocate(n * 8), 0, n))
    if (this.strings !== undefined) this.strings.length = n
  }

  run(): ParsedBatch {
    const body = this.body
    const codes = this.codes
    const length = this.length
    const errors: Array<LineError> = []
    let pos = 0
    let lineNumber = 1
    while (pos < length) {
      let nl = body.indexOf("\n", pos)
      if (nl === -1) nl = length
      let s = pos
      let c = codes[s]!
      while (c === SP || c === TAB) c = codes[++s]!
      // Comments end at the physical newline, whatever quotes they contain.
      if (s >= nl || c === HASH || (c === CR && s === nl - 1)) {
        pos = nl + 1
        lineNumber++
        continue
      }
      if (this.nextQuote < s) this.nextQuote = indexOrEnd(body, '"', s)
      if (this.nextBackslash < s) this.nextBackslash = indexOrEnd(body, "\\", s)
      let end = nl
      this.innerNewlines = 0
      if (this.nextQuote < nl || this.nextBackslash < nl) end = this.logicalLineEnd(s)
      const e = end > s && codes[end - 1]! === CR ? end - 1 : end
      if (!this.parseLine(s, e, lineNumber))
        errors.push({ lineNumber, message: this.error, originalLine: body.slice(pos, e) })
      lineNumber += 1 + this.innerNewlines
      pos = end + 1
    }
    const count = this.count
    return {
      count,
      lineNumbers: this.lineNumbers,
      lineSeries: this.lineSeries,
      lineShape: this.lineShape,
      fieldStart: this.fieldStart,
      times: this.times,
      hasTime: this.hasTime,
      floats: this.floats,
      integers: this.integers,
      strings: this.strings,
      series: this.series,
      shapes: this.shapes,
      errors,
      nonEmptyLines: count + errors.length
    }
  }

  /**
   * Finds the end of the logical line starting at `s` as Go's `scanLine` does: a backslash shields the next
   * character, and after the first space a `"` opens or closes a string when more `=` than `,` were seen.
   */
  private logicalLineEnd(s: number): number {
    const codes = this.codes
    const length = this.length
    let quoted = false
    let fields = false
    let equals = 0
    let commas = 0
    let newlines = 0
    let i = s
    for (; i < length; i++) {
      const c = codes[i]!
      if (c === BSL) {
        if (codes[i + 1]! === LF) newlines++
        i++
      } else if (c === SP) {
        fields = true
      } else if (c === LF) {
        if (!quoted) break
        newlines++
      } else if (fields) {
        if (quoted) {
          if (c === DQ) quoted = false
        } else if (c === EQ) equals++
        else if (c === COMMA) commas++
        else if (c === DQ && equals > commas) quoted = true
      }
    }
    this.innerNewlines = newlines
    return i < length ? i : length
  }

  private fail(message: string): false {
    this.error = message
    return false
  }

  /**
   * One flat, detached string per key text in this body: equal keys of different lines are then one string, which
   * compares by identity. A Map costs ~0.1 µs per new key; interning through an object literal (`Object.keys({[s]:
   * 0})`)
   * cost ~3 µs, as each new key added a hidden-class transition (measured: 100,000 distinct keys, 290 ms against 36).
   */
  private intern(key: string): string {
    let known = this.interned.get(key)
    if (known === undefined) {
      known = detach(key)
      this.interned.set(known, known)
    }
    return known
  }

  /** Rejects a name that (unescaped) ends with a backslash or is over 1 MiB; sets the error. */
  private badName(name: string, escaped: boolean): boolean {
    if (escaped && name.charCodeAt(name.length - 1) === BSL) {
      this.error = ENDS_WITH_BACKSLASH
      return true
    }
    if (tooLarge(name)) {
      this.error = STRING_TOO_LARGE
      return true
    }
    return false
  }

  /** Parses one line into the batch's columns; false (error set) when the line is refused. */
  private parseLine(s: number, e: number, lineNumber: number): boolean {
    const body = this.body
    const codes = this.codes
    let p = -1
    let seriesIndex = -1
    // Series: memoised by its raw text when it has no backslash (then the first space ends it). The memo is
    // keyed by a hash of a sample of the text, so a hit costs a few reads and one native string comparison.
    let raw: string | undefined
    let hash = 0
    let depth = 0
    if (this.seriesMemoOn) {
      if (this.nextSpace < s) this.nextSpace = indexOrEnd(body, " ", s)
      const q = this.nextSpace
      if (q < e && this.nextBackslash > q) {
        const length = q - s
        const step = (length >> 4) + 1
        hash = length
        for (let i = q - 1; i >= s; i -= step) hash = Math.imul(hash ^ codes[i]!, 0x9e3779b1)
        hash &= 0x3fffffff
        raw = body.slice(s, q)
        let entry = this.seriesMemo.get(hash)
        while (entry !== undefined && entry.raw !== raw) {
          entry = entry.next
          depth++
        }
        this.seriesLookups++
        if (entry !== undefined) {
          this.seriesHits++
          p = q
          seriesIndex = entry.index
        } else if (this.seriesLookups === 4096 && this.seriesHits < 1024) {
          this.seriesMemoOn = false // mostly distinct series: the memo would only cost
        }
      }
    }
    if (p === -1) {
      if (!this.parseSeries(s, e)) return false
      p = this.pos
      const measurement = this.measurement
      const tagKeys = this.tagKeys
      const tagValues = this.tagValues
      const exact = raw !== undefined && p === s + raw.length
      seriesIndex = this.series.length
      this.series.push({ measurement, tagKeys, tagValues, raw: exact ? raw : undefined })
      if (exact && depth < 8 && this.seriesMemo.size < SERIES_MEMO_MAX) {
        const next = this.seriesMemo.get(hash)
        this.seriesMemo.set(hash, { raw: raw!, index: seriesIndex, measurement, tagKeys, tagValues, next })
      }
    }

    // Field set, after one or more spaces (the series parser guarantees at least one). Lines of a batch usually
    // repeat the previous line's field keys and kinds, so those strings and arrays are reused, not rebuilt.
    while (p < e && codes[p]! === SP) p++
    if (this.floats.length === 0) {
      // Sized once from the first line's `=` count times the line count (lines of a batch mostly share a shape).
      let fields = 1
      for (let i = body.indexOf("=", p); i !== -1 && i < e; i = body.indexOf("=", i + 1)) fields++
      // A field takes at least four characters (`k=1,`), which bounds the guess whatever the first line holds.
      this.growFields(Math.min(fields * this.lineNumbers.length, (this.length >> 2) + 1))
    }
    const prevKeys = this.prevFieldKeys
    const prevKinds = this.prevFieldKinds
    const prevPlain = this.prevKeysPlain
    let plain = true
    let keys: Array<string> | undefined
    let kinds: Array<FieldKind> | undefined
    const base = this.fieldCount
    let n = 0
    for (;;) {
      const f0 = p
      let next = SOFT_FAIL
      let key = ""
      const known = n < prevKeys.length ? prevKeys[n]! : ""
      if (n >= this.lineKeyAt.length) this.growKeyAt()
      if (prevPlain && known !== "" && sameAt(codes, p, this.prevKeyAt[n]!, known.length) && codes[p + known.length]! === EQ) {
        // The previous line's key, which holds no delimiter or backslash, so scanning would stop right here.
        key = known
        this.lineKeyAt[n] = this.prevKeyAt[n]!
        p += known.length
        if (p < e) next = this.parseFieldValue(p + 1, e)
      } else {
        let escaped = false
        for (; p < e; p++) {
          const c = codes[p]!
          if (c === BSL) {
            if (p + 1 >= e) return this.fail(ENDS_WITH_BACKSLASH)
            escaped = true
            p++
          } else if (c === EQ || c === SP || c === TAB || c === LF) break
        }
        if (p > f0) {
          if (escaped) {
            plain = false
            key = unescapeName(body, f0, p, false)
            if (this.badName(key, true)) return false
          } else {
            const same =
              known.length === p - f0 &&
              (prevPlain ? sameAt(codes, f0, this.prevKeyAt[n]!, known.length) : matchesAt(codes, f0, known))
            key = same ? known : this.intern(body.slice(f0, p))
            this.lineKeyAt[n] = f0
            if (key !== known && this.badName(key, false)) return false
          }
          if (p < e && codes[p]! === EQ) next = this.parseFieldValue(p + 1, e)
        }
      }
      if (next === HARD_FAIL) return false
      if (next === SOFT_FAIL) {
        if (n === 0) return this.fail(NO_FIELDS)
        // As in nom's separated list: the text after the first comma, or from a later comma, is left over.
        p = n === 1 ? f0 : f0 - 1
        break
      }
      if (keys !== undefined) keys.push(key)
      else if (n >= prevKeys.length || prevKeys[n] !== key) {
        keys = prevKeys.slice(0, n)
        keys.push(key)
      }
      const kind = this.kind
      if (kinds !== undefined) kinds.push(kind)
      else if (n >= prevKinds.length || prevKinds[n] !== kind) {
        kinds = prevKinds.slice(0, n)
        kinds.push(kind)
      }
      const k = base + n
      if (k >= this.floats.length) this.growFields(k + 1)
      switch (kind) {
        case FieldKind.Float:
          this.floats[k] = this.float
          break
        case FieldKind.Boolean:
          this.floats[k] = this.value === true ? 1 : 0
          break
        case FieldKind.String:
          if (this.strings === undefined) this.strings = new Array<string | undefined>(this.floats.length)
          this.strings[k] = this.value as string
          break
        default:
          if (this.integers === undefined)
            this.integers = new BigInt64Array(this.allocate(this.floats.length * 8), 0, this.floats.length)
          this.integers[k] = this.value as bigint
      }
      n++
      p = next
      if (p < e && codes[p]! === COMMA) p++
      else break
    }
    const fieldKeys = keys ?? (n === prevKeys.length ? prevKeys : prevKeys.slice(0, n))
    const fieldKinds = kinds ?? (n === prevKinds.length ? prevKinds : prevKinds.slice(0, n))

    // Optional timestamp; trailing spaces and tabs are allowed.
    let timestamp: bigint | undefined
    if (p < e) {
      if (codes[p]! === SP) {
        let q = p + 1
        while (q < e && codes[q]! === SP) q++
        const t0 = q
        const prevTs = this.prevTsText
        if (prevTs !== "" && sameAt(codes, q, this.prevTsAt, prevTs.length) && !isDigit(codes[q + prevTs.length]!)) {
          // Lines of a batch mostly share their timestamp: reuse the bigint without reading digits.
          timestamp = this.prevTs
          q += prevTs.length
          while (q < e && codes[q]! === SP) q++
          if (!blankFrom(codes, q, e)) return this.fail(trailing(body, q, e))
        } else {
          if (q < e && codes[q]! === MINUS) q++
          const d0 = q
          while (q < e && isDigit(codes[q]!)) q++
          if (q > d0) {
            timestamp = this.parseTimestamp(t0, q)
            if (timestamp === undefined) {
              return this.fail(`Unable to parse timestamp value \`${body.slice(t0, q)}\``)
            }
            while (q < e && codes[q]! === SP) q++
            if (!blankFrom(codes, q, e)) return this.fail(trailing(body, q, e))
          } else if (!blankFrom(codes, p, e)) return this.fail(trailing(body, p, e))
        }
      } else if (!blankFrom(codes, p, e)) return this.fail(trailing(body, p, e))
    }

    // Reused key arrays come from a line that already passed this check.
    if (fieldKeys !== prevKeys) {
      const duplicate = firstDuplicate(fieldKeys)
      if (duplicate !== undefined) {
        return this.fail(`invalid line protocol - multiple instances of '${duplicate}' field found`)
      }
    }
    this.prevFieldKeys = fieldKeys
    this.prevKeysPlain = plain
    this.prevFieldKinds = fieldKinds
    const keyAt = this.prevKeyAt
    this.prevKeyAt = this.lineKeyAt
    this.lineKeyAt = keyAt

    // Lines of a batch mostly share one field shape, recognised by the identity of the reused key arrays.
    if (fieldKeys !== this.shapeKeys || fieldKinds !== this.shapeKinds) {
      const signature = shapeSignature(fieldKeys, fieldKinds)
      let id = this.shapeIds.get(signature)
      if (id === undefined) {
        id = this.shapes.length
        this.shapes.push({ keys: fieldKeys, kinds: fieldKinds })
        this.shapeIds.set(signature, id)
      }
      this.shapeKeys = fieldKeys
      this.shapeKinds = fieldKinds
      this.shapeId = id
    }
    const c = this.count
    if (c === this.lineNumbers.length) this.growLines()
    this.lineNumbers[c] = lineNumber
    this.lineSeries[c] = seriesIndex
    this.lineShape[c] = this.shapeId
    this.fieldStart[c] = base
    if (timestamp !== undefined) {
      this.times[c] = timestamp
      this.hasTime[c] = 1
    } else {
      this.hasTime[c] = 0
    }
    this.fieldCount = base + n
    this.count = c + 1
    return true
  }

  /** Parses `measurement[,k=v...]` and the space after it; sets measurement, tags and pos, or the error. */
  private parseSeries(s: number, e: number): boolean {
    const body = this.body
    const codes = this.codes
    let p = s
    let escaped = false
    for (; p < e; p++) {
      const c = codes[p]!
      if (c === BSL) {
        if (p + 1 >= e) return this.failed(ENDS_WITH_BACKSLASH)
        escaped = true
        p++
      } else if (c === SP || c === COMMA || c === TAB || c === LF || c === NUL) break
    }
    if (p === s) return this.failed(BAD_MEASUREMENT)
    const measurement = escaped ? unescapeName(body, s, p, true) : detach(body.slice(s, p))
    if (this.badName(measurement, escaped)) return false

    let tagKeys: ReadonlyArray<string> = EMPTY
    let tagValues: ReadonlyArray<string> = EMPTY
    if (p < e && codes[p]! === COMMA) {
      // Tag keys repeat from line to line even when the values do not: reuse the previous line's key strings
      // (and its key array when all of them match), as for field keys.
      const tagsStart = p + 1
      const prevKeys = this.prevTagKeys
      const prevPlain = this.prevTagKeysPlain
      let plain = true
      let keys: Array<string> | undefined
      const values: Array<string> = []
      let n = 0
      do {
        p++
        const k0 = p
        let key: string
        const known = n < prevKeys.length ? prevKeys[n]! : ""
        if (prevPlain && known !== "" && matchesAt(codes, p, known) && codes[p + known.length]! === EQ) {
          key = known
          p += known.length
        } else {
          escaped = false
          for (; p < e; p++) {
            const c = codes[p]!
            if (c === BSL) {
              if (p + 1 >= e) return this.failed(ENDS_WITH_BACKSLASH)
              escaped = true
              p++
            } else if (c === EQ || c === SP || c === TAB || c === LF) break
          }
          if (p === k0) return this.failed(expected("tag key", body, k0, e))
          if (escaped) {
            plain = false
            key = unescapeName(body, k0, p, false)
          } else {
            key = known.length === p - k0 && matchesAt(codes, k0, known) ? known : this.intern(body.slice(k0, p))
          }
          if (key !== known && this.badName(key, escaped)) return false
          if (p >= e || codes[p]! !== EQ) {
            return this.failed(`Tag set malformed: could not find equals sign in \`${errorContext(body, tagsStart, e)}\``)
          }
        }
        p++
        const v0 = p
        escaped = false
        for (; p < e; p++) {
          const c = codes[p]!
          if (c === BSL) {
            if (p + 1 >= e) return this.failed(ENDS_WITH_BACKSLASH)
            escaped = true
            p++
          } else if (c === COMMA || c === SP || c === TAB || c === LF) break
        }
        if (p === v0) return this.failed(expected("tag value", body, v0, e))
        const value = escaped ? unescapeName(body, v0, p, false) : detach(body.slice(v0, p))
        if (this.badName(value, escaped)) return false
        if (keys !== undefined) keys.push(key)
        else if (n >= prevKeys.length || prevKeys[n] !== key) {
          keys = prevKeys.slice(0, n)
          keys.push(key)
        }
        values.push(value)
        n++
      } while (p < e && codes[p]! === COMMA)
      if (keys === undefined) {
        // Every key matched the previous line's, which were already free of repeats.
        tagKeys = n === prevKeys.length ? prevKeys : prevKeys.slice(0, n)
      } else {
        if (n > 1) dropRepeatedTags(keys, values)
        tagKeys = keys
      }
      tagValues = values
      this.prevTagKeys = tagKeys
      this.prevTagKeysPlain = plain
    }
    if (p >= e) return this.failed("Expected at least one space character, got end of input")
    if (codes[p]! !== SP) {
      return this.failed(`Expected at least one space character, got \`${body.slice(p, e)}\``)
    }
    this.pos = p
    this.measurement = measurement
    this.tagKeys = tagKeys
    this.tagValues = tagValues
    return true
  }

  private failed(message: string): false {
    this.error = message
    return false
  }

  /**
   * Parses a field value at `p`, trying int, uint, float, string and bool in InfluxDB's order. Sets kind and
   * value and returns the position after it; SOFT_FAIL when nothing matches, HARD_FAIL (error set) on overflow
   * or an oversized string.
   */
  private parseFieldValue(p: number, e: number): number {
    const body = this.body
    const codes = this.codes
    if (p >= e) return SOFT_FAIL
    const c = codes[p]!
    if (c === MINUS || isDigit(c)) {
      const negative = c === MINUS
      let q = negative ? p + 1 : p
      const d0 = q
      let mantissa = 0
      let d: number
      while (q < e && (d = codes[q]! - D0) >= 0 && d <= 9) {
        mantissa = mantissa * 10 + d
        q++
      }
      const intDigits = q - d0
      if (intDigits === 0) return SOFT_FAIL
      const after = q < e ? codes[q]! : -1
      if (after === LOWER_I) {
        const v = intDigits <= 15 ? BigInt(negative ? -mantissa : mantissa) : BigInt(body.slice(p, q))
        if (v < INT64_MIN || v > INT64_MAX) {
          this.error = `Unable to parse integer value \`${body.slice(p, q)}\``
          return HARD_FAIL
        }
        this.kind = FieldKind.Integer
        this.value = v
        return q + 1
      }
      if (after === LOWER_U && !negative) {
        const v = intDigits <= 15 ? BigInt(mantissa) : BigInt(body.slice(p, q))
        if (v > UINT64_MAX) {
          this.error = `Unable to parse unsigned integer value \`${body.slice(p, q)}\``
          return HARD_FAIL
        }
        this.kind = FieldKind.UInteger
        this.value = v
        return q + 1
      }
      // Float: -?\d+, -?\d+.\d+, with an optional exponent (we also take `1.e5`); `1.` leaves `.` behind.
      let end = q
      let fracDigits = 0
      let exact = true
      if (after === DOT) {
        let r = q + 1
        while (r < e && (d = codes[r]! - D0) >= 0 && d <= 9) {
          mantissa = mantissa * 10 + d
          r++
        }
        const n = r - q - 1
        const x = exponentEnd(codes, r, e)
        if (x !== -1) {
          end = x
          exact = false
        } else if (n > 0) {
          end = r
          fracDigits = n
        }
      } else if (after === LOWER_E || after === UPPER_E) {
        const x = exponentEnd(codes, q, e)
        if (x !== -1) {
          end = x
          exact = false
        }
      }
      this.kind = FieldKind.Float
      if (exact && intDigits + fracDigits <= 15) {
        // Clinger's fast path: an integer below 2^53 divided by an exact power of ten rounds correctly.
        const v = mantissa / POW10[fracDigits]!
        this.float = negative ? -v : v
      } else {
        const v = Number(body.slice(p, end))
        // Beyond the largest double: InfluxDB 3 would store infinity, which no query answer can carry.
        if (v === Infinity || v === -Infinity) {
          this.error = `Unable to parse floating-point value \`${body.slice(p, end)}\`: value out of range`
          return HARD_FAIL
        }
        this.float = v
      }
      return end
    }
    if (c === DQ) {
      let q = p + 1
      let escaped = false
      for (; q < e; q++) {
        const ch = codes[q]!
        if (ch === DQ) break
        if (ch === BSL && q + 1 < e) {
          const n = codes[q + 1]!
          if (n === DQ || n === BSL) {
            escaped = true
            q++
          }
        }
      }
      if (q >= e) return SOFT_FAIL
      const v = escaped ? unescapeString(body, p + 1, q) : detach(body.slice(p + 1, q))
      if (tooLarge(v)) {
        this.error = STRING_TOO_LARGE
        return HARD_FAIL
      }
      this.kind = FieldKind.String
      this.value = v
      return q + 1
    }
    if (c === LOWER_T || c === UPPER_T) {
      this.kind = FieldKind.Boolean
      this.value = true
      return p + boolLength(codes, p, e, "true", "True", "TRUE")
    }
    if (c === LOWER_F || c === UPPER_F) {
      this.kind = FieldKind.Boolean
      this.value = false
      return p + boolLength(codes, p, e, "false", "False", "FALSE")
    }
    return SOFT_FAIL
  }

  /** Reads a signed integer timestamp; undefined when outside int64. Repeated timestamps reuse one bigint. */
  private parseTimestamp(s: number, e: number): bigint | undefined {
    const text = this.body.slice(s, e)
    const v = BigInt(text)
    if (v < INT64_MIN || v > INT64_MAX) return undefined
    this.prevTsText = text
    this.prevTsAt = s
    this.prevTs = v
    return v
  }
}

/** If an exponent `[eE][+-]?\d+` starts at `p`, the position after it; otherwise -1. */
const exponentEnd = (codes: Codes, p: number, e: number): number => {
  if (p >= e) return -1
  const c = codes[p]!
  if (c !== LOWER_E && c !== UPPER_E) return -1
  let q = p + 1
  const sign = q < e ? codes[q]! : -1
  if (sign === PLUS || sign === MINUS) q++
  const d0 = q
  while (q < e && isDigit(codes[q]!)) q++
  return q > d0 ? q : -1
}

/** How much of a boolean literal matches at `p`: the long forms first, else the one-letter form. */
const boolLength = (codes: Codes, p: number, e: number, lower: string, title: string, upper: string): number => {
  const n = lower.length
  if (p + n <= e && (matchesAt(codes, p, lower) || matchesAt(codes, p, title) || matchesAt(codes, p, upper))) return n
  return 1
}

const blankFrom = (codes: Codes, p: number, e: number): boolean => {
  for (; p < e; p++) {
    const c = codes[p]!
    if (c !== SP && c !== TAB) return false
  }
  return true
}

const indexOrEnd = (body: string, needle: string, from: number): number => {
  const i = body.indexOf(needle, from)
  return i === -1 ? body.length : i
}

/** Removes every tag whose key appears again later in the line, so the last occurrence wins at its own place. */
const dropRepeatedTags = (keys: Array<string>, values: Array<string>): void => {
  if (firstDuplicate(keys) === undefined) return
  const seen = new Set<string>()
  const keep: Array<boolean> = new Array(keys.length)
  for (let i = keys.length - 1; i >= 0; i--) {
    keep[i] = !seen.has(keys[i]!)
    seen.add(keys[i]!)
  }
  let w = 0
  for (let i = 0; i < keys.length; i++) {
    if (!keep[i]) continue
    keys[w] = keys[i]!
    values[w] = values[i]!
    w++
  }
  keys.length = w
  values.length = w
}

const firstDuplicate = (keys: ReadonlyArray<string>): string | undefined => {
  const n = keys.length
  if (n <= 12) {
    for (let i = 1; i < n; i++) {
      const k = keys[i]!
      for (let j = 0; j < i; j++) if (keys[j] === k) return k
    }
    return undefined
  }
  const seen = new Set<string>()
  for (const k of keys) {
    if (seen.has(k)) return k
    seen.add(k)
  }
  return undefined
}

/** Copies a typed array into a larger one. */
const grown = <A extends Int32Array | BigInt64Array | Uint8Array | Float64Array>(from: A, to: A): A => {
  ;(to as Int32Array).set(from as Int32Array)
  return to
}

/** An unambiguous text for a field shape (names may hold any character, so each is length-prefixed). */
const shapeSignature = (keys: ReadonlyArray<string>, kinds: ReadonlyArray<FieldKind>): string => {
  let out = kinds.join("")
  for (let i = 0; i < keys.length; i++) out += "|" + keys[i]!.length + ":" + keys[i]
  return out
}

/**
 * Parses a whole line-protocol body into columns and per-line errors; never throws. `codes` are the body's UTF-16
 * code units (for an ASCII body, its bytes), computed from the text when not given.
 */
export const parseBatch = (body: string, codes?: Codes, allocate: Allocate = newBuffer): ParsedBatch =>
  new BodyParser(body, codes ?? codesOf(body), allocate).run()

/** The value of field `f` (in shape order) of line `i` of a batch, as a ParsedLine holds it. */
const fieldValue = (batch: ParsedBatch, kind: FieldKind, k: number): FieldValue => {
  switch (kind) {
    case FieldKind.Float:
      return batch.floats[k]!
    case FieldKind.Boolean:
      return batch.floats[k] !== 0
    case FieldKind.Integer:
      return batch.integers![k]!
    case FieldKind.UInteger:
      return BigInt.asUintN(64, batch.integers![k]!)
    case FieldKind.String:
      return batch.strings![k]!
  }
}

/** The good lines of a batch as one object each (for tests, tools and the serialiser; the write path reads columns). */
export const batchLines = (batch: ParsedBatch): Array<ParsedLine> => {
  const lines: Array<ParsedLine> = new Array(batch.count)
  for (let i = 0; i < batch.count; i++) {
    const series = batch.series[batch.lineSeries[i]!]!
    const shape = batch.shapes[batch.lineShape[i]!]!
    const start = batch.fieldStart[i]!
    const fieldValues: Array<FieldValue> = new Array(shape.keys.length)
    for (let f = 0; f < shape.keys.length; f++) fieldValues[f] = fieldValue(batch, shape.kinds[f]!, start + f)
    lines[i] = {
      lineNumber: batch.lineNumbers[i]!,
      measurement: series.measurement,
      tagKeys: series.tagKeys,
      tagValues: series.tagValues,
      fieldKeys: shape.keys,
      fieldKinds: shape.kinds,
      fieldValues,
      timestamp: batch.hasTime[i] === 1 ? batch.times[i]! : undefined
    }
  }
  return lines
}

/** Parses a whole line-protocol body into points and per-line errors; never throws. */
export const parseLineProtocol = (body: string): ParseResult => {
  const batch = parseBatch(body)
  return { lines: batchLines(batch), errors: batch.errors, nonEmptyLines: batch.nonEmptyLines }
}
