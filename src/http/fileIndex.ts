import { Effect, Schema } from "effect"
import { Catalog, decide } from "../catalog/Catalog.ts"
import { ServerConfig } from "../config.ts"
import { createFileIndex, deleteFileIndex } from "../deletes/state.ts"
import { readJsonBody } from "./body.ts"
import { okEmpty } from "./respond.ts"
import { admin, type RequestContext, type RouteDef } from "./route.ts"

const CreateBody = Schema.Struct({
  db: Schema.String,
  table: Schema.optional(Schema.NullOr(Schema.String)),
  columns: Schema.Array(Schema.String)
})
const DeleteBody = Schema.Struct({ db: Schema.String, table: Schema.optional(Schema.NullOr(Schema.String)) })

/** Creates (or replaces) a file index: compactions from now on record the columns' values per file. */
const create = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const body = yield* readJsonBody(ctx.request, CreateBody, (yield* ServerConfig).maxHttpRequestSize)
    yield* (yield* Catalog).execute(decide((s) => createFileIndex(s, body.db, body.table ?? null, body.columns)))
    return okEmpty
  })

/** Deletes a file index: compactions stop recording it; files keep what they recorded (harmless for pruning). */
const remove = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const body = yield* readJsonBody(ctx.request, DeleteBody, (yield* ServerConfig).maxHttpRequestSize)
    yield* (yield* Catalog).execute(decide((s) => deleteFileIndex(s, body.db, body.table ?? null)))
    return okEmpty
  })

/** File index administration (Enterprise). */
export const fileIndexRoutes: ReadonlyArray<RouteDef> = [
  { method: "POST", path: "/api/v3/enterprise/configure/file_index", access: admin, handler: create },
  { method: "DELETE", path: "/api/v3/enterprise/configure/file_index", access: admin, handler: remove }
]
