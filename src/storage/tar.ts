import { Stream } from "effect"

/**
 * A streaming ustar writer: 512-byte headers, contents padded to 512 bytes, two zero blocks at the end. Names longer
 * than ustar's 100 + 155 bytes go in a PAX extended header (`x`), which GNU tar, bsdtar and Python's tarfile read.
 */

/** A tar block. */
export const BLOCK = 512

const encoder = new TextEncoder()

const writeString = (block: Uint8Array, offset: number, length: number, value: string) => {
  const bytes = encoder.encode(value)
  block.set(bytes.subarray(0, length), offset)
}

/** An octal field of `length` bytes, NUL-terminated; past its range, base-256 (GNU), as sizes over 8 GiB need. */
const writeNumber = (block: Uint8Array, offset: number, length: number, value: number) => {
  const octal = Math.floor(value).toString(8)
  if (octal.length < length) {
    writeString(block, offset, length - 1, octal.padStart(length - 1, "0"))
    return
  }
  let v = BigInt(Math.floor(value))
  for (let i = offset + length - 1; i > offset; i--) {
    block[i] = Number(v & 0xffn)
    v >>= 8n
  }
  block[offset] = 0x80
}

const header = (name: string, prefix: string, size: number, mtimeSec: number, type: "0" | "x") => {
  const block = new Uint8Array(BLOCK)
  writeString(block, 0, 100, name)
  writeString(block, 100, 8, "0000644")
  writeString(block, 108, 8, "0000000")
  writeString(block, 116, 8, "0000000")
  writeNumber(block, 124, 12, size)
  writeNumber(block, 136, 12, mtimeSec)
  block.fill(0x20, 148, 156)
  writeString(block, 156, 1, type)
  writeString(block, 257, 6, "ustar")
  writeString(block, 263, 2, "00")
  writeString(block, 345, 155, prefix)
  let sum = 0
  for (const b of block) sum += b
  writeString(block, 148, 7, sum.toString(8).padStart(6, "0"))
  return block
}

/** Splits a name into ustar's prefix (≤155 bytes) and name (≤100 bytes) at a `/`, or undefined when it cannot. */
const splitName = (name: string): readonly [string, string] | undefined => {
  const bytes = encoder.encode(name)
  if (bytes.length <= 100) return ["", name]
  for (let i = name.indexOf("/"); i > 0; i = name.indexOf("/", i + 1)) {
    const prefix = name.slice(0, i)
    const rest = name.slice(i + 1)
    if (encoder.encode(prefix).length <= 155 && encoder.encode(rest).length <= 100 && rest.length > 0)
      return [prefix, rest]
  }
  return undefined
}

/** A PAX record `"<len> path=<name>\n"`, whose length counts its own digits. */
const paxRecord = (key: string, value: string) => {
  const body = ` ${key}=${value}\n`
  const bodyLength = encoder.encode(body).length
  let length = bodyLength + 1
  while (length !== bodyLength + String(length).length) length = bodyLength + String(length).length
  return encoder.encode(`${length}${body}`)
}

/** Zeros that pad `size` bytes of content to a whole block. */
export const padding = (size: number): Uint8Array => new Uint8Array((BLOCK - (size % BLOCK)) % BLOCK)

/** The header block(s) of a regular file: one ustar block, or a PAX header and its record before it for long names. */
export const fileHeader = (name: string, size: number, mtimeSec: number): Uint8Array => {
  const split = splitName(name)
  if (split !== undefined) return header(split[1], split[0], size, mtimeSec, "0")
  const record = paxRecord("path", name)
  const short = encoder.encode(name).subarray(0, 99)
  // A cut in the middle of a UTF-8 sequence would only garble the fallback name that PAX readers ignore.
  const fallback = new TextDecoder().decode(short)
  const out = new Uint8Array(BLOCK + record.length + padding(record.length).length + BLOCK)
  out.set(header(`PaxHeader/${fallback}`.slice(0, 99), "", record.length, mtimeSec, "x"), 0)
  out.set(record, BLOCK)
  out.set(header(fallback, "", size, mtimeSec, "0"), out.length - BLOCK)
  return out
}

/** The end of an archive: two zero blocks. */
export const archiveEnd = (): Uint8Array => new Uint8Array(2 * BLOCK)

/** One file of an archive: its name, exact size and content. */
export interface TarEntry<E, R> {
  readonly name: string
  readonly size: number
  readonly mtimeSec: number
  /** Exactly `size` bytes. */
  readonly content: Stream.Stream<Uint8Array, E, R>
}

/** An archive of `entries` as a byte stream: each entry's header, content and padding, then the end blocks. */
export const tarStream = <E, R>(entries: Stream.Stream<TarEntry<E, R>, E, R>): Stream.Stream<Uint8Array, E, R> =>
  entries.pipe(
    Stream.flatMap((e) =>
      Stream.make(fileHeader(e.name, e.size, e.mtimeSec)).pipe(
        Stream.concat(e.content),
        Stream.concat(Stream.make(padding(e.size)))
      )
    ),
    Stream.concat(Stream.make(archiveEnd())),
    Stream.filter((chunk) => chunk.length > 0)
  )
