import { DuckDBConnection, DuckDBInstance } from "@duckdb/node-api"
import { Effect } from "effect"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { ServerConfig } from "../config.ts"
import { engineFailed } from "../errors.ts"
import { sandboxSql } from "./sandbox.ts"

/** The server's own scratch space for DuckDB under the data directory: Parquet answers and spilled intermediates. */
export const scratchDir = (dataDir: string) => Path.join(dataDir, "duckdb")

/**
 * The in-process DuckDB engine. It holds the write buffer's tables (schema `buf`) and runs every SQL query.
 * It lives in memory: the buffer is rebuilt from the event log on start, and persisted data lives in Parquet.
 * It is sandboxed before anything else runs on it: no file outside `answersDir`, no extensions, settings locked.
 */
export class DuckDb extends Effect.Service<DuckDb>()("strata/DuckDb", {
  scoped: Effect.gen(function* () {
    const config = yield* ServerConfig
    const scratch = scratchDir(config.dataDir)
    const answersDir = Path.join(scratch, "answers")
    const spillDir = Path.join(scratch, "spill")
    // Whatever a previous run left (answers in flight at a crash) goes; only this server uses the directory.
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        Fs.rmSync(scratch, { recursive: true, force: true })
        Fs.mkdirSync(answersDir, { recursive: true, mode: 0o700 })
      }),
      () => Effect.sync(() => Fs.rmSync(scratch, { recursive: true, force: true }))
    )
    const instance = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => DuckDBInstance.create(":memory:", { threads: "2" }),
        catch: engineFailed("DuckDB could not start")
      }),
      (db) => Effect.sync(() => db.closeSync())
    )
    const writer = yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => instance.connect(), catch: engineFailed("DuckDB could not connect") }),
      (c) => Effect.sync(() => c.closeSync())
    )
    yield* Effect.tryPromise({ catch: engineFailed("DuckDB could not be set up"), try: async () => {
      await writer.run("CREATE SCHEMA IF NOT EXISTS buf")
      // Persisted Parquet files live under dbs/: the Compactor writes them and table views read them there.
      const dbsDir = Path.join(Path.resolve(config.dataDir), "dbs")
      Fs.mkdirSync(dbsDir, { recursive: true })
      const statements = sandboxSql({
        allowedDirectory: answersDir,
        spillDirectory: spillDir,
        dataDirectories: [dbsDir],
        keepParquetFooters: true
      })
      for (const statement of statements) await writer.run(statement)
    } })
    return {
      instance,
      /** The connection the write buffer appends through. */
      writer,
      /** The one directory DuckDB may write and read files in: Parquet answers while they are sent. */
      answersDir
    } as const
  })
}) {}

export type { DuckDBConnection }
