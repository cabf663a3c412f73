// The loop of a parse worker thread: decodes and parses line-protocol bodies sent by the ParsePool and hands the
// columns back by transferring their buffers (no copy); only the series and field-shape tables are cloned.
import { parentPort } from "node:worker_threads"
import { parseBatch } from "../lineprotocol/index.ts"
import { decodeBody } from "./decode.ts"
import type { ParseReply, ParseRequest } from "./ParsePool.ts"
const port = parentPort!

port.on("message", (request: ParseRequest) => {
  let text: string
  try {
    text = decodeBody(request.body)
  } catch (e) {
    port.postMessage({ id: request.id, _tag: "NotUtf8", message: (e as Error).message } satisfies ParseReply)
    return
  }
  const batch = parseBatch(text)
  const transfer: Array<ArrayBuffer> = [
    batch.lineNumbers.buffer,
    batch.lineSeries.buffer,
    batch.lineShape.buffer,
    batch.fieldStart.buffer,
    batch.times.buffer,
    batch.hasTime.buffer,
    batch.floats.buffer
  ] as Array<ArrayBuffer>
  if (batch.integers !== undefined) transfer.push(batch.integers.buffer as ArrayBuffer)
  port.postMessage({ id: request.id, _tag: "Parsed", batch } satisfies ParseReply, transfer)
})
