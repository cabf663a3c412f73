import { encodeMsgPack, MsgPackWriter } from "../msgpack.ts"
import { formatRfc3339 } from "../time.ts"
import type { ChunkFormat, Piece } from "./chunked.ts"
import { coalesce, infinity, PIECE_BYTES, Unsupported } from "./text.ts"
import type { TimeFormat, V1AnswerEncoder, V1Cell, V1Columns, V1SeriesHead } from "./types.ts"

/** The MessagePack answer (`Accept: application/x-msgpack`), whole or in chunks. */

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
  if (time._tag === "epoch") return w.integer(v.timeNs / time.divisor)
  return w.string(formatRfc3339(v.timeNs, time.zone ?? zone))
}

const writeRows = (
  w: MsgPackWriter,
  cells: V1Columns,
  from: number,
  to: number,
  time: TimeFormat,
  zone: string | undefined
) => {
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
export class MsgPackAnswer implements V1AnswerEncoder {
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

export class MsgPackChunks implements ChunkFormat<MsgPackWriter> {
  constructor(private readonly time: TimeFormat) {}

  emptyRows = () => new MsgPackWriter()

  addRows = (
    rows: MsgPackWriter,
    cells: V1Columns,
    from: number,
    to: number,
    _first: boolean,
    zone: string | undefined
  ) => {
    writeRows(rows, cells, from, to, this.time, zone)
    return rows
  }

  chunk = (
    id: number,
    piece: Piece<MsgPackWriter> | undefined,
    seriesPartial: boolean,
    chunkPartial: boolean,
    error?: string
  ) => {
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
