// MessagePack encoding of v1 answers (`Accept: application/x-msgpack`, which influxdb-python asks for by default):
// the same structure as the JSON answer, maps with named keys in the same order.

/** A value MessagePack can hold here: numbers are float64 (field values), bigints integers, maps keep key order. */
export type MsgValue =
  null | boolean | number | bigint | string | ReadonlyArray<MsgValue> | { readonly [k: string]: MsgValue }

const utf8 = new TextEncoder()

/**
 * MessagePack written piece by piece into a growing buffer: values, and array and map headers whose items the caller
 * writes next. `take` hands over what was written so far, so a long answer leaves in pieces.
 */
export class MsgPackWriter {
  private bytes: Uint8Array
  private view: DataView
  length = 0

  constructor(capacity = 1024) {
    this.bytes = new Uint8Array(capacity)
    this.view = new DataView(this.bytes.buffer)
  }

  private room(n: number) {
    if (this.length + n <= this.bytes.length) return
    const next = new Uint8Array(Math.max(this.bytes.length * 2, this.length + n))
    next.set(this.bytes.subarray(0, this.length))
    this.bytes = next
    this.view = new DataView(next.buffer)
  }

  private byte(b: number) {
    this.room(1)
    this.bytes[this.length++] = b
  }

  private header(small: number, smallLimit: number, tags: readonly [number, number, number], n: number) {
    if (n < smallLimit) return this.byte(small | n)
    if (n < 0x100 && tags[0] !== 0) return this.byte(tags[0]), this.byte(n)
    this.room(5)
    if (n < 0x10000) {
      this.bytes[this.length++] = tags[1]
      this.view.setUint16(this.length, n)
      this.length += 2
    } else {
      this.bytes[this.length++] = tags[2]
      this.view.setUint32(this.length, n)
      this.length += 4
    }
  }

  nil() {
    this.byte(0xc0)
  }

  boolean(b: boolean) {
    this.byte(b ? 0xc3 : 0xc2)
  }

  float(n: number) {
    this.room(9)
    this.bytes[this.length++] = 0xcb
    this.view.setFloat64(this.length, n)
    this.length += 8
  }

  integer(n: bigint) {
    if (n >= 0n && n < 128n) return this.byte(Number(n))
    if (n < 0n && n >= -32n) return this.byte(0x100 + Number(n))
    this.room(9)
    if (n >= 0n) {
      this.bytes[this.length++] = 0xcf
      this.view.setBigUint64(this.length, n)
    } else {
      this.bytes[this.length++] = 0xd3
      this.view.setBigInt64(this.length, n)
    }
    this.length += 8
  }

  string(s: string) {
    // Most strings here are ASCII (times, tags, names): copied without an intermediate encoding.
    let ascii = true
    for (let i = 0; i < s.length; i++) {
      if (s.charCodeAt(i) >= 0x80) {
        ascii = false
        break
      }
    }
    if (!ascii) {
      const b = utf8.encode(s)
      this.header(0xa0, 32, [0xd9, 0xda, 0xdb], b.length)
      this.room(b.length)
      this.bytes.set(b, this.length)
      this.length += b.length
      return
    }
    this.header(0xa0, 32, [0xd9, 0xda, 0xdb], s.length)
    this.room(s.length)
    for (let i = 0; i < s.length; i++) this.bytes[this.length++] = s.charCodeAt(i)
  }

  /** Bytes already encoded (a piece written by another writer). */
  raw(b: Uint8Array) {
    this.room(b.length)
    this.bytes.set(b, this.length)
    this.length += b.length
  }

  /** An array of `n` items, written next. */
  array(n: number) {
    this.header(0x90, 16, [0, 0xdc, 0xdd], n)
  }

  /** A map of `n` entries, each a key then its value, written next. */
  map(n: number) {
    this.header(0x80, 16, [0, 0xde, 0xdf], n)
  }

  value(v: MsgValue): void {
    if (v === null) return this.nil()
    switch (typeof v) {
      case "boolean":
        return this.boolean(v)
      case "number":
        return this.float(v)
      case "bigint":
        return this.integer(v)
      case "string":
        return this.string(v)
    }
    if (Array.isArray(v)) {
      this.array(v.length)
      for (const item of v as ReadonlyArray<MsgValue>) this.value(item)
      return
    }
    const entries = Object.entries(v as { readonly [k: string]: MsgValue })
    this.map(entries.length)
    for (const [k, item] of entries) {
      this.string(k)
      this.value(item)
    }
  }

  /** The bytes written since the last take (a copy), leaving the writer empty. */
  take(): Uint8Array {
    const out = this.bytes.slice(0, this.length)
    this.length = 0
    return out
  }
}

/** The MessagePack bytes of a value. */
export const encodeMsgPack = (v: MsgValue): Uint8Array => {
  const w = new MsgPackWriter()
  w.value(v)
  return w.take()
}
