// Write payloads (line-protocol bodies, ~MB each) are kept in append-only segment files beside the log's SQLite
// file, and the log's row points at them. Appending a body to a file costs one kernel copy; as a SQLite blob it
// cost a copy into pages, a WAL write and a checkpoint's read and write.
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"

/** Payloads at least this large go to a segment; smaller ones stay in the log's row (one fsync instead of two). */
export const SEGMENT_MIN_BYTES = 64 * 1024

/**
 * A segment is closed and the next one started once it holds this much (by default). Truncation and purges delete
 * whole segments, so space comes back in steps of this size.
 */
const SEGMENT_MAX_BYTES = 64 * 1024 * 1024

/** The length of a payload given in chunks. */
export const payloadBytes = (chunks: ReadonlyArray<Uint8Array>): number => {
  let n = 0
  for (const c of chunks) n += c.byteLength
  return n
}

/** Where a payload lives: which segment file, at which byte, how long. */
export interface PayloadRef {
  readonly segment: number
  readonly offset: number
  readonly length: number
}

export const segmentDir = (dataDir: string) => NodePath.join(dataDir, "payloads")

/** The file of segment number `segment`. */
export const segmentFile = (dataDir: string, segment: number) => NodePath.join(segmentDir(dataDir), `${String(segment).padStart(8, "0")}.seg`)

/** The segment numbers in a data directory, oldest first. */
export const listSegments = (dataDir: string): Array<number> => {
  let names: Array<string>
  try {
    names = NodeFs.readdirSync(segmentDir(dataDir))
  } catch {
    return []
  }
  const out: Array<number> = []
  for (const name of names) {
    const m = /^(\d{8})\.seg$/.exec(name)
    if (m !== null) out.push(Number(m[1]))
  }
  return out.sort((a, b) => a - b)
}

const newestSegment = (dataDir: string): number => {
  let newest = 0
  for (const name of NodeFs.readdirSync(segmentDir(dataDir))) {
    const m = /^(\d{8})\.seg$/.exec(name)
    if (m !== null) newest = Math.max(newest, Number(m[1]))
  }
  return newest
}

/** O_DIRECT writes must start at, and span, whole blocks. */
const BLOCK = 4096
const alignUp = (n: number) => Math.ceil(n / BLOCK) * BLOCK

/** WebAssembly.Memory (Node has it; this project's type libraries do not declare its value). */
const WasmMemory = (
  globalThis as unknown as {
    WebAssembly: { Memory: new (size: { initial: number; maximum: number }) => { buffer: ArrayBuffer } }
  }
).WebAssembly.Memory

/** Bytes staged for one O_DIRECT write (a multiple of BLOCK); larger commits are written in several. */
const STAGING_BYTES = 8 * 1024 * 1024

/**
 * Appends payloads to the newest segment file. Bytes past the last committed row (a commit cut short by a crash)
 * are never referenced and are simply left behind. Not thread-safe: the commit thread owns the one writer.
 *
 * Writes bypass the page cache (O_DIRECT) where the file system allows it: the bytes are copied once into a staging
 * area and go to the disk from there. Through the page cache the same bytes cost the kernel several times more CPU
 * (page allocation, then writeback inside fdatasync: measured 150–600 ms of system time per 314 MB against ~90 ms).
 * Each commit's payloads are packed together and padded to a whole block.
 */
export class SegmentWriter {
  private fd = -1
  private segment = 0
  /** Where the next write goes. */
  private size = 0
  private unsynced = false
  private direct = NodeFs.constants.O_DIRECT !== undefined
  /** WebAssembly memory is page-aligned, which O_DIRECT needs of the buffer written from. */
  private staging: Uint8Array | undefined
  private staged = 0
  private stagedAt = 0

  constructor(
    private readonly dataDir: string,
    private readonly maxBytes = SEGMENT_MAX_BYTES
  ) {}

  /** Writes the payloads (each in chunks) at the end of the current segment and returns where each went. */
  write(payloads: ReadonlyArray<ReadonlyArray<Uint8Array>>): Array<PayloadRef> {
    let total = 0
    for (const p of payloads) total += payloadBytes(p)
    if (this.fd === -1) this.open()
    if (this.size > 0 && this.size + total > this.maxBytes) this.rotate()
    const refs: Array<PayloadRef> = []
    let at = this.size
    for (const p of payloads) {
      const length = payloadBytes(p)
      refs.push({ segment: this.segment, offset: at, length })
      at += length
    }
    try {
      if (this.direct) {
        try {
          this.writeDirect(payloads)
        } catch (e) {
          // The file system refuses O_DIRECT (EINVAL): write through the page cache from now on.
          if ((e as NodeJS.ErrnoException).code !== "EINVAL") throw e
          this.direct = false
          this.close()
          this.open(this.segment)
          return this.write(payloads)
        }
        this.size = alignUp(at)
      } else {
        this.writeBuffered(payloads)
        this.size = at
      }
    } catch (e) {
      // The file's end is no longer known for sure: reopen (and measure it) before the next write.
      this.close()
      throw e
    }
    this.unsynced = true
    return refs
  }

  /** Makes every written payload durable (fdatasync). */
  sync(): void {
    if (!this.unsynced || this.fd === -1) return
    NodeFs.fdatasyncSync(this.fd)
    this.unsynced = false
  }

  /**
   * Makes every written payload durable (fdatasync) on libuv's thread pool, so this thread can work meanwhile. No
   * write may start before it settles.
   */
  syncAsync(): Promise<void> {
    if (!this.unsynced || this.fd === -1) return Promise.resolve()
    const fd = this.fd
    return new Promise((resolve, reject) =>
      NodeFs.fdatasync(fd, (error) => {
        if (error !== null) return reject(error)
        this.unsynced = false
        resolve()
      })
    )
  }

  /**
   * Closes the current segment and starts the next, so the closed one can be deleted once no row points into it
   * (truncation and purges never delete the segment being appended to).
   */
  roll(): void {
    if (this.fd === -1) this.open()
    this.rotate()
  }

  close(): void {
    if (this.fd === -1) return
    NodeFs.closeSync(this.fd)
    this.fd = -1
  }

  private writeDirect(payloads: ReadonlyArray<ReadonlyArray<Uint8Array>>): void {
    const staging = (this.staging ??= new Uint8Array(
      new WasmMemory({ initial: STAGING_BYTES / 65536, maximum: STAGING_BYTES / 65536 }).buffer
    ))
    this.staged = 0
    this.stagedAt = this.size
    for (const p of payloads) {
      for (const chunk of p) {
        let from = 0
        while (from < chunk.byteLength) {
          const n = Math.min(chunk.byteLength - from, STAGING_BYTES - this.staged)
          staging.set(chunk.subarray(from, from + n), this.staged)
          this.staged += n
          from += n
          if (this.staged === STAGING_BYTES) this.flushStaging(STAGING_BYTES)
        }
      }
    }
    if (this.staged > 0) {
      const padded = alignUp(this.staged)
      staging.fill(0, this.staged, padded)
      this.flushStaging(padded)
    }
  }

  private flushStaging(length: number): void {
    let done = 0
    while (done < length) done += NodeFs.writeSync(this.fd, this.staging!, done, length - done, this.stagedAt + done)
    this.stagedAt += length
    this.staged = 0
  }

  private writeBuffered(payloads: ReadonlyArray<ReadonlyArray<Uint8Array>>): void {
    let pending = payloads.flat().filter((c) => c.byteLength > 0)
    let position = this.size
    while (pending.length > 0) {
      let written = NodeFs.writevSync(this.fd, pending, position)
      position += written
      // A short write: skip what went out and write the rest.
      while (pending.length > 0 && written >= pending[0]!.byteLength) written -= pending.shift()!.byteLength
      if (written > 0) pending[0] = pending[0]!.subarray(written)
    }
  }

  private open(segment?: number): void {
    const dir = segmentDir(this.dataDir)
    NodeFs.mkdirSync(dir, { recursive: true })
    this.segment = segment ?? Math.max(1, newestSegment(this.dataDir))
    const file = segmentFile(this.dataDir, this.segment)
    const created = !NodeFs.existsSync(file)
    const flags = NodeFs.constants.O_WRONLY | NodeFs.constants.O_CREAT | (this.direct ? NodeFs.constants.O_DIRECT : 0)
    try {
      this.fd = NodeFs.openSync(file, flags, 0o644)
    } catch (e) {
      if (!this.direct || (e as NodeJS.ErrnoException).code !== "EINVAL") throw e
      this.direct = false
      this.fd = NodeFs.openSync(file, NodeFs.constants.O_WRONLY | NodeFs.constants.O_CREAT, 0o644)
    }
    // Direct writes start on a block boundary; the gap after a buffered or torn tail is never referenced.
    const size = NodeFs.fstatSync(this.fd).size
    this.size = this.direct ? alignUp(size) : size
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

/**
 * Reads payloads back from their segments, keeping each segment file open until `close`: a page of the log's rows
 * mostly points into one segment, so it is opened once per page, not once per payload.
 */
export class SegmentReader {
  private readonly fds = new Map<number, number>()

  constructor(private readonly dataDir: string) {}

  read(ref: PayloadRef): Uint8Array {
    let fd = this.fds.get(ref.segment)
    if (fd === undefined) {
      fd = NodeFs.openSync(segmentFile(this.dataDir, ref.segment), "r")
      this.fds.set(ref.segment, fd)
    }
    const bytes = Buffer.allocUnsafe(ref.length)
    let at = 0
    while (at < ref.length) {
      const n = NodeFs.readSync(fd, bytes, at, ref.length - at, ref.offset + at)
      if (n === 0) throw new Error(`payload segment ${ref.segment} ends before byte ${ref.offset + ref.length}`)
      at += n
    }
    return bytes
  }

  close(): void {
    for (const fd of this.fds.values()) NodeFs.closeSync(fd)
    this.fds.clear()
  }
}
