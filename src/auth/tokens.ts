import * as NodeCrypto from "node:crypto"
import type { Permission, TokenGrant } from "../events/index.ts"
import type { CatalogState, TokenState } from "../catalog/state.ts"

/** The name of the operator token, created by the first `POST /api/v3/configure/token/admin`. */
export const OPERATOR_TOKEN_NAME = "_admin"

/** A new token secret: `apiv3_` and 64 random bytes in base64url, as InfluxDB 3 makes them. */
export const newTokenSecret = (): string => "apiv3_" + NodeCrypto.randomBytes(64).toString("base64url")

/** The stored form of a secret: its SHA-512, lowercase hex. */
export const hashToken = (secret: string): string => NodeCrypto.createHash("sha512").update(secret).digest("hex")

/** The token a secret belongs to, if it exists and has not expired. */
export const findToken = (state: CatalogState, secret: string, nowNs: bigint): TokenState | undefined => {
  const id = state.tokenIdsByHash.get(hashToken(secret))
  const token = id === undefined ? undefined : state.tokens.get(id)
  if (token === undefined) return undefined
  if (token.expiresAtNs !== null && token.expiresAtNs <= nowNs) return undefined
  return token
}

/** What a request needs from its token. */
export type Requirement =
  | { readonly _tag: "none" }
  | { readonly _tag: "admin" }
  | { readonly _tag: "system"; readonly resource: "health" | "ping" | "metrics" }
  | { readonly _tag: "db"; readonly action: "read" | "write"; readonly db: string }

const grants = (permissions: ReadonlyArray<Permission>, type: Permission["resourceType"], name: string, action: "read" | "write") =>
  permissions.some(
    (p) =>
      p.resourceType === type &&
      p.actions.includes(action) &&
      (p.resourceNames.includes("*") || p.resourceNames.includes(name))
  )

/** Whether a token's grant satisfies a requirement. `_internal` needs an admin. */
export const permits = (grant: TokenGrant, requirement: Requirement): boolean => {
  if (grant._tag === "admin" || requirement._tag === "none") return true
  switch (requirement._tag) {
    case "admin":
      return false
    case "system":
      return grants(grant.permissions, "system", requirement.resource, "read")
    case "db":
      return requirement.db !== "_internal" && grants(grant.permissions, "db", requirement.db, requirement.action)
  }
}

/** RFC3339 with milliseconds and `Z`, as token timestamps are shown. */
export const rfc3339Millis = (ns: bigint): string => new Date(Number(ns / 1_000_000n)).toISOString()

/** The JSON a token creation answers with; the secret appears only here, once. */
export const tokenCreatedBody = (token: TokenState, secret: string) => ({
  id: token.id,
  name: token.name,
  token: secret,
  hash: token.hash,
  created_at: rfc3339Millis(token.createdAtNs),
  expiry: token.expiresAtNs === null ? null : rfc3339Millis(token.expiresAtNs),
  ...(token.grant._tag === "resource"
    ? {
        token_name: token.name,
        permissions: token.grant.permissions.map((p) => ({
          resource_type: p.resourceType,
          resource_names: p.resourceNames,
          actions: p.actions
        }))
      }
    : {})
})
