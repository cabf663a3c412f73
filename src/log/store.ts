import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Effect, Layer } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"

/** The event-log database file inside a data directory. */
export const logFile = (dataDir: string) => NodePath.join(dataDir, "log.sqlite")

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
  // Every acknowledged append must survive a crash, so the WAL is fsynced on each group commit.
  yield* sql`PRAGMA synchronous = FULL`
  yield* sql`PRAGMA busy_timeout = 5000`
})

/** The SQLite connection of a server's event log, created and migrated if new. */
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
    Layer.orDie
  )

/** A read-only connection to an existing event log, safe beside a running server (SQLite WAL readers). */
export const layerReadOnlyStore = (dataDir: string) =>
  Layer.unwrapEffect(
    Effect.sync(() => {
      if (!NodeFs.existsSync(logFile(dataDir))) throw new Error(`no event log at ${logFile(dataDir)}`)
      return SqliteClient.layer({ filename: logFile(dataDir), readonly: true, disableWAL: true })
    })
  ).pipe(Layer.orDie)
