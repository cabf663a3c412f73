import { Clock, Effect, Either, Schema } from "effect"
import { CacheLoader } from "../cache/CacheLoader.ts"
import { Catalog, decide, type Command } from "../catalog/Catalog.ts"
import { createDistinctCache, createLastCache, deleteCache } from "../catalog/cacheCommands.ts"
import type { Decision } from "../catalog/commands.ts"
import {
  type CatalogState,
  type DistinctCacheDef,
  type LastCacheDef,
  liveDatabase,
  type TableState
} from "../catalog/state.ts"
import type { DistinctCacheCreated, LastCacheCreated } from "../events/index.ts"
import { ServerConfig } from "../config.ts"
import { jsonResponse, okEmpty } from "./respond.ts"
import { readJsonBody, readQueryParams } from "./body.ts"
import { admin, type RequestContext, type RouteDef } from "./route.ts"

/** `node_spec` as InfluxDB 3 Enterprise takes it ("all", or a node selection); kept and echoed as given. */
const NodeSpec = Schema.optional(Schema.NullOr(Schema.Unknown))
const Count = Schema.optional(Schema.NullOr(Schema.Number))

const CreateLastCacheBody = Schema.Struct({
  db: Schema.String,
  table: Schema.String,
  node_spec: NodeSpec,
  name: Schema.optional(Schema.NullOr(Schema.String)),
  key_columns: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))),
  value_columns: Schema.optional(Schema.NullOr(Schema.Array(Schema.String))),
  count: Count,
  ttl: Count
})

const CreateDistinctCacheBody = Schema.Struct({
  db: Schema.String,
  table: Schema.String,
  node_spec: NodeSpec,
  name: Schema.optional(Schema.NullOr(Schema.String)),
  columns: Schema.Array(Schema.String),
  max_cardinality: Count,
  max_age: Count
})

const DeleteCacheParams = Schema.Struct({ db: Schema.String, table: Schema.String, name: Schema.String })

const bodyLimit = Effect.map(ServerConfig, (c) => c.maxHttpRequestSize)

/** `null` in JSON means "not given", as serde's `Option` reads it. */
const given = <A>(v: A | null | undefined): A | undefined => (v === null ? undefined : v)

const columnRef = (table: TableState, id: number) => {
  const c = table.columns.find((col) => col.id === id)
  return c?.type === "tag" ? { tag: id } : { field: id }
}

/** The legacy catalog-batch JSON InfluxDB 3 answers a cache create with. */
const catalogBatch = (dbId: number, dbName: string, seq: number, nowNs: bigint, op: Record<string, unknown>) => ({
  catalog_batch: { Database: { time_ns: Number(nowNs), database_id: dbId, database_name: dbName, ops: [op] } },
  sequence_number: seq
})

const lastCacheOp = (table: TableState, def: LastCacheDef) => ({
  CreateLastCache: {
    table_id: table.id,
    table: table.name,
    id: def.id,
    node_spec: def.nodeSpec ?? "all",
    name: def.name,
    key_columns: def.keyColumnIds.map((id) => columnRef(table, id)),
    value_columns: def.valueColumnIds === null ? "all_non_key_columns" : { explicit: { columns: def.valueColumnIds } },
    count: def.count,
    ttl: def.ttlSeconds
  }
})

const distinctCacheOp = (table: TableState, def: DistinctCacheDef) => ({
  CreateDistinctCache: {
    table_id: table.id,
    table_name: table.name,
    cache_id: def.id,
    node_spec: def.nodeSpec ?? "all",
    cache_name: def.name,
    column_ids: def.columnIds,
    max_cardinality: def.maxCardinality,
    max_age_seconds: def.maxAgeSeconds
  }
})

/** Answers 201 with the definition just committed, once the cache holds the rows stored so far. */
const created = (db: string, tableName: string, kind: "last" | "distinct", name: string) =>
  Effect.gen(function* () {
    const def = yield* (yield* CacheLoader).loadCache(db, tableName, kind, name)
    const state = yield* (yield* Catalog).current
    const database = liveDatabase(state, db)!
    const table = [...database.tables.values()].find((t) => !t.deleted && t.name === tableName)!
    const nowNs = BigInt(yield* Clock.currentTimeMillis) * 1_000_000n
    const op = kind === "last" ? lastCacheOp(table, def as LastCacheDef) : distinctCacheOp(table, def as DistinctCacheDef)
    return jsonResponse(catalogBatch(database.id, database.name, def!.createdSeq, nowNs, op), 201)
  })

const createLast = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const body = yield* readJsonBody(ctx.request, CreateLastCacheBody, yield* bodyLimit)
    const name = yield* (yield* Catalog).execute(
      createdName((s) =>
        createLastCache(s, {
          db: body.db,
          table: body.table,
          name: given(body.name),
          keyColumns: given(body.key_columns),
          valueColumns: given(body.value_columns),
          count: given(body.count),
          ttlSeconds: given(body.ttl),
          nodeSpec: given(body.node_spec)
        })
      )
    )
    return yield* created(body.db, body.table, "last", name)
  })

const createDistinct = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const body = yield* readJsonBody(ctx.request, CreateDistinctCacheBody, yield* bodyLimit)
    const name = yield* (yield* Catalog).execute(
      createdName((s) =>
        createDistinctCache(s, {
          db: body.db,
          table: body.table,
          name: given(body.name),
          columns: body.columns,
          maxCardinality: given(body.max_cardinality),
          maxAgeSeconds: given(body.max_age),
          nodeSpec: given(body.node_spec)
        })
      )
    )
    return yield* created(body.db, body.table, "distinct", name)
  })

/** A cache-create command answering with the name of the cache it creates (the default name is decided there). */
const createdName =
  (f: (state: CatalogState) => Decision): Command<string> =>
  (state) =>
    Either.map(f(state), (events) => ({ events, result: (events[0] as LastCacheCreated | DistinctCacheCreated).name }))

/** Delete takes `db`, `table` and `name` as query parameters or, when the URL has no query string, as a JSON body. */
const remove = (kind: "last" | "distinct") => (ctx: RequestContext) =>
  Effect.gen(function* () {
    const p =
      [...ctx.query.keys()].length > 0
        ? yield * readQueryParams(ctx.query, DeleteCacheParams)
        : yield * readJsonBody(ctx.request, DeleteCacheParams, yield * bodyLimit)
    yield* (yield* Catalog).execute(decide((s) => deleteCache(s, kind, p.db, p.table, p.name)))
    return okEmpty
  })

/** `/api/v3/configure/last_cache` and `/api/v3/configure/distinct_cache`. */
export const cacheRoutes: ReadonlyArray<RouteDef> = [
  { method: "POST", path: "/api/v3/configure/last_cache", access: admin, handler: createLast },
  { method: "DELETE", path: "/api/v3/configure/last_cache", access: admin, handler: remove("last") },
  { method: "POST", path: "/api/v3/configure/distinct_cache", access: admin, handler: createDistinct },
  { method: "DELETE", path: "/api/v3/configure/distinct_cache", access: admin, handler: remove("distinct") }
]
