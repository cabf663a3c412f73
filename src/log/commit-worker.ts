// The event log's commit thread: writes each group commit's large payloads to the segment files and its rows into
// SQLite in one transaction, and makes both durable (fdatasync, then synchronous=FULL) off the main thread, so a
// commit's disk wait never stalls parsing and HTTP. A commit is answered only once both are on disk.
import Database from "better-sqlite3"
import { parentPort, workerData } from "node:worker_threads"
import { payloadChecksum, rowChecksum } from "./checksum.ts"
import type { EventRow } from "./CommitThread.ts"
import { payloadBytes, SEGMENT_MIN_BYTES, SegmentWriter, type PayloadRef } from "./segments.ts"

const port = parentPort!
const { filename, dataDir } = workerData as { filename: string; dataDir: string }

const db = new Database(filename)
db.pragma("journal_mode = WAL")
db.pragma("synchronous = FULL")
db.pragma("busy_timeout = 5000")
// Checkpoint every 2000 pages (128 MiB at 64 KiB pages) rather than SQLite's 1000: fewer, larger checkpoints.
db.pragma("wal_autocheckpoint = 2000")
const insert = db.prepare(
  "INSERT INTO events (seq, at, node, kind, body, payload, payload_segment, payload_offset, payload_length, payload_crc, row_crc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
const segments = new SegmentWriter(dataDir)

const insertAll = db.transaction(
  (
    rows: ReadonlyArray<EventRow>,
    refs: ReadonlyArray<PayloadRef | undefined>,
    payloadCrcs: ReadonlyArray<number | null>
  ) => {
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!
      const ref = refs[i]
      const inline = r.payload === null || ref !== undefined ? null : Buffer.concat(r.payload)
      const fields = {
        seq: r.seq,
        at: r.at,
        node: r.node,
        kind: r.kind,
        body: r.body,
        payloadSegment: ref?.segment ?? null,
        payloadOffset: ref?.offset ?? null,
        payloadLength: ref?.length ?? null,
        payloadCrc: payloadCrcs[i]!
      }
      insert.run(
        r.seq,
        r.at,
        r.node,
        r.kind,
        r.body,
        inline,
        fields.payloadSegment,
        fields.payloadOffset,
        fields.payloadLength,
        fields.payloadCrc,
        rowChecksum(fields)
      )
    }
  }
)

const commit = async (rows: ReadonlyArray<EventRow>) => {
  const large: Array<number> = []
  rows.forEach((r, i) => {
    if (r.payload !== null && payloadBytes(r.payload) >= SEGMENT_MIN_BYTES) large.push(i)
  })
  const refs = new Array<PayloadRef | undefined>(rows.length)
  if (large.length > 0) segments.write(large.map((i) => rows[i]!.payload!)).forEach((ref, k) => (refs[large[k]!] = ref))
  // Payloads first: a row that SQLite has committed always points at bytes already on disk. The payloads' checksums
  // (from the very bytes this thread writes) are computed while libuv's pool waits for that fdatasync: done before
  // or after it they added ~0.5 ms per MB to every commit's latency (~10% of a durable load's commit time).
  const [, payloadCrcs] = await Promise.all([
    segments.syncAsync(),
    Promise.resolve().then(() => rows.map((r) => (r.payload === null ? null : payloadChecksum(r.payload))))
  ])
  insertAll(rows, refs, payloadCrcs)
}

type Message =
  | { close: true }
  | { close?: undefined; roll: true; id: number }
  | { close?: undefined; roll?: undefined; id: number; rows: ReadonlyArray<EventRow> }

const handle = async (message: Message) => {
  if (message.close === true) {
    segments.close()
    db.close()
    port.postMessage({ closed: true })
    return
  }
  try {
    if (message.roll === true) segments.roll()
    else await commit(message.rows)
    port.postMessage({ id: message.id, ok: true })
  } catch (e) {
    port.postMessage({ id: message.id, ok: false, message: String(e instanceof Error ? e.message : e) })
  }
}

// Commits (and the close) run one after another, in the order they were sent, though each now awaits its fdatasync.
let queue = Promise.resolve()
port.on("message", (message: Message) => {
  queue = queue.then(() => handle(message))
})
