// Decoding a write body to text. Line protocol is nearly always ASCII: checking that (a vectorised native scan) and
// copying the bytes as Latin-1 is several times faster than a validating UTF-8 decode, and gives the same string.
import { Buffer, isAscii } from "node:buffer"
import { codesOf, parseBatch, type Allocate, type ParsedBatch } from "../lineprotocol/index.ts"

const utf8 = new TextDecoder("utf-8", { fatal: true })

const latin1 = (body: Uint8Array) => Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("latin1")

/** The body as text; throws a TypeError (as TextDecoder does) when it is not valid UTF-8. */
export const decodeBody = (body: Uint8Array): string => (isAscii(body) ? latin1(body) : utf8.decode(body))

/**
 * Decodes and parses a body. The parser reads code units from a typed array: an ASCII body's own bytes, otherwise
 * the decoded text's UTF-16 units. Throws a TypeError (as TextDecoder does) when the body is not valid UTF-8.
 */
export const parseBytes = (body: Uint8Array, allocate?: Allocate): ParsedBatch => {
  if (isAscii(body)) return parseBatch(latin1(body), body, allocate)
  const text = utf8.decode(body)
  return parseBatch(text, codesOf(text), allocate)
}

/** Chunks of a body as one buffer (the chunk itself when there is one). */
export const joinChunks = (chunks: ReadonlyArray<Uint8Array>, size: number): Uint8Array =>
  chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)
