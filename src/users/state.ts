import type { RolePermission, UserEvent } from "../events/index.ts"

/** A user account; soft-deleted users keep their row with `deletedAtNs` set and lose their username and OAuth id. */
export interface UserState {
  readonly id: number
  readonly username: string | null
  readonly displayName: string | null
  /** `scrypt$N$r$p$salt$hash`; never answered or logged. */
  readonly passwordHash: string | null
  readonly oauthId: string | null
  readonly roleIds: ReadonlyArray<number>
  readonly requiresPasswordReset: boolean
  readonly createdAtNs: bigint
  readonly updatedAtNs: bigint
  readonly deletedAtNs: bigint | null
}

/** A role: the built-in ones (in code) and custom ones (events). */
export interface RoleState {
  readonly id: number
  readonly name: string
  readonly description: string | null
  readonly permissions: ReadonlyArray<RolePermission>
  readonly isRequiredRole: boolean
  readonly createdAtNs: bigint
  readonly updatedAtNs: bigint
}

/** One login: an access token and the refresh token that renews it, by hash. */
export interface SessionState {
  readonly id: number
  readonly userId: number
  readonly accessHash: string
  readonly accessExpiresAtNs: bigint
  readonly refreshHash: string
  readonly refreshExpiresAtNs: bigint
}

/** Users, custom roles and live sessions, as of the catalog's `lastSeq`. */
export interface UsersState {
  readonly users: ReadonlyMap<number, UserState>
  readonly userIdsByUsername: ReadonlyMap<string, number>
  readonly userIdsByOauthId: ReadonlyMap<string, number>
  readonly nextUserId: number
  readonly roles: ReadonlyMap<number, RoleState>
  readonly nextRoleId: number
  readonly sessions: ReadonlyMap<number, SessionState>
  readonly sessionIdsByAccessHash: ReadonlyMap<string, number>
  readonly sessionIdsByRefreshHash: ReadonlyMap<string, number>
  readonly nextSessionId: number
}

/** Custom role ids start after the built-in ones. */
export const FIRST_CUSTOM_ROLE_ID = 100

export const emptyUsers: UsersState = {
  users: new Map(),
  userIdsByUsername: new Map(),
  userIdsByOauthId: new Map(),
  nextUserId: 1,
  roles: new Map(),
  nextRoleId: FIRST_CUSTOM_ROLE_ID,
  sessions: new Map(),
  sessionIdsByAccessHash: new Map(),
  sessionIdsByRefreshHash: new Map(),
  nextSessionId: 1
}

const withEntry = <K, V>(map: ReadonlyMap<K, V>, key: K, value: V): ReadonlyMap<K, V> => new Map(map).set(key, value)
const withoutEntry = <K, V>(map: ReadonlyMap<K, V>, key: K): ReadonlyMap<K, V> => {
  const next = new Map(map)
  next.delete(key)
  return next
}

/** Ends sessions: those of `userId`, and any whose refresh token has expired by `atNs`. */
const endSessions = (state: UsersState, userId: number | null, atNs: bigint): UsersState => {
  let sessions: Map<number, SessionState> | undefined
  let byAccess: Map<string, number> | undefined
  let byRefresh: Map<string, number> | undefined
  for (const s of state.sessions.values()) {
    if (s.userId !== userId && s.refreshExpiresAtNs > atNs) continue
    sessions ??= new Map(state.sessions)
    byAccess ??= new Map(state.sessionIdsByAccessHash)
    byRefresh ??= new Map(state.sessionIdsByRefreshHash)
    sessions.delete(s.id)
    byAccess.delete(s.accessHash)
    byRefresh.delete(s.refreshHash)
  }
  return sessions === undefined
    ? state
    : { ...state, sessions, sessionIdsByAccessHash: byAccess!, sessionIdsByRefreshHash: byRefresh! }
}

const updateUser = (state: UsersState, userId: number, atNs: bigint, f: (u: UserState) => UserState): UsersState => {
  const user = state.users.get(userId)
  return user === undefined
    ? state
    : { ...state, users: withEntry(state.users, userId, { ...f(user), updatedAtNs: atNs }) }
}

/** Applies one user, role or session event that happened at `atNs`. */
export const applyUserEvent = (state: UsersState, event: UserEvent, atNs: bigint): UsersState => {
  switch (event._tag) {
    case "UserCreated": {
      const user: UserState = {
        id: event.userId,
        username: event.username,
        displayName: event.displayName,
        passwordHash: event.passwordHash,
        oauthId: event.oauthId,
        roleIds: event.roleIds,
        requiresPasswordReset: event.requiresPasswordReset,
        createdAtNs: atNs,
        updatedAtNs: atNs,
        deletedAtNs: null
      }
      return {
        ...state,
        users: withEntry(state.users, user.id, user),
        userIdsByUsername:
          user.username === null ? state.userIdsByUsername : withEntry(state.userIdsByUsername, user.username, user.id),
        userIdsByOauthId:
          user.oauthId === null ? state.userIdsByOauthId : withEntry(state.userIdsByOauthId, user.oauthId, user.id),
        nextUserId: Math.max(state.nextUserId, user.id + 1)
      }
    }
    case "UserUpdated":
      return updateUser(state, event.userId, atNs, (u) => ({ ...u, displayName: event.displayName }))
    case "UserPasswordChanged":
      return endSessions(
        updateUser(state, event.userId, atNs, (u) => ({
          ...u,
          passwordHash: event.passwordHash,
          requiresPasswordReset: false
        })),
        event.userId,
        atNs
      )
    case "UserPasswordResetRequired":
      return endSessions(
        updateUser(state, event.userId, atNs, (u) => ({ ...u, requiresPasswordReset: true })),
        event.userId,
        atNs
      )
    case "UserRolesSet":
      return updateUser(state, event.userId, atNs, (u) => ({ ...u, roleIds: event.roleIds }))
    case "UserDeleted": {
      const user = state.users.get(event.userId)
      if (user === undefined) return state
      // The username and OAuth id are free for others once the user is gone.
      const next: UsersState = {
        ...state,
        users: withEntry(state.users, user.id, { ...user, deletedAtNs: atNs, updatedAtNs: atNs }),
        userIdsByUsername:
          user.username !== null && state.userIdsByUsername.get(user.username) === user.id
            ? withoutEntry(state.userIdsByUsername, user.username)
            : state.userIdsByUsername,
        userIdsByOauthId:
          user.oauthId !== null && state.userIdsByOauthId.get(user.oauthId) === user.id
            ? withoutEntry(state.userIdsByOauthId, user.oauthId)
            : state.userIdsByOauthId
      }
      return endSessions(next, user.id, atNs)
    }
    case "RoleCreated":
      return {
        ...state,
        roles: withEntry(state.roles, event.roleId, {
          id: event.roleId,
          name: event.name,
          description: event.description,
          permissions: event.permissions,
          isRequiredRole: false,
          createdAtNs: atNs,
          updatedAtNs: atNs
        }),
        nextRoleId: Math.max(state.nextRoleId, event.roleId + 1)
      }
    case "UserSessionStarted": {
      // Sessions whose refresh token has expired leave the state as new ones come.
      const pruned = endSessions(state, null, atNs)
      const session: SessionState = {
        id: event.sessionId,
        userId: event.userId,
        accessHash: event.accessHash,
        accessExpiresAtNs: event.accessExpiresAtNs,
        refreshHash: event.refreshHash,
        refreshExpiresAtNs: event.refreshExpiresAtNs
      }
      return {
        ...pruned,
        sessions: withEntry(pruned.sessions, session.id, session),
        sessionIdsByAccessHash: withEntry(pruned.sessionIdsByAccessHash, session.accessHash, session.id),
        sessionIdsByRefreshHash: withEntry(pruned.sessionIdsByRefreshHash, session.refreshHash, session.id),
        nextSessionId: Math.max(state.nextSessionId, session.id + 1)
      }
    }
    case "UserSessionRefreshed": {
      const session = state.sessions.get(event.sessionId)
      if (session === undefined) return state
      return {
        ...state,
        sessions: withEntry(state.sessions, session.id, {
          ...session,
          accessHash: event.accessHash,
          accessExpiresAtNs: event.accessExpiresAtNs
        }),
        sessionIdsByAccessHash: withEntry(
          withoutEntry(state.sessionIdsByAccessHash, session.accessHash),
          event.accessHash,
          session.id
        )
      }
    }
  }
}
