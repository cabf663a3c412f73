// MessagePack encoding of v1 answers (`Accept: application/x-msgpack`, which influxdb-python asks for by default):
// the same structure as the JSON answer, maps with named keys in the same order.

/** A value MessagePack can hold here: numbers are float64 (field values), bigints integers, maps keep key order. */
export type MsgValue = null | boolean | number | bigint | string | ReadonlyArray<MsgValue> | { readonly [k: string]: MsgValue }

class Writer {
  private bytes = new Uint8Array(1024)
  private view = new DataView(this.bytes.buffer)
  length = 0

  private room(n: number) {
    if (this.length + n <= this.bytes.length) return
    const next = new Uint8Array(Math.max(this.bytes.length * 2, this.length + n))
    next.set(this.bytes.subarray(0, this.length))
    this.bytes = next
    this.view = new DataView(next.buffer)
  }

  byte(b: number) {
    this.room(1)
    this.bytes[this.length++] = b
  }

  header(small: number, smallLimit: number, tags: readonly [number, number, number], n: number) {
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

  raw(b: Uint8Array) {
    this.room(b.length)
    this.bytes.set(b, this.length)
    this.length += b.length
  }

  result(): Uint8Array {
    return this.bytes.subarray(0, this.length)
  }
}

const utf8 = new TextEncoder()

const write = (w: Writer, v: MsgValue): void => {
  if (v === null) return w.byte(0xc0)
  switch (typeof v) {
    case "boolean":
      return w.byte(v ? 0xc3 : 0xc2)
    case "number":
      return w.float(v)
    case "bigint":
      return w.integer(v)
    case "string": {
      const b = utf8.encode(v)
      w.header(0xa0, 32, [0xd9, 0xda, 0xdb], b.length)
      return w.raw(b)
    }
  }
  if (Array.isArray(v)) {
    w.header(0x90, 16, [0, 0xdc, 0xdd], v.length)
    for (const item of v as ReadonlyArray<MsgValue>) write(w, item)
    return
  }
  const entries = Object.entries(v as { readonly [k: string]: MsgValue })
  w.header(0x80, 16, [0, 0xde, 0xdf], entries.length)
  for (const [k, item] of entries) {
    write(w, k)
    write(w, item)
  }
}

/** The MessagePack bytes of a value. */
export const encodeMsgPack = (v: MsgValue): Uint8Array => {
  const w = new Writer()
  write(w, v)
  return w.result()
}
