import { HttpServerResponse } from "@effect/platform"
import { Effect, Schema } from "effect"
import { newTokenSecret, OPERATOR_TOKEN_NAME, tokenCreatedBody } from "../auth/tokens.ts"
import { Catalog, decide } from "../catalog/Catalog.ts"
import { tokenByName } from "../catalog/state.ts"
import {
  createNamedAdminToken,
  createOperatorToken,
  createResourceToken,
  deleteToken,
  regenerateOperatorToken
} from "../catalog/commands.ts"
import { ServerConfig } from "../config.ts"
import { InvalidRequest, NotAllowed } from "../errors.ts"
import type { Permission } from "../events/index.ts"
import { readJsonBody, readQueryParams } from "./body.ts"
import { okEmpty } from "./respond.ts"
import { admin, type RequestContext, type RouteDef } from "./route.ts"

const NamedAdminBody = Schema.Struct({
  token_name: Schema.String,
  expiry_secs: Schema.optional(Schema.NullOr(Schema.Number))
})

const PermissionBody = Schema.Struct({
  resource_type: Schema.Literal("db", "system"),
  resource_names: Schema.optional(Schema.Array(Schema.String)),
  resource_identifier: Schema.optional(Schema.Array(Schema.String)),
  actions: Schema.Array(Schema.Literal("read", "write"))
})

const ResourceTokenBody = Schema.Struct({
  token_name: Schema.String,
  permissions: Schema.Array(PermissionBody),
  expiry_secs: Schema.optional(Schema.NullOr(Schema.Number))
})

const DeleteTokenParams = Schema.Struct({ token_name: Schema.String })

const bodyLimit = Effect.map(ServerConfig, (c) => c.maxHttpRequestSize)

/** With `--without-auth` there are no tokens to manage, as in InfluxDB 3. */
const requireAuthEnabled = Effect.flatMap(ServerConfig, (c) =>
  c.withoutAuth ? Effect.fail(new NotAllowed({ message: "endpoint disabled, started without auth" })) : Effect.void
)

/** Answers 201 with the named token and its (only ever shown) secret. */
const created = (name: string, secret: string) =>
  Effect.gen(function* () {
    const state = yield* (yield* Catalog).current
    const token = tokenByName(state, name)!
    return HttpServerResponse.unsafeJson(tokenCreatedBody(token, secret), { status: 201 })
  })

const createOperator = () =>
  Effect.gen(function* () {
    yield* requireAuthEnabled
    const secret = newTokenSecret()
    yield* (yield* Catalog).execute(decide((s, c) => createOperatorToken(s, c, secret)))
    return yield* created(OPERATOR_TOKEN_NAME, secret)
  })

const regenerateOperator = () =>
  Effect.gen(function* () {
    yield* requireAuthEnabled
    const secret = newTokenSecret()
    yield* (yield* Catalog).execute(decide((s) => regenerateOperatorToken(s, secret)))
    return yield* created(OPERATOR_TOKEN_NAME, secret)
  })

const createNamedAdmin = (ctx: RequestContext) =>
  Effect.gen(function* () {
    yield* requireAuthEnabled
    const body = yield* readJsonBody(ctx.request, NamedAdminBody, yield* bodyLimit)
    const secret = newTokenSecret()
    yield *
      (yield * Catalog).execute(
        decide((s, c) => createNamedAdminToken(s, c, body.token_name, body.expiry_secs, secret))
      )
    return yield* created(body.token_name, secret)
  })

const createResource = (ctx: RequestContext) =>
  Effect.gen(function* () {
    yield* requireAuthEnabled
    const body = yield* readJsonBody(ctx.request, ResourceTokenBody, yield* bodyLimit)
    const permissions: Array<Permission> = []
    for (const [i, p] of body.permissions.entries()) {
      const names = p.resource_names ?? p.resource_identifier
      if (names === undefined) return yield* Effect.fail(new InvalidRequest({ message: `missing field \`permissions.${i}.resource_names\`` }))
      permissions.push({ resourceType: p.resource_type, resourceNames: names, actions: p.actions })
    }
    const secret = newTokenSecret()
    yield *
      (yield * Catalog).execute(
        decide((s, c) => createResourceToken(s, c, body.token_name, permissions, body.expiry_secs, secret))
      )
    return yield* created(body.token_name, secret)
  })

const remove = (ctx: RequestContext) =>
  Effect.gen(function* () {
    yield* requireAuthEnabled
    const p = yield* readQueryParams(ctx.query, DeleteTokenParams)
    yield* (yield* Catalog).execute(decide((s) => deleteToken(s, p.token_name)))
    return okEmpty
  })

/** Token management: the operator token, named admin tokens, resource tokens, delete. */
export const tokenRoutes: ReadonlyArray<RouteDef> = [
  { method: "POST", path: "/api/v3/configure/token/admin", access: { _tag: "bootstrap" }, handler: createOperator },
  { method: "POST", path: "/api/v3/configure/token/admin/regenerate", access: admin, handler: regenerateOperator },
  { method: "POST", path: "/api/v3/configure/token/named_admin", access: admin, handler: createNamedAdmin },
  { method: "POST", path: "/api/v3/enterprise/configure/token", access: admin, handler: createResource },
  { method: "DELETE", path: "/api/v3/configure/token", access: admin, handler: remove }
]
