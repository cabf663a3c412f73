import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as NodeZlib from "node:zlib"
import { expectError, expectOk } from "../support/expect.ts"
import { createOperatorToken, startServer, type InProcessServer } from "../support/server.ts"

let server: InProcessServer
let token: string

beforeAll(async () => {
  server = await startServer({ maxHttpRequestSize: 1024 })
  token = await createOperatorToken(server)
})
afterAll(() => server.stop())

describe("unknown routes", () => {
  it("an unknown path answers 404 with the JSON error body", async () => {
    expectError(await server.request("GET", "/api/v3/nope", { token }), 404, "not found: GET /api/v3/nope")
  })

  // InfluxDB matches paths exactly. find-my-way (under HttpLayerRouter) ignores trailing slashes by default, so this
  // needs `routerConfig: { ignoreTrailingSlash: false }` in src/server.ts; remove `.fails` once that is set.
  it("paths match exactly: a trailing slash is a different path", async () => {
    expectError(await server.request("GET", "/health/", { token }), 404)
  })

  it("an unknown path without a valid token answers 401: authentication comes before routing", async () => {
    expectError(await server.request("GET", "/api/v3/nope"), 401, "the request was not authenticated")
    expectError(await server.request("GET", "/api/v3/nope", { token: "apiv3_wrong" }), 401)
  })

  it("the root path answers 404", async () => {
    expectError(await server.request("GET", "/", { token }), 404, "not found: GET /")
  })

  it("query strings do not affect routing", async () => {
    expectOk(await server.request("GET", "/health?x=1", { token }))
  })
})

describe("wrong methods", () => {
  it.each([
    ["PATCH", "/api/v3/configure/database", "GET, POST, PUT, DELETE"],
    ["GET", "/api/v3/configure/table", "POST, PUT, DELETE"],
    ["DELETE", "/ping", "GET, POST"],
    ["PUT", "/metrics", "GET"],
    ["GET", "/api/v3/configure/token", "DELETE"],
    ["GET", "/api/v3/configure/token/admin", "POST"],
    ["PUT", "/api/v3/configure/database/retention_period", "POST, DELETE"],
    ["GET", "/api/v3/enterprise/configure/table/retention_period", "POST, DELETE"]
  ])("%s %s answers 405 listing the allowed methods", async (method, path, allowed) => {
    const res = await server.request(method, path, { token })
    expectError(res, 405, `method ${method} not allowed on ${path}; allowed: ${allowed}`)
    expect(res.headers.get("allow")).toBe(allowed)
  })

  // InfluxDB does not route HEAD at all, so HEAD /ping is 404. Strata's fallback in src/http/router.ts answers 405
  // because GET exists on the path; this test flips to a failure (remove `.fails`) once the router treats HEAD as
  // unknown.
  it("HEAD /ping answers 404, as HEAD is not routed", async () => {
    const res = await server.request("HEAD", "/ping", { token })
    expect(res.status).toBe(404)
  })
})

describe("OPTIONS preflight", () => {
  it.each(["/api/v3/configure/database", "/ping", "/no/such/path"])("OPTIONS %s answers 204 with CORS headers and no token", async (path) => {
    const res = await server.request("OPTIONS", path)
    expect(res.status).toBe(204)
    expect(res.text).toBe("")
    expect(res.headers.get("access-control-allow-origin")).toBe("*")
    expect(res.headers.get("access-control-allow-methods")).toBe("*")
    expect(res.headers.get("access-control-allow-headers")).toBe("*")
    expect(res.headers.get("access-control-max-age")).toBe("86400")
    expect(res.headers.get("cluster-uuid")).toMatch(/^[0-9a-f-]{36}$/)
  })
})

describe("JSON request bodies", () => {
  it("a gzip-encoded body is decompressed", async () => {
    const body = NodeZlib.gzipSync(JSON.stringify({ db: "gzipped" }))
    expectOk(await server.request("POST", "/api/v3/configure/database", { token, body, headers: { "content-type": "application/json", "content-encoding": "gzip" } }))
    const list = await server.request("GET", "/api/v3/configure/database?format=json", { token })
    expect(list.json<Array<Record<string, string>>>().map((r) => r["iox::database"])).toContain("gzipped")
  })

  it("Content-Encoding: identity is accepted", async () => {
    expectOk(await server.request("POST", "/api/v3/configure/database", { token, body: JSON.stringify({ db: "identity" }), headers: { "content-type": "application/json", "content-encoding": "identity" } }))
  })

  it("an unknown Content-Encoding answers 400", async () => {
    expectError(
      await server.request("POST", "/api/v3/configure/database", { token, body: "{}", headers: { "content-type": "application/json", "content-encoding": "br" } }),
      400,
      "unacceptable content-encoding: br"
    )
  })

  it("a body that is not valid gzip answers 400", async () => {
    expectError(
      await server.request("POST", "/api/v3/configure/database", { token, body: "not gzip at all", headers: { "content-type": "application/json", "content-encoding": "gzip" } }),
      400,
      /^error decoding gzip stream: /
    )
  })

  it("a body over --max-http-request-size answers 413", async () => {
    const body = JSON.stringify({ db: "big", pad: "x".repeat(2000) })
    expectError(await server.request("POST", "/api/v3/configure/database", { token, body, headers: { "content-type": "application/json" } }), 413, "max request size (1024 bytes) exceeded")
  })

  it("a small gzip body that inflates past the limit answers 413", async () => {
    const body = NodeZlib.gzipSync(JSON.stringify({ db: "bomb", pad: "x".repeat(100_000) }))
    expect(body.length).toBeLessThan(1024)
    expectError(
      await server.request("POST", "/api/v3/configure/database", { token, body, headers: { "content-type": "application/json", "content-encoding": "gzip" } }),
      413,
      "max request size (1024 bytes) exceeded"
    )
  })

  it("a non-JSON Content-Type answers 415", async () => {
    expectError(
      await server.request("POST", "/api/v3/configure/database", { token, body: JSON.stringify({ db: "x" }), headers: { "content-type": "text/plain" } }),
      415,
      "unacceptable content-type, expected: application/json"
    )
  })

  it("an application/*+json Content-Type is accepted", async () => {
    expectOk(await server.request("POST", "/api/v3/configure/database", { token, body: JSON.stringify({ db: "plusjson" }), headers: { "content-type": "application/vnd.strata+json; charset=utf-8" } }))
  })

  it("malformed JSON answers 400", async () => {
    expectError(await server.request("POST", "/api/v3/configure/database", { token, body: "{", headers: { "content-type": "application/json" } }), 400, /^malformed JSON body: /)
  })

  it("a missing required key answers 400 naming it", async () => {
    expectError(await server.request("POST", "/api/v3/configure/database", { token, body: {} }), 400, "missing field `db`")
  })

  it("a key of the wrong type answers 400 naming it", async () => {
    expectError(await server.request("POST", "/api/v3/configure/database", { token, body: { db: 5 } }), 400, /^invalid value for field `db`/)
  })
})
