import type { Permission, RolePermission, TokenGrant } from "../events/index.ts"
import { type CatalogState, usersOf } from "../catalog/state.ts"
import type { RoleState, UserState } from "./state.ts"

export const ADMIN_ROLE_ID = 1
export const AUDITOR_ROLE_ID = 2
export const MEMBER_ROLE_ID = 3

const allDatabases = (...actions: ReadonlyArray<string>): RolePermission => ({ resourceType: "database", actions, identifiers: [], allResources: true })
const on = (resourceType: RolePermission["resourceType"], ...actions: ReadonlyArray<string>): RolePermission => ({ resourceType, actions, identifiers: [], allResources: false })

/**
 * InfluxDB 3's built-in roles. Admin is the required role (`AccountAdminAll`: everything, cannot be deleted); Auditor
 * can list databases but not query them nor read users or roles; Member reads and writes data but cannot list users
 * or roles. They are code, not events, as in InfluxDB 3.
 */
export const BUILTIN_ROLES: ReadonlyArray<RoleState> = [
  {
    id: ADMIN_ROLE_ID,
    name: "Admin",
    description: "Full access to every resource (AccountAdminAll)",
    permissions: [
      allDatabases("describe", "read", "write", "create", "delete", "grant_usage"),
      on("token", "read", "create", "delete", "grant_usage"),
      on("user", "read", "create", "update", "delete", "grant_usage"),
      on("role", "read", "create", "update", "delete"),
      on("admin_token", "create", "delete")
    ],
    isRequiredRole: true,
    createdAtNs: 0n,
    updatedAtNs: 0n
  },
  {
    id: AUDITOR_ROLE_ID,
    name: "Auditor",
    description: "Lists databases; cannot query data or read users or roles",
    permissions: [allDatabases("describe")],
    isRequiredRole: false,
    createdAtNs: 0n,
    updatedAtNs: 0n
  },
  {
    id: MEMBER_ROLE_ID,
    name: "Member",
    description: "Reads and writes data in every database",
    permissions: [allDatabases("describe", "read", "write")],
    isRequiredRole: false,
    createdAtNs: 0n,
    updatedAtNs: 0n
  }
]

/** The role with that id, built-in or custom. */
export const roleById = (state: CatalogState, id: number): RoleState | undefined =>
  BUILTIN_ROLES.find((r) => r.id === id) ?? usersOf(state).roles.get(id)

/** The role with that name (exact), built-in or custom. */
export const roleByName = (state: CatalogState, name: string): RoleState | undefined =>
  BUILTIN_ROLES.find((r) => r.name === name) ?? [...usersOf(state).roles.values()].find((r) => r.name === name)

/** Every role, built-in first. */
export const allRoles = (state: CatalogState): ReadonlyArray<RoleState> => [
  ...BUILTIN_ROLES,
  ...usersOf(state).roles.values()
]

/** The permissions of a user's roles, all together. */
export const userPermissions = (state: CatalogState, user: UserState): ReadonlyArray<RolePermission> =>
  user.roleIds.flatMap((id) => roleById(state, id)?.permissions ?? [])

/**
 * A user's access checked like a resource token's: Admin is an admin grant; otherwise database read/write
 * permissions become `db` permissions on the named databases (or `*`), the union over the user's roles.
 */
export const userGrant = (state: CatalogState, user: UserState): TokenGrant => {
  if (user.roleIds.includes(ADMIN_ROLE_ID)) return { _tag: "admin" }
  const permissions: Array<Permission> = []
  for (const p of userPermissions(state, user)) {
    if (p.resourceType !== "database") continue
    const actions = p.actions.filter((a): a is "read" | "write" => a === "read" || a === "write")
    if (actions.length === 0) continue
    permissions.push({ resourceType: "db", resourceNames: p.allResources ? ["*"] : p.identifiers, actions })
  }
  return { _tag: "resource", permissions }
}

/** Whether a user's roles grant `action` on users, roles or tokens. */
export const userMay = (
  state: CatalogState,
  user: UserState,
  resourceType: "user" | "role" | "token",
  action: string
): boolean =>
  user.roleIds.includes(ADMIN_ROLE_ID) ||
  userPermissions(state, user).some((p) => p.resourceType === resourceType && p.actions.includes(action))

/** A role as InfluxDB 3 answers it (`RoleByNameResponse`, `UserRoleResponse`): camelCase, epoch seconds. */
export const roleBody = (role: RoleState) => ({
  id: role.id,
  name: role.name,
  isRequiredRole: role.isRequiredRole,
  ...(role.description === null ? {} : { description: role.description }),
  createdAt: Number(role.createdAtNs / 1_000_000_000n),
  updatedAt: Number(role.updatedAtNs / 1_000_000_000n)
})

/** A permission as InfluxDB 3 answers it (`ApiPermission`). */
export const permissionBody = (p: RolePermission) =>
  p.resourceType === "database" ? { resourceType: p.resourceType, actions: p.actions, identifiers: p.identifiers, allResources: p.allResources } : { resourceType: p.resourceType, actions: p.actions }
