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

/**
 * Constant bytes (JSON keys), kept also as little-endian 32-bit words, the last one padded with zeros: up to 32
 * bytes are written by at most eight word stores and no loop (reading typed arrays in a loop per key cost ~45% of a
 * three-column row).
 */
export interface Literal {
  readonly bytes: Uint8Array
  /** The number of bytes. */
  readonly length: number
  readonly words: Uint32Array
  /** Words written: the length in bytes rounded up to a multiple of 4. */
  readonly count: number
  readonly w0: number
  readonly w1: number
  readonly w2: number
  readonly w3: number
  readonly w4: number
  readonly w5: number
  readonly w6: number
  readonly w7: number
}

/** A literal of these bytes. */
export const literal = (bytes: Uint8Array): Literal => {
  const count = (bytes.length + 3) >> 2
  const padded = new Uint8Array(Math.max(count, 8) * 4)
  padded.set(bytes)
  const words = new Uint32Array(count)
  const view = new DataView(padded.buffer)
  for (let i = 0; i < count; i++) words[i] = view.getUint32(4 * i, true)
  const w = (i: number) => (i < count ? words[i]! : 0)
  return {
    bytes: new Uint8Array(bytes),
    length: bytes.length,
    words,
    count,
    w0: w(0),
    w1: w(1),
    w2: w(2),
    w3: w(3),
    w4: w(4),
    w5: w(5),
    w6: w(6),
    w7: w(7)
  }
}

/** Slack a literal's writing needs past its end: the padding of its last word. */
export const LITERAL_SLACK = 3

/**
 * Writes a literal at p (room made for its bytes and LITERAL_SLACK more, which it may overwrite); returns the
 * position after its bytes.
 */
export const literalInto = (view: DataView, p: number, lit: Literal): number => {
  const count = lit.count
  if (count > 8) {
    const words = lit.words
    for (let i = 0; i < count; i++) view.setUint32(p + 4 * i, words[i]!, true)
    return p + lit.length
  }
  view.setUint32(p, lit.w0, true)
  if (count > 1) {
    view.setUint32(p + 4, lit.w1, true)
    if (count > 2) {
      view.setUint32(p + 8, lit.w2, true)
      if (count > 3) {
        view.setUint32(p + 12, lit.w3, true)
        if (count > 4) {
          view.setUint32(p + 16, lit.w4, true)
          if (count > 5) {
            view.setUint32(p + 20, lit.w5, true)
            if (count > 6) {
              view.setUint32(p + 24, lit.w6, true)
              if (count > 7) view.setUint32(p + 28, lit.w7, true)
            }
          }
        }
      }
    }
  }
  return p + lit.length
}

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
