import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { parseSql } from "../../src/query/ast.ts"
import { fewRows, groupedRows } from "../../src/query/answerShape.ts"
import { startServerWith, type InProcessServer } from "../support/server.ts"
import { memoryConnection } from "../support/duckdb.ts"

// Queries whose shape bounds their answer to a few rows are read whole in one round trip to DuckDB; the rest stream.
// Either way the answer is the same.

describe("statements whose shape bounds their answer", () => {
  const conn = memoryConnection()
  const few = async (sql: string) => {
    const parsed = await parseSql(conn(), sql)
    if (!Array.isArray(parsed)) throw new Error(`did not parse: ${sql}`)
    return fewRows(parsed[0]!)
  }

  it("constants, plain aggregates without GROUP BY and small constant LIMITs have few rows", async () => {
    expect(await few("SELECT 1")).toBe(true)
    expect(await few("SELECT 'a' AS x, CAST(2 AS DOUBLE) AS y")).toBe(true)
    expect(await few("SELECT count(*) FROM cpu")).toBe(true)
    expect(await few("SELECT count(usage) AS n, avg(usage) AS m, 1 AS one FROM cpu WHERE host = 'a'")).toBe(true)
    expect(await few("SELECT * FROM cpu ORDER BY time DESC LIMIT 10")).toBe(true)
  })

  it("grouped, unbounded, large-LIMIT, set-operation and table-valued statements stream", async () => {
    expect(await few("SELECT * FROM cpu")).toBe(false)
    expect(await few("SELECT 1 FROM cpu")).toBe(false)
    expect(await few("SELECT host, count(*) FROM cpu GROUP BY host")).toBe(false)
    expect(await few("SELECT count(*) FROM cpu GROUP BY ALL")).toBe(false)
    expect(await few("SELECT * FROM cpu LIMIT 100000")).toBe(false)
    expect(await few("SELECT * FROM cpu LIMIT 10 OFFSET 5")).toBe(false)
    expect(await few("SELECT 1 UNION ALL SELECT 2")).toBe(false)
    expect(await few("SELECT unnest(range(10))")).toBe(false)
    expect(await few("SELECT count(*) + 1 FROM cpu")).toBe(false)
    expect(await few("SELECT sum(usage) OVER () FROM cpu")).toBe(false)
  })

  it("a GROUP BY over one table, making no rows of a value, answers at most a row per row it reads", async () => {
    const grouped = async (sql: string) => {
      const parsed = await parseSql(conn(), sql)
      if (!Array.isArray(parsed)) throw new Error(`did not parse: ${sql}`)
      return groupedRows(parsed[0]!)
    }
    expect(await grouped("SELECT host, count(*) FROM cpu GROUP BY host")).toBe(true)
    expect(await grouped("SELECT date_bin(INTERVAL '1 minute', time), max(v) FROM cpu WHERE h = 'a' GROUP BY 1 ORDER BY 1"))
      .toBe(true)
    expect(await grouped("SELECT host, count(*) FROM (SELECT * FROM cpu WHERE v > 1) GROUP BY ROLLUP (host)")).toBe(true)
    expect(await grouped("SELECT count(*) FROM cpu")).toBe(true)
    // Through the SELECTs reading an aggregate as their FROM (the InfluxQL planner's stages).
    expect(await grouped("SELECT make_timestamp_ns(b) AS t, n FROM (SELECT *, a AS n FROM (SELECT 0 AS b, count(v) AS a FROM cpu HAVING count(*) > 0)) ORDER BY t"))
      .toBe(true)
    expect(await grouped("SELECT h, m * 2 FROM (SELECT host AS h, max(v) AS m FROM cpu GROUP BY 1) WHERE m > 1 ORDER BY 1")).toBe(true)
    expect(await grouped("SELECT * FROM (SELECT * FROM cpu WHERE v > 1) ORDER BY time")).toBe(false)
    expect(await grouped("SELECT * FROM (SELECT host FROM cpu GROUP BY 1 UNION ALL SELECT host FROM mem)")).toBe(false)
    expect(await grouped("SELECT unnest(range(0, n)) FROM (SELECT count(*) AS n FROM cpu)")).toBe(false)
    expect(await grouped("SELECT * FROM cpu")).toBe(false)
    expect(await grouped("SELECT a.host, count(*) FROM cpu a JOIN mem b USING (host) GROUP BY 1")).toBe(false)
    expect(await grouped("SELECT host, count(*) FROM cpu, mem GROUP BY 1")).toBe(false)
    expect(await grouped("SELECT host, unnest(list(v)) FROM cpu GROUP BY host")).toBe(false)
    expect(await grouped("SELECT host, count(*) FROM cpu GROUP BY host UNION ALL SELECT 'x', 1")).toBe(false)
    expect(await grouped("WITH m AS (SELECT * FROM cpu JOIN mem USING (host)) SELECT host, count(*) FROM m GROUP BY 1"))
      .toBe(false)
  })
})

describe("answers read whole are the answers streamed", () => {
  let server: InProcessServer
  let token: string
  const get = (q: string, format: string) => server.request("GET", `/api/v3/query_sql?${new URLSearchParams({ db: "few", q, format })}`, { token })

  beforeAll(async () => {
    const lines = ["cpu,host=a usage=1.5,n=3i 1704067200", "cpu,host=b usage=99 1704067260", "cpu,host=a usage=2.25,n=4i,ok=true 1704067320"]
    const started = await startServerWith("few", lines.join("\n"), "second")
    server = started.server
    token = started.token
  }, 30_000)
  afterAll(() => server.stop())

  // `SELECT * FROM (q)` has a star over a subquery: never few rows, so it streams.
  const cases = [
    "SELECT 1 AS one",
    "SELECT 'x' AS s, 2.5 AS d, NULL AS nothing",
    "SELECT count(*) AS n FROM cpu",
    "SELECT count(usage) AS n, avg(usage) AS mean, max(time) AS latest, min(host) AS first FROM cpu",
    "SELECT sum(n) AS total FROM cpu WHERE host = 'zzz'",
    "SELECT * FROM cpu ORDER BY time LIMIT 2",
    "SELECT host, usage FROM cpu ORDER BY time LIMIT 0"
  ]
  for (const q of cases) {
    it(`${q} answers as it does streamed, in every format`, async () => {
      for (const format of ["json", "jsonl", "csv", "pretty"]) {
        const whole = await get(q, format)
        const streamed = await get(`SELECT * FROM (${q}) AS s`, format)
        expect(whole.status, `${format}: ${whole.text}`).toBe(200)
        expect(whole.text, format).toBe(streamed.text)
        expect(whole.headers.get("content-type")).toBe(streamed.headers.get("content-type"))
      }
    })
  }

  it("a grouped answer read materialised, larger than one whole body, answers as it does streamed", async () => {
    // 12,000 groups: past the rows encoded whole, so the materialised answer streams in pieces.
    const lines = Array.from({ length: 12_000 }, (_, i) => `many,k=k${i} v=${i} ${1_704_067_200 + (i % 7)}`)
    expect((await server.request("POST", "/api/v3/write_lp?db=few&precision=second", { body: lines.join("\n"), token })).status)
      .toBe(204)
    const q = "SELECT k, count(*) AS n, max(v) AS m FROM many GROUP BY k ORDER BY m"
    for (const format of ["json", "jsonl", "csv"]) {
      const grouped = await get(q, format)
      const streamed = await get(`SELECT * FROM (${q}) AS s`, format)
      expect(grouped.status, `${format}: ${grouped.text.slice(0, 300)}`).toBe(200)
      expect(grouped.text, format).toBe(streamed.text)
    }
    expect((await get(q, "jsonl")).text.split("\n").filter((l) => l !== "")).toHaveLength(12_000)
  })

  it("a few-rows query that fails answers with the status and message the streaming way gives", async () => {
    const whole = await get("SELECT CAST('x' AS INTEGER) AS v", "json")
    const streamed = await get("SELECT * FROM (SELECT CAST('x' AS INTEGER) AS v) AS s", "json")
    expect(whole.status).toBe(400)
    expect(whole.status).toBe(streamed.status)
    expect(whole.text).toBe(streamed.text)
  })
})
