import { Effect, Schema } from "effect"
import { BackupJobs } from "../backup/BackupJobs.ts"
import { RestoreJobs } from "../backup/RestoreJobs.ts"
import { ServerConfig } from "../config.ts"
import { NotFound, Unavailable } from "../errors.ts"
import { readJsonBody } from "./body.ts"
import { jsonResponse, noContent } from "./respond.ts"
import { admin, type RequestContext, type RouteDef } from "./route.ts"

const BACKUP_PATH = "/api/v3/enterprise/backup"

/** Backups run only where the compactor runs: a node whose --mode has compact (503 elsewhere, as the seed says). */
const backupJobs = Effect.gen(function* () {
  const backups = yield* BackupJobs
  if (!backups.enabled) {
    const modes = (yield* ServerConfig).mode.join(",")
    return yield* Effect.fail(new Unavailable({ message: `the backup engine is not present on this node: it runs only with --mode compact (or all); this node runs ${modes}` }))
  }
  return backups
})

const RESTORE_PATH = "/api/v3/enterprise/restore"

const restoreJobs = Effect.gen(function* () {
  const restores = yield* RestoreJobs
  if (!restores.enabled) {
    const modes = (yield* ServerConfig).mode.join(",")
    return yield* Effect.fail(new Unavailable({ message: `the restore engine is not present on this node: it runs only with --mode compact (or all); this node runs ${modes}` }))
  }
  return restores
})

const RestoreBody = Schema.Struct({ backup_name: Schema.String })

const CreateBody = Schema.Struct({
  type: Schema.String,
  name: Schema.optional(Schema.String),
  force: Schema.optional(Schema.Boolean),
  parent: Schema.optional(Schema.String)
})

const CancelBody = Schema.Struct({ name: Schema.String })

/** The `{name}` path segment, URL-decoded. */
const nameOf = (ctx: RequestContext) => {
  const parts = new URL(ctx.request.url, "http://localhost").pathname.split("/")
  return decodeURIComponent(parts[5] ?? "")
}

/** The seed's five backup operations. */
export const backupRoutes: ReadonlyArray<RouteDef> = [
  {
    method: "POST",
    path: BACKUP_PATH,
    access: admin,
    handler: (ctx) =>
      Effect.gen(function* () {
        const backups = yield* backupJobs
        const body = yield* readJsonBody(ctx.request, CreateBody, (yield* ServerConfig).maxHttpRequestSize)
        return jsonResponse(yield* backups.create(body), 202)
      })
  },
  {
    method: "GET",
    path: BACKUP_PATH,
    access: admin,
    handler: () =>
      Effect.flatMap(backupJobs, (backups) => Effect.map(backups.list, (all) => jsonResponse({ backups: all })))
  },
  {
    method: "DELETE",
    path: BACKUP_PATH,
    access: admin,
    handler: (ctx) =>
      Effect.gen(function* () {
        const backups = yield* backupJobs
        const body = yield* readJsonBody(ctx.request, CancelBody, (yield* ServerConfig).maxHttpRequestSize)
        const cancelled = yield* backups.cancel(body.name)
        if (cancelled === undefined)
          return yield* Effect.fail(new NotFound({ message: `no backup is running with the name ${body.name}` }))
        return jsonResponse(cancelled)
      })
  },
  {
    method: "GET",
    path: `${BACKUP_PATH}/:name`,
    access: admin,
    handler: (ctx) =>
      Effect.gen(function* () {
        const backups = yield* backupJobs
        const name = nameOf(ctx)
        const found = yield* backups.get(name)
        if (found === undefined) return yield* Effect.fail(new NotFound({ message: `backup not found: ${name}` }))
        return jsonResponse(found)
      })
  },
  {
    method: "DELETE",
    path: `${BACKUP_PATH}/:name`,
    access: admin,
    handler: (ctx) =>
      Effect.flatMap(backupJobs, (backups) => Effect.map(backups.remove(nameOf(ctx)), (r) => jsonResponse(r)))
  }
]

/** The seed's four restore operations. */
export const restoreRoutes: ReadonlyArray<RouteDef> = [
  {
    method: "POST",
    path: RESTORE_PATH,
    access: admin,
    handler: (ctx) =>
      Effect.gen(function* () {
        const restores = yield* restoreJobs
        const body = yield* readJsonBody(ctx.request, RestoreBody, (yield* ServerConfig).maxHttpRequestSize)
        return jsonResponse(yield* restores.create(body.backup_name), 202)
      })
  },
  {
    method: "GET",
    path: RESTORE_PATH,
    access: admin,
    handler: () =>
      Effect.flatMap(restoreJobs, (restores) => Effect.map(restores.list, (all) => jsonResponse({ restores: all })))
  },
  {
    method: "GET",
    path: `${RESTORE_PATH}/:id`,
    access: admin,
    handler: (ctx) =>
      Effect.gen(function* () {
        const restores = yield* restoreJobs
        const id = nameOf(ctx)
        const found = yield* restores.get(id)
        if (found === undefined) return yield* Effect.fail(new NotFound({ message: `restore not found: ${id}` }))
        return jsonResponse(found)
      })
  },
  {
    method: "DELETE",
    path: `${RESTORE_PATH}/:id`,
    access: admin,
    handler: (ctx) =>
      Effect.gen(function* () {
        const restores = yield* restoreJobs
        const id = nameOf(ctx)
        if (!(yield* restores.cancel(id)))
          return yield* Effect.fail(
            new NotFound({ message: `no running restore with id ${id} (unknown or already done)` })
          )
        return noContent
      })
  }
]
