// Worker threads that decode and parse line-protocol bodies beside the main thread, so parsing (the largest share
// of a write's CPU) runs on another core while the main thread checks, logs and buffers earlier batches.
import { Worker } from "node:worker_threads"
import type { ParsedBatch } from "../lineprotocol/index.ts"
import { transferable } from "../transfer.ts"

/**
 * A body to parse, in the chunks it arrived in (the worker answers with the same id); or column buffers of parsed
 * batches handed back for reuse.
 */
export type ParseRequest =
  | { readonly _tag: "Parse"; readonly id: number; readonly chunks: ReadonlyArray<Uint8Array>; readonly size: number }
  | { readonly _tag: "Reuse"; readonly buffers: ReadonlyArray<ArrayBuffer> }

/**
 * What a worker answers: the parsed columns, or the reason the body is not UTF-8; either way with the body's chunks
 * moved back, for the event log.
 */
export type ParseReply =
  | { readonly id: number; readonly _tag: "Parsed"; readonly batch: ParsedBatch; readonly chunks: ReadonlyArray<Uint8Array> }
  | { readonly id: number; readonly _tag: "NotUtf8"; readonly message: string; readonly chunks: ReadonlyArray<Uint8Array> }

/** The buffers under a batch's columns: what a worker moves to the main thread and the main thread moves back. */
export const columnBuffers = (batch: ParsedBatch): Array<ArrayBuffer> => {
  const buffers = new Set<ArrayBuffer>()
  for (const column of [
    batch.lineNumbers,
    batch.lineSeries,
    batch.lineShape,
    batch.fieldStart,
    batch.times,
    batch.hasTime,
    batch.floats,
    batch.integers
  ]) {
    if (column !== undefined && column.byteLength > 0 && column.buffer instanceof ArrayBuffer)
      buffers.add(column.buffer)
  }
  return [...buffers]
}

interface PoolWorker {
  worker: Worker | undefined
  readonly pending: Map<number, (reply: ParseReply | undefined) => void>
}

const WORKER_ENTRY = new URL("./parse-worker.mjs", import.meta.url)

/**
 * A fixed set of parse workers; each body goes to the worker with the fewest outstanding bodies. A worker that
 * fails answers `undefined` for what it held (the caller then parses on its own thread) and is replaced.
 */
export class ParsePool {
  private readonly workers: Array<PoolWorker> = []
  private nextId = 0
  private closed = false

  constructor(size: number) {
    for (let i = 0; i < size; i++) {
      const entry: PoolWorker = { worker: undefined, pending: new Map() }
      this.start(entry)
      this.workers.push(entry)
    }
  }

  private start(entry: PoolWorker): void {
    const worker = new Worker(WORKER_ENTRY)
    entry.worker = worker
    // Idle workers must not keep the process alive; an outstanding parse is awaited by a request that does.
    worker.unref()
    const fail = () => {
      if (entry.worker !== worker) return
      entry.worker = undefined
      for (const resolve of entry.pending.values()) resolve(undefined)
      entry.pending.clear()
      if (!this.closed) this.start(entry)
    }
    worker.on("message", (reply: ParseReply) => {
      const resolve = entry.pending.get(reply.id)
      if (resolve === undefined) return
      entry.pending.delete(reply.id)
      resolve(reply)
    })
    worker.on("error", fail)
    worker.on("exit", fail)
  }

  /**
   * Parses a body on a worker. Its chunks are moved to the worker (the caller must not read them again) and come back
   * in the reply; `undefined` when the worker failed before answering, and then the chunks are lost.
   */
  parse(body: ReadonlyArray<Uint8Array>, size: number): Promise<ParseReply | undefined> {
    let target = this.workers[0]!
    for (const w of this.workers) if (w.pending.size < target.pending.size) target = w
    const id = this.nextId++
    const worker = target.worker
    if (worker === undefined) return Promise.resolve(undefined)
    return new Promise((resolve) => {
      target.pending.set(id, resolve)
      const { chunks, transfer } = transferable(body)
      worker.postMessage({ _tag: "Parse", id, chunks, size } satisfies ParseRequest, transfer)
    })
  }

  /**
   * Hands a batch's column buffers back to a worker, to be filled again by a later body: moving them to and fro
   * costs nothing, while allocating them anew per batch drove the main thread's garbage collections (V8 collects
   * when enough ArrayBuffer memory accumulates). The caller must not read the batch's columns again.
   */
  reuse(batch: ParsedBatch): void {
    const worker = this.workers.find((w) => w.worker !== undefined)?.worker
    if (worker === undefined) return
    const buffers = columnBuffers(batch)
    worker.postMessage({ _tag: "Reuse", buffers } satisfies ParseRequest, buffers)
  }

  /** Stops every worker; bodies still outstanding answer `undefined`. */
  async close(): Promise<void> {
    this.closed = true
    await Promise.all(
      this.workers.map(async (w) => {
        for (const resolve of w.pending.values()) resolve(undefined)
        w.pending.clear()
        const worker = w.worker
        w.worker = undefined
        if (worker !== undefined) await worker.terminate()
      })
    )
  }
}
