// Moving byte chunks to another thread without copying them.

/** Whether a chunk spans its whole ArrayBuffer, so that moving the buffer moves exactly the chunk. */
const ownsBuffer = (chunk: Uint8Array): boolean =>
  chunk.byteOffset === 0 && chunk.buffer instanceof ArrayBuffer && chunk.byteLength === chunk.buffer.byteLength

/**
 * Prepares chunks for `postMessage`: those that own their buffer are listed for transfer (moved, not copied); the
 * others (views into a larger buffer) are copied first. After posting, the caller must not read the chunks again.
 */
export const transferable = (
  chunks: ReadonlyArray<Uint8Array>
): { chunks: Array<Uint8Array>; transfer: Array<ArrayBuffer> } => {
  const out: Array<Uint8Array> = []
  const transfer: Array<ArrayBuffer> = []
  for (const chunk of chunks) {
    const owned = ownsBuffer(chunk) && !transfer.includes(chunk.buffer as ArrayBuffer) ? chunk : new Uint8Array(chunk)
    out.push(owned)
    transfer.push(owned.buffer as ArrayBuffer)
  }
  return { chunks: out, transfer }
}
