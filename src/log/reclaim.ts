// Giving the log's disk space back: persisted write payloads past `--snapshotted-log-keep` are truncated (their rows
// deleted), and the payloads of hard- and data-deleted data are purged (their rows kept, marked). Segment files no
// row points into are deleted; the one the commit thread appends to never is (it is rolled first when needed).
import { SqlClient } from "@effect/sql"
import { Clock, Effect, Metric } from "effect"
import * as NodeFs from "node:fs"
import { ServerConfig } from "../config.ts"
import { LogTruncated } from "../events/index.ts"
import { blankLines } from "../lineprotocol/index.ts"
import { payloadChecksum, rowChecksum } from "./checksum.ts"
import { EventLog, type StoredRow } from "./EventLog.ts"
import { payloadProblem } from "./integrity.ts"
import { listSegments, SegmentReader, segmentDir, segmentFile } from "./segments.ts"
import { logFile } from "./store.ts"

export const eventLogBytes = Metric.gauge("strata_eventlog_bytes", { description: "Bytes of the event log on disk: its SQLite file, WAL and payload segments" })
export const truncatedBytesTotal = Metric.counter("strata_eventlog_truncated_bytes_total", {
  description: "Payload bytes of persisted write events truncated from the event log"
})
export const truncatedEventsTotal = Metric.counter("strata_eventlog_truncated_events_total", { description: "Persisted write events truncated from the event log" })
export const purgedEventsTotal = Metric.counter("strata_eventlog_purged_events_total", {
  description: "Write events whose payload a hard or data-only delete purged (wholly or the deleted table's lines)"
})
export const purgedBytesTotal = Metric.counter("strata_eventlog_purged_bytes_total", { description: "Payload bytes purged from the event log by deletes" })

/** Bytes of a data directory's event log on disk: the SQLite file, its WAL and the payload segments. */
export const logBytesOnDisk = (dataDir: string): number => {
  const size = (file: string) => NodeFs.statSync(file, { throwIfNoEntry: false })?.size ?? 0
  let bytes = size(logFile(dataDir)) + size(`${logFile(dataDir)}-wal`)
  for (const s of listSegments(dataDir)) bytes += size(segmentFile(dataDir, s))
  return bytes
}

/** What one truncation did. */
export interface TruncateOutcome {
  readonly fromSeq: number
  readonly throughSeq: number
  readonly events: number
  readonly payloadBytes: number
  /** Bytes of segment files deleted. */
  readonly segmentBytes: number
}

/** What one purge sweep did. */
export interface PurgeOutcome {
  readonly deletes: number
  readonly events: number
  readonly payloadBytes: number
  readonly segmentBytes: number
}

/** A write row as the purge reads and rewrites it: a stored row of a log that has every payload column. */
type WriteRow = Omit<Required<StoredRow>, "row_crc">

const DELETE_KINDS = ["DatabaseHardDeleted", "DatabaseDataDeleted", "TableHardDeleted", "TableDataDeleted"] as const
const PAGE = 256

/** Which lines of a write a delete takes: all of them, or those of the table's names in seq ranges. */
type Purge =
  | { readonly _tag: "database"; readonly dbId: number; readonly deleteSeq: number; readonly reason: string }
  | {
    readonly _tag: "table"
    readonly dbId: number
    readonly deleteSeq: number
    readonly reason: string
    /** The names the table had, each from `fromSeq` (inclusive) to `toSeq` (exclusive). */
    readonly names: ReadonlyArray<{ readonly name: string; readonly fromSeq: number; readonly toSeq: number }>
  }

/**
 * The log's reclaimer, for the Compactor: `truncate` after each persist, `purge` from its sweep, `measure` for the
 * `strata_eventlog_bytes` gauge. Each is idempotent: a crash between its steps leaves rows or files the next run
 * finishes with (every database change is one SQLite transaction; files are deleted only after it commits).
 */
export const makeLogReclaimer = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const config = yield* ServerConfig
  const log = yield* EventLog
  const dir = config.dataDir
  // Purged and truncated bytes are overwritten in the file, not only unlinked from the b-tree (this connection only).
  yield* sql.unsafe("PRAGMA secure_delete = ON").pipe(Effect.orDie)
  const safe = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.provideService(effect, SqlClient.SafeIntegers, true)

  /**
   * Deletes the segment files no row points into, except the newest (the commit thread's). The directory is listed
   * before the rows are read: a segment older than the newest listed one takes no new rows once a newer one exists.
   */
  const deleteUnreferencedSegments = Effect.gen(function* () {
    const segments = listSegments(dir)
    if (segments.length <= 1) return 0
    const newest = segments[segments.length - 1]!
    const rows = yield* sql<{ s: number }>`
      SELECT DISTINCT payload_segment AS s FROM events WHERE payload_segment IS NOT NULL
      UNION SELECT DISTINCT payload_segment FROM quarantined_events WHERE payload_segment IS NOT NULL`
    const referenced = new Set(rows.map((r) => Number(r.s)))
    let freed = 0
    for (const s of segments) {
      if (s === newest || referenced.has(s)) continue
      const file = segmentFile(dir, s)
      freed += NodeFs.statSync(file, { throwIfNoEntry: false })?.size ?? 0
      NodeFs.rmSync(file, { force: true })
    }
    if (freed > 0) {
      const fd = NodeFs.openSync(segmentDir(dir), "r")
      try {
        NodeFs.fsyncSync(fd)
      } finally {
        NodeFs.closeSync(fd)
      }
    }
    return freed
  })

  /**
   * Gives free pages back to the file system (logs made with auto_vacuum=INCREMENTAL; older ones reuse them) and
   * empties the WAL. In steps of 256 pages (16 MiB): the commit thread waits for the write lock meanwhile.
   */
  const vacuum = Effect.gen(function* () {
    const [mode] = yield* sql<{ auto_vacuum: number }>`PRAGMA auto_vacuum`
    if (Number(mode?.auto_vacuum) === 2) {
      while (true) {
        const [free] = yield* sql<{ freelist_count: number }>`PRAGMA freelist_count`
        if (Number(free?.freelist_count ?? 0) === 0) break
        yield* sql.unsafe("PRAGMA incremental_vacuum(256)")
      }
    }
    yield* sql.unsafe("PRAGMA wal_checkpoint(TRUNCATE)")
  })

  /** Rolls the commit thread's segment when `segments` holds it, so it can be deleted or emptied afterwards. */
  const rollIfActive = (segments: ReadonlySet<number>) =>
    Effect.suspend(() => {
      const all = listSegments(dir)
      const newest = all[all.length - 1]
      return newest !== undefined && segments.has(newest) ? log.rollSegment : Effect.void
    })

  const measure = Effect.suspend(() => Metric.set(eventLogBytes, logBytesOnDisk(dir)))

  const truncate = (persistedSeq: number) =>
    Effect.gen(function* () {
      // Newest first, a page at a time, until the kept payloads pass `keep`: the first write that does not fit and
      // every older one go.
      let kept = 0
      let throughSeq: number | undefined
      let before = persistedSeq + 1
      while (throughSeq === undefined) {
        const page = yield* sql<{ seq: number; bytes: number }>`
          SELECT seq, coalesce(payload_length, length(payload), 0) AS bytes FROM events
          WHERE kind = 'WriteBatch' AND seq < ${before} ORDER BY seq DESC LIMIT ${PAGE * 4}`
        for (const r of page) {
          kept += Number(r.bytes)
          if (kept > config.snapshottedLogKeepBytes) {
            throughSeq = Number(r.seq)
            break
          }
        }
        if (page.length < PAGE * 4) break
        before = Number(page[page.length - 1]!.seq)
      }
      if (throughSeq === undefined) return undefined
      const [dropped] = yield* sql<{ events: number; bytes: number; fromSeq: number }>`
        SELECT count(*) AS events, sum(coalesce(payload_length, length(payload), 0)) AS bytes, min(seq) AS fromSeq
        FROM events WHERE kind = 'WriteBatch' AND seq <= ${throughSeq}`
      const events = Number(dropped!.events)
      const payloadBytes = Number(dropped!.bytes ?? 0)
      const fromSeq = Number(dropped!.fromSeq)
      const segments = new Set(
        (yield* sql<{ s: number }>`SELECT DISTINCT payload_segment AS s FROM events WHERE kind = 'WriteBatch' AND seq <= ${throughSeq} AND payload_segment IS NOT NULL`)
          .map((r) => Number(r.s))
      )
      yield* rollIfActive(segments)
      // Recorded first: a crash before the rows go leaves them to the next truncation, never a gap without a record.
      yield* log.append([{ event: new LogTruncated({ version: 1, fromSeq, throughSeq, events, payloadBytes }) }])
      // In steps, each its own transaction: the commit thread waits for the write lock meanwhile.
      while (true) {
        const gone = yield* sql<{ seq: number }>`
          DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE kind = 'WriteBatch' AND seq <= ${throughSeq} LIMIT ${PAGE * 4}) RETURNING seq`
        if (gone.length === 0) break
      }
      const segmentBytes = yield* deleteUnreferencedSegments
      yield* vacuum
      yield* Metric.incrementBy(truncatedEventsTotal, events)
      yield* Metric.incrementBy(truncatedBytesTotal, payloadBytes)
      yield* measure
      yield* Effect.logInfo(
        `event log: truncated ${events} persisted write event(s) seq ${fromSeq}..${throughSeq} (${payloadBytes} payload bytes, ${segmentBytes} bytes of segment files)`
      )
      return { fromSeq, throughSeq, events, payloadBytes, segmentBytes } satisfies TruncateOutcome
    })

  /** What a delete event purges, from the log's own catalog events (the table's names over time). */
  const purgeOf = (seq: number, kind: string, body: string) =>
    Effect.gen(function* () {
      const event = JSON.parse(body) as { dbId: number; tableId?: number; removeTables?: boolean }
      const what = kind === "DatabaseHardDeleted" || kind === "TableHardDeleted" ? "hard-deleted" : "data deleted"
      if (event.tableId === undefined) {
        return { _tag: "database", dbId: event.dbId, deleteSeq: seq, reason: `database ${event.dbId} ${what} (seq ${seq})` } satisfies Purge
      }
      const history = yield* sql<{ seq: number; kind: string; body: string }>`
        SELECT seq, kind, body FROM events WHERE kind IN ('TableCreated', 'TableSoftDeleted') AND seq < ${seq}
          AND json_extract(body, '$.dbId') = ${event.dbId} AND json_extract(body, '$.tableId') = ${event.tableId} ORDER BY seq`
      const names: Array<{ name: string; fromSeq: number; toSeq: number }> = []
      for (const h of history) {
        const e = JSON.parse(h.body) as { name?: string; newName?: string }
        const last = names[names.length - 1]
        if (last !== undefined) last.toSeq = Number(h.seq)
        names.push({ name: (h.kind === "TableCreated" ? e.name : e.newName) ?? "", fromSeq: Number(h.seq), toSeq: seq })
      }
      return { _tag: "table", dbId: event.dbId, deleteSeq: seq, names, reason: `table ${event.tableId} of database ${event.dbId} ${what} (seq ${seq})` } satisfies Purge
    })

  /** Rewrites one row's payload (null: none left), moved into the row, with both checksums recomputed. */
  const rewriteRow = (r: WriteRow, payload: Uint8Array | null, reason: string | null) => {
    const payloadCrc = payload === null ? null : payloadChecksum([payload])
    const rowCrc = rowChecksum({
      seq: r.seq,
      at: r.at,
      node: r.node,
      kind: r.kind,
      body: r.body,
      payloadSegment: null,
      payloadOffset: null,
      payloadLength: null,
      payloadCrc
    })
    const blob = payload === null ? null : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength)
    return reason === null
      ? sql`UPDATE events SET payload = ${blob}, payload_segment = NULL, payload_offset = NULL, payload_length = NULL, payload_crc = ${payloadCrc}, row_crc = ${rowCrc} WHERE seq = ${r.seq}`
      : sql`UPDATE events SET payload = ${blob}, payload_segment = NULL, payload_offset = NULL, payload_length = NULL, payload_crc = ${payloadCrc}, row_crc = ${rowCrc}, payload_purged = ${reason} WHERE seq = ${r.seq}`
  }

  /** A row's payload if it verifies; undefined when it cannot be read or does not match its checksum (left as is). */
  const payloadOf = (r: WriteRow, reader: SegmentReader): Uint8Array | undefined => {
    try {
      const bytes =
        r.payload_segment === null
          ? r.payload
          : reader.read({
              segment: Number(r.payload_segment),
              offset: Number(r.payload_offset),
              length: Number(r.payload_length)
            })
      return bytes === null || payloadProblem(bytes, r.payload_crc) !== undefined ? undefined : bytes
    } catch {
      return undefined
    }
  }

  /**
   * Purges one delete's payloads, a page of rows per transaction; returns the events and bytes and the segments
   * touched.
   */
  const purgeOne = (p: Purge, touched: Set<number>) =>
    Effect.gen(function* () {
      const fromSeq = p._tag === "table" ? Math.min(p.deleteSeq, ...p.names.map((n) => n.fromSeq)) : 0
      let after = fromSeq - 1
      let events = 0
      let bytes = 0
      while (true) {
        const rows =
          yield *
          safe(sql<WriteRow>`
          SELECT seq, at, node, kind, body, payload, payload_segment, payload_offset, payload_length, payload_crc FROM events
          WHERE kind = 'WriteBatch' AND seq > ${after} AND seq < ${p.deleteSeq} AND json_extract(body, '$.dbId') = ${p.dbId}
            AND (payload IS NOT NULL OR payload_segment IS NOT NULL)
          ORDER BY seq LIMIT ${PAGE}`)
        if (rows.length === 0) break
        after = Number(rows[rows.length - 1]!.seq)
        const reader = new SegmentReader(dir)
        const updates: Array<Effect.Effect<unknown, unknown>> = []
        try {
          for (const r of rows) {
            const seq = Number(r.seq)
            const names = p._tag === "table" ? new Set(p.names.filter((n) => seq >= n.fromSeq && seq < n.toSeq).map((n) => n.name)) : undefined
            if (names !== undefined && names.size === 0) continue
            const payload = payloadOf(r, reader)
            if (payload === undefined) continue
            let rewritten: Uint8Array | null = null
            if (names !== undefined) {
              const blanked = blankLines(payload, (m) => names.has(m))
              if (blanked.blanked === 0) continue
              rewritten = blanked.kept === 0 ? null : blanked.payload
            }
            if (r.payload_segment !== null) touched.add(Number(r.payload_segment))
            events++
            bytes += payload.byteLength - (rewritten?.byteLength ?? 0)
            updates.push(rewriteRow(r, rewritten, p.reason))
          }
        } finally {
          reader.close()
        }
        if (updates.length > 0) yield* sql.withTransaction(Effect.all(updates, { discard: true }))
        if (rows.length < PAGE) break
      }
      return { events, bytes }
    })

  /** Moves the payloads still living in `segment` into their rows, so the file can go. */
  const emptySegment = (segment: number) =>
    Effect.gen(function* () {
      let after = -1
      while (true) {
        const rows =
          yield *
          safe(sql<WriteRow>`
          SELECT seq, at, node, kind, body, payload, payload_segment, payload_offset, payload_length, payload_crc FROM events
          WHERE payload_segment = ${segment} AND seq > ${after} ORDER BY seq LIMIT ${PAGE}`)
        if (rows.length === 0) return
        after = Number(rows[rows.length - 1]!.seq)
        const reader = new SegmentReader(dir)
        const updates: Array<Effect.Effect<unknown, unknown>> = []
        try {
          for (const r of rows) {
            const payload = payloadOf(r, reader)
            // A damaged payload is left where it is (and keeps its segment): a start reports it.
            if (payload !== undefined) updates.push(rewriteRow(r, payload, null))
          }
        } finally {
          reader.close()
        }
        if (updates.length > 0) yield* sql.withTransaction(Effect.all(updates, { discard: true }))
        if (rows.length < PAGE) return
      }
    })

  const purge = Effect.gen(function* () {
    const deletes = yield* sql<{ seq: number; kind: string; body: string }>`
      SELECT seq, kind, body FROM events WHERE kind IN ${sql.in(DELETE_KINDS)}
        AND seq NOT IN (SELECT delete_seq FROM payload_purges) ORDER BY seq`
    if (deletes.length === 0) return undefined
    const touched = new Set<number>()
    let events = 0
    let payloadBytes = 0
    for (const d of deletes) {
      const p = yield* purgeOf(Number(d.seq), d.kind, d.body)
      const done = yield* purgeOne(p, touched)
      events += done.events
      payloadBytes += done.bytes
      yield* sql`INSERT OR IGNORE INTO payload_purges (delete_seq, purged_at, events, bytes) VALUES (${d.seq}, ${yield* Clock.currentTimeMillis}, ${done.events}, ${done.bytes})`
    }
    // A segment a purge emptied partly: its live payloads move into their rows, and the file goes.
    yield* rollIfActive(touched)
    for (const s of touched) yield* emptySegment(s)
    const segmentBytes = yield* deleteUnreferencedSegments
    yield* vacuum
    yield* Metric.incrementBy(purgedEventsTotal, events)
    yield* Metric.incrementBy(purgedBytesTotal, payloadBytes)
    yield* measure
    if (events > 0) {
      yield* Effect.logInfo(`event log: purged the payloads of ${events} write event(s) of ${deletes.length} delete(s) (${payloadBytes} bytes, ${segmentBytes} bytes of segment files)`)
    }
    return { deletes: deletes.length, events, payloadBytes, segmentBytes } satisfies PurgeOutcome
  })

  return {
    /** Truncates persisted write events (seq ≤ `persistedSeq`) past `--snapshotted-log-keep`; undefined when none. */
    truncate,
    /** Purges the payloads of every hard or data-only delete not purged yet; undefined when there was none. */
    purge,
    /** Sets `strata_eventlog_bytes` from the files on disk. */
    measure
  } as const
})
