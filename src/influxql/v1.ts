import { formatRfc3339 } from "./time.ts"
import { UNIT_NS } from "./lexer.ts"
import { encodeMsgPack, MsgPackWriter } from "./msgpack.ts"

/**
 * The v1 `/query` answer, rendered as InfluxDB 1.x renders it — JSON with Go's number forms (whole floats as
 * integers), RFC3339 times or epoch integers, chunks, pretty JSON, CSV and MessagePack — and written as the rows
 * arrive: an encoder takes statements, series and slices of rows and hands out the bytes that are ready.
 */

/** A time value, kept apart from integers so it can be rendered per `epoch`. */
export interface TimeCell {
  readonly timeNs: bigint
}

export type V1Cell = string | number | bigint | boolean | null | TimeCell

/** What a series says before its rows. */
export interface V1SeriesHead {
  /** Absent for series without a name (SHOW SERIES). */
  readonly name?: string
  readonly tags?: Readonly<Record<string, string>>
  readonly columns: ReadonlyArray<string>
}

/** Cells of consecutive rows, column by column in the series' column order. */
export type V1Columns = ReadonlyArray<ReadonlyArray<V1Cell>>

/** How times are written: RFC3339 (optionally in a zone) or integers in a unit. */
export type TimeFormat = { readonly kind: "rfc3339"; readonly zone?: string } | { readonly kind: "epoch"; readonly divisor: bigint }

// `epoch` takes the duration units up to hours, and `n` for nanoseconds.
const EPOCH_UNITS = new Set(["ns", "n", "u", "us", "µ", "ms", "s", "m", "h"])

/** The divisor of an `epoch` parameter; undefined for an unknown unit. */
export const epochDivisor = (epoch: string): bigint | undefined => (!EPOCH_UNITS.has(epoch) ? undefined : epoch === "n" ? 1n : UNIT_NS[epoch])

export type V1Format = "json" | "csv" | "msgpack"

export interface V1AnswerOptions {
  readonly format: V1Format
  readonly time: TimeFormat
  /** JSON indented as Go's MarshalIndent (4 spaces). */
  readonly pretty: boolean
  /** Set for a chunked answer (JSON and MessagePack; CSV is never chunked): at most this many rows per chunk. */
  readonly chunkSize?: number
}

/**
 * Writes one v1 answer as it is produced. Calls come in answer order: `statement`, then its `series` each followed
 * by `rows`, or `fail`, then `endStatement`; `end` once after the last statement.
 */
export interface V1AnswerEncoder {
  /** Starts the result of statement `id`; its RFC3339 times are written in `zone` (its `tz()`), if any. */
  statement(id: number, zone: string | undefined): void
  /** Starts a series of the current statement. */
  series(head: V1SeriesHead): void
  /** Rows `from` (inclusive) to `to` (exclusive) of `cells`, in the current series. */
  rows(cells: V1Columns, from: number, to: number): void
  /** The current statement failed: its error replaces what it answered, as far as that has not been handed out. */
  fail(message: string): void
  endStatement(): void
  end(): void
  /** The bytes ready to be sent, handed out once. */
  take(): Array<Uint8Array>
  /** False once nothing more can change the answer (a whole JSON or MessagePack answer that met ±Inf). */
  readonly wantsRows: boolean
}

/** An encoder of the answer in `options`' format. */
export const v1AnswerEncoder = (options: V1AnswerOptions): V1AnswerEncoder => {
  if (options.format === "csv") return new CsvAnswer(options.time)
  if (options.format === "msgpack") return options.chunkSize === undefined ? new MsgPackAnswer(options.time) : new ChunkedAnswer(new MsgPackChunks(options.time), options.chunkSize)
  const layout = jsonLayout(options.pretty)
  return options.chunkSize === undefined ? new JsonAnswer(options.time, layout) : new ChunkedAnswer(new JsonChunks(options.time, layout), options.chunkSize)
}

/** A value Go's encoding/json refuses (±Inf): InfluxDB 1.x answers `{"error":"json: unsupported value: +Inf"}`. */
class Unsupported {
  constructor(readonly message: string) {}
}

const infinity = (n: number) => new Unsupported(`json: unsupported value: ${n > 0 ? "+Inf" : "-Inf"}`)

const utf8 = new TextEncoder()

/** Output is handed out in pieces of about this size; a response stream writes each piece separately. */
const PIECE_BYTES = 64 * 1024

/** Small pieces (headers, separators) joined into pieces of about PIECE_BYTES. */
const coalesce = (pieces: ReadonlyArray<Uint8Array>): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  let run: Array<Uint8Array> = []
  let runBytes = 0
  const close = () => {
    if (run.length === 1) out.push(run[0]!)
    else if (run.length > 1) {
      const joined = new Uint8Array(runBytes)
      let at = 0
      for (const p of run) {
        joined.set(p, at)
        at += p.length
      }
      out.push(joined)
    }
    run = []
    runBytes = 0
  }
  for (const p of pieces) {
    if (p.length === 0) continue
    if (runBytes + p.length > PIECE_BYTES && run.length > 0) close()
    run.push(p)
    runBytes += p.length
  }
  close()
  return out
}

/** Text written in order and encoded in pieces; a mark can be returned to while its text has not been handed out. */
class TextOutput {
  private pieces: Array<Uint8Array> = []
  private taken = 0
  private text = ""

  write(s: string) {
    this.text += s
    if (this.text.length >= PIECE_BYTES) this.flush()
  }

  private flush() {
    if (this.text === "") return
    this.pieces.push(utf8.encode(this.text))
    this.text = ""
  }

  mark(): readonly [number, string] {
    return [this.taken + this.pieces.length, this.text]
  }

  /** Drops what was written after `mark`; false when part of it was handed out already. */
  reset(mark: readonly [number, string]): boolean {
    if (mark[0] < this.taken) return false
    this.pieces.length = mark[0] - this.taken
    this.text = mark[1]
    return true
  }

  take(): Array<Uint8Array> {
    this.flush()
    const out = this.pieces
    this.taken += out.length
    this.pieces = []
    return out
  }
}

// ---------------------------------------------------------------------------------------------------------------
// JSON

/** A string as Go's JSON writes it here (JSON.stringify's escapes); the common case without JSON.stringify. */
const quote = (s: string): string => {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || c === 34 || c === 92 || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s)
  }
  return '"' + s + '"'
}

/** A number as Go's encoding/json writes a float64: shortest form, whole numbers without `.0`, NaN as null. */
const goFloat = (n: number): string => {
  if (Number.isNaN(n)) return "null"
  if (!Number.isFinite(n)) throw infinity(n)
  // Go writes negative zero (round(-0.4), sin(-0)) as -0; String(-0) is "0".
  return n === 0 && Object.is(n, -0) ? "-0" : String(n)
}

const cellJson = (v: V1Cell, time: TimeFormat, zone: string | undefined): string => {
  if (v === null) return "null"
  switch (typeof v) {
    case "string":
      return quote(v)
    case "number":
      return goFloat(v)
    case "bigint":
      return v.toString()
    case "boolean":
      return v ? "true" : "false"
  }
  if (time.kind === "epoch") return (v.timeNs / time.divisor).toString()
  // RFC3339 text has nothing to escape.
  return '"' + formatRfc3339(v.timeNs, time.zone ?? zone) + '"'
}

/** Line breaks and indents by depth (Go's MarshalIndent with 4 spaces when pretty, none otherwise), and `:`. */
interface JsonLayout {
  readonly nl: ReadonlyArray<string>
  readonly colon: string
}

const jsonLayout = (pretty: boolean): JsonLayout => ({
  nl: Array.from({ length: 8 }, (_, depth) => (pretty ? "\n" + "    ".repeat(depth) : "")),
  colon: pretty ? ": " : ":"
})

// Depths in the answer: {results: [ {statement_id, series: [ {name, tags, columns, values: [ [cell] ] } ] } ] }.
const RESULT = 2
const SERIES = 4
const ROW = 6

/** `key: value` inside an object at `depth`, as an entry after the first. */
const entry = (l: JsonLayout, depth: number, key: string, value: string) => "," + l.nl[depth + 1] + '"' + key + '"' + l.colon + value

const jsonArray = (l: JsonLayout, depth: number, items: ReadonlyArray<string>) =>
  items.length === 0 ? "[]" : "[" + items.map((item) => l.nl[depth + 1] + item).join(",") + l.nl[depth] + "]"

/** The opening of a statement's result object, up to its statement_id. */
const resultHead = (l: JsonLayout, id: number) => "{" + l.nl[RESULT + 1] + '"statement_id"' + l.colon + String(id)

/** The opening of a series object, up to its columns. */
const seriesHeadJson = (l: JsonLayout, head: V1SeriesHead): string => {
  const entries: Array<string> = []
  if (head.name !== undefined) entries.push(entry(l, SERIES, "name", quote(head.name)))
  if (head.tags !== undefined) {
    // Keys sorted, then in an object's property order (integer-like keys first), as the answer always had them.
    const tags: Record<string, string> = {}
    for (const k of Object.keys(head.tags).sort()) tags[k] = head.tags[k]!
    const pairs = Object.entries(tags)
    entries.push(
      entry(l, SERIES, "tags", pairs.length === 0 ? "{}" : "{" + pairs.map(([k, v]) => l.nl[SERIES + 2] + quote(k) + l.colon + quote(v)).join(",") + l.nl[SERIES + 1] + "}")
    )
  }
  entries.push(entry(l, SERIES, "columns", jsonArray(l, SERIES + 1, head.columns.map(quote))))
  return "{" + entries.join("").slice(1)
}

/** Rows as the items of a `values` array, each preceded by `,` unless it is the array's first. */
const rowsJson = (l: JsonLayout, cells: V1Columns, from: number, to: number, first: boolean, time: TimeFormat, zone: string | undefined): string => {
  const open = l.nl[ROW] + "["
  const cellNl = l.nl[ROW + 1]!
  const close = cells.length === 0 ? "]" : l.nl[ROW] + "]"
  let out = ""
  for (let r = from; r < to; r++) {
    let row = first && r === from ? open : "," + open
    for (let c = 0; c < cells.length; c++) row += (c === 0 ? cellNl : "," + cellNl) + cellJson(cells[c]![r]!, time, zone)
    out += row + close
  }
  return out
}

const errorJson = (l: JsonLayout, message: string) => "{" + l.nl[1] + '"error"' + l.colon + quote(message) + l.nl[0] + "}"

/** A whole JSON answer: written as rows arrive, handed out at the end (a ±Inf anywhere makes it the error object). */
class JsonAnswer implements V1AnswerEncoder {
  private readonly out = new TextOutput()
  private statements = 0
  private id = 0
  private zone: string | undefined
  private mark: readonly [number, string] = [0, ""]
  private seriesCount = 0
  /** Rows written in the open series; -1 when none is open. */
  private rowCount = -1
  private failed = false
  /** A ±Inf in the current statement's rows: it decides the answer unless the statement fails. */
  private statementUnsupported: string | undefined
  private unsupported: string | undefined
  private ended = false

  constructor(
    private readonly time: TimeFormat,
    private readonly l: JsonLayout
  ) {
    this.out.write("{" + l.nl[1] + '"results"' + l.colon + "[")
  }

  get wantsRows() {
    return this.unsupported === undefined
  }

  statement(id: number, zone: string | undefined) {
    this.id = id
    this.zone = zone
    this.failed = false
    this.seriesCount = 0
    this.rowCount = -1
    this.mark = this.out.mark()
    this.out.write((this.statements++ > 0 ? "," : "") + this.l.nl[RESULT] + resultHead(this.l, id))
  }

  series(head: V1SeriesHead) {
    if (this.failed || this.unsupported !== undefined) return
    this.closeSeries()
    const l = this.l
    this.out.write((this.seriesCount++ === 0 ? entry(l, RESULT, "series", "[") : ",") + l.nl[SERIES] + seriesHeadJson(l, head))
    this.rowCount = 0
  }

  rows(cells: V1Columns, from: number, to: number) {
    if (this.failed || this.unsupported !== undefined || this.statementUnsupported !== undefined || from >= to) return
    try {
      const text = rowsJson(this.l, cells, from, to, this.rowCount === 0, this.time, this.zone)
      this.out.write((this.rowCount === 0 ? entry(this.l, SERIES, "values", "[") : "") + text)
      this.rowCount += to - from
    } catch (e) {
      if (!(e instanceof Unsupported)) throw e
      this.statementUnsupported = e.message
    }
  }

  private closeSeries() {
    if (this.rowCount < 0) return
    this.out.write((this.rowCount > 0 ? this.l.nl[SERIES + 1] + "]" : "") + this.l.nl[SERIES] + "}")
    this.rowCount = -1
  }

  fail(message: string) {
    if (this.unsupported !== undefined) return
    this.statementUnsupported = undefined
    this.out.reset(this.mark)
    this.out.write((this.statements > 1 ? "," : "") + this.l.nl[RESULT] + resultHead(this.l, this.id) + entry(this.l, RESULT, "error", quote(message)))
    this.failed = true
    this.seriesCount = 0
    this.rowCount = -1
  }

  endStatement() {
    if (this.unsupported !== undefined) return
    if (this.statementUnsupported !== undefined) {
      this.unsupported = this.statementUnsupported
      return
    }
    this.closeSeries()
    this.out.write((this.seriesCount > 0 ? this.l.nl[RESULT + 1] + "]" : "") + this.l.nl[RESULT] + "}")
  }

  end() {
    this.out.write((this.statements > 0 ? this.l.nl[1] : "") + "]" + this.l.nl[0] + "}")
    this.ended = true
  }

  take() {
    if (!this.ended) return []
    if (this.unsupported === undefined) return this.out.take()
    this.ended = false
    return [utf8.encode(errorJson(this.l, this.unsupported))]
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Chunks

/** One chunk's series: its head and its rows, already encoded, with the first ±Inf among them. */
interface Piece<R> {
  readonly head: V1SeriesHead
  rows: R
  count: number
  unsupported: string | undefined
}

/** How a chunked answer writes its pieces in one format. */
interface ChunkFormat<R> {
  readonly emptyRows: () => R
  /** Appends rows to a piece's encoded rows; throws Unsupported at a ±Inf. */
  readonly addRows: (rows: R, cells: V1Columns, from: number, to: number, first: boolean, zone: string | undefined) => R
  /** A whole chunk: statement `id`'s result with one series piece, or `error`. */
  readonly chunk: (id: number, piece: Piece<R> | undefined, seriesPartial: boolean, chunkPartial: boolean, error?: string) => Uint8Array
}

/**
 * A chunked answer: a chunk at each series and every `size` rows, sent as soon as the next row shows whether more
 * follows. Every chunk but a statement's last carries `partial: true`, and a series cut by size carries it too.
 */
class ChunkedAnswer<R> implements V1AnswerEncoder {
  private out: Array<Uint8Array> = []
  private id = 0
  private zone: string | undefined
  private series_ = 0
  private failed = false
  private piece: Piece<R> | undefined

  constructor(
    private readonly format: ChunkFormat<R>,
    private readonly size: number
  ) {}

  readonly wantsRows = true

  statement(id: number, zone: string | undefined) {
    this.id = id
    this.zone = zone
    this.series_ = 0
    this.failed = false
  }

  private send(seriesPartial: boolean, chunkPartial: boolean) {
    if (this.piece === undefined) return
    this.out.push(this.format.chunk(this.id, this.piece, seriesPartial, chunkPartial))
    this.piece = undefined
  }

  private open(head: V1SeriesHead) {
    this.piece = { head, rows: this.format.emptyRows(), count: 0, unsupported: undefined }
  }

  series(head: V1SeriesHead) {
    if (this.failed) return
    this.send(false, true)
    this.open(head)
    this.series_++
  }

  rows(cells: V1Columns, from: number, to: number) {
    if (this.failed) return
    let r = from
    while (r < to) {
      let piece = this.piece!
      if (piece.count === this.size) {
        this.send(true, true)
        this.open(piece.head)
        piece = this.piece!
      }
      const end = Math.min(to, r + this.size - piece.count)
      if (piece.unsupported === undefined) {
        try {
          piece.rows = this.format.addRows(piece.rows, cells, r, end, piece.count === 0, this.zone)
        } catch (e) {
          if (!(e instanceof Unsupported)) throw e
          piece.unsupported = e.message
        }
      }
      piece.count += end - r
      r = end
    }
  }

  fail(message: string) {
    // A piece not yet sent is dropped; the error is the statement's last chunk.
    this.piece = undefined
    this.failed = true
    this.out.push(this.format.chunk(this.id, undefined, false, false, message))
  }

  endStatement() {
    if (this.failed) return
    if (this.piece !== undefined) this.send(false, false)
    else if (this.series_ === 0) this.out.push(this.format.chunk(this.id, undefined, false, false))
  }

  end() {}

  take() {
    const out = coalesce(this.out)
    this.out = []
    return out
  }
}

/** A chunk's rows are encoded as they arrive: a long string built up until the chunk is sent would outlive many scavenges. */
class JsonChunks implements ChunkFormat<Array<Uint8Array>> {
  constructor(
    private readonly time: TimeFormat,
    private readonly l: JsonLayout
  ) {}

  emptyRows = (): Array<Uint8Array> => []

  addRows = (rows: Array<Uint8Array>, cells: V1Columns, from: number, to: number, first: boolean, zone: string | undefined) => {
    rows.push(utf8.encode(rowsJson(this.l, cells, from, to, first, this.time, zone)))
    return rows
  }

  chunk = (id: number, piece: Piece<Array<Uint8Array>> | undefined, seriesPartial: boolean, chunkPartial: boolean, error?: string) => {
    const l = this.l
    if (piece?.unsupported !== undefined) return utf8.encode(errorJson(l, piece.unsupported))
    let head = "{" + l.nl[1] + '"results"' + l.colon + "[" + l.nl[RESULT] + resultHead(l, id)
    let tail = ""
    if (piece !== undefined) {
      head += entry(l, RESULT, "series", "[") + l.nl[SERIES] + seriesHeadJson(l, piece.head)
      if (piece.count > 0) {
        head += entry(l, SERIES, "values", "[")
        tail += l.nl[SERIES + 1] + "]"
      }
      tail += (seriesPartial ? entry(l, SERIES, "partial", "true") : "") + l.nl[SERIES] + "}" + l.nl[RESULT + 1] + "]"
    }
    if (chunkPartial) tail += entry(l, RESULT, "partial", "true")
    if (error !== undefined) tail += entry(l, RESULT, "error", quote(error))
    tail += l.nl[RESULT] + "}" + l.nl[1] + "]" + l.nl[0] + "}"
    return concat([utf8.encode(head), ...(piece?.rows ?? []), utf8.encode(tail)])
  }
}

const concat = (pieces: ReadonlyArray<Uint8Array>): Uint8Array => {
  let length = 0
  for (const p of pieces) length += p.length
  const out = new Uint8Array(length)
  let at = 0
  for (const p of pieces) {
    out.set(p, at)
    at += p.length
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------------
// MessagePack

/** A cell as MessagePack holds it: times as the JSON answer writes them, integers as integers, NaN as nil. */
const writeCell = (w: MsgPackWriter, v: V1Cell, time: TimeFormat, zone: string | undefined) => {
  if (v === null) return w.nil()
  switch (typeof v) {
    case "string":
      return w.string(v)
    case "number":
      if (Number.isNaN(v)) return w.nil()
      if (!Number.isFinite(v)) throw infinity(v)
      return w.float(v)
    case "bigint":
      return w.integer(v)
    case "boolean":
      return w.boolean(v)
  }
  if (time.kind === "epoch") return w.integer(v.timeNs / time.divisor)
  return w.string(formatRfc3339(v.timeNs, time.zone ?? zone))
}

const writeRows = (w: MsgPackWriter, cells: V1Columns, from: number, to: number, time: TimeFormat, zone: string | undefined) => {
  for (let r = from; r < to; r++) {
    w.array(cells.length)
    for (let c = 0; c < cells.length; c++) writeCell(w, cells[c]![r]!, time, zone)
  }
}

/** A series' name, tags and columns as map entries; returns how many. */
const writeSeriesHead = (w: MsgPackWriter, head: V1SeriesHead): number => {
  let entries = 1
  if (head.name !== undefined) {
    w.string("name")
    w.string(head.name)
    entries++
  }
  if (head.tags !== undefined) {
    const tags: Record<string, string> = {}
    for (const k of Object.keys(head.tags).sort()) tags[k] = head.tags[k]!
    const pairs = Object.entries(tags)
    w.string("tags")
    w.map(pairs.length)
    for (const [k, v] of pairs) {
      w.string(k)
      w.string(v)
    }
    entries++
  }
  w.string("columns")
  w.array(head.columns.length)
  for (const c of head.columns) w.string(c)
  return entries
}

const writeHeader = (write: (w: MsgPackWriter) => void) => {
  const w = new MsgPackWriter(16)
  write(w)
  return w.take()
}

const errorMsgPack = (message: string) => encodeMsgPack({ error: message })

/**
 * A whole MessagePack answer: written as rows arrive, with a hole for each array or map header whose count is known
 * only at its end; handed out at the end (a ±Inf anywhere makes it the error object).
 */
class MsgPackAnswer implements V1AnswerEncoder {
  private pieces: Array<Uint8Array> = []
  private readonly w = new MsgPackWriter(PIECE_BYTES)
  private readonly resultsHole: number
  private statements = 0
  private id = 0
  private zone: string | undefined
  private mark = 0
  private resultHole = 0
  private seriesCount = 0
  private seriesHole = 0
  private seriesMapHole = 0
  private seriesEntries = 0
  private valuesHole = 0
  /** Rows written in the open series; -1 when none is open. */
  private rowCount = -1
  private failed = false
  /** A ±Inf in the current statement's rows: it decides the answer unless the statement fails. */
  private statementUnsupported: string | undefined
  private unsupported: string | undefined
  private ended = false

  constructor(private readonly time: TimeFormat) {
    this.w.map(1)
    this.w.string("results")
    this.resultsHole = this.hole()
  }

  get wantsRows() {
    return this.unsupported === undefined
  }

  private flush() {
    if (this.w.length > 0) this.pieces.push(this.w.take())
  }

  private hole(): number {
    this.flush()
    this.pieces.push(new Uint8Array(0))
    return this.pieces.length - 1
  }

  private fill(hole: number, write: (w: MsgPackWriter) => void) {
    this.pieces[hole] = writeHeader(write)
  }

  private startResult() {
    this.resultHole = this.hole()
    this.w.string("statement_id")
    this.w.integer(BigInt(this.id))
  }

  statement(id: number, zone: string | undefined) {
    this.id = id
    this.zone = zone
    this.statements++
    this.failed = false
    this.seriesCount = 0
    this.rowCount = -1
    this.flush()
    this.mark = this.pieces.length
    this.startResult()
  }

  series(head: V1SeriesHead) {
    if (this.failed || this.unsupported !== undefined) return
    this.closeSeries()
    if (this.seriesCount++ === 0) {
      this.w.string("series")
      this.seriesHole = this.hole()
    }
    this.seriesMapHole = this.hole()
    this.seriesEntries = writeSeriesHead(this.w, head)
    this.rowCount = 0
  }

  rows(cells: V1Columns, from: number, to: number) {
    if (this.failed || this.unsupported !== undefined || this.statementUnsupported !== undefined || from >= to) return
    if (this.rowCount === 0) {
      this.w.string("values")
      this.valuesHole = this.hole()
    }
    try {
      writeRows(this.w, cells, from, to, this.time, this.zone)
    } catch (e) {
      if (!(e instanceof Unsupported)) throw e
      this.statementUnsupported = e.message
      return
    }
    this.rowCount += to - from
    if (this.w.length >= PIECE_BYTES) this.flush()
  }

  private closeSeries() {
    if (this.rowCount < 0) return
    const entries = this.seriesEntries + (this.rowCount > 0 ? 1 : 0)
    this.fill(this.seriesMapHole, (w) => w.map(entries))
    const rows = this.rowCount
    if (rows > 0) this.fill(this.valuesHole, (w) => w.array(rows))
    this.rowCount = -1
  }

  fail(message: string) {
    if (this.unsupported !== undefined) return
    this.statementUnsupported = undefined
    this.w.length = 0
    this.pieces.length = this.mark
    this.startResult()
    this.w.string("error")
    this.w.string(message)
    this.failed = true
    this.seriesCount = 0
    this.rowCount = -1
  }

  endStatement() {
    if (this.unsupported !== undefined) return
    if (this.statementUnsupported !== undefined) {
      this.unsupported = this.statementUnsupported
      return
    }
    this.closeSeries()
    const entries = 1 + (this.seriesCount > 0 ? 1 : 0) + (this.failed ? 1 : 0)
    this.fill(this.resultHole, (w) => w.map(entries))
    const series = this.seriesCount
    if (series > 0) this.fill(this.seriesHole, (w) => w.array(series))
  }

  end() {
    const statements = this.statements
    this.fill(this.resultsHole, (w) => w.array(statements))
    this.flush()
    this.ended = true
  }

  take() {
    if (!this.ended) return []
    this.ended = false
    if (this.unsupported !== undefined) return [errorMsgPack(this.unsupported)]
    const out = coalesce(this.pieces)
    this.pieces = []
    return out
  }
}

class MsgPackChunks implements ChunkFormat<MsgPackWriter> {
  constructor(private readonly time: TimeFormat) {}

  emptyRows = () => new MsgPackWriter()

  addRows = (rows: MsgPackWriter, cells: V1Columns, from: number, to: number, _first: boolean, zone: string | undefined) => {
    writeRows(rows, cells, from, to, this.time, zone)
    return rows
  }

  chunk = (id: number, piece: Piece<MsgPackWriter> | undefined, seriesPartial: boolean, chunkPartial: boolean, error?: string) => {
    if (piece?.unsupported !== undefined) return errorMsgPack(piece.unsupported)
    const w = new MsgPackWriter(piece === undefined ? 64 : piece.rows.length + 256)
    w.map(1)
    w.string("results")
    w.array(1)
    w.map(1 + (piece !== undefined ? 1 : 0) + (chunkPartial ? 1 : 0) + (error !== undefined ? 1 : 0))
    w.string("statement_id")
    w.integer(BigInt(id))
    if (piece !== undefined) {
      w.string("series")
      w.array(1)
      const head = new MsgPackWriter()
      const entries = writeSeriesHead(head, piece.head) + (piece.count > 0 ? 1 : 0) + (seriesPartial ? 1 : 0)
      w.map(entries)
      w.raw(head.take())
      if (piece.count > 0) {
        w.string("values")
        w.array(piece.count)
        w.raw(piece.rows.take())
      }
      if (seriesPartial) {
        w.string("partial")
        w.boolean(true)
      }
    }
    if (chunkPartial) {
      w.string("partial")
      w.boolean(true)
    }
    if (error !== undefined) {
      w.string("error")
      w.string(error)
    }
    return w.take()
  }
}

// ---------------------------------------------------------------------------------------------------------------
// CSV

const csvField = (s: string) => {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 44 || c === 34 || c === 10 || c === 13) return `"${s.replace(/"/g, '""')}"`
  }
  return s
}

const cellText = (v: V1Cell, time: TimeFormat): string => {
  if (v === null) return ""
  switch (typeof v) {
    case "string":
      return v
    case "number":
      return Number.isNaN(v) ? "" : String(v)
    case "bigint":
      return v.toString()
    case "boolean":
      return v ? "true" : "false"
  }
  return (v.timeNs / (time.kind === "epoch" ? time.divisor : 1n)).toString()
}

/** CSV, sent as it is written: `name,tags,<columns>` per series (when it changes), integer times, a blank line between statements. */
class CsvAnswer implements V1AnswerEncoder {
  private readonly out = new TextOutput()
  private statements = 0
  private header: string | undefined
  private prefix = ""
  private mark: readonly [number, string] = [0, ""]
  private failed = false

  constructor(private readonly time: TimeFormat) {}

  readonly wantsRows = true

  statement() {
    if (this.statements++ > 0) this.out.write("\n")
    this.header = undefined
    this.failed = false
    this.mark = this.out.mark()
  }

  series(head: V1SeriesHead) {
    if (this.failed) return
    const header = ["name", "tags", ...head.columns].map(csvField).join(",")
    if (header !== this.header) {
      this.out.write(header + "\n")
      this.header = header
    }
    const tags = head.tags === undefined ? "" : Object.keys(head.tags).sort().map((k) => `${k}=${head.tags![k]}`).join(",")
    this.prefix = csvField(head.name ?? "") + "," + csvField(tags)
  }

  rows(cells: V1Columns, from: number, to: number) {
    if (this.failed) return
    let text = ""
    for (let r = from; r < to; r++) {
      let line = this.prefix
      for (let c = 0; c < cells.length; c++) line += "," + csvField(cellText(cells[c]![r]!, this.time))
      text += line + "\n"
    }
    this.out.write(text)
  }

  fail(message: string) {
    // Rows already sent stay; the error follows them.
    this.out.reset(this.mark)
    this.out.write(`name,tags,error\n,,${csvField(message)}\n`)
    this.failed = true
  }

  endStatement() {}

  end() {}

  take() {
    return this.out.take()
  }
}
