import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { expectOk } from "../support/expect.ts"
import { createOperatorToken, startServer, type InProcessServer } from "../support/server.ts"

/**
 * `last_cache()` and `distinct_cache()` read a DuckDB table per cache that is kept current from the cache's changes
 * (src/cache/sql.ts): these check that what a query sees stays what the plain SQL answers through each way the table
 * is brought up to date (built whole, a few changed keys, many changed keys, a new column, evictions, a cache deleted
 * and created again).
 */

let server: InProcessServer
let token: string

beforeAll(async () => {
  server = await startServer()
  token = await createOperatorToken(server)
})
afterAll(() => server.stop())

const NOW_MS = Date.now()

const write = async (db: string, lines: ReadonlyArray<string>) =>
  expectOk(await server.request("POST", `/api/v3/write_lp?db=${db}&precision=millisecond`, { token, body: lines.join("\n") }), 204)

const sql = async (db: string, q: string) => {
  const res = await server.request("GET", `/api/v3/query_sql?db=${db}&format=json&q=${encodeURIComponent(q)}`, { token })
  expect({ status: res.status, text: res.text }).toMatchObject({ status: 200 })
  return res.json<Array<Record<string, unknown>>>()
}

const configure = (kind: "last_cache" | "distinct_cache", method: "POST" | "DELETE", body: Record<string, unknown>) =>
  server.request(method, `/api/v3/configure/${kind}`, { token, body })

const hosts = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `h${String(from + i).padStart(4, "0")}`)

/** One line per host at `ms`, usage derived from both so every round writes different values. */
const round = (names: ReadonlyArray<string>, ms: number, extra = "") =>
  names.map((h, i) => `cpu,host=${h} usage=${(ms % 1000) + i / 8}${extra} ${ms}`)

/** The newest two rows per host by the plain SQL, as a last cache of count 2 holds them. */
const newestTwo =
  "SELECT host, usage, time FROM (SELECT host, usage, time, row_number() OVER (PARTITION BY host ORDER BY time DESC) AS n " +
  "FROM cpu) WHERE n <= 2 ORDER BY host, time"
const fromCache = "SELECT host, usage, time FROM last_cache('cpu') ORDER BY host, time"

describe("a last cache's table", () => {
  beforeAll(async () => {
    await write("keep", round(hosts(400), NOW_MS - 60_000))
    await write("keep", round(hosts(400), NOW_MS - 50_000))
    expectOk(await configure("last_cache", "POST", { db: "keep", table: "cpu", key_columns: ["host"], value_columns: ["usage"], count: 2 }), 201)
  })

  it("answers what the plain SQL answers when first read, after one key changed, after many and after all", async () => {
    expect(await sql("keep", fromCache)).toEqual(await sql("keep", newestTwo))
    await write("keep", round(hosts(1, 7), NOW_MS - 40_000))
    expect(await sql("keep", fromCache)).toEqual(await sql("keep", newestTwo))
    // 150 of 400 keys: more rows than one SQL script carries, fewer keys than a rebuild takes.
    await write("keep", round(hosts(150, 100), NOW_MS - 30_000))
    expect(await sql("keep", fromCache)).toEqual(await sql("keep", newestTwo))
    await write("keep", [...round(hosts(400), NOW_MS - 20_000), ...round(hosts(5, 400), NOW_MS - 20_000)])
    expect(await sql("keep", fromCache)).toEqual(await sql("keep", newestTwo))
    expect(await sql("keep", "SELECT count(*) AS n FROM last_cache('cpu')")).toEqual([{ n: 805 }])
  })

  it("still answers the same after many rounds of changes (the table is copied once deleted rows pile up)", async () => {
    for (let i = 0; i < 16; i++) {
      await write("keep", round(hosts(100, (i * 37) % 300), NOW_MS - 15_000 + i))
      expect(await sql("keep", fromCache)).toEqual(await sql("keep", newestTwo))
    }
  })

  it("each write shows in the next query", async () => {
    for (let i = 0; i < 5; i++) {
      await write("keep", round(hosts(3, 10 * i), NOW_MS - 10_000 + i))
      const latest = await sql("keep", `SELECT host, usage, time FROM last_cache('cpu') WHERE host = '${hosts(1, 10 * i)[0]}' ORDER BY time DESC LIMIT 1`)
      expect(latest).toEqual(await sql("keep", `SELECT host, usage, time FROM cpu WHERE host = '${hosts(1, 10 * i)[0]}' ORDER BY time DESC LIMIT 1`))
    }
  })
})

describe("a last cache of every non-key column", () => {
  it("shows a field added to the table after the cache was read", async () => {
    await write("grow", round(hosts(3), NOW_MS - 5_000))
    expectOk(await configure("last_cache", "POST", { db: "grow", table: "cpu", key_columns: ["host"] }), 201)
    expect(await sql("grow", "SELECT * FROM last_cache('cpu') ORDER BY host")).toEqual(await sql("grow", "SELECT host, usage, time FROM cpu ORDER BY host"))
    await write("grow", round(hosts(2), NOW_MS - 4_000, ",temp=21i"))
    const latest = "SELECT host, temp, usage, time FROM cpu WHERE (host, time) IN (SELECT host, max(time) FROM cpu GROUP BY host) ORDER BY host"
    expect(await sql("grow", "SELECT host, temp, usage, time FROM last_cache('cpu') ORDER BY host")).toEqual(await sql("grow", latest))
    expect(Object.keys((await sql("grow", "SELECT * FROM last_cache('cpu') ORDER BY host"))[0]!)).toEqual(["host", "usage", "temp", "time"])
  })
})

describe("evictions and definitions", () => {
  it("rows past the ttl leave the answer", async () => {
    // An old row creates the table; past the ttl already, the cache does not load it.
    await write("ttl", round(hosts(1, 900), NOW_MS - 60_000))
    expectOk(await configure("last_cache", "POST", { db: "ttl", table: "cpu", key_columns: ["host"], ttl: 1 }), 201)
    await write("ttl", round(hosts(2), Date.now()))
    expect((await sql("ttl", "SELECT host FROM last_cache('cpu') ORDER BY host")).map((r) => r["host"])).toEqual(hosts(2))
    await new Promise((r) => setTimeout(r, 1_500))
    await write("ttl", round(hosts(1, 50), Date.now()))
    expect(await sql("ttl", "SELECT host FROM last_cache('cpu') ORDER BY host")).toEqual([{ host: "h0050" }])
  })

  it("a distinct cache past its max_cardinality keeps the combinations seen last", async () => {
    await write("card", round(hosts(1), NOW_MS - 9_000))
    expectOk(await configure("distinct_cache", "POST", { db: "card", table: "cpu", columns: ["host"], max_cardinality: 3 }), 201)
    expect(await sql("card", "SELECT host FROM distinct_cache('cpu')")).toEqual([{ host: "h0000" }])
    for (const h of ["h0009", "h0005", "h0007", "h0003"]) await write("card", round([h], NOW_MS - 8_000))
    expect(await sql("card", "SELECT host FROM distinct_cache('cpu')")).toEqual([{ host: "h0003" }, { host: "h0005" }, { host: "h0007" }])
  })

  it("a cache deleted and created again under its name answers the table's rows, not the old cache's", async () => {
    await write("again", round(hosts(3), NOW_MS - 9_000))
    const def = { db: "again", table: "cpu", name: "latest", key_columns: ["host"] }
    expectOk(await configure("last_cache", "POST", def), 201)
    expect(await sql("again", "SELECT count(*) AS n FROM last_cache('cpu', 'latest')")).toEqual([{ n: 3 }])
    expectOk(await configure("last_cache", "DELETE", { db: "again", table: "cpu", name: "latest" }), 200)
    await write("again", round(hosts(2, 3), NOW_MS - 8_000))
    expectOk(await configure("last_cache", "POST", def), 201)
    expect(await sql("again", "SELECT host, usage, time FROM last_cache('cpu', 'latest') ORDER BY host")).toEqual(
      await sql("again", "SELECT host, usage, time FROM cpu ORDER BY host")
    )
  })
})
