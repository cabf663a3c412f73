import { coalesce, Unsupported } from "./text.ts"
import type { V1AnswerEncoder, V1Columns, V1SeriesHead } from "./types.ts"

/** `chunked=true`: one answer per `chunk_size` rows or series, in any format that can cut its output in pieces. */

/** One chunk's series: its head and its rows, already encoded, with the first ±Inf among them. */
export interface Piece<R> {
  readonly head: V1SeriesHead
  rows: R
  count: number
  unsupported: string | undefined
}

/** How a chunked answer writes its pieces in one format. */
export interface ChunkFormat<R> {
  readonly emptyRows: () => R
  /** Appends rows to a piece's encoded rows; throws Unsupported at a ±Inf. */
  readonly addRows: (rows: R, cells: V1Columns, from: number, to: number, first: boolean, zone: string | undefined) => R
  /** A whole chunk: statement `id`'s result with one series piece, or `error`. */
  readonly chunk: (
    id: number,
    piece: Piece<R> | undefined,
    seriesPartial: boolean,
    chunkPartial: boolean,
    error?: string
  ) => Uint8Array
}

/**
 * A chunked answer: a chunk at each series and every `size` rows, sent as soon as the next row shows whether more
 * follows. Every chunk but a statement's last carries `partial: true`, and a series cut by size carries it too.
 */
export class ChunkedAnswer<R> implements V1AnswerEncoder {
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
