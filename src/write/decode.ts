// Decoding a write body to text. Line protocol is nearly always ASCII: checking that (a vectorised native scan) and
// copying the bytes as Latin-1 is several times faster than a validating UTF-8 decode, and gives the same string.
import { Buffer, isAscii } from "node:buffer"

const utf8 = new TextDecoder("utf-8", { fatal: true })

/** The body as text; throws a TypeError (as TextDecoder does) when it is not valid UTF-8. */
export const decodeBody = (body: Uint8Array): string => {
  if (isAscii(body)) return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("latin1")
  return utf8.decode(body)
}
