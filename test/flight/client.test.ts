import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { InfluxDBClient, type PointValues } from "@influxdata/influxdb3-client"
import { expectOk } from "../support/expect.ts"
import { createOperatorToken, startServer, type InProcessServer } from "../support/server.ts"

// 2024-01-01T00:00:00Z in seconds.
const T0 = 1_704_067_200

const collect = async <T>(rows: AsyncIterable<T>): Promise<Array<T>> => {
  const out: Array<T> = []
  for await (const row of rows) out.push(row)
  return out
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

  it("SQL: every field type comes back typed, nulls left out", async () => {
    const rows = await collect(client.query("SELECT * FROM cpu ORDER BY time"))
    expect(rows).toHaveLength(3)
    // The client leaves uinteger values as Arrow gives them (bigint), against InfluxDB 3 too.
    expect(rows[0]).toMatchObject({ host: "a", region: "eu", usage: 1.5, count: 3, free: 7n, ok: true, note: "hi, there" })
    expect(rows[1]).toMatchObject({ host: "b", usage: 99 })
    expect(rows[1]!["region"]).toBeNull()
    expect(rows[2]).toMatchObject({ count: -4, ok: false })
  })
})
