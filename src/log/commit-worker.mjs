// The event log's commit thread: inserts each group commit's rows in one SQLite transaction and fsyncs it
// (synchronous=FULL) off the main thread, so a commit's disk wait never stalls parsing and HTTP.
import Database from "better-sqlite3"
import { parentPort, workerData } from "node:worker_threads"

const db = new Database(workerData.filename)
db.pragma("journal_mode = WAL")
db.pragma("synchronous = FULL")
db.pragma("busy_timeout = 5000")
// Checkpoint every 2000 pages (128 MiB at 64 KiB pages) rather than SQLite's 1000: fewer, larger checkpoints.
db.pragma("wal_autocheckpoint = 2000")
const insert = db.prepare("INSERT INTO events (seq, at, node, kind, body, payload) VALUES (?, ?, ?, ?, ?, ?)")
const insertAll = db.transaction((rows) => {
  for (const r of rows) {
    const payload = r.payload === null ? null : Buffer.from(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength)
    insert.run(r.seq, r.at, r.node, r.kind, r.body, payload)
  }
})

parentPort.on("message", (message) => {
  if (message.close === true) {
    db.close()
    parentPort.postMessage({ closed: true })
    return
  }
  try {
    insertAll(message.rows)
    parentPort.postMessage({ id: message.id, ok: true })
  } catch (e) {
    parentPort.postMessage({ id: message.id, ok: false, message: String(e && e.message ? e.message : e) })
  }
})
