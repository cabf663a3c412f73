import type { HttpServerRequest } from "@effect/platform"
import { Effect } from "effect"
import { Forbidden, InvalidRequest, Unauthenticated } from "../errors.ts"
import type { CatalogState, TokenState } from "../catalog/state.ts"
import { findToken, permits, type Requirement } from "./tokens.ts"
import { findUserToken } from "../users/sessions.ts"

const MALFORMED =
  "Authorization header was malformed, the request was not in the form of 'Authorization: <auth-scheme> <token>', supported auth-schemes are Bearer, Token and Basic"

/** The token secret a request carries, from `?p=` (v1/v2 endpoints) or the Authorization header. */
export const presentedSecret = (
  request: HttpServerRequest.HttpServerRequest,
  query: URLSearchParams,
  allowQueryParam: boolean
): Effect.Effect<string | undefined, InvalidRequest> => {
  const p = allowQueryParam ? query.get("p") : null
  if (p !== null && p !== "") return Effect.succeed(p)
  return authorizationSecret(request.headers["authorization"])
}

/** The token secret of an Authorization value (`Bearer`, `Token` or `Basic`, whose password is the token). */
export const authorizationSecret = (header: string | undefined): Effect.Effect<string | undefined, InvalidRequest> => {
  if (header === undefined || header === "") return Effect.succeed(undefined)
  const parts = header.split(" ")
  if (parts.length !== 2 || parts[1] === "") return Effect.fail(new InvalidRequest({ message: MALFORMED }))
  const [scheme, credential] = parts as [string, string]
  if (scheme === "Bearer" || scheme === "Token") return Effect.succeed(credential)
  if (scheme === "Basic") {
    const decoded = Buffer.from(credential, "base64").toString("utf8")
    const colon = decoded.indexOf(":")
    if (colon < 0) return Effect.fail(new InvalidRequest({ message: MALFORMED }))
    return Effect.succeed(decoded.slice(colon + 1))
  }
  return Effect.fail(new InvalidRequest({ message: MALFORMED }))
}

/** The valid token of a secret (an `apiv3_` token or a user's access token), or 401. */
export const authenticate = (state: CatalogState, secret: string | undefined, nowNs: bigint) => {
  const token =
    secret === undefined ? undefined : (findToken(state, secret, nowNs) ?? findUserToken(state, secret, nowNs))
  return token === undefined
    ? Effect.fail(new Unauthenticated({ message: "the request was not authenticated" }))
    : Effect.succeed(token)
}

/** Checks a token against a requirement: 403 when it lacks the permission. */
export const authorize = (token: TokenState | null, requirement: Requirement) =>
  token === null || permits(token.grant, requirement)
    ? Effect.void
    : Effect.fail(new Forbidden({ message: "unauthorized to perform requested action with the token" }))

/** The valid token a request presents (header, or `?p=` where `allowQueryParam`), or 400/401. */
export const authenticateRequest = (
  state: CatalogState,
  request: HttpServerRequest.HttpServerRequest,
  query: URLSearchParams,
  allowQueryParam: boolean,
  nowNs: bigint
) => Effect.flatMap(presentedSecret(request, query, allowQueryParam), (secret) => authenticate(state, secret, nowNs))

/** Whether a request's token may read a database (no token: auth is off or the route is open, so yes). */
export const mayRead = (token: TokenState | null, db: string): boolean =>
  token === null || permits(token.grant, { _tag: "db", action: "read", db })
