import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Context, Effect, Layer } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"

/** The event-log database file inside a data directory. */
export const logFile = (dataDir: string) => NodePath.join(dataDir, "log.sqlite")

/** The data directory whose log is open: readers find payload segments there. */
export class LogDir extends Context.Tag("strata/LogDir")<LogDir, string>() {}

const migrate = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  // Write payloads are ~MB blobs: 64 KiB pages halve SQLite's CPU per commit against 4 KiB overflow chains. The
  // page size only takes on a new file, and only before WAL mode is on, so WAL is switched on here, after it.
  yield* sql`PRAGMA page_size = 65536`
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
  for (const column of ["payload_segment", "payload_offset", "payload_length"]) {
    if (!columns.some((c) => c.name === column)) yield* sql.unsafe(`ALTER TABLE events ADD COLUMN ${column} INTEGER`)
  }
  // Every acknowledged append must survive a crash, so the WAL is fsynced on each group commit.
  yield* sql`PRAGMA synchronous = FULL`
  yield* sql`PRAGMA busy_timeout = 5000`
})

/** The SQLite connection of a server's event log, created and migrated if new, and its directory. */
export const layerWritableStore = (dataDir: string) =>
  Layer.effectDiscard(migrate).pipe(
    Layer.provideMerge(
      Layer.unwrapEffect(
        Effect.sync(() => {
          NodeFs.mkdirSync(dataDir, { recursive: true })
          return SqliteClient.layer({ filename: logFile(dataDir), disableWAL: true })
        })
      )
    ),
    Layer.orDie,
    Layer.merge(Layer.succeed(LogDir, dataDir))
  )

/** A read-only connection to an existing event log, safe beside a running server (SQLite WAL readers), and its directory. */
export const layerReadOnlyStore = (dataDir: string) =>
  Layer.unwrapEffect(
    Effect.sync(() => {
      if (!NodeFs.existsSync(logFile(dataDir))) throw new Error(`no event log at ${logFile(dataDir)}`)
      return SqliteClient.layer({ filename: logFile(dataDir), readonly: true, disableWAL: true })
    })
  ).pipe(Layer.orDie, Layer.merge(Layer.succeed(LogDir, dataDir)))
