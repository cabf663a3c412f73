import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { InfluxDBClient } from "@influxdata/influxdb3-client"
import { expectOk } from "../support/expect.ts"
import { createOperatorToken, createResourceToken, startServer, type InProcessServer } from "../support/server.ts"

// 2024-01-01T00:00:00Z in seconds.
const T0 = 1_704_067_200

const collect = async <T>(rows: AsyncIterable<T>): Promise<Array<T>> => {
  const out: Array<T> = []
  for await (const row of rows) out.push(row)
  return out
}

/** The gRPC status (its name, as the client's RpcError gives it) and message of a failed query. */
const failure = async (rows: AsyncIterable<unknown>): Promise<{ code: string; message: string }> => {
  try {
    await collect(rows)
  } catch (e) {
    const error = e as { code?: string; message: string }
    return { code: String(error.code), message: error.message }
  }
  throw new Error("the query succeeded")
}

describe("the official v3 client's query() and queryPoints() over Arrow Flight on the HTTP port", () => {
  let server: InProcessServer
  let token: string
  let client: InfluxDBClient

  beforeAll(async () => {
    server = await startServer()
    token = await createOperatorToken(server)
    const lines = [
      `cpu,host=a,region=eu usage=1.5,count=3i,free=7u,ok=true,note="hi, there" ${T0}`,
      `cpu,host=b usage=99 ${T0 + 60}`,
      `cpu,host=a,region=eu usage=2.25,count=-4i,free=18446744073709551615u,ok=false ${T0 + 120}`
    ].join("\n")
    expectOk(await server.request("POST", "/api/v3/write_lp?db=fl&precision=second", { body: lines, token }), 204)
    client = new InfluxDBClient({ host: server.url, token, database: "fl" })
  }, 30_000)
  afterAll(async () => {
    await client?.close()
    await server?.stop()
  })

  it("SQL: every field type and the tags come back typed; a missing value is null", async () => {
    const rows = await collect(client.query("SELECT * FROM cpu ORDER BY time"))
    expect(rows).toHaveLength(3)
    // The client leaves uinteger values as Arrow gives them (bigint), against InfluxDB 3 too.
    expect(rows[0]).toMatchObject({
      host: "a",
      region: "eu",
      usage: 1.5,
      count: 3,
      free: 7n,
      ok: true,
      note: "hi, there"
    })
    expect(rows[1]).toMatchObject({ host: "b", usage: 99, region: null, count: null })
    expect(rows[2]).toMatchObject({ count: -4, free: 18446744073709551615n, ok: false })
  })

  it("SQL with parameters", async () => {
    const rows = await collect(
      client.query("SELECT host, usage FROM cpu WHERE host = $host AND usage > $min ORDER BY time", "fl", {
        params: { host: "a", min: 2 }
      })
    )
    expect(rows).toEqual([{ host: "a", usage: 2.25 }])
  })

  it("queryPoints rebuilds points: measurement-less SQL rows with tags, typed fields and the timestamp", async () => {
    const points = await collect(client.queryPoints("SELECT * FROM cpu WHERE host = 'a' ORDER BY time", "fl"))
    expect(points).toHaveLength(2)
    const p = points[0]!
    expect(p.getTag("host")).toBe("a")
    expect(p.getTag("region")).toBe("eu")
    expect(p.getFieldType("usage")).toBe("float")
    expect(p.getFloatField("usage")).toBe(1.5)
    expect(p.getFieldType("count")).toBe("integer")
    expect(p.getIntegerField("count")).toBe(3)
    expect(p.getFieldType("free")).toBe("uinteger")
    expect(p.getFieldType("ok")).toBe("boolean")
    expect(p.getBooleanField("ok")).toBe(true)
    expect(p.getFieldType("note")).toBe("string")
    expect(p.getStringField("note")).toBe("hi, there")
    expect(BigInt(p.getTimestamp()!.toString())).toBeGreaterThan(0n)
    expect(p.asPoint("cpu").toLineProtocol()).toContain("cpu,host=a,region=eu")
  })

  it("InfluxQL: rows carry iox::measurement; queryPoints sets the measurement; parameters bind", async () => {
    const rows = await collect(
      client.query("SELECT usage, count FROM cpu WHERE host = $host", "fl", { type: "influxql", params: { host: "a" } })
    )
    expect(rows).toHaveLength(2)
    expect(rows[0]).toMatchObject({ "iox::measurement": "cpu", usage: 1.5, count: 3 })
    const points = await collect(client.queryPoints("SELECT * FROM cpu WHERE host = 'b'", "fl", { type: "influxql" }))
    expect(points).toHaveLength(1)
    expect(points[0]!.getMeasurement()).toBe("cpu")
    expect(points[0]!.getTag("host")).toBe("b")
    expect(points[0]!.getFloatField("usage")).toBe(99)
    // apache-arrow reads a nanosecond timestamp as milliseconds; the client keeps what it reads (as with InfluxDB 3).
    expect(points[0]!.getTimestamp()).toBe((T0 + 60) * 1000)
  })

  it("InfluxQL SHOW statements answer over Flight too", async () => {
    const rows = await collect(client.query("SHOW MEASUREMENTS", "fl", { type: "influxql" }))
    expect(rows.map((r) => r["name"])).toEqual(["cpu"])
  })

  it("an empty answer is no rows", async () => {
    expect(await collect(client.query("SELECT * FROM cpu WHERE host = 'nobody'"))).toEqual([])
  })

  it("a bad token is UNAUTHENTICATED, a token without the database PERMISSION_DENIED", async () => {
    const stranger = new InfluxDBClient({ host: server.url, token: "apiv3_nope", database: "fl" })
    try {
      const denied = await failure(stranger.query("SELECT 1"))
      expect(denied.code).toBe("UNAUTHENTICATED")
    } finally {
      await stranger.close()
    }
    expectOk(await server.request("POST", "/api/v3/configure/database", { token, body: { db: "other" } }), 200)
    const otherOnly = await createResourceToken(server, token, "other-reader", {
      resource_type: "db",
      resource_names: ["other"],
      actions: ["read"]
    })
    const limited = new InfluxDBClient({ host: server.url, token: otherOnly, database: "fl" })
    try {
      const forbidden = await failure(limited.query("SELECT * FROM cpu"))
      expect(forbidden.code).toBe("PERMISSION_DENIED")
      expect(forbidden.message).toContain("unauthorized to perform requested action with the token")
    } finally {
      await limited.close()
    }
  })

  it("an unknown database or table and bad SQL are INVALID_ARGUMENT with InfluxDB's message", async () => {
    const noDb = await failure(client.query("SELECT 1", "nowhere"))
    expect(noDb.code).toBe("INVALID_ARGUMENT")
    expect(noDb.message).toContain("database not found: nowhere")
    const noTable = await failure(client.query("SELECT * FROM nothing"))
    expect(noTable.code).toBe("INVALID_ARGUMENT")
    expect(noTable.message).toContain("nothing")
    const bad = await failure(client.query("SELEC 1"))
    expect(bad.code).toBe("INVALID_ARGUMENT")
    const badInfluxql = await failure(client.query("SELECT FROM", "fl", { type: "influxql" }))
    expect(badInfluxql.code).toBe("INVALID_ARGUMENT")
    expect(badInfluxql.message).toContain("parsing error")
  })
})
