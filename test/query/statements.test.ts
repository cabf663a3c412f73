import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Compactor } from "../../src/compactor/Compactor.ts"
import { preparedStatement } from "../../src/query/statements.ts"
import { expectOk } from "../support/expect.ts"
import { startServer, type InProcessServer } from "../support/server.ts"
import { memoryConnection } from "../support/duckdb.ts"

// Planned queries keep their DuckDB prepared statements per connection, reused only while the data they read has
// not changed: DuckDB folds what table statistics prove into a plan, so a statement kept past a write could answer
// from the data as it was.

describe("prepared statements kept per connection", () => {
  const conn = memoryConnection()

  it("the same text under the same validity is the same statement; another validity prepares it again", async () => {
    const first = await preparedStatement(conn(), "SELECT 1 AS one", [1, "a"])
    expect(await preparedStatement(conn(), "SELECT 1 AS one", [1, "a"])).toBe(first)
    const again = await preparedStatement(conn(), "SELECT 1 AS one", [2, "a"])
    expect(again).not.toBe(first)
    expect((await again.runAndReadAll()).getRows()).toEqual([[1]])
  })

  it("keeps the 32 most recently used texts", async () => {
    const oldest = await preparedStatement(conn(), "SELECT 0 AS n", [])
    for (let i = 1; i <= 32; i++) await preparedStatement(conn(), `SELECT ${i} AS n`, [])
    expect(await preparedStatement(conn(), "SELECT 32 AS n", [])).toBe(await preparedStatement(conn(), "SELECT 32 AS n", []))
    const reprepared = await preparedStatement(conn(), "SELECT 0 AS n", [])
    expect(reprepared).not.toBe(oldest)
    expect((await reprepared.runAndReadAll()).getRows()).toEqual([[0]])
  })
})

describe("a repeated query after a write sees the write", () => {
  let server: InProcessServer
  const write = async (lines: Array<string>) =>
    expectOk(await server.request("POST", "/api/v3/write_lp?db=s&precision=second", { body: lines.join("\n") }), 204)
  const rows = async (q: string) =>
    expectOk(await server.request("GET", `/api/v3/query_sql?db=s&format=json&q=${encodeURIComponent(q)}`)).json<Array<Record<string, unknown>>>()
  const persistNow = () => server.runtime.runPromise(Effect.flatMap(Compactor, (c) => c.persistNow))

  beforeAll(async () => {
    server = await startServer({ withoutAuth: true, gen1DurationMs: 60_000, persistIntervalMs: 3_600_000 })
  }, 30_000)
  afterAll(() => server.stop())

  // Each query is asked twice before the write (the second answer from the kept statement), then after it.
  const askTwice = async (q: string) => {
    const first = await rows(q)
    expect(await rows(q)).toEqual(first)
    return first
  }

  it("in the write buffer: counts, grouped answers and streamed rows beyond what the statistics allowed", async () => {
    await write(["m,host=a x=1 1704067200", "m,host=a x=10 1704067260"])
    const count = "SELECT count(*) AS n FROM m WHERE x > 100"
    const grouped = "SELECT host, max(x) AS top FROM m WHERE time >= '2024-01-01T00:05:00Z' GROUP BY host ORDER BY host"
    const streamed = "SELECT host, x FROM m WHERE x > 100"
    expect(await askTwice(count)).toEqual([{ n: 0 }])
    expect(await askTwice(grouped)).toEqual([])
    expect(await askTwice(streamed)).toEqual([])
    await write(["m,host=b x=200 1704067500"])
    expect(await rows(count)).toEqual([{ n: 1 }])
    expect(await rows(grouped)).toEqual([{ host: "b", top: 200 }])
    expect(await rows(streamed)).toEqual([{ host: "b", x: 200 }])
  })

  it("in Parquet files: a query over persisted rows sees rows persisted later", async () => {
    await write(["p,host=a v=1 1704067200"])
    await persistNow()
    const q = "SELECT count(*) AS n, max(v) AS top FROM p WHERE v > 5"
    expect(await askTwice(q)).toEqual([{ n: 0 }])
    await write(["p,host=a v=7 1704067201"])
    await persistNow()
    expect(await rows(q)).toEqual([{ n: 1, top: 7 }])
  })

  it("in a last-value cache: the newest value after a write", async () => {
    await write(["c,host=a v=0 1704067100"])
    expectOk(
      await server.request("POST", "/api/v3/configure/last_cache", {
        body: { db: "s", table: "c", name: "c_last", key_columns: ["host"], value_columns: ["v"] }
      }),
      201
    )
    await write(["c,host=a v=1 1704067200"])
    const q = "SELECT host, v FROM last_cache('c', 'c_last') WHERE v > 5"
    expect(await askTwice(q)).toEqual([])
    await write(["c,host=a v=9 1704067201"])
    expect(await rows(q)).toEqual([{ host: "a", v: 9 }])
  })
})

// Plans are kept by query text too (planCache.ts), reused while the catalog, files, buffer and caches are unchanged.
describe("a repeated query's kept plan", () => {
  let server: InProcessServer
  const write = async (db: string, lines: Array<string>) =>
    expectOk(await server.request("POST", `/api/v3/write_lp?db=${db}&precision=second`, { body: lines.join("\n") }), 204)
  const rows = async (db: string, q: string) =>
    expectOk(await server.request("GET", `/api/v3/query_sql?db=${db}&format=json&q=${encodeURIComponent(q)}`)).json<
      Array<Record<string, unknown>>
    >()

  beforeAll(async () => {
    server = await startServer({ withoutAuth: true, gen1DurationMs: 60_000, persistIntervalMs: 3_600_000 })
  }, 30_000)
  afterAll(() => server.stop())

  it("is not kept for a query holding the time: now() moves on between two asks", async () => {
    const nowS = Math.floor(Date.now() / 1000)
    await write("t", [`m,host=a x=1 ${nowS}`])
    const q = "SELECT count(*) AS n FROM m WHERE time > now() - INTERVAL '3 seconds'"
    expect(await rows("t", q)).toEqual([{ n: 1 }])
    await new Promise((resolve) => setTimeout(resolve, 4_500))
    expect(await rows("t", q)).toEqual([{ n: 0 }])
  })

  it("is not kept for a virtual table: system.queries counts each ask", async () => {
    const q = "SELECT count(*) AS n FROM system.queries WHERE query_text LIKE 'SELECT count(*) AS n FROM system.queries%'"
    const first = Number((await rows("t", q))[0]!["n"])
    expect(Number((await rows("t", q))[0]!["n"])).toBe(first + 1)
  })

  it("is made again when a retention period is set or changed: rows past it leave the answer, and come back", async () => {
    await write("r", ["m,host=a x=1 1704067200"])
    const q = "SELECT count(*) AS n FROM m"
    expect(await rows("r", q)).toEqual([{ n: 1 }])
    expect(await rows("r", q)).toEqual([{ n: 1 }])
    expectOk(await server.request("PUT", "/api/v3/configure/database", { body: { db: "r", retention_period: "30d" } }))
    expect(await rows("r", q)).toEqual([{ n: 0 }])
    // Within the same second: only the catalog tells the plans apart.
    expectOk(await server.request("PUT", "/api/v3/configure/database", { body: { db: "r", retention_period: "3650d" } }))
    expect(await rows("r", q)).toEqual([{ n: 1 }])
  })
})
