import { Effect, Schema } from "effect"
import { Catalog, decide } from "../catalog/Catalog.ts"
import { createTable, deleteTable, fieldTypeFromApi, setTableRetention, type FieldSpec } from "../catalog/commands.ts"
import { ServerConfig } from "../config.ts"
import { InvalidRequest } from "../errors.ts"
import { BooleanParam, readJsonBody, readQueryParams } from "./body.ts"
import { noContent, okEmpty } from "./respond.ts"
import { admin, type RequestContext, type RouteDef } from "./route.ts"

const CreateTableBody = Schema.Struct({
  db: Schema.String,
  table: Schema.String,
  tags: Schema.Array(Schema.String),
  fields: Schema.Array(Schema.Struct({ name: Schema.String, type: Schema.String })),
  retention_period: Schema.optional(Schema.NullOr(Schema.String))
})

const UpdateTableBody = Schema.Struct({
  db: Schema.String,
  table: Schema.String,
  retention_period: Schema.optional(Schema.NullOr(Schema.String))
})

const DeleteTableParams = Schema.Struct({
  db: Schema.String,
  table: Schema.String,
  data_only: Schema.optionalWith(BooleanParam, { default: () => false }),
  hard_delete_at: Schema.optional(Schema.String)
})

const TableRetentionParams = Schema.Struct({ db: Schema.String, table: Schema.String, duration: Schema.String })
const TableParams = Schema.Struct({ db: Schema.String, table: Schema.String })

const bodyLimit = Effect.map(ServerConfig, (c) => c.maxHttpRequestSize)

const create = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const body = yield* readJsonBody(ctx.request, CreateTableBody, yield* bodyLimit)
    const fields: Array<FieldSpec> = []
    for (const [i, f] of body.fields.entries()) {
      const type = fieldTypeFromApi(f.type)
      if (type === undefined) {
        return yield* Effect.fail(new InvalidRequest({ message: `invalid value for field \`fields.${i}.type\`: '${f.type}' is not one of utf8, int64, uint64, float64, bool` }))
      }
      fields.push({ name: f.name, type })
    }
    yield *
      (yield * Catalog).execute(
        decide((s, c) => createTable(s, c, body.db, body.table, body.tags, fields, body.retention_period ?? undefined))
      )
    return okEmpty
  })

const update = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const body = yield* readJsonBody(ctx.request, UpdateTableBody, yield* bodyLimit)
    yield *
      (yield * Catalog).execute(
        decide((s) => setTableRetention(s, body.db, body.table, body.retention_period ?? undefined))
      )
    return okEmpty
  })

const remove = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const p = yield* readQueryParams(ctx.query, DeleteTableParams)
    yield *
      (yield * Catalog).execute(
        decide((s, c) =>
          deleteTable(s, c, p.db, p.table, {
            dataOnly: p.data_only,
            removeTables: false,
            hardDeleteAt: p.hard_delete_at
          })
        )
      )
    return okEmpty
  })

const setRetention = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const p = yield* readQueryParams(ctx.query, TableRetentionParams)
    yield* (yield* Catalog).execute(decide((s) => setTableRetention(s, p.db, p.table, p.duration)))
    return noContent
  })

const clearRetention = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const p = yield* readQueryParams(ctx.query, TableParams)
    yield* (yield* Catalog).execute(decide((s) => setTableRetention(s, p.db, p.table, undefined)))
    return noContent
  })

/** `/api/v3/configure/table` and the enterprise table retention pair. */
export const tableRoutes: ReadonlyArray<RouteDef> = [
  { method: "POST", path: "/api/v3/configure/table", access: admin, handler: create },
  { method: "PUT", path: "/api/v3/configure/table", access: admin, handler: update },
  { method: "DELETE", path: "/api/v3/configure/table", access: admin, handler: remove },
  { method: "POST", path: "/api/v3/enterprise/configure/table/retention_period", access: admin, handler: setRetention },
  { method: "DELETE", path: "/api/v3/enterprise/configure/table/retention_period", access: admin, handler: clearRetention }
]
