import { Schema } from "effect"
import { Nanos } from "./common.ts"

/**
 * A permission of a role, as InfluxDB 3's `ApiPermission`: a resource type, its granted actions (snake_case) and, for
 * databases, the named databases or all of them.
 */
export const RolePermission = Schema.Struct({
  resourceType: Schema.Literal("database", "token", "user", "role", "admin_token"),
  actions: Schema.Array(Schema.String),
  identifiers: Schema.Array(Schema.String),
  allResources: Schema.Boolean
})
export type RolePermission = typeof RolePermission.Type

/** A user came to be. Only the salted scrypt hash of the password is stored. */
export class UserCreated extends Schema.TaggedClass<UserCreated>()("UserCreated", {
  version: Schema.Literal(1),
  userId: Schema.Number,
  username: Schema.NullOr(Schema.String),
  displayName: Schema.NullOr(Schema.String),
  passwordHash: Schema.NullOr(Schema.String),
  oauthId: Schema.NullOr(Schema.String),
  roleIds: Schema.Array(Schema.Number),
  requiresPasswordReset: Schema.Boolean
}) {}

/** A user's profile changed (only the display name can). */
export class UserUpdated extends Schema.TaggedClass<UserUpdated>()("UserUpdated", {
  version: Schema.Literal(1),
  userId: Schema.Number,
  displayName: Schema.NullOr(Schema.String)
}) {}

/** A user's password changed; every session of the user ends. */
export class UserPasswordChanged extends Schema.TaggedClass<UserPasswordChanged>()("UserPasswordChanged", {
  version: Schema.Literal(1),
  userId: Schema.Number,
  passwordHash: Schema.String
}) {}

/** A user must set a new password before anything else; every session of the user ends. */
export class UserPasswordResetRequired extends Schema.TaggedClass<UserPasswordResetRequired>()("UserPasswordResetRequired", {
  version: Schema.Literal(1),
  userId: Schema.Number
}) {}

/** A user's roles were replaced. */
export class UserRolesSet extends Schema.TaggedClass<UserRolesSet>()("UserRolesSet", {
  version: Schema.Literal(1),
  userId: Schema.Number,
  roleIds: Schema.Array(Schema.Number)
}) {}

/** A user was soft-deleted; every session of the user ends. */
export class UserDeleted extends Schema.TaggedClass<UserDeleted>()("UserDeleted", {
  version: Schema.Literal(1),
  userId: Schema.Number
}) {}

/** A custom role came to be (the built-in roles are not events). */
export class RoleCreated extends Schema.TaggedClass<RoleCreated>()("RoleCreated", {
  version: Schema.Literal(1),
  roleId: Schema.Number,
  name: Schema.String,
  description: Schema.NullOr(Schema.String),
  permissions: Schema.Array(RolePermission)
}) {}

/** A login: an access token and a refresh token, stored as SHA-512 hashes. */
export class UserSessionStarted extends Schema.TaggedClass<UserSessionStarted>()("UserSessionStarted", {
  version: Schema.Literal(1),
  sessionId: Schema.Number,
  userId: Schema.Number,
  accessHash: Schema.String,
  accessExpiresAtNs: Nanos,
  refreshHash: Schema.String,
  refreshExpiresAtNs: Nanos
}) {}

/** A refresh: the session's access token is replaced by a new one. */
export class UserSessionRefreshed extends Schema.TaggedClass<UserSessionRefreshed>()("UserSessionRefreshed", {
  version: Schema.Literal(1),
  sessionId: Schema.Number,
  accessHash: Schema.String,
  accessExpiresAtNs: Nanos
}) {}

export const UserEvent = Schema.Union(
  UserCreated,
  UserUpdated,
  UserPasswordChanged,
  UserPasswordResetRequired,
  UserRolesSet,
  UserDeleted,
  RoleCreated,
  UserSessionStarted,
  UserSessionRefreshed
)
export type UserEvent = typeof UserEvent.Type
