import { DuckDBConnection, DuckDBInstance } from "@duckdb/node-api"
import { Effect } from "effect"

/**
 * The in-process DuckDB engine. It holds the write buffer's tables (schema `buf`) and runs every SQL query.
 * It lives in memory: the buffer is rebuilt from the event log on start, and persisted data lives in Parquet.
 */
export class DuckDb extends Effect.Service<DuckDb>()("strata/DuckDb", {
  scoped: Effect.gen(function* () {
    const instance = yield* Effect.acquireRelease(
      Effect.promise(() => DuckDBInstance.create(":memory:", { threads: "2" })),
      (db) => Effect.sync(() => db.closeSync())
    )
    const writer = yield* Effect.acquireRelease(
      Effect.promise(() => instance.connect()),
      (c) => Effect.sync(() => c.closeSync())
    )
    yield* Effect.promise(() => writer.run("CREATE SCHEMA IF NOT EXISTS buf"))
    return {
      instance,
      /** The connection the write buffer appends through. */
      writer
    } as const
  })
}) {}

export type { DuckDBConnection }
