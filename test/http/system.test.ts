import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { expectError, expectOk } from "../support/expect.ts"
import { createOperatorToken, startServer, type InProcessServer } from "../support/server.ts"

let server: InProcessServer
let token: string

beforeAll(async () => {
  server = await startServer()
  token = await createOperatorToken(server)
})
afterAll(() => server.stop())

describe("GET /health and /api/v1/health", () => {
  it.each(["/health", "/api/v1/health"])("%s answers 200 text/plain OK", async (path) => {
    const res = expectOk(await server.request("GET", path, { token }))
    expect(res.text).toBe("OK")
    expect(res.headers.get("content-type")).toBe("text/plain; charset=utf-8")
  })

  it.each(["/health", "/api/v1/health"])("%s without a token answers 401", async (path) => {
    expectError(await server.request("GET", path), 401, "the request was not authenticated")
  })

  it("POST /health is not a route: 405", async () => {
    expectError(await server.request("POST", "/health", { token }), 405)
  })
})

describe("GET and POST /ping", () => {
  it.each(["GET", "POST"])("%s /ping answers 200 JSON with product, version, revision and process id", async (method) => {
    const res = expectOk(await server.request(method, "/ping", { token }))
    expect(res.headers.get("content-type")).toMatch(/^application\/json/)
    const body = res.json<Record<string, string>>()
    expect(Object.keys(body)).toEqual(["product_name", "version", "revision", "process_id"])
    expect(body.product_name).toBe("InfluxDB 3 Enterprise")
    expect(body.version).toMatch(/^\d+\.\d+\.\d+$/)
    expect(body.process_id).toMatch(/^[0-9a-f-]{36}$/)
  })

  it("/ping carries the build and version headers and one request id under two names", async () => {
    const res = await server.request("GET", "/ping", { token })
    const body = res.json<{ version: string }>()
    expect(res.headers.get("x-influxdb-build")).toBe("Enterprise")
    expect(res.headers.get("x-influxdb-version")).toBe(body.version)
    const requestId = res.headers.get("request-id")
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/)
    expect(res.headers.get("x-request-id")).toBe(requestId)
  })

  it("every /ping gets a new request id but the same process id", async () => {
    const [a, b] = await Promise.all([server.request("GET", "/ping", { token }), server.request("GET", "/ping", { token })])
    expect(a.headers.get("request-id")).not.toBe(b.headers.get("request-id"))
    expect(a.json<{ process_id: string }>().process_id).toBe(b.json<{ process_id: string }>().process_id)
  })

  it("/ping without a token answers 401", async () => {
    expectError(await server.request("GET", "/ping"), 401, "the request was not authenticated")
  })
})

describe("cluster-uuid", () => {
  it("is the same on successes and errors of one server", async () => {
    const ok = await server.request("GET", "/health", { token })
    const unauthenticated = await server.request("GET", "/health")
    const missing = await server.request("GET", "/nope", { token })
    const uuid = ok.headers.get("cluster-uuid")
    expect(uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(unauthenticated.headers.get("cluster-uuid")).toBe(uuid)
    expect(missing.headers.get("cluster-uuid")).toBe(uuid)
  })

  it("differs between two data directories", async () => {
    const other = await startServer()
    try {
      const [a, b] = await Promise.all([server.request("OPTIONS", "/"), other.request("OPTIONS", "/")])
      expect(a.headers.get("cluster-uuid")).not.toBe(b.headers.get("cluster-uuid"))
    } finally {
      await other.stop()
    }
  })
})

describe("--disable-authz", () => {
  it("health, ping and metrics listed there answer without a token; configure endpoints still need one", async () => {
    const open = await startServer({ disableAuthz: ["health", "ping", "metrics"] })
    try {
      expectOk(await open.request("GET", "/health"))
      expectOk(await open.request("GET", "/api/v1/health"))
      expectOk(await open.request("GET", "/ping"))
      expectOk(await open.request("POST", "/ping"))
      expectOk(await open.request("GET", "/metrics"))
      expectError(await open.request("GET", "/api/v3/configure/database?format=json"), 401)
    } finally {
      await open.stop()
    }
  })

  it("opens only the endpoints listed", async () => {
    const open = await startServer({ disableAuthz: ["health"] })
    try {
      expectOk(await open.request("GET", "/health"))
      expectOk(await open.request("GET", "/api/v1/health"))
      expectError(await open.request("GET", "/ping"), 401)
      expectError(await open.request("GET", "/metrics"), 401)
    } finally {
      await open.stop()
    }
  })

  it("an open endpoint ignores even a malformed Authorization header", async () => {
    const open = await startServer({ disableAuthz: ["ping"] })
    try {
      expectOk(await open.request("GET", "/ping", { headers: { authorization: "nonsense" } }))
    } finally {
      await open.stop()
    }
  })
})
