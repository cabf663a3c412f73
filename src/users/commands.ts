import { Either } from "effect"
import { hashToken, OPERATOR_TOKEN_NAME } from "../auth/tokens.ts"
import type { CommandContext, Decision } from "../catalog/commands.ts"
import { tokenByName, usersOf, type CatalogState } from "../catalog/state.ts"
import { AlreadyExists, Forbidden, InvalidRequest, NotFound, Unauthenticated, type ApiFailure } from "../errors.ts"
import {
  RoleCreated,
  TokenCreated,
  UserCreated,
  UserDeleted,
  UserPasswordChanged,
  UserPasswordResetRequired,
  UserRolesSet,
  UserSessionRefreshed,
  UserSessionStarted,
  UserUpdated,
  type RolePermission,
  type StrataEvent
} from "../events/index.ts"
import { ADMIN_ROLE_ID, roleById, roleByName } from "./roles.ts"
import { ACCESS_TOKEN_TTL_SECONDS, liveUser, REFRESH_TOKEN_TTL_SECONDS } from "./sessions.ts"
import type { UserState } from "./state.ts"

const ok = (...events: ReadonlyArray<StrataEvent>): Decision => Either.right(events)
const fail = (error: ApiFailure): Decision => Either.left(error)

const SECOND_NS = 1_000_000_000n

/** No user has that id (404). */
export const noSuchUser = (id: number | string) => new NotFound({ message: `no user with id ${id}` })

/** What a new user is made of; the password arrives hashed. */
export interface NewUser {
  readonly username: string | null
  readonly displayName: string | null
  readonly passwordHash: string | null
  readonly oauthId: string | null
  readonly roleIds: ReadonlyArray<number>
  readonly requiresPasswordReset: boolean
}

const unknownRole = (state: CatalogState, roleIds: ReadonlyArray<number>) =>
  roleIds.find((id) => roleById(state, id) === undefined)

const newUserEvent = (state: CatalogState, user: NewUser): Either.Either<UserCreated, ApiFailure> => {
  const users = usersOf(state)
  if (user.username === null && user.oauthId === null) return Either.left(new InvalidRequest({ message: "a user needs a username (with a password) or an oauthId" }))
  if (user.username !== null && user.username.trim() === "") return Either.left(new InvalidRequest({ message: "invalid username: must not be empty" }))
  if (user.username !== null && user.passwordHash === null) return Either.left(new InvalidRequest({ message: `user '${user.username}' needs a password` }))
  if (user.username !== null && users.userIdsByUsername.has(user.username)) return Either.left(new AlreadyExists({ message: `a user named '${user.username}' already exists` }))
  if (user.oauthId !== null && users.userIdsByOauthId.has(user.oauthId)) return Either.left(new AlreadyExists({ message: `a user with oauthId '${user.oauthId}' already exists` }))
  const missing = unknownRole(state, user.roleIds)
  if (missing !== undefined) return Either.left(new InvalidRequest({ message: `no role with id ${missing}` }))
  return Either.right(
    new UserCreated({ version: 1, userId: users.nextUserId, ...user, roleIds: [...new Set(user.roleIds)] })
  )
}

/**
 * The first user, an Admin, with the operator token: only on a cluster that has neither yet (409 otherwise, as the
 * operator token's own bootstrap answers).
 */
export const bootstrapUser = (state: CatalogState, ctx: CommandContext, user: Omit<NewUser, "roleIds" | "oauthId" | "requiresPasswordReset">, operatorSecret: string): Decision => {
  if (usersOf(state).users.size > 0) return fail(new AlreadyExists({ message: "the initial user already exists" }))
  if (tokenByName(state, OPERATOR_TOKEN_NAME) !== undefined) {
    return fail(new AlreadyExists({ message: "the operator token already exists: create users with it via POST /api/v3/users" }))
  }
  return Either.map(
    newUserEvent(state, { ...user, oauthId: null, roleIds: [ADMIN_ROLE_ID], requiresPasswordReset: false }),
    (created) => [
      new TokenCreated({
        version: 1,
        tokenId: state.nextTokenId,
        name: OPERATOR_TOKEN_NAME,
        hash: hashToken(operatorSecret),
        createdAtNs: ctx.nowNs,
        expiresAtNs: null,
        grant: { _tag: "admin" }
      }),
      created
    ]
  )
}

/** Creates (invites) a user. */
export const createUser = (state: CatalogState, user: NewUser): Decision =>
  Either.map(newUserEvent(state, user), (e) => [e])

const withLiveUser = (state: CatalogState, userId: number, f: (user: UserState) => Decision): Decision => {
  const user = liveUser(state, userId)
  return user === undefined ? fail(noSuchUser(userId)) : f(user)
}

/** Sets a user's display name. */
export const updateUser = (state: CatalogState, userId: number, displayName: string | null): Decision =>
  withLiveUser(state, userId, () => ok(new UserUpdated({ version: 1, userId, displayName })))

/**
 * Soft-deletes a user, ending its sessions. The last remaining user can only be deleted with the operator token
 * (403 otherwise), so the cluster is never left without a way in.
 */
export const deleteUser = (state: CatalogState, userId: number, byOperator: boolean): Decision =>
  withLiveUser(state, userId, () => {
    const live = [...usersOf(state).users.values()].filter((u) => u.deletedAtNs === null).length
    if (live === 1 && !byOperator) return fail(new Forbidden({ message: "the last remaining user can only be deleted with the operator token" }))
    return ok(new UserDeleted({ version: 1, userId }))
  })

/** Marks a user as having to reset the password before anything else; its sessions end. */
export const requirePasswordReset = (state: CatalogState, userId: number): Decision =>
  withLiveUser(state, userId, (user) =>
    user.passwordHash === null
      ? fail(new InvalidRequest({ message: `user ${userId} has no password (it logs in with OAuth)` }))
      : ok(new UserPasswordResetRequired({ version: 1, userId }))
  )

/** Replaces a user's roles. */
export const setUserRoles = (state: CatalogState, userId: number, roleIds: ReadonlyArray<number>): Decision =>
  withLiveUser(state, userId, () => {
    const missing = unknownRole(state, roleIds)
    return missing !== undefined
      ? fail(new InvalidRequest({ message: `no role with id ${missing}` }))
      : ok(new UserRolesSet({ version: 1, userId, roleIds: [...new Set(roleIds)] }))
  })

const RESOURCE_ACTIONS: Record<RolePermission["resourceType"], ReadonlyArray<string>> = {
  database: ["describe", "read", "write", "create", "delete", "grant_usage"],
  token: ["read", "create", "delete", "grant_usage"],
  user: ["read", "create", "update", "delete", "grant_usage"],
  role: ["read", "create", "update", "delete"],
  admin_token: ["create", "delete"]
}

/** Creates a custom role, e.g. read and write on named databases. */
export const createRole = (
  state: CatalogState,
  name: string,
  description: string | null,
  permissions: ReadonlyArray<RolePermission>
): Decision => {
  if (name.trim() === "") return fail(new InvalidRequest({ message: "invalid role name: must not be empty" }))
  if (roleByName(state, name) !== undefined)
    return fail(new AlreadyExists({ message: `a role named '${name}' already exists` }))
  for (const [i, p] of permissions.entries()) {
    const bad = p.actions.find((a) => !RESOURCE_ACTIONS[p.resourceType].includes(a))
    if (bad !== undefined) {
      return fail(
        new InvalidRequest({
          message: `permissions.${i}: action '${bad}' does not apply to ${p.resourceType}; expected one of ${RESOURCE_ACTIONS[p.resourceType].join(", ")}`
        })
      )
    }
    if (p.resourceType === "database" && !p.allResources && p.identifiers.length === 0) {
      return fail(
        new InvalidRequest({
          message: `permissions.${i}: a database permission needs identifiers or allResources: true`
        })
      )
    }
  }
  return ok(new RoleCreated({ version: 1, roleId: usersOf(state).nextRoleId, name, description, permissions }))
}

/** A login session for a user whose credentials were checked: new access and refresh tokens. */
export const startSession = (
  state: CatalogState,
  ctx: CommandContext,
  userId: number,
  accessSecret: string,
  refreshSecret: string
): Decision => {
  const user = liveUser(state, userId)
  // Deleted between the password check and now.
  if (user === undefined) return fail(new Unauthenticated({ message: "invalid username or password" }))
  if (user.requiresPasswordReset) return fail(passwordResetRequired())
  return ok(sessionStarted(state, ctx, userId, accessSecret, refreshSecret))
}

const sessionStarted = (
  state: CatalogState,
  ctx: CommandContext,
  userId: number,
  accessSecret: string,
  refreshSecret: string
) =>
  new UserSessionStarted({
    version: 1,
    sessionId: usersOf(state).nextSessionId,
    userId,
    accessHash: hashToken(accessSecret),
    accessExpiresAtNs: ctx.nowNs + BigInt(ACCESS_TOKEN_TTL_SECONDS) * SECOND_NS,
    refreshHash: hashToken(refreshSecret),
    refreshExpiresAtNs: ctx.nowNs + BigInt(REFRESH_TOKEN_TTL_SECONDS) * SECOND_NS
  })

/** Login refused until the password is reset (403). */
export const passwordResetRequired = () =>
  new Forbidden({ message: "password reset required: set a new password with POST /api/v3/authorize/reset-password" })

/** A new access token for a live refresh token (401 when it is unknown, expired or its user gone). */
export const refreshSession = (
  state: CatalogState,
  ctx: CommandContext,
  refreshSecret: string,
  accessSecret: string
): Decision => {
  const users = usersOf(state)
  const id = users.sessionIdsByRefreshHash.get(hashToken(refreshSecret))
  const session = id === undefined ? undefined : users.sessions.get(id)
  const user = session === undefined ? undefined : liveUser(state, session.userId)
  if (session === undefined || session.refreshExpiresAtNs <= ctx.nowNs || user === undefined) {
    return fail(new Unauthenticated({ message: "invalid or expired refresh token" }))
  }
  if (user.requiresPasswordReset) return fail(passwordResetRequired())
  return ok(
    new UserSessionRefreshed({
      version: 1,
      sessionId: session.id,
      accessHash: hashToken(accessSecret),
      accessExpiresAtNs: ctx.nowNs + BigInt(ACCESS_TOKEN_TTL_SECONDS) * SECOND_NS
    })
  )
}

/** A new password for a user whose current one was checked; old sessions end and a new one starts. */
export const changePassword = (
  state: CatalogState,
  ctx: CommandContext,
  userId: number,
  passwordHash: string,
  accessSecret: string,
  refreshSecret: string
): Decision => {
  if (liveUser(state, userId) === undefined)
    return fail(new Unauthenticated({ message: "invalid username or password" }))
  return ok(
    new UserPasswordChanged({ version: 1, userId, passwordHash }),
    sessionStarted(state, ctx, userId, accessSecret, refreshSecret)
  )
}
