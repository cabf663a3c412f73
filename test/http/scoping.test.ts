import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { expectError, expectOk } from "../support/expect.ts"
import { createOperatorToken, createResourceToken, startServer, type InProcessServer } from "../support/server.ts"

// A token that may read and write `d1` only must see nothing of `d2`: not its queries, not its name.
describe("a token scoped to one database sees only that database", () => {
  let server: InProcessServer
  let admin: string
  let d1Only: string
  const sql = (token: string, db: string, q: string) => server.request("POST", "/api/v3/query_sql", { token, body: { db, q } })
  const telemetry = async (token: string) => expectOk(await server.request("GET", "/api/v3/query_sql_telemetry", { token })).json<{ query_text?: string }>()
  const v1 = async (token: string, q: string, db?: string) =>
    server.request("GET", `/query?${new URLSearchParams({ q, ...(db === undefined ? {} : { db }) })}`, { token })
  const v3 = (token: string, q: string, db?: string) => server.request("GET", `/api/v3/query_influxql?${new URLSearchParams({ q, ...(db === undefined ? {} : { db }) })}`, { token })

  beforeAll(async () => {
    server = await startServer()
    admin = await createOperatorToken(server)
    d1Only = await createResourceToken(server, admin, "d1-only", { resource_type: "db", resource_names: ["d1"], actions: ["read", "write"] })
    expectOk(await server.request("POST", "/api/v3/write_lp?db=d1", { token: admin, body: "m,host=a v=1 1" }), 204)
    expectOk(await server.request("POST", "/api/v3/write_lp?db=d2", { token: admin, body: "secret v=2 1" }), 204)
  }, 30_000)
  afterAll(() => server.stop())

  it("telemetry shows the token the last query on a database it may read, never another database's", async () => {
    expect(await telemetry(d1Only)).toMatchObject({ query_id: null })
    expectOk(await sql(d1Only, "d1", "SELECT v FROM m"))
    expectOk(await sql(admin, "d2", "SELECT v FROM secret WHERE v = 2"))
    expect((await telemetry(d1Only)).query_text).toBe("SELECT v FROM m")
    expect((await telemetry(admin)).query_text).toBe("SELECT v FROM secret WHERE v = 2")
    // InfluxQL on d2 is recorded under d2 too.
    expectOk(await v1(admin, "SELECT v FROM secret", "d2"))
    expect((await telemetry(d1Only)).query_text).toBe("SELECT v FROM m")
  })

  it("system.queries lists the queries of the database queried; d2's and _internal's are refused with 403", async () => {
    expectOk(await sql(admin, "d2", "SELECT 'admin on d2'"))
    const rows = expectOk(await sql(d1Only, "d1", "SELECT query_text FROM system.queries")).json<Array<{ query_text: string }>>()
    expect(rows.map((r) => r.query_text)).not.toContainEqual(expect.stringContaining("d2"))
    expect(rows.map((r) => r.query_text)).not.toContainEqual(expect.stringContaining("secret"))
    expectError(await sql(d1Only, "d2", "SELECT query_text FROM system.queries"), 403)
    expectError(await sql(d1Only, "_internal", "SELECT * FROM system.databases"), 403)
    expectError(await sql(d1Only, "_internal", "SELECT * FROM system.tokens"), 403)
  })

  it("SHOW DATABASES lists only d1 to the scoped token and every database to the admin (v1 and v3)", async () => {
    const v1Names = async (token: string) => expectOk(await v1(token, "SHOW DATABASES")).json<{ results: [{ series: [{ values: Array<[string]> }] }] }>().results[0].series[0].values.map((v) => v[0])
    expect(await v1Names(d1Only)).toEqual(["d1"])
    expect(await v1Names(admin)).toEqual(expect.arrayContaining(["d1", "d2"]))
    const v3Names = async (token: string) => expectOk(await v3(token, "SHOW DATABASES")).json<Array<{ "iox::database": string }>>().map((r) => r["iox::database"])
    expect(await v3Names(d1Only)).toEqual(["d1"])
    expect(await v3Names(admin)).toEqual(expect.arrayContaining(["d1", "d2"]))
  })

  it("SHOW RETENTION POLICIES lists only d1 to the scoped token; ON d2 is refused with 403", async () => {
    const rows = expectOk(await v3(d1Only, "SHOW RETENTION POLICIES")).json<Array<{ "iox::database": string }>>()
    expect(rows.map((r) => r["iox::database"])).toEqual(["d1"])
    expectError(await v3(d1Only, "SHOW RETENTION POLICIES ON d2"), 403)
    expect((await v1(d1Only, "SHOW RETENTION POLICIES ON d2")).status).toBe(403)
  })

  it("a database the token may not read answers 403 whether or not it exists, so 404 tells it nothing", async () => {
    expectError(await v3(d1Only, "SELECT * FROM secret", "d2"), 403)
    expectError(await v3(d1Only, "SELECT * FROM m", "nope"), 403)
    expectError(await v3(d1Only, "SHOW MEASUREMENTS ON nope"), 403)
    expect((await v1(d1Only, "SELECT * FROM nope..m")).status).toBe(403)
    expectError(await v3(admin, "SELECT * FROM m", "nope"), 404)
  })

  it("a NUL in query text is kept and shown: system.queries still answers 200 for everyone", async () => {
    expectOk(await sql(d1Only, "d1", "SELECT 1 AS one -- a\u0000b"))
    expectOk(await v1(d1Only, "SELECT v FROM m WHERE host = 'x\u0000y'", "d1"))
    for (const token of [d1Only, admin]) {
      const rows = expectOk(await sql(token, "d1", "SELECT query_text FROM system.queries")).json<Array<{ query_text: string }>>()
      expect(rows.map((r) => r.query_text)).toEqual(expect.arrayContaining(["SELECT 1 AS one -- a\u0000b", "SELECT v FROM m WHERE host = 'x\u0000y'"]))
    }
    expect((await telemetry(d1Only)).query_text).toBe("SELECT query_text FROM system.queries")
  })
})
