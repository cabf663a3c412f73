import { Effect, Schema } from "effect"
import { hashToken, newTokenSecret, OPERATOR_TOKEN_NAME } from "../auth/tokens.ts"
import { Catalog, decide } from "../catalog/Catalog.ts"
import { usersOf, type CatalogState } from "../catalog/state.ts"
import { ServerConfig } from "../config.ts"
import { Forbidden, InvalidRequest, NotAllowed, NotFound, Unauthenticated } from "../errors.ts"
import { RolePermission } from "../events/index.ts"
import {
  bootstrapUser,
  changePassword,
  createRole,
  createUser,
  deleteUser,
  noSuchUser,
  passwordResetRequired,
  refreshSession,
  requirePasswordReset,
  setUserRoles,
  startSession,
  updateUser
} from "../users/commands.ts"
import { hashPassword, passwordProblem, UNMATCHABLE_HASH, verifyPassword } from "../users/passwords.ts"
import { allRoles, permissionBody, roleBody, roleById, roleByName, userMay } from "../users/roles.ts"
import { ACCESS_TOKEN_TTL_SECONDS, isUserToken, liveUser, newUserSecret } from "../users/sessions.ts"
import type { UserState } from "../users/state.ts"
import { readJsonBody } from "./body.ts"
import { jsonResponse } from "./respond.ts"
import { anyToken, type RequestContext, type RouteDef } from "./route.ts"

const bootstrap = { _tag: "bootstrap" } as const

const bodyLimit = Effect.map(ServerConfig, (c) => c.maxHttpRequestSize)

/** With `--without-auth` there are no users to manage, as there are no tokens. */
const requireAuthEnabled = Effect.flatMap(ServerConfig, (c) =>
  c.withoutAuth ? Effect.fail(new NotAllowed({ message: "endpoint disabled, started without auth" })) : Effect.void
)

const seconds = (ns: bigint) => Number(ns / 1_000_000_000n)

/** A user as InfluxDB 3 answers it (`UserResponse`): camelCase, epoch seconds; never the password hash. */
const userBody = (user: UserState) => ({
  userId: user.id,
  ...(user.username === null ? {} : { username: user.username, requiresPasswordReset: user.requiresPasswordReset }),
  ...(user.displayName === null ? {} : { displayName: user.displayName }),
  createdAt: seconds(user.createdAtNs),
  updatedAt: seconds(user.updatedAtNs),
  ...(user.deletedAtNs === null ? {} : { deletedAt: seconds(user.deletedAtNs) }),
  ...(user.oauthId === null ? {} : { oauthId: user.oauthId })
})

const current = Effect.flatMap(Catalog, (c) => c.current)

/** The path segment at `index` (`/api/v3/users/7` → 4 is `7`), URL-decoded. */
const pathSegment = (ctx: RequestContext, index: number) => {
  const raw = new URL(ctx.request.url, "http://localhost").pathname.split("/")[index] ?? ""
  try {
    return decodeURIComponent(raw)
  } catch {
    return raw
  }
}

/** A numeric id from the path: 400 when it is not one (or 404 where the operation has no 400). */
const pathId = (ctx: RequestContext, what: "user" | "role", malformed: "400" | "404" = "400") => {
  const text = pathSegment(ctx, 4)
  const id = /^\d{1,15}$/.test(text) ? Number(text) : undefined
  if (id !== undefined) return Effect.succeed(id)
  return malformed === "400"
    ? Effect.fail(new InvalidRequest({ message: `invalid ${what} id '${text}': expected an integer` }))
    : Effect.fail(new NotFound({ message: `no ${what} with id '${text}'` }))
}

/**
 * Checks that the request may act on users or roles: an admin token, or a user whose roles grant the action (403
 * otherwise). `selfId` lets users act on their own account where InfluxDB 3 lets them.
 */
const requireUserAccess = (ctx: RequestContext, resource: "user" | "role", action: string, selfId?: number) =>
  Effect.gen(function* () {
    yield* requireAuthEnabled
    const token = ctx.token
    if (token === null || token.grant._tag === "admin") return
    if (isUserToken(token)) {
      if (selfId !== undefined && token.userId === selfId) return
      const state = yield* current
      const user = liveUser(state, token.userId)
      if (user !== undefined && userMay(state, user, resource, action)) return
    }
    return yield* Effect.fail(new Forbidden({ message: `unauthorized to ${action} ${resource}s with this token` }))
  })

const userOr404 = (state: CatalogState, id: number) => {
  const user = usersOf(state).users.get(id)
  return user === undefined ? Effect.fail(noSuchUser(id)) : Effect.succeed(user)
}

const answerUser = (id: number, status = 200) =>
  Effect.map(current, (state) => jsonResponse(userBody(usersOf(state).users.get(id)!), status))

const rolesOf = (state: CatalogState, user: UserState) => ({
  items: user.roleIds.flatMap((id) => {
    const r = roleById(state, id)
    return r === undefined ? [] : [roleBody(r)]
  })
})

const Password = Schema.String.pipe(Schema.maxLength(1024))

const newPasswordHash = (password: string) => {
  const problem = passwordProblem(password)
  return problem === undefined ? hashPassword(password) : Effect.fail(new InvalidRequest({ message: problem }))
}

// ---- bootstrap and login

const InitialUserBody = Schema.Struct({
  username: Schema.String,
  password: Password,
  displayName: Schema.optional(Schema.String)
})

const createInitialUser = (ctx: RequestContext) =>
  Effect.gen(function* () {
    yield* requireAuthEnabled
    const body = yield* readJsonBody(ctx.request, InitialUserBody, yield* bodyLimit)
    const passwordHash = yield* newPasswordHash(body.password)
    const operatorSecret = newTokenSecret()
    const catalog = yield* Catalog
    yield *
      catalog.execute(
        decide((s, c) =>
          bootstrapUser(
            s,
            c,
            { username: body.username, displayName: body.displayName ?? null, passwordHash },
            operatorSecret
          )
        )
      )
    const state = yield* catalog.current
    const id = usersOf(state).userIdsByUsername.get(body.username)!
    // The operator token's secret is answered here, once, as `POST /api/v3/configure/token/admin` does.
    return jsonResponse({ ...userBody(usersOf(state).users.get(id)!), operatorToken: operatorSecret }, 201)
  })

const sessionBody = (accessToken: string, refreshToken: string, userId: number) => ({
  accessToken,
  refreshToken,
  tokenType: "Bearer",
  expiresIn: ACCESS_TOKEN_TTL_SECONDS,
  userId
})

const invalidLogin = () => new Unauthenticated({ message: "invalid username or password" })

/** The live user whose password matches; the same work and the same 401 whether the username or password is wrong. */
const checkCredentials = (username: string, password: string) =>
  Effect.gen(function* () {
    const state = yield* current
    const users = usersOf(state)
    const id = users.userIdsByUsername.get(username)
    const user = id === undefined ? undefined : liveUser(state, id)
    const matches = yield* verifyPassword(password, user?.passwordHash ?? UNMATCHABLE_HASH)
    if (user === undefined || user.passwordHash === null || !matches) return yield* Effect.fail(invalidLogin())
    return user
  })

const AuthorizeBody = Schema.Struct({ username: Schema.String, password: Password })

const authorizeUser = (ctx: RequestContext) =>
  Effect.gen(function* () {
    yield* requireAuthEnabled
    const body = yield* readJsonBody(ctx.request, AuthorizeBody, yield* bodyLimit)
    const user = yield* checkCredentials(body.username, body.password)
    if (user.requiresPasswordReset) return yield* Effect.fail(passwordResetRequired())
    const access = newUserSecret("access")
    const refresh = newUserSecret("refresh")
    yield* (yield* Catalog).execute(decide((s, c) => startSession(s, c, user.id, access, refresh)))
    return jsonResponse(sessionBody(access, refresh, user.id))
  })

const RefreshBody = Schema.Struct({
  refreshToken: Schema.optional(Schema.String),
  refresh_token: Schema.optional(Schema.String)
})

const refreshUser = (ctx: RequestContext) =>
  Effect.gen(function* () {
    yield* requireAuthEnabled
    const body = yield* readJsonBody(ctx.request, RefreshBody, yield* bodyLimit)
    const refresh = body.refreshToken ?? body.refresh_token
    if (refresh === undefined) return yield* Effect.fail(new InvalidRequest({ message: "missing field `refreshToken`" }))
    const access = newUserSecret("access")
    const catalog = yield* Catalog
    yield* catalog.execute(decide((s, c) => refreshSession(s, c, refresh, access)))
    const users = usersOf(yield* catalog.current)
    const session = users.sessions.get(users.sessionIdsByAccessHash.get(hashToken(access))!)!
    return jsonResponse(sessionBody(access, refresh, session.userId))
  })

const ResetPasswordBody = Schema.Struct({
  username: Schema.String,
  password: Password,
  newPassword: Schema.optional(Password),
  new_password: Schema.optional(Password)
})

const resetPassword = (ctx: RequestContext) =>
  Effect.gen(function* () {
    yield* requireAuthEnabled
    const body = yield* readJsonBody(ctx.request, ResetPasswordBody, yield* bodyLimit)
    const newPassword = body.newPassword ?? body.new_password
    if (newPassword === undefined) return yield* Effect.fail(new InvalidRequest({ message: "missing field `newPassword`" }))
    // The current credentials prove who asks, also (above all) when a reset is required.
    const user = yield* checkCredentials(body.username, body.password)
    if (newPassword === body.password) return yield* Effect.fail(new InvalidRequest({ message: "the new password must differ from the current one" }))
    const passwordHash = yield* newPasswordHash(newPassword)
    const access = newUserSecret("access")
    const refresh = newUserSecret("refresh")
    yield* (yield* Catalog).execute(decide((s, c) => changePassword(s, c, user.id, passwordHash, access, refresh)))
    return jsonResponse(sessionBody(access, refresh, user.id))
  })

// ---- users

const CreateUserBody = Schema.Struct({
  username: Schema.optional(Schema.String),
  password: Schema.optional(Password),
  displayName: Schema.optional(Schema.String),
  oauthId: Schema.optional(Schema.String),
  roleIds: Schema.optional(Schema.Array(Schema.Number.pipe(Schema.int()))),
  requiresPasswordReset: Schema.optional(Schema.Boolean)
})

const createUserRoute = (ctx: RequestContext) =>
  Effect.gen(function* () {
    yield* requireUserAccess(ctx, "user", "create")
    const body = yield* readJsonBody(ctx.request, CreateUserBody, yield* bodyLimit)
    const passwordHash = body.password === undefined ? null : yield* newPasswordHash(body.password)
    const catalog = yield* Catalog
    const before = usersOf(yield* catalog.current).nextUserId
    yield* catalog.execute(
      decide((s) =>
        createUser(s, {
          username: body.username ?? null,
          displayName: body.displayName ?? null,
          passwordHash,
          oauthId: body.oauthId ?? null,
          roleIds: body.roleIds ?? [],
          requiresPasswordReset: body.requiresPasswordReset ?? false
        })
      )
    )
    const state = yield* catalog.current
    const id =
      body.username !== undefined
        ? usersOf(state).userIdsByUsername.get(body.username)!
        : (usersOf(state).userIdsByOauthId.get(body.oauthId!) ?? before)
    return jsonResponse(userBody(usersOf(state).users.get(id)!), 201)
  })

const listUsers = (ctx: RequestContext) =>
  Effect.gen(function* () {
    yield* requireUserAccess(ctx, "user", "read")
    const state = yield* current
    return jsonResponse({
      items: [...usersOf(state).users.values()].filter((u) => u.deletedAtNs === null).map(userBody)
    })
  })

const getUser = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const id = yield* pathId(ctx, "user")
    yield* requireUserAccess(ctx, "user", "read", id)
    return jsonResponse(userBody(yield* userOr404(yield* current, id)))
  })

const UpdateUserBody = Schema.Struct({ displayName: Schema.NullOr(Schema.String) })

const patchUser = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const id = yield* pathId(ctx, "user")
    yield* requireUserAccess(ctx, "user", "update", id)
    const body = yield* readJsonBody(ctx.request, UpdateUserBody, yield* bodyLimit)
    yield* (yield* Catalog).execute(decide((s) => updateUser(s, id, body.displayName)))
    return yield* answerUser(id)
  })

const deleteUserRoute = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const id = yield* pathId(ctx, "user", "404")
    // A user may delete their own account (unless they are the last one).
    yield* requireUserAccess(ctx, "user", "delete", id)
    const byOperator = ctx.token === null || (!isUserToken(ctx.token) && ctx.token.name === OPERATOR_TOKEN_NAME)
    yield* (yield* Catalog).execute(decide((s) => deleteUser(s, id, byOperator)))
    return yield* answerUser(id)
  })

const requireReset = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const id = yield* pathId(ctx, "user", "404")
    yield* requireUserAccess(ctx, "user", "update")
    yield* (yield* Catalog).execute(decide((s) => requirePasswordReset(s, id)))
    return yield* answerUser(id)
  })

const listUserRoles = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const id = yield* pathId(ctx, "user", "404")
    yield* requireUserAccess(ctx, "user", "read", id)
    const state = yield* current
    const user = liveUser(state, id)
    if (user === undefined) return yield* Effect.fail(noSuchUser(id))
    return jsonResponse(rolesOf(state, user))
  })

const UpdateRolesBody = Schema.Struct({ roleIds: Schema.Array(Schema.Number.pipe(Schema.int())) })

const putUserRoles = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const id = yield* pathId(ctx, "user")
    yield* requireUserAccess(ctx, "user", "update")
    const body = yield* readJsonBody(ctx.request, UpdateRolesBody, yield* bodyLimit)
    const catalog = yield* Catalog
    yield* catalog.execute(decide((s) => setUserRoles(s, id, body.roleIds)))
    const state = yield* catalog.current
    return jsonResponse(rolesOf(state, liveUser(state, id)!))
  })

const userByOauthId = (ctx: RequestContext) =>
  Effect.gen(function* () {
    yield* requireUserAccess(ctx, "user", "read")
    const oauthId = pathSegment(ctx, 4)
    const state = yield* current
    const id = usersOf(state).userIdsByOauthId.get(oauthId)
    if (id === undefined) return yield* Effect.fail(new NotFound({ message: `no user with oauthId '${oauthId}'` }))
    return jsonResponse(userBody(usersOf(state).users.get(id)!))
  })

// ---- roles

const listRoles = (ctx: RequestContext) =>
  Effect.gen(function* () {
    yield* requireUserAccess(ctx, "role", "read")
    return jsonResponse({ items: allRoles(yield* current).map(roleBody) })
  })

const CreateRoleBody = Schema.Struct({
  name: Schema.String,
  description: Schema.optional(Schema.String),
  permissions: Schema.Array(
    Schema.Struct({
      resourceType: RolePermission.fields.resourceType,
      actions: Schema.Array(Schema.String),
      identifiers: Schema.optional(Schema.Array(Schema.String)),
      allResources: Schema.optional(Schema.Boolean)
    })
  )
})

const createRoleRoute = (ctx: RequestContext) =>
  Effect.gen(function* () {
    yield* requireUserAccess(ctx, "role", "create")
    const body = yield* readJsonBody(ctx.request, CreateRoleBody, yield* bodyLimit)
    const permissions = body.permissions.map((p) => ({
      resourceType: p.resourceType,
      actions: p.actions,
      identifiers: p.identifiers ?? [],
      allResources: p.allResources ?? false
    }))
    const catalog = yield* Catalog
    yield* catalog.execute(decide((s) => createRole(s, body.name, body.description ?? null, permissions)))
    return jsonResponse(roleBody(roleByName(yield* catalog.current, body.name)!), 201)
  })

const rolePermissions = (ctx: RequestContext) =>
  Effect.gen(function* () {
    yield* requireUserAccess(ctx, "role", "read")
    const id = yield* pathId(ctx, "role", "404")
    const role = roleById(yield* current, id)
    if (role === undefined) return yield* Effect.fail(new NotFound({ message: `no role with id ${id}` }))
    return jsonResponse({ permissions: role.permissions.map(permissionBody) })
  })

const roleByNameRoute = (ctx: RequestContext) =>
  Effect.gen(function* () {
    yield* requireUserAccess(ctx, "role", "read")
    const name = pathSegment(ctx, 4)
    const role = roleByName(yield* current, name)
    if (role === undefined) return yield* Effect.fail(new NotFound({ message: `no role named '${name}'` }))
    return jsonResponse(roleBody(role))
  })

/** Users, roles and logins (InfluxDB 3 Enterprise's user-auth preview). */
export const userRoutes: ReadonlyArray<RouteDef> = [
  { method: "POST", path: "/api/v3/configure/user", access: bootstrap, handler: createInitialUser },
  { method: "POST", path: "/api/v3/authorize", access: bootstrap, handler: authorizeUser },
  { method: "POST", path: "/api/v3/authorize/refresh", access: bootstrap, handler: refreshUser },
  { method: "POST", path: "/api/v3/authorize/reset-password", access: bootstrap, handler: resetPassword },
  { method: "GET", path: "/api/v3/users", access: anyToken, handler: listUsers },
  { method: "POST", path: "/api/v3/users", access: anyToken, handler: createUserRoute },
  { method: "GET", path: "/api/v3/users/:id", access: anyToken, handler: getUser },
  { method: "PATCH", path: "/api/v3/users/:id", access: anyToken, handler: patchUser },
  { method: "DELETE", path: "/api/v3/users/:id", access: anyToken, handler: deleteUserRoute },
  { method: "POST", path: "/api/v3/users/:id/require-password-reset", access: anyToken, handler: requireReset },
  { method: "GET", path: "/api/v3/users/:id/roles", access: anyToken, handler: listUserRoles },
  { method: "PUT", path: "/api/v3/users/:id/roles", access: anyToken, handler: putUserRoles },
  { method: "GET", path: "/api/v3/users_by_oauth_id/:oauth_id", access: anyToken, handler: userByOauthId },
  { method: "GET", path: "/api/v3/roles", access: anyToken, handler: listRoles },
  { method: "POST", path: "/api/v3/roles", access: anyToken, handler: createRoleRoute },
  { method: "GET", path: "/api/v3/roles/:id/permissions", access: anyToken, handler: rolePermissions },
  { method: "GET", path: "/api/v3/roles_by_name/:roleName", access: anyToken, handler: roleByNameRoute }
]
