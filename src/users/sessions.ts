import * as NodeCrypto from "node:crypto"
import { hashToken } from "../auth/tokens.ts"
import { usersOf, type CatalogState, type TokenState } from "../catalog/state.ts"
import { userGrant } from "./roles.ts"
import type { UserState } from "./state.ts"

/** How long an access token lives (InfluxDB 3's `--jwt-default-ttl-seconds`). */
export const ACCESS_TOKEN_TTL_SECONDS = 3600

/** How long a refresh token lives. */
export const REFRESH_TOKEN_TTL_SECONDS = 7 * 24 * 3600

/** A user's access token, resolved like a resource token, knowing whose it is. */
export interface UserTokenState extends TokenState {
  readonly userId: number
}

/** Whether a request's token is a user's access token. */
export const isUserToken = (token: TokenState | null): token is UserTokenState => token !== null && "userId" in token

/** A new user access or refresh secret: random bytes behind a prefix that tells them apart from `apiv3_` tokens. */
export const newUserSecret = (kind: "access" | "refresh"): string =>
  (kind === "access" ? "apiv3u_" : "apiv3r_") + NodeCrypto.randomBytes(48).toString("base64url")

/** The live, not deleted user of an id. */
export const liveUser = (state: CatalogState, userId: number): UserState | undefined => {
  const user = usersOf(state).users.get(userId)
  return user !== undefined && user.deletedAtNs === null ? user : undefined
}

/**
 * The user token a secret is, if its session is live, unexpired, and its user exists, is not deleted and need not
 * reset the password first. The grant is computed from the user's roles now, so a role change applies at once.
 */
export const findUserToken = (state: CatalogState, secret: string, nowNs: bigint): UserTokenState | undefined => {
  const users = usersOf(state)
  if (users.sessions.size === 0) return undefined
  const hash = hashToken(secret)
  const id = users.sessionIdsByAccessHash.get(hash)
  const session = id === undefined ? undefined : users.sessions.get(id)
  if (session === undefined || session.accessExpiresAtNs <= nowNs) return undefined
  const user = liveUser(state, session.userId)
  if (user === undefined || user.requiresPasswordReset) return undefined
  return {
    id: -session.id,
    name: `user:${user.username ?? user.oauthId ?? user.id}`,
    hash,
    createdAtNs: user.createdAtNs,
    expiresAtNs: session.accessExpiresAtNs,
    grant: userGrant(state, user),
    updatedAtNs: null,
    userId: user.id
  }
}
