import { Worker } from "node:worker_threads"
import { transferable } from "../transfer.ts"
import { logFile } from "./store.ts"

/** One row of the `events` table as the commit thread inserts it. */
export interface EventRow {
  readonly seq: number
  readonly at: bigint
  readonly node: string
  readonly kind: string
  readonly body: string
  /** The payload in chunks, stored joined. */
  readonly payload: ReadonlyArray<Uint8Array> | null
}

const ENTRY = new URL("./commit-worker.mjs", import.meta.url)

/**
 * The thread that writes group commits into the event log's SQLite file and payload segments. Commits are answered in
 * the order they
 * were sent; if the thread dies, the commits in flight fail (their writers answer 500) and the next commit starts
 * a new thread.
 */
export class CommitThread {
  private worker: Worker | undefined
  private nextId = 1
  private readonly inFlight = new Map<number, { resolve: () => void; reject: (e: Error) => void }>()

  constructor(private readonly dataDir: string) {
    // Started at once: the thread loads its sources before the first write needs it.
    this.start()
  }

  private start(): Worker {
    const worker = new Worker(ENTRY, { workerData: { filename: logFile(this.dataDir), dataDir: this.dataDir } })
    const failAll = (error: Error) => {
      if (this.worker === worker) this.worker = undefined
      for (const [, waiter] of this.inFlight) waiter.reject(error)
      this.inFlight.clear()
    }
    worker.on("message", (m: { id: number; ok: boolean; message?: string }) => {
      const waiter = this.inFlight.get(m.id)
      if (waiter === undefined) return
      this.inFlight.delete(m.id)
      if (m.ok) waiter.resolve()
      else waiter.reject(new Error(m.message ?? "commit failed"))
    })
    worker.on("error", failAll)
    worker.on("exit", (code) => failAll(new Error(`event log commit thread exited (${code})`)))
    this.worker = worker
    return worker
  }

  /**
   * Inserts the rows in one transaction; resolves once it is durable. Payload chunks are moved to the thread, not
   * copied: once appended, a payload belongs to the log and the caller must not read it again.
   */
  commit(rows: ReadonlyArray<EventRow>): Promise<void> {
    const worker = this.worker ?? this.start()
    const id = this.nextId++
    const transfer: Array<ArrayBuffer> = []
    const moved = rows.map((r) => {
      if (r.payload === null) return r
      const { chunks, transfer: buffers } = transferable(r.payload)
      transfer.push(...buffers)
      return { ...r, payload: chunks }
    })
    return new Promise<void>((resolve, reject) => {
      this.inFlight.set(id, { resolve, reject })
      worker.postMessage({ id, rows: moved }, transfer)
    })
  }

  /** Closes the payload segment being appended to and starts the next, after the commits already sent. */
  roll(): Promise<void> {
    const worker = this.worker ?? this.start()
    const id = this.nextId++
    return new Promise<void>((resolve, reject) => {
      this.inFlight.set(id, { resolve, reject })
      worker.postMessage({ id, roll: true })
    })
  }

  /** Closes the database and stops the thread, after the commits already sent. */
  async close(): Promise<void> {
    const worker = this.worker
    if (worker === undefined) return
    await new Promise<void>((resolve) => {
      worker.once("exit", () => resolve())
      worker.on("message", (m: { closed?: boolean }) => {
        if (m.closed === true) void worker.terminate()
      })
      worker.postMessage({ close: true })
    })
    this.worker = undefined
  }
}
