import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { expectError, expectOk } from "../support/expect.ts"
import { catalogOf, runCli, startServer, type InProcessServer } from "../support/server.ts"

let server: InProcessServer
let operator: string
let adminUserId: number

interface UserBody {
  userId: number
  username?: string
  displayName?: string
  requiresPasswordReset?: boolean
  createdAt: number
  updatedAt: number
  deletedAt?: number
  operatorToken?: string
  oauthId?: string
}
interface Session {
  accessToken: string
  refreshToken: string
  tokenType: string
  expiresIn: number
  userId: number
}

const post = (path: string, body: unknown, token?: string) => server.request("POST", path, { body, ...(token === undefined ? {} : { token }) })
const get = (path: string, token?: string) => server.request("GET", path, token === undefined ? {} : { token })
const login = (username: string, password: string) => post("/api/v3/authorize", { username, password })
const session = async (username: string, password: string) => expectOk(await login(username, password)).json<Session>()
const createUser = async (body: Record<string, unknown>, token = operator) => expectOk(await post("/api/v3/users", body, token), 201).json<UserBody>()
const write = (db: string, token: string) => server.request("POST", `/api/v3/write_lp?db=${db}`, { token, body: "cpu,host=a usage=1 1" })
const query = (db: string, token: string) => get(`/api/v3/query_sql?db=${db}&q=${encodeURIComponent("SELECT count(*) AS n FROM cpu")}`, token)

beforeAll(async () => {
  server = await startServer()
  // No token is needed to bootstrap the first user; the operator token is answered with it, once.
  const first = expectOk(await post("/api/v3/configure/user", { username: "root", password: "first-password", displayName: "Root" }), 201).json<UserBody>()
  expect(first).toMatchObject({ username: "root", displayName: "Root", requiresPasswordReset: false })
  expect(first.operatorToken).toMatch(/^apiv3_/)
  expect(JSON.stringify(first)).not.toMatch(/scrypt|password_?hash/i)
  operator = first.operatorToken!
  adminUserId = first.userId
  for (const db of ["alpha", "beta"]) expectOk(await write(db, operator), 204)
})
afterAll(() => server.stop())

describe("bootstrap and login", () => {
  it("the first user's bootstrap answers 409 once done, and the operator token it answered is an admin", async () => {
    expectError(await post("/api/v3/configure/user", { username: "again", password: "another-password" }), 409)
    expectError(await post("/api/v3/configure/token/admin", {}), 409)
    expectOk(await get("/api/v3/configure/database?format=json", operator))
  })

  it("login answers an access and a refresh token; the access token acts with the user's roles", async () => {
    const s = await session("root", "first-password")
    expect(s).toMatchObject({ tokenType: "Bearer", expiresIn: 3600, userId: adminUserId })
    expect(s.accessToken).not.toBe(s.refreshToken)
    // root is an Admin: admin-only calls work.
    expectOk(await get("/api/v3/configure/database?format=json", s.accessToken))
    expectOk(await get("/api/v3/users", s.accessToken))
    // The refresh token is not an access token.
    expectError(await get("/api/v3/users", s.refreshToken), 401)
  })

  it("a wrong password or an unknown user answers the same 401", async () => {
    const wrong = expectError(await login("root", "not-the-password"), 401)
    const unknown = expectError(await login("nobody", "not-the-password"), 401)
    expect(wrong.error).toBe(unknown.error)
    expectError(await post("/api/v3/authorize", { username: "root" }), 400)
  })

  it("refresh answers a new access token and the old one stops working; a bad refresh token is a 401", async () => {
    const s = await session("root", "first-password")
    const refreshed = expectOk(await post("/api/v3/authorize/refresh", { refreshToken: s.refreshToken })).json<Session>()
    expect(refreshed.accessToken).not.toBe(s.accessToken)
    expectOk(await get("/api/v3/users", refreshed.accessToken))
    expectError(await get("/api/v3/users", s.accessToken), 401)
    expectError(await post("/api/v3/authorize/refresh", { refreshToken: "apiv3r_nope" }), 401)
    expectError(await post("/api/v3/authorize/refresh", {}), 400)
  })

  it("passwords are stored as salted scrypt hashes, never in clear", async () => {
    const state = await catalogOf(server)
    const root = state.users.users.get(adminUserId)!
    expect(root.passwordHash).toMatch(/^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{86}$/)
    expect(root.passwordHash).not.toContain("first-password")
    const other = await createUser({ username: "same-pw", password: "first-password" })
    expect(state.users.users.get(adminUserId)!.passwordHash).not.toBe(
      (await catalogOf(server)).users.users.get(other.userId)!.passwordHash
    )
  })
  it("the replay CLI prints user events without their password hashes", async () => {
    const replayed = await runCli(["replay", "--data-dir", server.dataDir, "--json"])
    expect(replayed.code).toBe(0)
    expect(replayed.stdout).toContain('"kind":"UserCreated"')
    expect(replayed.stdout).toContain('"passwordHash":"<redacted>"')
    expect(replayed.stdout).not.toContain("scrypt$")
  })
})

describe("roles", () => {
  it("the built-in roles answer by name and id; unknown ones 404", async () => {
    const admin = expectOk(await get("/api/v3/roles_by_name/Admin", operator)).json<{ id: number; isRequiredRole: boolean }>()
    expect(admin).toMatchObject({ id: 1, name: "Admin", isRequiredRole: true })
    expect(expectOk(await get("/api/v3/roles_by_name/Member", operator)).json()).toMatchObject({ id: 3, isRequiredRole: false })
    expectError(await get("/api/v3/roles_by_name/Nope", operator), 404)
    const perms = expectOk(await get("/api/v3/roles/3/permissions", operator)).json<{ permissions: Array<unknown> }>()
    expect(perms.permissions).toEqual([{ resourceType: "database", actions: ["describe", "read", "write"], identifiers: [], allResources: true }])
    expectError(await get("/api/v3/roles/999/permissions", operator), 404)
    expectError(await get("/api/v3/roles/abc/permissions", operator), 404)
    expectError(await get("/api/v3/roles/1/permissions"), 401)
  })

  it("a custom role grants read on one database and write on another; a user's token has the union of its roles", async () => {
    const reader = expectOk(
      await post("/api/v3/roles", { name: "alpha-read", permissions: [{ resourceType: "database", actions: ["read"], identifiers: ["alpha"] }] }, operator),
      201
    ).json<{ id: number }>()
    const writer = expectOk(
      await post("/api/v3/roles", { name: "beta-write", permissions: [{ resourceType: "database", actions: ["write"], identifiers: ["beta"] }] }, operator),
      201
    ).json<{ id: number }>()
    expectError(await post("/api/v3/roles", { name: "alpha-read", permissions: [] }, operator), 409)
    expectError(await post("/api/v3/roles", { name: "bad", permissions: [{ resourceType: "database", actions: ["fly"], allResources: true }] }, operator), 400)

    const u = await createUser({ username: "analyst", password: "analyst-password", roleIds: [reader.id] })
    let token = (await session("analyst", "analyst-password")).accessToken
    expectOk(await query("alpha", token))
    expectError(await write("alpha", token), 403)
    expectError(await write("beta", token), 403)

    const roles = expectOk(await server.request("PUT", `/api/v3/users/${u.userId}/roles`, { token: operator, body: { roleIds: [reader.id, writer.id] } })).json<{ items: Array<{ name: string }> }>()
    expect(roles.items.map((r) => r.name)).toEqual(["alpha-read", "beta-write"])
    // Role changes apply to live tokens at once.
    expectOk(await write("beta", token), 204)
    expectError(await query("beta", token), 403)
    // Not an admin: no users, roles or databases to administer.
    expectError(await get("/api/v3/users", token), 403)
    expectError(await get("/api/v3/roles_by_name/Admin", token), 403)
    expectError(await post("/api/v3/configure/database", { db: "gamma" }, token), 403)
    token = (await session("analyst", "analyst-password")).accessToken
    expectOk(await get(`/api/v3/users/${u.userId}`, token))
  })
})

describe("the seed's user operations", () => {
  it("PATCH /api/v3/users/{id}: 200, 400, 401, 403, 404", async () => {
    const u = await createUser({ username: "patchme", password: "patch-password", roleIds: [3] })
    const patched = expectOk(await server.request("PATCH", `/api/v3/users/${u.userId}`, { token: operator, body: { displayName: "Patched" } })).json<UserBody>()
    expect(patched).toMatchObject({ userId: u.userId, username: "patchme", displayName: "Patched" })
    expectError(await server.request("PATCH", `/api/v3/users/${u.userId}`, { token: operator, body: { displayName: 7 } }), 400)
    expectError(await server.request("PATCH", "/api/v3/users/x", { token: operator, body: { displayName: "x" } }), 400)
    expectError(await server.request("PATCH", `/api/v3/users/${u.userId}`, { body: { displayName: "x" } }), 401)
    const member = (await session("patchme", "patch-password")).accessToken
    expectError(await server.request("PATCH", `/api/v3/users/${adminUserId}`, { token: member, body: { displayName: "x" } }), 403)
    // Users may update their own profile.
    expectOk(await server.request("PATCH", `/api/v3/users/${u.userId}`, { token: member, body: { displayName: "Self" } }))
    expectError(await server.request("PATCH", "/api/v3/users/4242", { token: operator, body: { displayName: "x" } }), 404)
  })

  it("DELETE /api/v3/users/{id}: 200 with deletedAt, 401, 403, 404; the user's tokens stop working at once", async () => {
    const u = await createUser({ username: "leaver", password: "leaver-password", roleIds: [3] })
    const other = await createUser({ username: "bystander", password: "bystander-password", roleIds: [3] })
    const token = (await session("leaver", "leaver-password")).accessToken
    const refresh = (await session("leaver", "leaver-password")).refreshToken
    expectOk(await query("alpha", token))
    expectError(await server.request("DELETE", `/api/v3/users/${other.userId}`, { token }), 403)
    expectError(await server.request("DELETE", `/api/v3/users/${u.userId}`), 401)
    const deleted = expectOk(await server.request("DELETE", `/api/v3/users/${u.userId}`, { token: operator })).json<UserBody>()
    expect(deleted.deletedAt).toBeGreaterThan(0)
    expectError(await query("alpha", token), 401)
    expectError(await post("/api/v3/authorize/refresh", { refreshToken: refresh }), 401)
    expectError(await login("leaver", "leaver-password"), 401)
    expectError(await server.request("DELETE", `/api/v3/users/${u.userId}`, { token: operator }), 404)
    expectError(await server.request("DELETE", "/api/v3/users/4242", { token: operator }), 404)
    // A user may delete their own account; the username is free again afterwards.
    const own = (await session("bystander", "bystander-password")).accessToken
    expectOk(await server.request("DELETE", `/api/v3/users/${other.userId}`, { token: own }))
    await createUser({ username: "bystander", password: "bystander-password-2" })
  })

  it("POST /api/v3/users/{id}/require-password-reset forces a reset before anything else: 200, 401, 403, 404", async () => {
    const u = await createUser({ username: "forgetful", password: "old-password", roleIds: [3] })
    const token = (await session("forgetful", "old-password")).accessToken
    expectError(await post(`/api/v3/users/${u.userId}/require-password-reset`, {}, token), 403)
    expectError(await post(`/api/v3/users/${u.userId}/require-password-reset`, {}), 401)
    expectError(await post("/api/v3/users/4242/require-password-reset", {}, operator), 404)
    const marked = expectOk(await post(`/api/v3/users/${u.userId}/require-password-reset`, {}, operator)).json<UserBody>()
    expect(marked.requiresPasswordReset).toBe(true)
    // Existing tokens end; login is refused until the password is reset.
    expectError(await query("alpha", token), 401)
    expectError(await login("forgetful", "old-password"), 403, /password reset required/)
    expectError(await post("/api/v3/authorize/reset-password", { username: "forgetful", password: "wrong-password", newPassword: "new-password" }), 401)
    expectError(await post("/api/v3/authorize/reset-password", { username: "forgetful", password: "old-password", newPassword: "short" }), 400)
    expectError(await post("/api/v3/authorize/reset-password", { username: "forgetful", password: "old-password", newPassword: "old-password" }), 400)
    const reset = expectOk(await post("/api/v3/authorize/reset-password", { username: "forgetful", password: "old-password", newPassword: "new-password" })).json<Session>()
    expectOk(await query("alpha", reset.accessToken))
    expectError(await login("forgetful", "old-password"), 401)
    expectOk(await login("forgetful", "new-password"))
    expect(expectOk(await get(`/api/v3/users/${u.userId}`, operator)).json<UserBody>().requiresPasswordReset).toBe(false)
  })

  it("GET and PUT /api/v3/users/{id}/roles: 200, 400, 401, 403, 404", async () => {
    const u = await createUser({ username: "roley", password: "roley-password", roleIds: [3] })
    expect(expectOk(await get(`/api/v3/users/${u.userId}/roles`, operator)).json()).toEqual({
      items: [{ id: 3, name: "Member", isRequiredRole: false, description: expect.any(String), createdAt: 0, updatedAt: 0 }]
    })
    expectError(await get(`/api/v3/users/${u.userId}/roles`), 401)
    expectError(await get("/api/v3/users/4242/roles", operator), 404)
    const member = (await session("roley", "roley-password")).accessToken
    // Own roles may be read, not changed.
    expectOk(await get(`/api/v3/users/${u.userId}/roles`, member))
    expectError(await get(`/api/v3/users/${adminUserId}/roles`, member), 403)
    expectError(await server.request("PUT", `/api/v3/users/${u.userId}/roles`, { token: member, body: { roleIds: [1] } }), 403)
    expectError(await server.request("PUT", `/api/v3/users/${u.userId}/roles`, { token: operator, body: { roleIds: [77] } }), 400)
    expectError(await server.request("PUT", `/api/v3/users/${u.userId}/roles`, { token: operator, body: { roles: [1] } }), 400)
    expectError(await server.request("PUT", `/api/v3/users/${u.userId}/roles`, { body: { roleIds: [1] } }), 401)
    expectError(await server.request("PUT", "/api/v3/users/4242/roles", { token: operator, body: { roleIds: [1] } }), 404)
    const set = expectOk(await server.request("PUT", `/api/v3/users/${u.userId}/roles`, { token: operator, body: { roleIds: [1] } })).json<{ items: Array<{ id: number }> }>()
    expect(set.items.map((r) => r.id)).toEqual([1])
    // Now an Admin, on the same token.
    expectOk(await get("/api/v3/users", member))
  })

  it("GET /api/v3/users_by_oauth_id/{oauth_id}: 200, 401, 403, 404", async () => {
    const u = await createUser({ oauthId: "idp|12345", displayName: "Via IdP", roleIds: [3] })
    expect(expectOk(await get("/api/v3/users_by_oauth_id/idp%7C12345", operator)).json<UserBody>()).toMatchObject({ userId: u.userId, oauthId: "idp|12345" })
    expectError(await get("/api/v3/users_by_oauth_id/unknown", operator), 404)
    expectError(await get("/api/v3/users_by_oauth_id/idp%7C12345"), 401)
    await createUser({ username: "plain", password: "plain-password", roleIds: [3] })
    const plain = (await session("plain", "plain-password")).accessToken
    expectError(await get("/api/v3/users_by_oauth_id/idp%7C12345", plain), 403)
  })

  it("a resource token is refused the user operations with 403", async () => {
    const res = expectOk(
      await post("/api/v3/enterprise/configure/token", { token_name: "rw", permissions: [{ resource_type: "db", resource_names: ["*"], actions: ["read", "write"] }] }, operator),
      201
    ).json<{ token: string }>().token
    expectError(await get("/api/v3/users", res), 403)
    expectError(await get("/api/v3/roles/1/permissions", res), 403)
    expectError(await server.request("DELETE", `/api/v3/users/${adminUserId}`, { token: res }), 403)
  })

  it("the last remaining user can only be deleted with the operator token", async () => {
    const other = await startServer()
    try {
      const first = expectOk(await other.request("POST", "/api/v3/configure/user", { body: { username: "solo", password: "solo-password" } }), 201).json<UserBody>()
      const token = expectOk(await other.request("POST", "/api/v3/authorize", { body: { username: "solo", password: "solo-password" } })).json<Session>().accessToken
      expectError(await other.request("DELETE", `/api/v3/users/${first.userId}`, { token }), 403, /last remaining user/)
      expectOk(await other.request("DELETE", `/api/v3/users/${first.userId}`, { token: first.operatorToken! }))
    } finally {
      await other.stop()
    }
  })

  it("with --without-auth there are no users to manage: 405", async () => {
    const open = await startServer({ withoutAuth: true })
    try {
      expectError(await open.request("POST", "/api/v3/configure/user", { body: { username: "u", password: "some-password" } }), 405)
      expectError(await open.request("GET", "/api/v3/users"), 405)
      expectError(await open.request("POST", "/api/v3/authorize", { body: { username: "u", password: "some-password" } }), 405)
    } finally {
      await open.stop()
    }
  })

  it("users, roles and sessions survive a restart", async () => {
    const s = await session("root", "first-password")
    const dir = server.dataDir
    await server.stop()
    server = await startServer({}, dir)
    expectOk(await get("/api/v3/users", s.accessToken))
    expectOk(await get("/api/v3/roles_by_name/alpha-read", operator))
    expectOk(await login("forgetful", "new-password"))
  })
})
