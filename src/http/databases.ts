import { HttpServerResponse } from "@effect/platform"
import { Effect, Schema } from "effect"
import { Catalog, decide } from "../catalog/Catalog.ts"
import { createDatabase, deleteDatabase, setDatabaseRetention } from "../catalog/commands.ts"
import { ServerConfig } from "../config.ts"
import { QueryEngine } from "../query/QueryEngine.ts"
import { InvalidRequest } from "../errors.ts"
import { contentTypeOf } from "../query/encode.ts"
import { renderRows, type Row } from "../query/tabular.ts"
import { namedFormat } from "./format.ts"
import { BooleanParam, readJsonBody, readQueryParams } from "./body.ts"
import { noContent, okEmpty } from "./respond.ts"
import { admin, type RequestContext, type RouteDef } from "./route.ts"

const CreateDatabaseBody = Schema.Struct({
  db: Schema.String,
  retention_period: Schema.optional(Schema.NullOr(Schema.String))
})

const UpdateDatabaseBody = Schema.Struct({
  db: Schema.optional(Schema.String),
  retention_period: Schema.optional(Schema.NullOr(Schema.String))
})

const DeleteDatabaseParams = Schema.Struct({
  db: Schema.String,
  data_only: Schema.optionalWith(BooleanParam, { default: () => false }),
  remove_tables: Schema.optionalWith(BooleanParam, { default: () => false }),
  hard_delete_at: Schema.optional(Schema.String)
})

const DbParam = Schema.Struct({ db: Schema.String })
const RetentionParams = Schema.Struct({ db: Schema.String, duration: Schema.String })

const bodyLimit = Effect.map(ServerConfig, (c) => c.maxHttpRequestSize)

const sqlTypeOf = (rows: ReadonlyArray<Row>, column: string) => {
  const sample = rows.find((r) => r[column] !== null && r[column] !== undefined)?.[column]
  return typeof sample === "boolean" ? "BOOLEAN" : typeof sample === "bigint" ? "BIGINT" : typeof sample === "number" ? (Number.isInteger(sample) ? "BIGINT" : "DOUBLE") : "VARCHAR"
}

const FormatParam = Schema.Struct({ format: Schema.String })

/** Renders a listing in the `format` the request asks for (required, as in InfluxDB 3). */
export const listingResponse = (ctx: RequestContext, rows: ReadonlyArray<Row>, columns: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const format = yield* namedFormat((yield* readQueryParams(ctx.query, FormatParam)).format)
    if (format === "parquet") {
      const bytes = yield* (yield* QueryEngine).rowsAsParquet({
        schema: "system",
        name: "listing",
        columns: columns.map((name) => ({ name, sqlType: sqlTypeOf(rows, name) })),
        rows: () => rows.map((r) => columns.map((c) => r[c] ?? null))
      })
      return HttpServerResponse.uint8Array(bytes, { contentType: contentTypeOf.parquet })
    }
    return HttpServerResponse.text(renderRows(rows, columns, format), { contentType: contentTypeOf[format] })
  })

const list = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const showDeleted = ctx.query.get("show_deleted") === "true"
    const state = yield* (yield* Catalog).current
    const dbs = [...state.databases.values()].filter((d) => showDeleted || !d.deleted)
    dbs.sort((a, b) =>
      a.deleted === b.deleted ? (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) : a.deleted ? 1 : -1
    )
    const rows = dbs.map((d) => (showDeleted ? { "iox::database": d.name, deleted: d.deleted } : { "iox::database": d.name }))
    return yield* listingResponse(ctx, rows, showDeleted ? ["iox::database", "deleted"] : ["iox::database"])
  })

const create = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const body = yield* readJsonBody(ctx.request, CreateDatabaseBody, yield* bodyLimit)
    yield* (yield* Catalog).execute(decide((s, c) => createDatabase(s, c, body.db, body.retention_period ?? undefined)))
    return okEmpty
  })

const update = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const body = yield* readJsonBody(ctx.request, UpdateDatabaseBody, yield* bodyLimit)
    const db = body.db ?? ctx.query.get("db")
    if (db === null || db === undefined) return yield* Effect.fail(new InvalidRequest({ message: "missing field `db`" }))
    yield* (yield* Catalog).execute(decide((s) => setDatabaseRetention(s, db, body.retention_period ?? undefined)))
    return okEmpty
  })

const remove = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const p = yield* readQueryParams(ctx.query, DeleteDatabaseParams)
    yield *
      (yield * Catalog).execute(
        decide((s, c) =>
          deleteDatabase(s, c, p.db, {
            dataOnly: p.data_only,
            removeTables: p.remove_tables,
            hardDeleteAt: p.hard_delete_at
          })
        )
      )
    return okEmpty
  })

const setRetention = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const p = yield* readQueryParams(ctx.query, RetentionParams)
    yield* (yield* Catalog).execute(decide((s) => setDatabaseRetention(s, p.db, p.duration)))
    return noContent
  })

const clearRetention = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const p = yield* readQueryParams(ctx.query, DbParam)
    yield* (yield* Catalog).execute(decide((s) => setDatabaseRetention(s, p.db, undefined)))
    return noContent
  })


/** `/api/v3/configure/database` and its retention_period pair. */
export const databaseRoutes: ReadonlyArray<RouteDef> = [
  { method: "GET", path: "/api/v3/configure/database", access: admin, handler: list },
  { method: "POST", path: "/api/v3/configure/database", access: admin, handler: create },
  { method: "PUT", path: "/api/v3/configure/database", access: admin, handler: update },
  { method: "DELETE", path: "/api/v3/configure/database", access: admin, handler: remove },
  { method: "POST", path: "/api/v3/configure/database/retention_period", access: admin, handler: setRetention },
  { method: "DELETE", path: "/api/v3/configure/database/retention_period", access: admin, handler: clearRetention }
]
