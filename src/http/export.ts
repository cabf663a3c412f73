import { HttpServerResponse } from "@effect/platform"
import { Effect, Option, Schema, Scope, Stream } from "effect"
import * as NodeFs from "node:fs/promises"
import { mayRead } from "../auth/authenticate.ts"
import { Catalog } from "../catalog/Catalog.ts"
import { liveDatabase, liveTable, type DatabaseState, type TableState } from "../catalog/state.ts"
import { InvalidRequest, NotFound } from "../errors.ts"
import { compactedWindows, exportableDatabases, exportableTables, exportEntryName } from "../storage/exportable.ts"
import { FileIndex } from "../storage/FileIndex.ts"
import { ObjectStore, storageFailure, type StorageError } from "../storage/ObjectStore.ts"
import { tarStream, type TarEntry } from "../storage/tar.ts"
import { TableSources } from "../storage/TableSource.ts"
import { readQueryParams } from "./body.ts"
import { jsonResponse } from "./respond.ts"
import { anyToken, type RequestContext, type RouteDef } from "./route.ts"

const DbParam = Schema.Struct({ db: Schema.String })
const TableParams = Schema.Struct({ db: Schema.String, table: Schema.String })
const WindowDataParams = Schema.Struct({
  db: Schema.String,
  table: Schema.String,
  windows: Schema.optional(Schema.String)
})

const WINDOW = /^\d{4}-\d{2}-\d{2}$/

/** Bytes read from a file per chunk of the archive. */
const CHUNK_BYTES = 1 << 20

/** The live database the token may read, or 403 (before existence, so a scoped token learns nothing) then 404. */
const readableDatabase = (ctx: RequestContext, name: string) =>
  Effect.gen(function* () {
    yield* ctx.authorize({ _tag: "db", action: "read", db: name })
    const db = liveDatabase(yield* (yield* Catalog).current, name)
    if (db === undefined) return yield* new NotFound({ message: `database not found: ${name}` })
    return db
  })

const tableOf = (db: DatabaseState, name: string) => {
  const table = liveTable(db, name)
  return table === undefined ? Effect.fail(new NotFound({ message: `table not found: ${name} in database ${db.name}` })) : Effect.succeed(table)
}

const listDatabases = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const catalog = yield* (yield* Catalog).current
    const index = yield* (yield* FileIndex).current
    return jsonResponse({
      databases: exportableDatabases(catalog, index)
        .filter((d) => mayRead(ctx.token, d.name))
        .map((d) => d.name)
    })
  })

const listTables = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const p = yield* readQueryParams(ctx.query, DbParam)
    const db = yield* readableDatabase(ctx, p.db)
    const index = yield* (yield* FileIndex).current
    return jsonResponse({ tables: exportableTables(index, db).map((t) => t.name) })
  })

const listWindows = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const p = yield* readQueryParams(ctx.query, TableParams)
    const table = yield* tableOf(yield* readableDatabase(ctx, p.db), p.table)
    const index = yield* (yield* FileIndex).current
    return jsonResponse({ windows: [...compactedWindows(index, table.id).keys()] })
  })

/** Exactly `size` bytes of an open file, in chunks; a file shorter than that fails the stream. */
const fileContent = (handle: NodeFs.FileHandle, size: number, path: string): Stream.Stream<Uint8Array, StorageError> =>
  Stream.paginateEffect(0, (position: number) =>
    Effect.tryPromise({
      try: async () => {
        const buffer = new Uint8Array(Math.min(CHUNK_BYTES, size - position))
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, position)
        if (bytesRead === 0) throw new Error(`ended after ${position} of ${size} bytes`)
        return buffer.subarray(0, bytesRead)
      },
      catch: storageFailure(`reading ${path}`)
    }).pipe(
      Effect.map(
        (chunk) =>
          [chunk, position + chunk.length < size ? Option.some(position + chunk.length) : Option.none()] as const
      )
    )
  ).pipe(Stream.filter(() => size > 0))

/**
 * One window's entries. Its files are taken from the index and opened under a query's read lease, which is then
 * let go: an open file stays readable after a later compaction deletes it, and a slow download holds no lease
 * (a lease held for the whole download would stall persists and compactions, which wait for older readers).
 * The files are closed when the archive's stream ends.
 */
const windowEntries = (table: TableState, window: string) =>
  Stream.unwrapScoped(
    Effect.gen(function* () {
      const store = yield* ObjectStore
      const fileIndex = yield* FileIndex
      const sources = yield* TableSources
      const outer = yield* Effect.scope
      const opened = yield* Effect.scoped(
        Effect.gen(function* () {
          yield* sources.open
          const files = compactedWindows(yield* fileIndex.current, table.id).get(window) ?? []
          return yield* Effect.forEach(files, (f) =>
            Effect.acquireRelease(
              Effect.tryPromise({ try: () => NodeFs.open(store.localPath(f.path), "r"), catch: storageFailure(`opening ${f.path}`) }),
              (handle) =>
                Effect.tryPromise({ try: () => handle.close(), catch: storageFailure(`closing ${f.path}`) }).pipe(
                  Effect.ignoreLogged
                )
            ).pipe(
              Effect.flatMap((handle) =>
                Effect.map(Effect.tryPromise({ try: () => handle.stat(), catch: storageFailure(`reading the size of ${f.path}`) }), (stat) => ({ f, handle, stat }))
              ),
              Scope.extend(outer)
            )
          )
        })
      )
      return Stream.fromIterable(
        opened.map(({ f, handle, stat }): TarEntry<StorageError, never> => ({
          name: exportEntryName(table.name, window, f.path),
          size: stat.size,
          mtimeSec: Math.floor(stat.mtimeMs / 1000),
          content: fileContent(handle, stat.size, f.path)
        }))
      )
    })
  )

const windowData = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const p = yield* readQueryParams(ctx.query, WindowDataParams)
    const db = yield* readableDatabase(ctx, p.db)
    const table = yield* tableOf(db, p.table)
    const available = compactedWindows(yield* (yield* FileIndex).current, table.id)
    let windows: ReadonlyArray<string>
    if (p.windows === undefined || p.windows.trim() === "") {
      if (available.size === 0) return yield* new NotFound({ message: `no compacted windows to export for table ${table.name} in database ${db.name}` })
      windows = [...available.keys()]
    } else {
      const asked = [...new Set(p.windows.split(",").map((w) => w.trim()).filter((w) => w !== ""))]
      const malformed = asked.find((w) => !WINDOW.test(w))
      if (malformed !== undefined) return yield* new InvalidRequest({ message: `invalid query parameter 'windows': '${malformed}' is not a date (YYYY-MM-DD)` })
      const missing = asked.filter((w) => !available.has(w))
      if (missing.length > 0) {
        return yield* new NotFound({
          message: `window not found: ${missing.join(", ")} (table ${table.name} in database ${db.name} has ${available.size === 0 ? "no compacted windows" : `compacted windows ${[...available.keys()].join(", ")}`})`
        })
      }
      windows = asked.sort()
    }
    const context = yield* Effect.context<ObjectStore | FileIndex | TableSources>()
    const body = tarStream(Stream.fromIterable(windows).pipe(Stream.flatMap((w) => windowEntries(table, w)))).pipe(
      Stream.provideContext(context),
      Stream.tapErrorCause((cause) => Effect.logError(`export of table ${table.name} in database ${db.name} failed while streaming`, cause))
    )
    const filename = `${db.name}-${table.name}.tar`.replace(/[^A-Za-z0-9._-]/g, "_")
    return HttpServerResponse.stream(body, {
      contentType: "application/x-tar",
      headers: { "content-disposition": `attachment; filename="${filename}"` }
    })
  })

/** The four `/api/v3/export/*` endpoints: what has compacted windows, and a tar of their Parquet files. */
export const exportRoutes: ReadonlyArray<RouteDef> = [
  { method: "GET", path: "/api/v3/export/databases", access: anyToken, handler: listDatabases },
  { method: "GET", path: "/api/v3/export/tables", access: anyToken, handler: listTables },
  { method: "GET", path: "/api/v3/export/windows", access: anyToken, handler: listWindows },
  { method: "GET", path: "/api/v3/export/window_data", access: anyToken, handler: windowData }
]
