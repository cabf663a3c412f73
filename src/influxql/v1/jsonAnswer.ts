import type { ChunkFormat, Piece } from "./chunked.ts"
import { cellJson, concat, quote, TextOutput, Unsupported, utf8 } from "./text.ts"
import type { TimeFormat, V1AnswerEncoder, V1Columns, V1SeriesHead } from "./types.ts"

/** The JSON answer, whole (pretty or not) or in chunks, with 1.x's layout and `{"error": …}` bodies. */

/** Line breaks and indents by depth (Go's MarshalIndent with 4 spaces when pretty, none otherwise), and `:`. */
interface JsonLayout {
  readonly nl: ReadonlyArray<string>
  readonly colon: string
}

export const jsonLayout = (pretty: boolean): JsonLayout => ({
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
const rowsJson = (
  l: JsonLayout,
  cells: V1Columns,
  from: number,
  to: number,
  first: boolean,
  time: TimeFormat,
  zone: string | undefined
): string => {
  const open = l.nl[ROW] + "["
  const cellNl = l.nl[ROW + 1]!
  const close = cells.length === 0 ? "]" : l.nl[ROW] + "]"
  let out = ""
  for (let r = from; r < to; r++) {
    let row = first && r === from ? open : "," + open
    for (let c = 0; c < cells.length; c++)
      row += (c === 0 ? cellNl : "," + cellNl) + cellJson(cells[c]![r]!, time, zone)
    out += row + close
  }
  return out
}

const errorJson = (l: JsonLayout, message: string) => "{" + l.nl[1] + '"error"' + l.colon + quote(message) + l.nl[0] + "}"

/** A whole JSON answer: written as rows arrive, handed out at the end (a ±Inf anywhere makes it the error object). */
export class JsonAnswer implements V1AnswerEncoder {
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

/**
 * A chunk's rows are encoded as they arrive: a long string built up until the chunk is sent would outlive many
 * scavenges.
 */
export class JsonChunks implements ChunkFormat<Array<Uint8Array>> {
  constructor(
    private readonly time: TimeFormat,
    private readonly l: JsonLayout
  ) {}

  emptyRows = (): Array<Uint8Array> => []

  addRows = (
    rows: Array<Uint8Array>,
    cells: V1Columns,
    from: number,
    to: number,
    first: boolean,
    zone: string | undefined
  ) => {
    rows.push(utf8.encode(rowsJson(this.l, cells, from, to, first, this.time, zone)))
    return rows
  }

  chunk = (
    id: number,
    piece: Piece<Array<Uint8Array>> | undefined,
    seriesPartial: boolean,
    chunkPartial: boolean,
    error?: string
  ) => {
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
