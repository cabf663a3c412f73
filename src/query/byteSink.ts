/**
 * The output buffer of the answer encoders (chunkBytes.ts) and the constant bytes they copy into it.
 */

/**
 * Uninitialised bytes as a plain Uint8Array: every array the loops touch is the same kind, which keeps V8's element
 * access monomorphic (mixing Buffer and Uint8Array cost a third of the time).
 */
export const bytesOfSize = (size: number): Uint8Array => {
  const b = Buffer.allocUnsafeSlow(size)
  return new Uint8Array(b.buffer, b.byteOffset, size)
}

const viewOf = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength)

const EMPTY = new Uint8Array(0)

/** Slack past a row's widest bytes: constant bytes (JSON keys) are written as whole words, the last one padded. */
export const LITERAL_SLACK = 3

/** Copies bytes to p (room made); returns the position after them. */
export const copyInto = (buf: Uint8Array, p: number, b: Uint8Array): number => {
  for (let i = 0; i < b.length; i++) buf[p++] = b[i]!
  return p
}

/** Writes an ASCII string to p (room made); returns the position after it. */
export const asciiInto = (buf: Uint8Array, p: number, s: string): number => {
  for (let i = 0; i < s.length; i++) buf[p++] = s.charCodeAt(i)
  return p
}

const utf8Encoder = new TextEncoder()

/** The UTF-8 bytes of a string, as a plain Uint8Array. */
export const utf8Bytes = (s: string): Uint8Array => new Uint8Array(utf8Encoder.encode(s))

// The largest buffer a sink allocates unless one row needs more; pieces are cut from it one after another.
const SLAB_BYTES = 4 * 1024 * 1024

/**
 * A growable byte buffer; `take` hands out what was written since the last take. Pieces are consecutive views of
 * one slab until three quarters of it are used (new memory for every piece made V8 collect garbage every few
 * megabytes: each buffer counts as external memory). Bytes handed out are never written again: a piece that
 * outgrows its slab moves to a new one.
 */
export class ByteSink {
  buf: Uint8Array
  /** The same bytes, for writing four at a time. */
  view: DataView
  pos = 0
  /** Where the piece being written starts. */
  private start = 0
  private size: number
  constructor(size: number) {
    this.size = size
    this.buf = bytesOfSize(size)
    this.view = viewOf(this.buf)
  }
  /** Room for n more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return
    const used = this.pos - this.start
    if (this.buf.length > 0) this.size = Math.min(this.size * 2, SLAB_BYTES)
    const next = bytesOfSize(Math.max(this.size, 2 * (used + n)))
    next.set(this.buf.subarray(this.start, this.pos))
    this.buf = next
    this.view = viewOf(next)
    this.pos = used
    this.start = 0
  }
  /** The number of bytes written since the last take. */
  get written(): number {
    return this.pos - this.start
  }
  /** The bytes written since the last take. */
  take(): Uint8Array {
    const out = this.buf.subarray(this.start, this.pos)
    this.start = this.pos
    if (this.buf.length - this.pos < this.buf.length / 4) {
      // A new slab when the next write needs one: the last piece of an answer leaves none behind.
      this.buf = EMPTY
      this.view = viewOf(EMPTY)
      this.pos = 0
      this.start = 0
    }
    return out
  }
  /** Any string as UTF-8. */
  utf8(s: string): void {
    this.ensure(s.length * 3)
    this.pos += utf8Encoder.encodeInto(s, this.buf.subarray(this.pos)).written
  }
}
