// The loop of a parse worker thread: decodes and parses line-protocol bodies sent by the ParsePool and hands the
// columns back by transferring their buffers (no copy), with the body's chunks; only the series and field-shape
// tables are cloned.
import { parentPort } from "node:worker_threads"
import type { ParsedBatch } from "../lineprotocol/index.ts"
import { parseBytes } from "./decode.ts"
import { columnBuffers, type ParseReply, type ParseRequest } from "./ParsePool.ts"
const port = parentPort!

/** Where a body's chunks are joined before decoding: kept from body to body, so joining allocates nothing. */
let joined = new Uint8Array(0)

const join = (chunks: ReadonlyArray<Uint8Array>, size: number): Uint8Array => {
  if (chunks.length === 1) return chunks[0]!
  if (joined.length < size) joined = new Uint8Array(Math.max(size, joined.length * 2))
  let at = 0
  for (const chunk of chunks) {
    joined.set(chunk, at)
    at += chunk.length
  }
  return joined.subarray(0, size)
}

/** Column buffers handed back by the main thread, reused by later batches (up to SPARE_MAX_BYTES of them). */
const spare: Array<ArrayBuffer> = []
let spareBytes = 0
const SPARE_MAX_BYTES = 64 * 1024 * 1024

/** The smallest spare buffer that fits (and is not far larger), else a new one. */
const allocate = (bytes: number): ArrayBuffer => {
  let best = -1
  for (let i = 0; i < spare.length; i++) {
    const size = spare[i]!.byteLength
    if (size >= bytes && size <= bytes * 4 + 65536 && (best === -1 || size < spare[best]!.byteLength)) best = i
  }
  if (best === -1) return new ArrayBuffer(bytes)
  const buffer = spare.splice(best, 1)[0]!
  spareBytes -= buffer.byteLength
  return buffer
}

port.on("message", (request: ParseRequest) => {
  if (request._tag === "Reuse") {
    for (const buffer of request.buffers) {
      if (spareBytes + buffer.byteLength > SPARE_MAX_BYTES) break
      spare.push(buffer)
      spareBytes += buffer.byteLength
    }
    return
  }
  const chunkBuffers = request.chunks.map((c) => c.buffer as ArrayBuffer)
  let batch: ParsedBatch
  try {
    batch = parseBytes(join(request.chunks, request.size), allocate)
  } catch (e) {
    port.postMessage({ id: request.id, _tag: "NotUtf8", message: (e as Error).message, chunks: request.chunks } satisfies ParseReply, chunkBuffers)
    return
  }
  const transfer = [...columnBuffers(batch), ...chunkBuffers]
  port.postMessage({ id: request.id, _tag: "Parsed", batch, chunks: request.chunks } satisfies ParseReply, transfer)
})
