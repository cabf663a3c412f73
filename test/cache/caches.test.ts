import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Compactor } from "../../src/compactor/Compactor.ts"
import { expectError, expectOk } from "../support/expect.ts"
import { createOperatorToken, createResourceToken, startServer, type InProcessServer } from "../support/server.ts"

let server: InProcessServer
let token: string

beforeAll(async () => {
  server = await startServer()
  token = await createOperatorToken(server)
})
afterAll(() => server.stop())

const NOW_MS = Date.now()

const write = async (db: string, lines: ReadonlyArray<string>, target: Pick<InProcessServer, "request"> = server) =>
  expectOk(await target.request("POST", `/api/v3/write_lp?db=${db}&precision=millisecond`, { token, body: lines.join("\n") }), 204)

const sql = async (db: string, q: string, target: Pick<InProcessServer, "request"> = server) => {
  const res = await target.request("GET", `/api/v3/query_sql?db=${db}&format=json&q=${encodeURIComponent(q)}`, { token })
  expect({ status: res.status, text: res.text }).toMatchObject({ status: 200 })
  return res.json<Array<Record<string, unknown>>>()
}

const createLast = (body: Record<string, unknown>) => server.request("POST", "/api/v3/configure/last_cache", { token, body })
const createDistinct = (body: Record<string, unknown>) => server.request("POST", "/api/v3/configure/distinct_cache", { token, body })

/** Three hosts in two regions, each written at three times; host c has no usage at its latest time. */
const seed = (db: string) =>
  write(db, [
    `cpu,host=a,region=eu usage=1,state="ok" ${NOW_MS - 30_000}`,
    `cpu,host=a,region=eu usage=2,state="ok" ${NOW_MS - 20_000}`,
    `cpu,host=a,region=eu usage=3,state="busy" ${NOW_MS - 10_000}`,
    `cpu,host=b,region=us usage=10,state="ok" ${NOW_MS - 30_000}`,
    `cpu,host=b,region=us usage=11,state="ok" ${NOW_MS - 5_000}`,
    `cpu,host=c,region=us usage=20,state="ok" ${NOW_MS - 25_000}`,
    `cpu,host=c,region=us state="down" ${NOW_MS - 15_000}`
  ])

describe("POST /api/v3/configure/last_cache", () => {
  beforeAll(() => seed("lvc"))

  it("creating with only db and table answers 201 with InfluxDB 3's defaults: keys the tags, count 1, ttl 4 h", async () => {
    const res = expectOk(await createLast({ db: "lvc", table: "cpu" }), 201)
    const body = res.json()
    const op = body.catalog_batch.Database.ops[0].CreateLastCache
    expect(body.catalog_batch.Database.database_name).toBe("lvc")
    expect(typeof body.sequence_number).toBe("number")
    expect(op).toMatchObject({ table: "cpu", name: "cpu_host_region_last_cache", node_spec: "all", value_columns: "all_non_key_columns", count: 1, ttl: 14400 })
    expect(op.key_columns).toEqual([{ tag: 0 }, { tag: 1 }])
  })

  it("explicit options and node_spec are kept: explicit value columns, count, ttl", async () => {
    const res = expectOk(
      await createLast({ db: "lvc", table: "cpu", name: "by_host", key_columns: ["host"], value_columns: ["usage"], count: 2, ttl: 600, node_spec: { node_ids: ["n1"] } }),
      201
    )
    const op = res.json().catalog_batch.Database.ops[0].CreateLastCache
    expect(op).toMatchObject({ name: "by_host", count: 2, ttl: 600, node_spec: { node_ids: ["n1"] } })
    expect(op.value_columns.explicit.columns).toHaveLength(2)
  })

  it("the same name with the same configuration answers 409, with another configuration 400", async () => {
    expectError(await createLast({ db: "lvc", table: "cpu", name: "by_host", key_columns: ["host"], value_columns: ["usage"], count: 2, ttl: 600 }), 409, /already exists/)
    expectError(await createLast({ db: "lvc", table: "cpu", name: "by_host", key_columns: ["host"], count: 3 }), 400, /by_host already exists .* different configuration/)
  })

  it("an unknown database or table answers 404", async () => {
    expectError(await createLast({ db: "nope", table: "cpu" }), 404, /database not found: nope/)
    expectError(await createLast({ db: "lvc", table: "nope" }), 404, /table not found: nope/)
  })

  it("unknown or unsuitable columns answer 400 naming them", async () => {
    const unknown = expectError(await createLast({ db: "lvc", table: "cpu", key_columns: ["host", "zone", "rack"] }), 400, /invalid key column provided: zone, rack/, { columns: ["zone", "rack"] })
    expect(unknown.error).toContain("zone")
    expectError(await createLast({ db: "lvc", table: "cpu", key_columns: ["usage"] }), 400, /only uint64, int64, bool, tag, and string columns are supported in the last cache: usage is float/, { columns: ["usage"] })
    expectError(await createLast({ db: "lvc", table: "cpu", key_columns: ["host"], value_columns: ["nope"] }), 400, /invalid value column provided: nope/, { columns: ["nope"] })
    expectError(await createLast({ db: "lvc", table: "cpu", count: 0 }), 400, "last cache size must be greater than 0")
  })

  it("a missing table field answers 400; no token 401; a token without admin rights 403", async () => {
    expectError(await createLast({ db: "lvc" }), 400, /table/)
    const res = await server.request("POST", "/api/v3/configure/last_cache", { body: { db: "lvc", table: "cpu" } })
    expect(res.status).toBe(401)
    const writer = await createResourceToken(server, token, "lvc-writer", { resource_type: "db", resource_names: ["lvc"], actions: ["read", "write"] })
    expect((await server.request("POST", "/api/v3/configure/last_cache", { token: writer, body: { db: "lvc", table: "cpu" } })).status).toBe(403)
    expect((await server.request("DELETE", "/api/v3/configure/distinct_cache?db=lvc&table=cpu&name=x", { token: writer })).status).toBe(403)
  })

  it("DELETE answers 200 by query parameters or JSON body, and 404 for an unknown cache", async () => {
    expectOk(await createLast({ db: "lvc", table: "cpu", name: "gone", key_columns: ["host"] }), 201)
    expectOk(await server.request("DELETE", "/api/v3/configure/last_cache?db=lvc&table=cpu&name=gone", { token }))
    expectError(await server.request("DELETE", "/api/v3/configure/last_cache?db=lvc&table=cpu&name=gone", { token }), 404, /gone/)
    expectOk(await createLast({ db: "lvc", table: "cpu", name: "gone2", key_columns: ["host"] }), 201)
    expectOk(await server.request("DELETE", "/api/v3/configure/last_cache", { token, body: { db: "lvc", table: "cpu", name: "gone2" } }))
    expectError(await server.request("DELETE", "/api/v3/configure/last_cache?db=nope&table=cpu&name=x", { token }), 404)
    expectError(await server.request("DELETE", "/api/v3/configure/last_cache?db=lvc&table=cpu", { token }), 400, /name/)
  })
})

describe("POST /api/v3/configure/distinct_cache", () => {
  beforeAll(() => seed("dvc"))

  it("creating answers 201 with defaults max_cardinality 100,000 and max_age 1 day", async () => {
    const res = expectOk(await createDistinct({ db: "dvc", table: "cpu", columns: ["region", "host"], node_spec: "all" }), 201)
    expect(res.json().catalog_batch.Database.ops[0].CreateDistinctCache).toMatchObject({
      table_name: "cpu",
      cache_name: "cpu_region_host_distinct_cache",
      column_ids: [1, 0],
      max_cardinality: 100000,
      max_age_seconds: 86400
    })
  })

  it("409 for the same again, 400 for unsuitable, unknown or no columns, 404 for an unknown table", async () => {
    expectError(await createDistinct({ db: "dvc", table: "cpu", columns: ["region", "host"] }), 409)
    expectError(await createDistinct({ db: "dvc", table: "cpu", columns: ["usage"] }), 400, /only tag and string columns are supported in the distinct cache: usage is float/, { columns: ["usage"] })
    expectError(await createDistinct({ db: "dvc", table: "cpu", columns: ["nope"] }), 400, /nope/, { columns: ["nope"] })
    expectError(await createDistinct({ db: "dvc", table: "cpu", columns: [] }), 400, /at least one column/)
    expectError(await createDistinct({ db: "dvc", table: "cpu", columns: ["host"], max_cardinality: 0 }), 400, /max_cardinality/)
    expectError(await createDistinct({ db: "dvc", table: "nope", columns: ["host"] }), 404)
  })

  it("DELETE answers 200, then 404", async () => {
    expectOk(await createDistinct({ db: "dvc", table: "cpu", name: "tmp", columns: ["host"] }), 201)
    expectOk(await server.request("DELETE", "/api/v3/configure/distinct_cache?db=dvc&table=cpu&name=tmp", { token }))
    expectError(await server.request("DELETE", "/api/v3/configure/distinct_cache?db=dvc&table=cpu&name=tmp", { token }), 404)
  })
})

describe("last_cache() and distinct_cache()", () => {
  beforeAll(async () => {
    await seed("q")
    expectOk(await createLast({ db: "q", table: "cpu", key_columns: ["host"] }), 201)
    expectOk(await createDistinct({ db: "q", table: "cpu", columns: ["region", "host"] }), 201)
  })

  const latestSql = "SELECT host, region, usage, state, time FROM cpu WHERE (host, time) IN (SELECT host, max(time) FROM cpu GROUP BY host) ORDER BY host"

  it("last_cache() answers what the plain SQL for the latest row per host answers, key columns first and time last", async () => {
    const cached = await sql("q", "SELECT * FROM last_cache('cpu') ORDER BY host")
    expect(Object.keys(cached[0]!)).toEqual(["host", "region", "usage", "state", "time"])
    expect(cached).toEqual(await sql("q", latestSql))
    expect(cached.map((r) => [r["host"], r["usage"] ?? null])).toEqual([["a", 3], ["b", 11], ["c", null]])
  })

  it("distinct_cache() answers SELECT DISTINCT over its columns, sorted", async () => {
    expect(await sql("q", "SELECT * FROM distinct_cache('cpu')")).toEqual(await sql("q", "SELECT DISTINCT region, host FROM cpu ORDER BY region, host"))
  })

  it("the functions compose with WHERE, ORDER BY and joins", async () => {
    expect(await sql("q", "SELECT host, usage FROM last_cache('cpu', 'cpu_host_last_cache') WHERE host <> 'a' ORDER BY host DESC")).toEqual([{ host: "c" }, { host: "b", usage: 11 }])
    const joined = await sql("q", "SELECT d.region, l.host, l.usage FROM distinct_cache('cpu') AS d JOIN last_cache('cpu') AS l ON d.host = l.host WHERE d.region = 'us' ORDER BY l.host")
    expect(joined).toEqual([{ region: "us", host: "b", usage: 11 }, { region: "us", host: "c" }])
  })

  it("a new write shows in the caches at once", async () => {
    await write("q", [`cpu,host=a,region=eu usage=4,state="ok" ${NOW_MS - 1_000}`, `cpu,host=d,region=ap usage=40 ${NOW_MS - 1_000}`])
    expect(await sql("q", "SELECT host, usage FROM last_cache('cpu') WHERE host IN ('a', 'd') ORDER BY host")).toEqual([{ host: "a", usage: 4 }, { host: "d", usage: 40 }])
    expect(await sql("q", "SELECT * FROM last_cache('cpu') ORDER BY host")).toEqual(await sql("q", latestSql))
    expect(await sql("q", "SELECT * FROM distinct_cache('cpu')")).toEqual(await sql("q", "SELECT DISTINCT region, host FROM cpu ORDER BY region, host"))
  })

  it("an older write does not replace the latest row", async () => {
    await write("q", [`cpu,host=b,region=us usage=99 ${NOW_MS - 29_000}`])
    expect(await sql("q", "SELECT usage FROM last_cache('cpu') WHERE host = 'b'")).toEqual([{ usage: 11 }])
  })

  it("an unknown cache or table is a 400 planning error", async () => {
    const res = await server.request("GET", `/api/v3/query_sql?db=q&format=json&q=${encodeURIComponent("SELECT * FROM last_cache('cpu', 'nope')")}`, { token })
    expectError(res, 400, "Error during planning: could not find cache for the given arguments")
    const bad = await server.request("GET", `/api/v3/query_sql?db=q&format=json&q=${encodeURIComponent("SELECT * FROM last_cache(1)")}`, { token })
    expectError(bad, 400, /string literals/)
  })

  it("system.last_caches and system.distinct_caches list the caches with InfluxDB 3's columns", async () => {
    expect(await sql("q", "SELECT * FROM system.last_caches")).toEqual([
      {
        table: "cpu",
        name: "cpu_host_last_cache",
        key_column_ids: [0],
        key_column_names: ["host"],
        value_column_ids: [1, 2, 3, 4],
        value_column_names: ["region", "usage", "state", "time"],
        count: 1,
        ttl: 14400
      }
    ])
    expect(await sql("q", "SELECT * FROM system.distinct_caches")).toEqual([
      { table: "cpu", name: "cpu_region_host_distinct_cache", column_ids: [1, 0], column_names: ["region", "host"], max_cardinality: 100000, max_age_seconds: 86400 }
    ])
  })

  it("_internal's system.tables counts each table's caches", async () => {
    expect(await sql("_internal", "SELECT last_cache_count, distinct_cache_count FROM system.tables WHERE database_name = 'q' AND table_name = 'cpu'")).toEqual([
      { last_cache_count: 1, distinct_cache_count: 1 }
    ])
  })

  it("query_sql_telemetry's cache_stats counts the cache reads of the last query", async () => {
    await sql("q", "SELECT l.host FROM last_cache('cpu') AS l JOIN distinct_cache('cpu') AS d ON l.host = d.host")
    const stats = expectOk(await server.request("GET", "/api/v3/query_sql_telemetry", { token })).json().cache_stats
    expect(stats).toMatchObject({ last_cache_hits: 1, distinct_cache_hits: 1 })
  })

  it("a data-only delete of the table empties its caches; later writes fill them again", async () => {
    await seed("emptied")
    expectOk(await createLast({ db: "emptied", table: "cpu", key_columns: ["host"] }), 201)
    expectOk(await createDistinct({ db: "emptied", table: "cpu", columns: ["host"] }), 201)
    expect(await sql("emptied", "SELECT count(*) AS n FROM last_cache('cpu')")).toEqual([{ n: 3 }])
    expectOk(await server.request("DELETE", "/api/v3/configure/table?db=emptied&table=cpu&data_only=true", { token }))
    expect(await sql("emptied", "SELECT count(*) AS n FROM last_cache('cpu')")).toEqual([{ n: 0 }])
    expect(await sql("emptied", "SELECT count(*) AS n FROM distinct_cache('cpu')")).toEqual([{ n: 0 }])
    await write("emptied", [`cpu,host=z,region=eu usage=7 ${NOW_MS - 1_000}`])
    expect(await sql("emptied", "SELECT host, usage FROM last_cache('cpu')")).toEqual([{ host: "z", usage: 7 }])
  })

  it("deleting the table drops its caches", async () => {
    await seed("dropped")
    expectOk(await createLast({ db: "dropped", table: "cpu" }), 201)
    expectOk(await server.request("DELETE", "/api/v3/configure/table?db=dropped&table=cpu", { token }))
    await seed("dropped")
    expect(await sql("dropped", "SELECT * FROM system.last_caches")).toEqual([])
  })
})

describe("restart", () => {
  it("keeps the definitions and the contents", async () => {
    const first = await startServer()
    const admin = await createOperatorToken(first)
    const req = (method: string, path: string, body?: unknown) =>
      first.request(method, path, { token: admin, ...(body === undefined ? {} : { body }) })
    const asAdmin = { request: (m: string, p: string, o: object = {}) => first.request(m, p, { ...o, token: admin }) }
    await write("r", [`cpu,host=a usage=1 ${NOW_MS - 20_000}`, `cpu,host=b usage=2 ${NOW_MS - 10_000}`], asAdmin)
    expectOk(await req("POST", "/api/v3/configure/last_cache", { db: "r", table: "cpu" }), 201)
    expectOk(await req("POST", "/api/v3/configure/distinct_cache", { db: "r", table: "cpu", columns: ["host"] }), 201)
    await write("r", [`cpu,host=a usage=5 ${NOW_MS - 1_000}`], asAdmin)
    const before = await sql("r", "SELECT * FROM last_cache('cpu') ORDER BY host", asAdmin)
    await first.stop()

    const second = await startServer({}, first.dataDir)
    try {
      const again = { request: (m: string, p: string, o: object = {}) => second.request(m, p, { ...o, token: admin }) }
      expect(await sql("r", "SELECT * FROM last_cache('cpu') ORDER BY host", again)).toEqual(before)
      expect(before.map((r) => r["usage"])).toEqual([5, 2])
      expect(await sql("r", "SELECT * FROM distinct_cache('cpu')", again)).toEqual([{ host: "a" }, { host: "b" }])
      expect((await sql("r", "SELECT name FROM system.last_caches", again)).map((r) => r["name"])).toEqual(["cpu_host_last_cache"])
    } finally {
      await second.stop()
    }
  })
})

describe("stored data", () => {
  it("a cache created over persisted Parquet files and buffered rows holds what the plain SQL answers, and again after a restart", async () => {
    const first = await startServer({ gen1DurationMs: 60_000, persistIntervalMs: 3_600_000 })
    const admin = await createOperatorToken(first)
    const asAdmin = { request: (m: string, p: string, o: object = {}) => first.request(m, p, { ...o, token: admin }) }
    const persistNow = () => first.runtime.runPromise(Effect.flatMap(Compactor, (c) => c.persistNow))
    const lines = (from: number, n: number, age: number) => Array.from({ length: n }, (_, i) => `cpu,host=h${(from + i) % 7},region=r${(from + i) % 3} usage=${from + i} ${NOW_MS - age + i}`)
    await write("p", lines(0, 50, 120_000), asAdmin)
    expect(await persistNow()).toBeDefined()
    await write("p", lines(50, 20, 60_000), asAdmin)
    expect(await persistNow()).toBeDefined()
    // Buffered rows, some over persisted times of the same series (they win).
    await write("p", [...lines(70, 10, 30_000), `cpu,host=h1,region=r1 usage=-1 ${NOW_MS - 60_000 + 1}`], asAdmin)
    expectOk(await asAdmin.request("POST", "/api/v3/configure/last_cache", { body: { db: "p", table: "cpu", key_columns: ["host"], count: 3 } }), 201)
    expectOk(await asAdmin.request("POST", "/api/v3/configure/distinct_cache", { body: { db: "p", table: "cpu", columns: ["host", "region"] } }), 201)
    const latest3 = "SELECT host, region, usage, time FROM (SELECT *, row_number() OVER (PARTITION BY host ORDER BY time DESC) AS n FROM cpu) WHERE n <= 3 ORDER BY host, time"
    const distinct = "SELECT DISTINCT host, region FROM cpu ORDER BY host, region"
    const cached = await sql("p", "SELECT * FROM last_cache('cpu') ORDER BY host, time", asAdmin)
    expect(cached).toHaveLength(21)
    expect(cached).toEqual(await sql("p", latest3, asAdmin))
    expect(await sql("p", "SELECT * FROM distinct_cache('cpu')", asAdmin)).toEqual(await sql("p", distinct, asAdmin))
    await first.stop()

    const second = await startServer({ gen1DurationMs: 60_000, persistIntervalMs: 3_600_000 }, first.dataDir)
    try {
      const again = { request: (m: string, p: string, o: object = {}) => second.request(m, p, { ...o, token: admin }) }
      expect(await sql("p", "SELECT * FROM last_cache('cpu') ORDER BY host, time", again)).toEqual(cached)
      expect(await sql("p", "SELECT * FROM distinct_cache('cpu')", again)).toEqual(await sql("p", distinct, again))
    } finally {
      await second.stop()
    }
  })
})
