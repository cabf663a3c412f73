import { Data, Effect, Stream } from "effect"
import { Catalog } from "../catalog/Catalog.ts"
import { type CatalogState, type DistinctCacheDef, type LastCacheDef, liveTable } from "../catalog/state.ts"
import { FieldKind, type ParsedBatch } from "../lineprotocol/index.ts"
import type { TableRows } from "../write/WriteBuffer.ts"
import { DistinctValueCache, type Seen } from "./DistinctValueCache.ts"
import { distinctCacheColumns, lastCacheColumns } from "./columns.ts"
import { evictPeriodically } from "./eviction.ts"
import { type KeyEntry, LastValueCache, type CacheValue } from "./LastValueCache.ts"
import type { CacheTableSource } from "./sql.ts"
import { sqlIdentifier as quote } from "../query/literal.ts"
import { forkSupervised } from "../supervision.ts"

export { distinctCacheColumns, lastCacheColumns } from "./columns.ts"

const NS_PER_SECOND = 1_000_000_000n

export type CacheKind = "last" | "distinct"

type Instance =
  | { readonly _tag: "last"; readonly tableId: number; readonly def: LastCacheDef; readonly cache: LastValueCache }
  | { readonly _tag: "distinct"; readonly tableId: number; readonly def: DistinctCacheDef; readonly cache: DistinctValueCache }

/** An instance's identity, also the name of its DuckDB table (a definition's seq is unique among caches). */
const instanceKey = (tableId: number, kind: CacheKind, def: { readonly createdSeq: number }) =>
  `${kind}_${tableId}_${def.createdSeq}`

/** The tag and field values of one line of a parsed batch, by column name. */
const lineValues = (
  batch: ParsedBatch,
  line: number,
  unsigned: BigUint64Array | undefined
): Map<string, CacheValue> => {
  const out = new Map<string, CacheValue>()
  const series = batch.series[batch.lineSeries[line]!]!
  for (let i = 0; i < series.tagKeys.length; i++) out.set(series.tagKeys[i]!, series.tagValues[i]!)
  const shape = batch.shapes[batch.lineShape[line]!]!
  const start = batch.fieldStart[line]!
  for (let f = 0; f < shape.keys.length; f++) {
    const at = start + f
    switch (shape.kinds[f]) {
      case FieldKind.Float:
        out.set(shape.keys[f]!, batch.floats[at]!)
        break
      case FieldKind.Boolean:
        out.set(shape.keys[f]!, batch.floats[at] === 1)
        break
      case FieldKind.Integer:
        out.set(shape.keys[f]!, batch.integers![at]!)
        break
      case FieldKind.UInteger:
        out.set(shape.keys[f]!, unsigned![at]!)
        break
      case FieldKind.String:
        out.set(shape.keys[f]!, batch.strings![at]!)
        break
    }
  }
  return out
}

/** Why a cache query cannot be answered (planned as a 400). */
export class CacheLookupError extends Data.TaggedError("CacheLookupError")<{ readonly message: string }> {}

const lookupError = (message: string): CacheLookupError => new CacheLookupError({ message })

/**
 * The contents of every last-value and distinct-value cache: in-memory projections of the rows written, keyed by the
 * catalog's definitions (which are catalog events). Writes feed them as they are applied (`ingest`); the loader fills
 * them from stored data when a cache is created and when the server starts; a loop evicts by ttl, age and cardinality.
 */
export class Caches extends Effect.Service<Caches>()("strata/Caches", {
  dependencies: [Catalog.Default],
  scoped: Effect.gen(function* () {
    const catalog = yield* Catalog
    const clock = yield* Effect.clock
    const instances = new Map<string, Instance>()
    let reconciled: CatalogState | undefined

    /** Makes the instances match the definitions of `state`: new caches start empty, deleted ones go. */
    const reconcile = (state: CatalogState) => {
      // A query planned against an older state must not take back caches created (and filled) since.
      if (state === reconciled || (reconciled !== undefined && state.lastSeq < reconciled.lastSeq)) return
      reconciled = state
      const wanted = new Set<string>()
      for (const db of state.databases.values()) {
        if (db.deleted) continue
        for (const table of db.tables.values()) {
          if (table.deleted) continue
          for (const def of table.lastCaches.values()) {
            const key = instanceKey(table.id, "last", def)
            wanted.add(key)
            if (!instances.has(key)) instances.set(key, { _tag: "last", tableId: table.id, def, cache: new LastValueCache(def.count, BigInt(def.ttlSeconds) * NS_PER_SECOND) })
          }
          for (const def of table.distinctCaches.values()) {
            const key = instanceKey(table.id, "distinct", def)
            wanted.add(key)
            if (!instances.has(key)) {
              instances.set(key, { _tag: "distinct", tableId: table.id, def, cache: new DistinctValueCache(def.maxCardinality, BigInt(def.maxAgeSeconds) * NS_PER_SECOND) })
            }
          }
        }
      }
      for (const key of instances.keys()) if (!wanted.has(key)) instances.delete(key)
    }
    reconcile(yield* catalog.current)
    yield* forkSupervised("cache-reconciler", catalog.changes.pipe(Stream.runForEach((state) => Effect.sync(() => reconcile(state)))))

    const nowNs = () => clock.unsafeCurrentTimeNanos()

    /**
     * What one write's rows of a table would add to its caches, read out of the parsed batch now (the batch is reused
     * once the write is applied) and fed in by the returned function, which the Ingester calls once the write's commit
     * succeeded. Undefined for tables without caches. Plain loops.
     */
    const prepare = (rows: TableRows): (() => void) | undefined => {
      const table = rows.table
      if (table.lastCaches.size === 0 && table.distinctCaches.size === 0) return undefined
      const targets: Array<Instance> = []
      for (const def of table.lastCaches.values()) {
        const i = instances.get(instanceKey(table.id, "last", def))
        if (i !== undefined) targets.push(i)
      }
      for (const def of table.distinctCaches.values()) {
        const i = instances.get(instanceKey(table.id, "distinct", def))
        if (i !== undefined) targets.push(i)
      }
      if (targets.length === 0) return undefined
      const batch = rows.batch
      const unsigned =
        batch.integers === undefined
          ? undefined
          : new BigUint64Array(batch.integers.buffer, batch.integers.byteOffset, batch.integers.length)
      const plans = targets.map((t) => {
        if (t._tag === "distinct") return { t, keys: distinctCacheColumns(table, t.def).map((c) => c.name), values: [] as Array<string> }
        const { keys, values } = lastCacheColumns(table, t.def)
        return { t, keys: keys.map((c) => c.name), values: values.map((c) => c.name) }
      })
      const cells: Array<ReadonlyMap<string, CacheValue>> = []
      const times: Array<bigint> = []
      for (let r = 0; r < rows.count; r++) {
        cells.push(lineValues(batch, rows.lines[r]!, unsigned))
        times.push(rows.times[r]!)
      }
      return () => {
        const now = nowNs()
        for (let r = 0; r < cells.length; r++) {
          const row = cells[r]!
          for (const { t, keys, values } of plans) {
            if (t._tag === "distinct") {
              t.cache.insert(keys.map((k) => (row.get(k) as string | undefined) ?? null), now)
              continue
            }
            const picked = new Map<string, CacheValue>()
            for (const v of values) picked.set(v, row.get(v) ?? null)
            t.cache.insert(keys.map((k) => row.get(k) ?? null), times[r]!, picked, now)
          }
        }
      }
    }

    /** Feeds the caches of a table the rows of one committed write (replay and restore apply only committed ones). */
    const ingest = (rows: TableRows): void => prepare(rows)?.()

    /** The instance of a definition, when the catalog has it. */
    const instanceOf = (tableId: number, kind: CacheKind, def: LastCacheDef | DistinctCacheDef) =>
      instances.get(instanceKey(tableId, kind, def))

    /**
     * Fills a cache from stored rows (newest first is not needed: rows are merged by time). A row is taken as seen at
     * its own time (or now, for future rows), so stored rows past the ttl or max age do not come back.
     */
    const load = (
      tableId: number,
      kind: CacheKind,
      def: LastCacheDef | DistinctCacheDef,
      rows: ReadonlyArray<{ readonly cells: ReadonlyMap<string, CacheValue>; readonly timeNs: bigint }>,
      keys: ReadonlyArray<string>,
      values: ReadonlyArray<string>
    ) => {
      const instance = instanceOf(tableId, kind, def)
      if (instance === undefined) return
      const now = nowNs()
      for (const { cells, timeNs } of rows) {
        const seenAt = timeNs < now ? timeNs : now
        if (instance._tag === "distinct")
          instance.cache.insert(
            keys.map((k) => (cells.get(k) as string | undefined) ?? null),
            seenAt
          )
        else {
          const picked = new Map<string, CacheValue>()
          for (const v of values) picked.set(v, cells.get(v) ?? null)
          instance.cache.insert(
            keys.map((k) => cells.get(k) ?? null),
            timeNs,
            picked,
            seenAt
          )
        }
      }
    }

    yield* evictPeriodically(() => [...instances.values()].map((i) => i.cache))

    /**
     * What `last_cache(table[, name])` or `distinct_cache(table[, name])` on a database reads, as the source of its
     * DuckDB table (sql.ts): the name may be left out when the table has exactly one cache of that kind.
     */
    const table = (
      state: CatalogState,
      dbId: number,
      kind: CacheKind,
      tableName: string,
      name: string | undefined
    ): CacheTableSource | CacheLookupError => {
      reconcile(state)
      const db = state.databases.get(dbId)
      const table = db === undefined ? undefined : liveTable(db, tableName)
      if (table === undefined) return lookupError(`Error during planning: table '${tableName}' not found`)
      const defs: ReadonlyMap<string, LastCacheDef | DistinctCacheDef> =
        kind === "last" ? table.lastCaches : table.distinctCaches
      const def = name === undefined ? (defs.size === 1 ? defs.values().next().value : undefined) : defs.get(name)
      if (def === undefined) return lookupError("Error during planning: could not find cache for the given arguments")
      const key = instanceKey(table.id, kind, def)
      const instance = instances.get(key)
      // Reconciled with this state above, so the instance exists; answered empty should that ever not hold.
      if (instance?._tag === "distinct" || (instance === undefined && kind === "distinct")) {
        const columns = distinctCacheColumns(table, def as DistinctCacheDef)
        const cache = instance?._tag === "distinct" ? instance.cache : new DistinctValueCache(0, 0n)
        return {
          name: key,
          kind,
          owner: cache,
          columns,
          orderBy: columns.map((c) => quote(c.name)).join(", "),
          size: () => cache.size,
          rows: () => cache.size,
          changes: () => {
            cache.evict(nowNs())
            return cache.changes.take()
          },
          groups: () => cache.groups(),
          rowsOf: (seen: Seen) => [seen.values]
        }
      }
      const { keys, values, time } = lastCacheColumns(table, def as LastCacheDef)
      const cache = instance?._tag === "last" ? instance.cache : new LastValueCache(0, 0n)
      return {
        name: key,
        kind,
        owner: cache,
        columns: [...keys, ...values, time],
        // Unordered, as InfluxDB 3's last cache answers: a sort per read would cost more than the read.
        orderBy: "",
        size: () => cache.size,
        rows: () => cache.size * cache.count,
        changes: () => {
          cache.evict(nowNs())
          return cache.changes.take()
        },
        groups: () => cache.groups(),
        rowsOf: (entry: KeyEntry) =>
          entry.rows.map((row) => {
            const out: Array<CacheValue> = [...entry.keys]
            for (const v of values) out.push(row.values.get(v.name) ?? null)
            out.push(row.timeNs)
            return out
          })
      }
    }

    return {
      ingest,
      prepare,
      load,
      table,
      /** Whether a cache's table (its instance key) belongs to a cache the catalog defines. */
      isLive: (key: string) => instances.has(key),
      /** Makes the instances match the catalog now (before loading a cache just created). */
      reconcile,
      /** Empties every cache and makes the instances match `state` (a restore replaced the data they were fed). */
      reset: (state: CatalogState) => {
        instances.clear()
        reconciled = undefined
        reconcile(state)
      }
    } as const
  })
}) {}
