import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as NodeCrypto from "node:crypto"
import { permits } from "../../src/auth/tokens.ts"
import type { Permission, TokenGrant } from "../../src/events/index.ts"
import { expectError, expectOk } from "../support/expect.ts"
import { startServer, type InProcessServer, type TestResponse } from "../support/server.ts"

let server: InProcessServer
let admin: string

const TOKEN = /^apiv3_[A-Za-z0-9_-]{86}$/
const RFC3339_MS_Z = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const sha512 = (s: string) => NodeCrypto.createHash("sha512").update(s).digest("hex")
const MALFORMED =
  "Authorization header was malformed, the request was not in the form of 'Authorization: <auth-scheme> <token>', supported auth-schemes are Bearer, Token and Basic"

interface TokenBody {
  id: number
  name: string
  token: string
  hash: string
  created_at: string
  expiry: string | null
  token_name?: string
  permissions?: Array<{ resource_type: string; resource_names: Array<string>; actions: Array<string> }>
}

const tokenOf = (res: TestResponse) => expectOk(res, 201).json<TokenBody>()
const namedAdmin = (name: string, expiry_secs?: number, token = admin) =>
  server.request("POST", "/api/v3/configure/token/named_admin", { token, body: expiry_secs === undefined ? { token_name: name } : { token_name: name, expiry_secs } })
const resourceToken = (body: unknown, token = admin) => server.request("POST", "/api/v3/enterprise/configure/token", { token, body })
/** A request only an admin may make; answers 200 for one. */
const adminOnly = (token?: string) =>
  server.request("GET", "/api/v3/configure/database?format=json", token === undefined ? {} : { token })

/** The answer to the very first, unauthenticated, operator token request. */
let firstOperatorResponse: TestResponse

beforeAll(async () => {
  server = await startServer()
  firstOperatorResponse = await server.request("POST", "/api/v3/configure/token/admin")
  admin = firstOperatorResponse.json<TokenBody>().token
})
afterAll(() => server.stop())

describe("POST /api/v3/configure/token/admin", () => {
  it("creates the operator token without authentication: 201 with id, name, secret, hash and timestamps", async () => {
    const res = firstOperatorResponse
    const body = tokenOf(res)
    expect(res.headers.get("content-type")).toMatch(/json/)
    expect(Object.keys(body)).toEqual(["id", "name", "token", "hash", "created_at", "expiry"])
    expect(body.name).toBe("_admin")
    expect(body.token).toMatch(TOKEN)
    expect(body.hash).toBe(sha512(body.token))
    expect(body.created_at).toMatch(RFC3339_MS_Z)
    expect(Math.abs(Date.parse(body.created_at) - Date.now())).toBeLessThan(60_000)
    expect(body.expiry).toBeNull()
    expectOk(await adminOnly(admin))
  })

  it("a second operator token answers 409, with or without a token", async () => {
    expectError(await server.request("POST", "/api/v3/configure/token/admin"), 409, "token name already exists, _admin")
    expectError(await server.request("POST", "/api/v3/configure/token/admin", { token: admin }), 409, "token name already exists, _admin")
  })
})

describe("POST /api/v3/configure/token/admin/regenerate", () => {
  it("gives the operator token a new secret; the old one stops working at once", async () => {
    const before = admin
    const body = tokenOf(await server.request("POST", "/api/v3/configure/token/admin/regenerate", { token: before }))
    expect(body.name).toBe("_admin")
    expect(body.id).toBe(0)
    expect(body.token).toMatch(TOKEN)
    expect(body.token).not.toBe(before)
    expect(body.hash).toBe(sha512(body.token))
    admin = body.token
    expectError(await adminOnly(before), 401, "the request was not authenticated")
    expectOk(await adminOnly(admin))
  })

  it("without a token answers 401", async () => {
    expectError(await server.request("POST", "/api/v3/configure/token/admin/regenerate"), 401)
  })
})

describe("POST /api/v3/configure/token/named_admin", () => {
  it("creates an admin token with the given name that can administer", async () => {
    const body = tokenOf(await namedAdmin("ci"))
    expect(body.name).toBe("ci")
    expect(body.expiry).toBeNull()
    expect(body.hash).toBe(sha512(body.token))
    expectOk(await adminOnly(body.token))
    expectOk(await server.request("POST", "/api/v3/configure/database", { token: body.token, body: { db: "by-ci" } }))
  })

  it("expiry_secs sets the expiry that far after creation", async () => {
    const body = tokenOf(await namedAdmin("hourly", 3600))
    expect(body.expiry).toMatch(RFC3339_MS_Z)
    expect(Date.parse(body.expiry!) - Date.parse(body.created_at)).toBe(3_600_000)
  })

  it("an expired token answers 401", async () => {
    const body = tokenOf(await namedAdmin("brief", 1))
    expectOk(await adminOnly(body.token))
    await new Promise((resolve) => setTimeout(resolve, Date.parse(body.expiry!) - Date.now() + 50))
    expectError(await adminOnly(body.token), 401, "the request was not authenticated")
  })

  it("a taken name answers 409", async () => {
    tokenOf(await namedAdmin("taken"))
    expectError(await namedAdmin("taken"), 409, "token name already exists, taken")
  })

  it("the name _admin answers 400", async () => {
    expectError(await namedAdmin("_admin"), 400, "token name _admin is reserved")
  })

  it("a missing token_name answers 400", async () => {
    expectError(await server.request("POST", "/api/v3/configure/token/named_admin", { token: admin, body: {} }), 400, "missing field `token_name`")
  })

  it("a non-positive expiry_secs answers 400", async () => {
    expectError(await namedAdmin("never-valid", 0), 400, "expiry_secs must be a positive number of seconds")
  })

  it.each([
    ["infinite", "1e999", "expiry_secs must be a positive number of seconds"],
    ["past the latest date", "1e13", /too large/]
  ])("an expiry_secs %s answers 400 and creates no token", async (_, expiry, message) => {
    const body = `{"token_name":"forever","expiry_secs":${expiry}}`
    expectError(await server.request("POST", "/api/v3/configure/token/named_admin", { token: admin, body, headers: { "content-type": "application/json" } }), 400, message)
    expectError(await server.request("DELETE", "/api/v3/configure/token?token_name=forever", { token: admin }), 404)
  })

  it("needs an admin token: 401 without one", async () => {
    expectError(await server.request("POST", "/api/v3/configure/token/named_admin", { body: { token_name: "anon" } }), 401)
  })
})

describe("POST /api/v3/enterprise/configure/token", () => {
  it("creates a resource token and echoes its permissions", async () => {
    const body = tokenOf(
      await resourceToken({ token_name: "reader", permissions: [{ resource_type: "db", resource_identifier: ["a", "b"], actions: ["read"] }], expiry_secs: 300 })
    )
    expect(body).toMatchObject({
      name: "reader",
      token_name: "reader",
      permissions: [{ resource_type: "db", resource_names: ["a", "b"], actions: ["read"] }]
    })
    expect(Date.parse(body.expiry!) - Date.parse(body.created_at)).toBe(300_000)
  })

  it("accepts resource_names as well as resource_identifier", async () => {
    const body = tokenOf(await resourceToken({ token_name: "writer", permissions: [{ resource_type: "db", resource_names: ["*"], actions: ["read", "write"] }] }))
    expect(body.permissions).toEqual([{ resource_type: "db", resource_names: ["*"], actions: ["read", "write"] }])
  })

  it("a resource token cannot use admin endpoints: 403", async () => {
    const body = tokenOf(await resourceToken({ token_name: "not-admin", permissions: [{ resource_type: "db", resource_names: ["*"], actions: ["read", "write"] }] }))
    expectError(await adminOnly(body.token), 403, "unauthorized to perform requested action with the token")
    expectError(await server.request("POST", "/api/v3/configure/database", { token: body.token, body: { db: "nope" } }), 403)
    expectError(await namedAdmin("escalate", undefined, body.token), 403)
  })

  it("system read on health opens /health only", async () => {
    const body = tokenOf(await resourceToken({ token_name: "prober", permissions: [{ resource_type: "system", resource_names: ["health"], actions: ["read"] }] }))
    expectOk(await server.request("GET", "/health", { token: body.token }))
    expectOk(await server.request("GET", "/api/v1/health", { token: body.token }))
    expectError(await server.request("GET", "/ping", { token: body.token }), 403)
    expectError(await server.request("GET", "/metrics", { token: body.token }), 403)
  })

  it("system read on * opens health, ping and metrics", async () => {
    const body = tokenOf(await resourceToken({ token_name: "monitor", permissions: [{ resource_type: "system", resource_names: ["*"], actions: ["read"] }] }))
    for (const path of ["/health", "/ping", "/metrics"]) expectOk(await server.request("GET", path, { token: body.token }))
  })

  it.each([
    ["no permissions", { token_name: "r1", permissions: [] }, "permissions cannot be empty"],
    ["a permission without names", { token_name: "r2", permissions: [{ resource_type: "db", actions: ["read"] }] }, "missing field `permissions.0.resource_names`"],
    ["a wildcard mixed with names", { token_name: "r3", permissions: [{ resource_type: "db", resource_names: ["*", "a"], actions: ["read"] }] }, /wildcard/],
    ["an unknown resource type", { token_name: "r4", permissions: [{ resource_type: "table", resource_names: ["a"], actions: ["read"] }] }, /permissions\.0\.resource_type/],
    ["an unknown action", { token_name: "r5", permissions: [{ resource_type: "db", resource_names: ["a"], actions: ["delete"] }] }, /permissions\.0\.actions\.0/],
    ["write on a system resource", { token_name: "r6", permissions: [{ resource_type: "system", resource_names: ["health"], actions: ["write"] }] }, "system resources only take the read action"],
    ["an unknown system resource", { token_name: "r7", permissions: [{ resource_type: "system", resource_names: ["pprof"], actions: ["read"] }] }, /unknown system resource 'pprof'/]
  ])("%s answers 400", async (_, body, message) => {
    expectError(await resourceToken(body), 400, message)
  })

  it("a taken name answers 409", async () => {
    const body = { token_name: "twin", permissions: [{ resource_type: "db", resource_names: ["a"], actions: ["read"] }] }
    tokenOf(await resourceToken(body))
    expectError(await resourceToken(body), 409, "token name already exists, twin")
  })
})

describe("DELETE /api/v3/configure/token", () => {
  it("deletes a token (200, empty body); it stops working", async () => {
    const body = tokenOf(await namedAdmin("temp"))
    expectOk(await adminOnly(body.token))
    const res = expectOk(await server.request("DELETE", "/api/v3/configure/token?token_name=temp", { token: admin }))
    expect(res.text).toBe("")
    expectError(await adminOnly(body.token), 401)
  })

  it("the freed name can be used again", async () => {
    tokenOf(await namedAdmin("reused"))
    expectOk(await server.request("DELETE", "/api/v3/configure/token?token_name=reused", { token: admin }))
    tokenOf(await namedAdmin("reused"))
  })

  it("deleting the operator token answers 405", async () => {
    expectError(await server.request("DELETE", "/api/v3/configure/token?token_name=_admin", { token: admin }), 405, "cannot delete operator token")
    expectOk(await adminOnly(admin))
  })

  it("deleting an unknown token answers 404", async () => {
    expectError(await server.request("DELETE", "/api/v3/configure/token?token_name=ghost", { token: admin }), 404, "the requested resource was not found: ghost")
  })

  it("without token_name answers 400", async () => {
    expectError(await server.request("DELETE", "/api/v3/configure/token", { token: admin }), 400, "missing query parameter 'token_name'")
  })
})

describe("authentication schemes", () => {
  it.each([
    ["Bearer", () => `Bearer ${admin}`],
    ["Token", () => `Token ${admin}`],
    ["Basic with the token as password", () => `Basic ${Buffer.from(`anyone:${admin}`).toString("base64")}`],
    ["Basic with an empty user", () => `Basic ${Buffer.from(`:${admin}`).toString("base64")}`]
  ])("%s is accepted", async (_, header) => {
    expectOk(await server.request("GET", "/api/v3/configure/database?format=json", { headers: { authorization: header() } }))
  })

  it.each([
    ["a lowercase scheme", () => `bearer ${admin}`],
    ["a scheme without a token", () => "Bearer"],
    ["three parts", () => `Bearer ${admin} extra`],
    ["an unknown scheme", () => `Digest ${admin}`],
    ["Basic without a colon", () => `Basic ${Buffer.from(admin).toString("base64")}`]
  ])("%s is malformed: 400", async (_, header) => {
    expectError(await server.request("GET", "/api/v3/configure/database?format=json", { headers: { authorization: header() } }), 400, MALFORMED)
  })

  it("an unknown token answers 401", async () => {
    expectError(await adminOnly("apiv3_" + "A".repeat(86)), 401, "the request was not authenticated")
  })

  it("no Authorization header answers 401", async () => {
    expectError(await adminOnly(), 401, "the request was not authenticated")
  })

  it("?p= is accepted on /ping and takes precedence over the header", async () => {
    expectOk(await server.request("GET", `/ping?p=${admin}`))
    expectOk(await server.request("GET", `/ping?p=${admin}`, { headers: { authorization: "Bearer wrong" } }))
    expectError(await server.request("GET", "/ping?p=wrong", { token: admin }), 401)
  })

  it("?p= is ignored on /api/v3 endpoints", async () => {
    expectError(await server.request("GET", `/api/v3/configure/database?format=json&p=${admin}`), 401)
  })
})

describe("--without-auth", () => {
  let open: InProcessServer
  beforeAll(async () => {
    open = await startServer({ withoutAuth: true })
  })
  afterAll(() => open.stop())

  it("every endpoint answers without a token", async () => {
    expectOk(await open.request("GET", "/health"))
    expectOk(await open.request("GET", "/ping"))
    expectOk(await open.request("GET", "/metrics"))
    expectOk(await open.request("POST", "/api/v3/configure/database", { body: { db: "open" } }))
    expectOk(await open.request("GET", "/api/v3/configure/database?format=json"))
  })

  it("a bogus token is ignored", async () => {
    expectOk(await open.request("GET", "/api/v3/configure/database?format=json", { token: "bogus" }))
  })

  it.each([
    ["POST", "/api/v3/configure/token/admin", undefined],
    ["POST", "/api/v3/configure/token/admin/regenerate", undefined],
    ["POST", "/api/v3/configure/token/named_admin", { token_name: "x" }],
    ["POST", "/api/v3/enterprise/configure/token", { token_name: "x", permissions: [{ resource_type: "db", resource_names: ["*"], actions: ["read"] }] }],
    ["DELETE", "/api/v3/configure/token?token_name=x", undefined]
  ])("%s %s answers 405", async (method, path, body) => {
    expectError(await open.request(method, path, body === undefined ? {} : { body }), 405, "endpoint disabled, started without auth")
  })
})

describe("permission checks", () => {
  const resource = (permissions: ReadonlyArray<Permission>): TokenGrant => ({ _tag: "resource", permissions })

  it("an admin token may do anything, _internal included", () => {
    expect(permits({ _tag: "admin" }, { _tag: "admin" })).toBe(true)
    expect(permits({ _tag: "admin" }, { _tag: "db", action: "write", db: "_internal" })).toBe(true)
  })

  it("db read on named databases grants read on those only", () => {
    const grant = resource([{ resourceType: "db", resourceNames: ["a", "b"], actions: ["read"] }])
    expect(permits(grant, { _tag: "db", action: "read", db: "a" })).toBe(true)
    expect(permits(grant, { _tag: "db", action: "read", db: "b" })).toBe(true)
    expect(permits(grant, { _tag: "db", action: "read", db: "c" })).toBe(false)
    expect(permits(grant, { _tag: "db", action: "write", db: "a" })).toBe(false)
  })

  it("db * grants every database except _internal", () => {
    const grant = resource([{ resourceType: "db", resourceNames: ["*"], actions: ["read", "write"] }])
    expect(permits(grant, { _tag: "db", action: "write", db: "anything" })).toBe(true)
    expect(permits(grant, { _tag: "db", action: "read", db: "_internal" })).toBe(false)
  })

  it("db permissions grant no system resource and no admin action", () => {
    const grant = resource([{ resourceType: "db", resourceNames: ["*"], actions: ["read"] }])
    expect(permits(grant, { _tag: "system", resource: "health" })).toBe(false)
    expect(permits(grant, { _tag: "admin" })).toBe(false)
  })

  it("system permissions grant no database", () => {
    const grant = resource([{ resourceType: "system", resourceNames: ["*"], actions: ["read"] }])
    expect(permits(grant, { _tag: "system", resource: "metrics" })).toBe(true)
    expect(permits(grant, { _tag: "db", action: "read", db: "a" })).toBe(false)
  })

  it("a requirement of none is met by any token", () => {
    expect(permits(resource([]), { _tag: "none" })).toBe(true)
  })
})
