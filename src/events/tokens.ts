import { Schema } from "effect"
import { Nanos } from "./common.ts"

/** One grant of a resource token: `db` read/write on named databases or `*`, or `system` read. */
export const Permission = Schema.Struct({
  resourceType: Schema.Literal("db", "system"),
  resourceNames: Schema.Array(Schema.String),
  actions: Schema.Array(Schema.Literal("read", "write"))
})
export type Permission = typeof Permission.Type

/**
 * The token's grants: full admin, or a list of resource permissions. Logs store the discriminant as `kind` (as every
 * log written so far has it); in memory it is `_tag`, like every other union, so the rename happens here at decode.
 */
export const TokenGrant = Schema.Union(
  Schema.Struct({ kind: Schema.Literal("admin") }).pipe(Schema.rename({ kind: "_tag" })),
  Schema.Struct({ kind: Schema.Literal("resource"), permissions: Schema.Array(Permission) }).pipe(
    Schema.rename({ kind: "_tag" })
  )
)
export type TokenGrant = typeof TokenGrant.Type

/** A token came to be. Only the SHA-512 hash of the secret is ever stored. */
export class TokenCreated extends Schema.TaggedClass<TokenCreated>()("TokenCreated", {
  version: Schema.Literal(1),
  tokenId: Schema.Number,
  name: Schema.String,
  hash: Schema.String,
  createdAtNs: Nanos,
  expiresAtNs: Schema.NullOr(Nanos),
  grant: TokenGrant
}) {}

/** A new secret for an existing token; the old one stops working. */
export class TokenRegenerated extends Schema.TaggedClass<TokenRegenerated>()("TokenRegenerated", {
  version: Schema.Literal(1),
  tokenId: Schema.Number,
  hash: Schema.String
}) {}

export class TokenDeleted extends Schema.TaggedClass<TokenDeleted>()("TokenDeleted", {
  version: Schema.Literal(1),
  tokenId: Schema.Number
}) {}

export const TokenEvent = Schema.Union(TokenCreated, TokenRegenerated, TokenDeleted)
export type TokenEvent = typeof TokenEvent.Type
