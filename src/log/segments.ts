// Write payloads (line-protocol bodies, ~MB each) are kept in append-only segment files beside the log's SQLite
// file, and the log's row points at them. Appending a body to a file costs one kernel copy; as a SQLite blob it
// cost a copy into pages, a WAL write and a checkpoint's read and write.
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"

/** Payloads at least this large go to a segment; smaller ones stay in the log's row (one fsync instead of two). */
export const SEGMENT_MIN_BYTES = 64 * 1024

/** A segment is closed and the next one started once it holds this much. */
const SEGMENT_MAX_BYTES = 1024 * 1024 * 1024

/** Where a payload lives: which segment file, at which byte, how long. */
export interface PayloadRef {
  readonly segment: number
  readonly offset: number
  readonly length: number
}

export const segmentDir = (dataDir: string) => NodePath.join(dataDir, "payloads")

const segmentFile = (dataDir: string, segment: number) => NodePath.join(segmentDir(dataDir), `${String(segment).padStart(8, "0")}.seg`)

const newestSegment = (dataDir: string): number => {
  let newest = 0
  for (const name of NodeFs.readdirSync(segmentDir(dataDir))) {
    const m = /^(\d{8})\.seg$/.exec(name)
    if (m !== null) newest = Math.max(newest, Number(m[1]))
  }
  return newest
}

/**
 * Appends payloads to the newest segment file. Bytes past the last committed row (a commit cut short by a crash)
 * are never referenced and are simply left behind. Not thread-safe: the commit thread owns the one writer.
 */
export class SegmentWriter {
  private fd = -1
  private segment = 0
  private size = 0
  private unsynced = false

  constructor(private readonly dataDir: string) {}

  /** Writes a payload's chunks at the end of the current segment and returns where they went. */
  append(chunks: ReadonlyArray<Uint8Array>): PayloadRef {
    let length = 0
    for (const c of chunks) length += c.byteLength
    if (this.fd === -1) this.open()
    if (this.size > 0 && this.size + length > SEGMENT_MAX_BYTES) this.rotate()
    const offset = this.size
    try {
      let pending = chunks.filter((c) => c.byteLength > 0)
      while (pending.length > 0) {
        let written = NodeFs.writevSync(this.fd, pending)
        this.size += written
        // A short write: skip what went out and write the rest.
        while (pending.length > 0 && written >= pending[0]!.byteLength) written -= pending.shift()!.byteLength
        if (written > 0) pending[0] = pending[0]!.subarray(written)
      }
    } catch (e) {
      // The file's end is no longer known for sure: reopen (and measure it) before the next append.
      this.close()
      throw e
    }
    this.unsynced = true
    return { segment: this.segment, offset, length }
  }

  /** Makes every appended payload durable (fdatasync). */
  sync(): void {
    if (!this.unsynced || this.fd === -1) return
    NodeFs.fdatasyncSync(this.fd)
    this.unsynced = false
  }

  close(): void {
    if (this.fd === -1) return
    NodeFs.closeSync(this.fd)
    this.fd = -1
  }

  private open(segment?: number): void {
    const dir = segmentDir(this.dataDir)
    NodeFs.mkdirSync(dir, { recursive: true })
    this.segment = segment ?? Math.max(1, newestSegment(this.dataDir))
    const file = segmentFile(this.dataDir, this.segment)
    const created = !NodeFs.existsSync(file)
    this.fd = NodeFs.openSync(file, "a")
    this.size = NodeFs.fstatSync(this.fd).size
    if (created) {
      // The new file's name must survive a crash as well as its bytes.
      const dirFd = NodeFs.openSync(dir, "r")
      try {
        NodeFs.fsyncSync(dirFd)
      } finally {
        NodeFs.closeSync(dirFd)
      }
    }
  }

  private rotate(): void {
    this.sync()
    const next = this.segment + 1
    this.close()
    this.open(next)
  }
}

/** Reads a payload back from its segment. */
export const readPayload = (dataDir: string, ref: PayloadRef): Uint8Array => {
  const fd = NodeFs.openSync(segmentFile(dataDir, ref.segment), "r")
  try {
    const bytes = Buffer.allocUnsafe(ref.length)
    let at = 0
    while (at < ref.length) {
      const n = NodeFs.readSync(fd, bytes, at, ref.length - at, ref.offset + at)
      if (n === 0) throw new Error(`payload segment ${ref.segment} ends before byte ${ref.offset + ref.length}`)
      at += n
    }
    return bytes
  } finally {
    NodeFs.closeSync(fd)
  }
}
