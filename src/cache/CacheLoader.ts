import type { DuckDBValue } from "@duckdb/node-api"
import { Effect } from "effect"
import { Catalog } from "../catalog/Catalog.ts"
import { engineFailed } from "../errors.ts"
import type { DatabaseState, DistinctCacheDef, LastCacheDef, TableState } from "../catalog/state.ts"
import { DuckDb } from "../query/DuckDb.ts"
import { TableSources } from "../storage/TableSource.ts"
import { Caches, distinctCacheColumns, lastCacheColumns, type CacheKind } from "./Caches.ts"
import type { CacheValue } from "./LastValueCache.ts"
import { sqlIdentifier as quote } from "../query/literal.ts"

const toCacheValue = (v: DuckDBValue): CacheValue =>
  v === null || typeof v === "number" || typeof v === "bigint" || typeof v === "string" || typeof v === "boolean" ? v : String(v)

/**
 * Fills caches from the data already stored (Parquet files and the write buffer, through the read path), when a cache
 * is created and when the server starts. Only what the cache would hold is read: per key the newest `count` rows
 * within the ttl, or the newest `max_cardinality` distinct combinations within the max age.
 */
export class CacheLoader extends Effect.Service<CacheLoader>()("strata/CacheLoader", {
  dependencies: [Caches.Default, Catalog.Default, DuckDb.Default, TableSources.Default],
  scoped: Effect.gen(function* () {
    const caches = yield* Caches
    const sources = yield* TableSources
    const duck = yield* DuckDb
    const catalog = yield* Catalog
    const clock = yield* Effect.clock

    const loadSql = (
      view: string,
      table: TableState,
      kind: CacheKind,
      def: LastCacheDef | DistinctCacheDef,
      nowNs: bigint
    ) => {
      if (kind === "distinct") {
        const d = def as DistinctCacheDef
        const cols = distinctCacheColumns(table, d).map((c) => quote(c.name))
        const cutoff = nowNs - BigInt(d.maxAgeSeconds) * 1_000_000_000n
        const sql = `SELECT ${cols.join(", ")}, epoch_ns(max(time)) AS __t FROM (${view}) AS v WHERE time >= make_timestamp_ns(${cutoff}) GROUP BY ALL ORDER BY __t DESC LIMIT ${d.maxCardinality}`
        return {
          sql,
          keys: cols.length,
          names: distinctCacheColumns(table, d).map((c) => c.name),
          values: [] as Array<string>
        }
      }
      const l = def as LastCacheDef
      const { keys, values } = lastCacheColumns(table, l)
      const cutoff = nowNs - BigInt(l.ttlSeconds) * 1_000_000_000n
      const partition = keys.length === 0 ? "" : `PARTITION BY ${keys.map((k) => quote(k.name)).join(", ")} `
      const selected = [...keys, ...values].map((c) => quote(c.name))
      const sql = `SELECT ${[...selected, "epoch_ns(time) AS __t"].join(", ")} FROM (${view}) AS v WHERE time >= make_timestamp_ns(${cutoff}) QUALIFY row_number() OVER (${partition}ORDER BY time DESC) <= ${l.count}`
      return { sql, keys: keys.length, names: keys.map((k) => k.name), values: values.map((v) => v.name) }
    }

    /** Loads one cache of a table from stored rows. */
    const load = (db: DatabaseState, table: TableState, kind: CacheKind, def: LastCacheDef | DistinctCacheDef) =>
      Effect.scoped(
        Effect.gen(function* () {
          yield* sources.open
          const view = sources.view(db).viewSql(table.id, true)
          if (view === undefined) return
          const plan = loadSql(view, table, kind, def, clock.unsafeCurrentTimeNanos())
          const conn = yield* Effect.acquireRelease(
            Effect.tryPromise({ try: () => duck.instance.connect(), catch: engineFailed("DuckDB could not connect") }),
            (c) => Effect.sync(() => c.closeSync())
          )
          const reader = yield* Effect.tryPromise({
            try: () => conn.runAndReadAll(plan.sql),
            catch: engineFailed(`could not read table ${table.name}`)
          })
          const columnNames = [...plan.names, ...plan.values]
          const rows = reader.getRows().map((row) => {
            const cells = new Map<string, CacheValue>()
            for (let i = 0; i < columnNames.length; i++) cells.set(columnNames[i]!, toCacheValue(row[i]!))
            return { cells, timeNs: row[row.length - 1] as bigint }
          })
          // Oldest first, so a distinct cache keeps its entries in the order they were seen.
          rows.reverse()
          caches.load(table.id, kind, def, rows, plan.names, plan.values)
        })
      ).pipe(Effect.catchAllCause((cause) => Effect.logWarning(`could not fill ${kind} cache ${def.name} of table ${table.name} from stored data`, cause)))

    /** Fills every cache the catalog defines (at start). */
    const loadAll = Effect.gen(function* () {
      const state = yield* catalog.current
      caches.reconcile(state)
      for (const db of state.databases.values()) {
        if (db.deleted) continue
        for (const table of db.tables.values()) {
          if (table.deleted) continue
          for (const def of table.lastCaches.values()) yield* load(db, table, "last", def)
          for (const def of table.distinctCaches.values()) yield* load(db, table, "distinct", def)
        }
      }
    })
    yield* loadAll

    return {
      /** Fills every cache the catalog defines from the stored rows (after a restore emptied them). */
      loadAll,
      /** Fills a cache just created, from the rows stored so far (later writes reach it directly). */
      loadCache: (dbName: string, tableName: string, kind: CacheKind, name: string) =>
        Effect.gen(function* () {
          const state = yield* catalog.current
          caches.reconcile(state)
          const db = [...state.databases.values()].find((d) => !d.deleted && d.name === dbName)
          const table =
            db === undefined ? undefined : [...db.tables.values()].find((t) => !t.deleted && t.name === tableName)
          const def = kind === "last" ? table?.lastCaches.get(name) : table?.distinctCaches.get(name)
          if (db !== undefined && table !== undefined && def !== undefined) yield* load(db, table, kind, def)
          return def
        })
    } as const
  })
}) {}
