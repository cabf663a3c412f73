import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Context, Effect, Layer } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { dataWithoutLog, logMissing } from "./integrity.ts"

/** The event-log database file inside a data directory. */
export const logFile = (dataDir: string) => NodePath.join(dataDir, "log.sqlite")

/** The data directory whose log is open: readers find payload segments there. */
export class LogDir extends Context.Tag("strata/LogDir")<LogDir, string>() {}

const migrate = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  // Write payloads are ~MB blobs: 64 KiB pages halve SQLite's CPU per commit against 4 KiB overflow chains. The
  // page size only takes on a new file, and only before WAL mode is on, so WAL is switched on here, after it.
  yield* sql`PRAGMA page_size = 65536`
  // Truncation and purges free pages; a new log gives them back to the file system (incremental_vacuum, reclaim.ts).
  // Like the page size, this takes only on a new file: older logs reuse their free pages instead.
  yield* sql`PRAGMA auto_vacuum = INCREMENTAL`
  yield* sql`PRAGMA journal_mode = WAL`
  yield* sql`CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    node TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    payload BLOB
  )`
  yield* sql`CREATE INDEX IF NOT EXISTS events_kind ON events (kind, seq)`
  // Large payloads live in segment files (segments.ts); the row says where. Logs made before have no such columns.
  const columns = yield* sql<{ name: string }>`SELECT name FROM pragma_table_info('events')`
  // Checksums (checksum.ts) came later still: rows without them are read unverified, as before.
  for (const column of ["payload_segment", "payload_offset", "payload_length", "payload_crc", "row_crc"]) {
    if (!columns.some((c) => c.name === column)) yield* sql.unsafe(`ALTER TABLE events ADD COLUMN ${column} INTEGER`)
  }
  // A write whose payload a hard or data-only delete purged says why here (reclaim.ts); its payload is null then, or
  // rewritten without the deleted table's lines.
  if (!columns.some((c) => c.name === "payload_purged")) yield* sql`ALTER TABLE events ADD COLUMN payload_purged TEXT`
  // Which segments rows still point into: a segment no row names is deleted (reclaim.ts).
  yield* sql`CREATE INDEX IF NOT EXISTS events_payload_segment ON events (payload_segment) WHERE payload_segment IS NOT NULL`
  // The deletes whose payloads are purged, recorded in the purge's own transaction: a purge is done once.
  yield* sql`CREATE TABLE IF NOT EXISTS payload_purges (delete_seq INTEGER PRIMARY KEY, purged_at INTEGER NOT NULL, events INTEGER NOT NULL, bytes INTEGER NOT NULL)`
  // Events a --recover start skipped as damaged are moved here, bytes and all, so later starts need no --recover.
  yield* sql`CREATE TABLE IF NOT EXISTS quarantined_events (
    quarantined_at INTEGER NOT NULL,
    reason TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at INTEGER,
    node TEXT,
    kind TEXT,
    body TEXT,
    payload BLOB,
    payload_segment INTEGER,
    payload_offset INTEGER,
    payload_length INTEGER,
    payload_crc INTEGER,
    row_crc INTEGER
  )`
  // Every acknowledged append must survive a crash, so the WAL is fsynced on each group commit.
  yield* sql`PRAGMA synchronous = FULL`
  yield* sql`PRAGMA busy_timeout = 5000`
})

/**
 * Refuses a log file that is missing or empty beside data only a log can describe, before SQLite opens it: SQLite
 * would make an empty log of it (and delete a WAL it finds beside an empty file).
 */
const refuseMissingLog = (dataDir: string) =>
  Effect.suspend(() => {
    const file = logFile(dataDir)
    const size = NodeFs.statSync(file, { throwIfNoEntry: false })?.size
    if (size !== undefined && size > 0) return Effect.void
    const found = [...dataWithoutLog(dataDir)]
    if ((NodeFs.statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0) > 0) found.push(`${file}-wal`)
    return found.length === 0 ? Effect.void : Effect.fail(logMissing(file, size === undefined ? "missing" : "empty (0 bytes)", found))
  })

/** Refuses a log that opens but holds no event beside data it should describe (e.g. a file replaced by a new one). */
const refuseEmptyLog = (dataDir: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const any = yield* sql`SELECT seq FROM events LIMIT 1`.pipe(Effect.orDie)
    if (any.length > 0) return
    const found = dataWithoutLog(dataDir)
    if (found.length > 0) return yield* Effect.fail(logMissing(logFile(dataDir), "without events", found))
  })

/**
 * The SQLite connection of a server's event log, created and migrated if new, and its directory. Fails with
 * `LogMissing` when the log is missing or empty while the directory holds payload segments or Parquet files.
 */
export const layerWritableStore = (dataDir: string) =>
  Layer.effectDiscard(Effect.zipRight(Effect.orDie(migrate), refuseEmptyLog(dataDir))).pipe(
    Layer.provideMerge(
      Layer.unwrapEffect(
        Effect.gen(function* () {
          NodeFs.mkdirSync(dataDir, { recursive: true })
          yield* refuseMissingLog(dataDir)
          return SqliteClient.layer({ filename: logFile(dataDir), disableWAL: true }).pipe(Layer.orDie)
        })
      )
    ),
    Layer.merge(Layer.succeed(LogDir, dataDir))
  )

/**
 * A read-only connection to an existing event log, safe beside a running server (SQLite WAL readers), and its
 * directory.
 */
export const layerReadOnlyStore = (dataDir: string) =>
  Layer.unwrapEffect(
    Effect.sync(() => {
      if (!NodeFs.existsSync(logFile(dataDir))) throw new Error(`no event log at ${logFile(dataDir)}`)
      return SqliteClient.layer({ filename: logFile(dataDir), readonly: true, disableWAL: true })
    })
  ).pipe(Layer.orDie, Layer.merge(Layer.succeed(LogDir, dataDir)))
