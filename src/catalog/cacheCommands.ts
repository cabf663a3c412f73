import { Either } from "effect"
import { AlreadyExists, InvalidRequest, NotFound } from "../errors.ts"
import {
  DistinctCacheCreated,
  DistinctCacheDeleted,
  LastCacheCreated,
  LastCacheDeleted,
  type ColumnDef,
  type ColumnType
} from "../events/index.ts"
import { type Decision, findDb, findTable } from "./commands.ts"
import type { CatalogState, TableState } from "./state.ts"

/** The last-value and distinct-value cache commands: decide the events that define or drop a table's caches. */

/** What `POST /api/v3/configure/last_cache` asks for; absent options take InfluxDB 3's defaults. */
export interface LastCacheRequest {
  readonly db: string
  readonly table: string
  readonly name?: string | undefined
  readonly keyColumns?: ReadonlyArray<string> | undefined
  readonly valueColumns?: ReadonlyArray<string> | undefined
  readonly count?: number | undefined
  readonly ttlSeconds?: number | undefined
  readonly nodeSpec?: unknown
}

/** What `POST /api/v3/configure/distinct_cache` asks for. */
export interface DistinctCacheRequest {
  readonly db: string
  readonly table: string
  readonly name?: string | undefined
  readonly columns: ReadonlyArray<string>
  readonly maxCardinality?: number | undefined
  readonly maxAgeSeconds?: number | undefined
  readonly nodeSpec?: unknown
}

/** InfluxDB 3's defaults: one row per key for four hours; 100,000 distinct values for a day. */
export const LAST_CACHE_DEFAULTS = { count: 1, ttlSeconds: 4 * 3600 } as const
export const DISTINCT_CACHE_DEFAULTS = { maxCardinality: 100_000, maxAgeSeconds: 24 * 3600 } as const

const LAST_CACHE_KEY_TYPES: ReadonlySet<ColumnType> = new Set(["tag", "string", "integer", "uinteger", "boolean"])
const DISTINCT_CACHE_TYPES: ReadonlySet<ColumnType> = new Set(["tag", "string"])

const positiveWhole = (
  field: string,
  value: number | undefined,
  message?: string
): Either.Either<void, InvalidRequest> =>
  value === undefined || (Number.isSafeInteger(value) && value > 0)
    ? Either.void
    : Either.left(
        new InvalidRequest({ message: message ?? `invalid ${field} ${value}: must be a whole number greater than 0` })
      )

/** The columns of a table by name, failing with every unknown or unsuitable one named. */
const cacheColumns = (
  table: TableState,
  names: ReadonlyArray<string>,
  role: string,
  allowed: ReadonlySet<ColumnType>,
  unsuitable: string
): Either.Either<ReadonlyArray<ColumnDef>, InvalidRequest> => {
  const unknown = names.filter((n) => !table.columnsByName.has(n))
  if (unknown.length > 0) {
    return Either.left(new InvalidRequest({ message: `invalid configuration provided: invalid ${role} column provided: ${unknown.join(", ")}`, data: { columns: unknown } }))
  }
  const twice = names.find((n, i) => names.indexOf(n) !== i)
  if (twice !== undefined) return Either.left(new InvalidRequest({ message: `invalid configuration provided: ${role} column ${twice} is given twice`, data: { columns: [twice] } }))
  const columns = names.map((n) => table.columnsByName.get(n)!)
  const bad = columns.filter((c) => !allowed.has(c.type))
  if (bad.length > 0) {
    return Either.left(new InvalidRequest({ message: `${unsuitable}: ${bad.map((c) => `${c.name} is ${c.type}`).join(", ")}`, data: { columns: bad.map((c) => c.name) } }))
  }
  return Either.right(columns)
}

const nextCacheId = (table: TableState) => {
  let id = 0
  for (const c of table.lastCaches.values()) id = Math.max(id, c.id + 1)
  for (const c of table.distinctCaches.values()) id = Math.max(id, c.id + 1)
  return id
}

const sameIds = (a: ReadonlyArray<number> | null, b: ReadonlyArray<number> | null) =>
  a === null || b === null ? a === b : a.length === b.length && a.every((x, i) => x === b[i])

/** `POST /api/v3/configure/last_cache`. */
export const createLastCache = (state: CatalogState, request: LastCacheRequest): Decision =>
  Either.gen(function* () {
    const db = yield* findDb(state, request.db)
    const table = yield* findTable(db, request.table)
    yield* positiveWhole("count", request.count, "last cache size must be greater than 0")
    yield* positiveWhole("ttl", request.ttlSeconds)
    const unsuitable = "only uint64, int64, bool, tag, and string columns are supported in the last cache"
    const keys = yield* cacheColumns(table, request.keyColumns ?? table.seriesKey, "key", LAST_CACHE_KEY_TYPES, unsuitable)
    let valueColumnIds: Array<number> | null = null
    if (request.valueColumns !== undefined) {
      // `time` is always a value column (the last); naming it changes nothing.
      const named = request.valueColumns.filter((n) => n !== "time")
      const values = yield* cacheColumns(table, named, "value", new Set(["tag", "string", "integer", "uinteger", "boolean", "float"]), "")
      const clash = values.filter((v) => keys.some((k) => k.id === v.id))
      if (clash.length > 0) {
        return yield* Either.left(new InvalidRequest({ message: `invalid configuration provided: ${clash.map((c) => c.name).join(", ")} cannot be both a key and a value column`, data: { columns: clash.map((c) => c.name) } }))
      }
      valueColumnIds = [...values.map((c) => c.id), table.columnsByName.get("time")!.id]
    }
    const name = request.name ?? `${table.name}_${keys.map((k) => k.name).join("_")}_last_cache`
    if (name.trim() === "") return yield* Either.left(new InvalidRequest({ message: "invalid configuration provided: the cache name cannot be empty" }))
    const event = new LastCacheCreated({
      version: 1,
      dbId: db.id,
      tableId: table.id,
      cacheId: nextCacheId(table),
      name,
      keyColumnIds: keys.map((k) => k.id),
      valueColumnIds,
      count: request.count ?? LAST_CACHE_DEFAULTS.count,
      ttlSeconds: request.ttlSeconds ?? LAST_CACHE_DEFAULTS.ttlSeconds,
      nodeSpec: request.nodeSpec ?? null
    })
    const existing = table.lastCaches.get(name)
    if (existing !== undefined) {
      const same =
        sameIds(existing.keyColumnIds, event.keyColumnIds) &&
        sameIds(existing.valueColumnIds, event.valueColumnIds) &&
        existing.count === event.count &&
        existing.ttlSeconds === event.ttlSeconds
      return yield* Either.left(
        same
          ? new AlreadyExists({ message: `attempted to create a resource that already exists: last cache ${name} on table ${table.name}` })
          : new InvalidRequest({ message: `a last cache named ${name} already exists on table ${table.name} with a different configuration` })
      )
    }
    return [event]
  })

/** `POST /api/v3/configure/distinct_cache`. */
export const createDistinctCache = (state: CatalogState, request: DistinctCacheRequest): Decision =>
  Either.gen(function* () {
    const db = yield* findDb(state, request.db)
    const table = yield* findTable(db, request.table)
    if (request.columns.length === 0) return yield* Either.left(new InvalidRequest({ message: "invalid configuration provided: columns must name at least one column" }))
    yield* positiveWhole("max_cardinality", request.maxCardinality)
    yield* positiveWhole("max_age", request.maxAgeSeconds)
    const columns = yield* cacheColumns(table, request.columns, "", DISTINCT_CACHE_TYPES, "only tag and string columns are supported in the distinct cache")
    const name = request.name ?? `${table.name}_${columns.map((c) => c.name).join("_")}_distinct_cache`
    if (name.trim() === "") return yield* Either.left(new InvalidRequest({ message: "invalid configuration provided: the cache name cannot be empty" }))
    if (name === "__auto__") return yield* Either.left(new InvalidRequest({ message: "invalid configuration provided: the cache name __auto__ is reserved" }))
    const event = new DistinctCacheCreated({
      version: 1,
      dbId: db.id,
      tableId: table.id,
      cacheId: nextCacheId(table),
      name,
      columnIds: columns.map((c) => c.id),
      maxCardinality: request.maxCardinality ?? DISTINCT_CACHE_DEFAULTS.maxCardinality,
      maxAgeSeconds: request.maxAgeSeconds ?? DISTINCT_CACHE_DEFAULTS.maxAgeSeconds,
      nodeSpec: request.nodeSpec ?? null
    })
    const existing = table.distinctCaches.get(name)
    if (existing !== undefined) {
      const same =
        sameIds(existing.columnIds, event.columnIds) &&
        existing.maxCardinality === event.maxCardinality &&
        existing.maxAgeSeconds === event.maxAgeSeconds
      return yield* Either.left(
        same
          ? new AlreadyExists({ message: `attempted to create a resource that already exists: distinct cache ${name} on table ${table.name}` })
          : new InvalidRequest({ message: `a distinct cache named ${name} already exists on table ${table.name} with a different configuration` })
      )
    }
    return [event]
  })

/** `DELETE /api/v3/configure/last_cache` and `/distinct_cache`. */
export const deleteCache = (state: CatalogState, kind: "last" | "distinct", dbName: string, tableName: string, name: string): Decision =>
  Either.gen(function* () {
    const db = yield* findDb(state, dbName)
    const table = yield* findTable(db, tableName)
    const caches: ReadonlyMap<string, unknown> = kind === "last" ? table.lastCaches : table.distinctCaches
    if (!caches.has(name)) {
      return yield* Either.left(new NotFound({ message: `${kind} cache not found: ${name} on table ${table.name} in database ${db.name}` }))
    }
    const fields = { version: 1 as const, dbId: db.id, tableId: table.id, name }
    return [kind === "last" ? new LastCacheDeleted(fields) : new DistinctCacheDeleted(fields)]
  })
