import { Effect } from "effect"
import { liveDatabase, liveTable } from "../../src/catalog/state.ts"
import { Catalog } from "../../src/catalog/Catalog.ts"
import { DuckDb } from "../../src/query/DuckDb.ts"
import { Ingester } from "../../src/write/Ingester.ts"
import type { InProcessServer } from "./server.ts"

/** Reads back what the write buffer holds for a table, as the user would see it, ordered by time then tags. */
export const bufferedRows = (
  server: InProcessServer,
  db: string,
  table: string
): Promise<Array<Record<string, unknown>>> =>
  server.runtime.runPromise(
    Effect.gen(function* () {
      const ingester = yield* Ingester
      yield* ingester.flush
      const state = yield* (yield* Catalog).current
      const d = liveDatabase(state, db)
      const t = d === undefined ? undefined : liveTable(d, table)
      if (t === undefined) return []
      const sql = ingester.buffer.viewSql(t.id)
      if (sql === undefined) return []
      const duck = yield* DuckDb
      const reader = yield* Effect.promise(() => duck.writer.runAndReadAll(`SELECT * FROM (${sql}) ORDER BY ALL`))
      return reader.getRowObjectsJS() as Array<Record<string, unknown>>
    })
  )
