import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as Os from "node:os"
import type { TableState } from "../../src/catalog/state.ts"
import { resolveServeConfig } from "../../src/config.ts"
import { Compactor } from "../../src/compactor/Compactor.ts"
import { parseSql, type JsonObject } from "../../src/query/ast.ts"
import { rewriteDialect } from "../../src/query/dialect/index.ts"
import { seriesAggregateOf } from "../../src/query/seriesAggregate.ts"
import { ParquetMemCache } from "../../src/storage/ParquetMemCache.ts"
import { memoryConnection } from "../support/duckdb.ts"
import { expectOk } from "../support/expect.ts"
import { startServer, type InProcessServer } from "../support/server.ts"

// Series aggregates over persisted files are answered from their decoded columns (ParquetMemCache) instead of
// DuckDB: the answers must be the very bytes DuckDB gives, and every query of another shape must still go to DuckDB.

const table = {
  id: 1,
  name: "cpu",
  columns: [
    { name: "host", type: "tag" },
    { name: "region", type: "tag" },
    { name: "time", type: "time" },
    { name: "usage", type: "float" },
    { name: "idle", type: "float" },
    { name: "n", type: "integer" },
    { name: "w", type: "uinteger" },
    { name: "label", type: "string" }
  ]
} as unknown as TableState

describe("--parquet-mem-cache-size and --disable-parquet-mem-cache", () => {
  const size = (flags: Record<string, string | true>, env: Record<string, string> = {}) =>
    Either.map(resolveServeConfig(flags, env), (c) => c.parquetMemCacheBytes)

  it("reads a size, megabytes (a bare number, as InfluxDB 3) or a share of memory; off is 0; nonsense is refused", () => {
    expect(size({ "parquet-mem-cache-size": "512MiB" })).toEqual(Either.right(512 * 1024 ** 2))
    expect(size({ "parquet-mem-cache-size": "1000" })).toEqual(Either.right(1000 * 1024 ** 2))
    expect(size({}, { INFLUXDB3_PARQUET_MEM_CACHE_SIZE: "2GiB" })).toEqual(Either.right(2 * 1024 ** 3))
    const tenth = Either.getOrThrow(size({}))
    expect(tenth).toBeGreaterThan(0)
    expect(tenth).toBeLessThanOrEqual(Math.floor(Os.totalmem() / 10))
    expect(size({ "disable-parquet-mem-cache": true })).toEqual(Either.right(0))
    expect(size({}, { STRATA_DISABLE_PARQUET_MEM_CACHE: "true" })).toEqual(Either.right(0))
    const refused = resolveServeConfig({ "parquet-mem-cache-size": "lots" }, {})
    expect(Either.isLeft(refused) && refused.left.message).toContain("invalid --parquet-mem-cache-size 'lots'")
  })
})

describe("which statements are series aggregates", () => {
  const conn = memoryConnection()
  const shapeOf = async (sql: string) => {
    const parsed = await parseSql(conn(), sql)
    if (!Array.isArray(parsed)) throw new Error(`did not parse: ${sql}`)
    const statement = rewriteDialect(parsed[0]!, { nowNs: 0n }) as JsonObject
    const node = statement["node"] as JsonObject
    return seriesAggregateOf(node, node["from_table"] as JsonObject, table)
  }

  it("reads the bin, the tags, the aggregates, the WHERE and the ORDER BY", async () => {
    const shape = await shapeOf(
      "SELECT date_bin(INTERVAL '1 minute', time) AS t, host, max(usage) AS m, count(*) FROM cpu " +
        "WHERE host IN ('a', 'b') AND region = 'west' AND time >= '2024-01-01T00:00:00Z' AND time < '2024-01-01T01:00:00Z' " +
        "GROUP BY 1, host ORDER BY host DESC, t"
    )
    expect(shape).toBeDefined()
    expect(shape!.bin).toEqual({ strideNs: 60_000_000_000n, originNs: 0n })
    expect(shape!.groupTags).toEqual(["host"])
    expect([...shape!.equalities].map(([k, v]) => [k, [...v].sort()])).toEqual([["host", ["a", "b"]], ["region", ["west"]]])
    expect(shape!.minNs).toBe(1_704_067_200_000_000_000n)
    expect(shape!.maxNs).toBe(1_704_070_800_000_000_000n - 1n)
    expect(shape!.outputs.map((o) => o.name)).toEqual(["t", "host", "m", "count(*)"])
    expect(shape!.order.map((o) => [o.key.kind, o.descending])).toEqual([["tag", true], ["bin", false]])
    expect((await shapeOf("SELECT count(usage) AS c, avg(idle) FROM cpu"))?.grouped).toBe(false)
    // Integers by their exact aggregates, any field by count.
    const exact = await shapeOf("SELECT max(n), min(w), selector_last(n, time)['value'] AS v, count(label) FROM cpu")
    expect(exact?.outputs.map((o) => (o.kind === "aggregate" ? `${o.fn}:${o.fieldType}` : ""))).toEqual([
      "max:integer",
      "min:uinteger",
      "last_value:integer",
      "count:string"
    ])
    // now() ± a fixed interval is a constant of the query (now() is 0 here).
    const recent = await shapeOf("SELECT max(usage) FROM cpu WHERE time > now() - INTERVAL '2 hours' AND time <= now() + INTERVAL '1 week'")
    expect([recent?.minNs, recent?.maxNs]).toEqual([-7_200_000_000_000n + 1n, 604_800_000_000_000n])
  })

  it("leaves every other shape to DuckDB", async () => {
    for (const sql of [
      "SELECT max(usage) FROM cpu WHERE usage > 5",
      "SELECT selector_last(usage, time) AS v FROM cpu",
      "SELECT selector_max(usage, time)['value'] AS v FROM cpu",
      "SELECT max(usage) FROM cpu WHERE host = 'a' OR host = 'b'",
      "SELECT host, max(usage) FROM cpu GROUP BY host HAVING max(usage) > 1",
      "SELECT host, max(usage) FROM cpu GROUP BY host LIMIT 1",
      "SELECT DISTINCT host FROM cpu",
      "SELECT sum(n) FROM cpu",
      "SELECT avg(w) FROM cpu",
      "SELECT selector_last(label, time)['value'] AS v FROM cpu",
      "SELECT max(label) FROM cpu",
      "SELECT host, usage FROM cpu",
      "SELECT count(DISTINCT usage) FROM cpu",
      "SELECT max(usage) FILTER (WHERE host = 'a') FROM cpu",
      "SELECT max(usage) + 1 AS m FROM cpu",
      "SELECT date_bin(INTERVAL '1 month', time) AS t, max(usage) FROM cpu GROUP BY 1",
      "SELECT date_bin(INTERVAL '1 minute', time) AS t, max(usage) FROM cpu",
      "SELECT host, max(usage) FROM cpu GROUP BY ROLLUP (host)",
      "SELECT host, max(usage) FROM cpu GROUP BY host ORDER BY max(usage)",
      "SELECT max(usage) FROM cpu WHERE time > now() - INTERVAL '1 hour' AND host = lower('A')",
      "SELECT max(usage) FROM cpu WHERE time > now() - INTERVAL '1 month'",
      "SELECT max(c.usage) FROM cpu AS c(x, y)",
      "WITH a AS (SELECT 1) SELECT max(usage) FROM cpu"
    ])
      expect(await shapeOf(sql), sql).toBeUndefined()
  })
})

/** Resolves once every column load the server's cache has scheduled has finished. */
const settledOf = (server: InProcessServer) =>
  server.runtime.runPromise(Effect.flatMap(ParquetMemCache, (c) => Effect.promise(() => c.settled())))
/** How many queries the server's cache has answered. */
const answersOf = (server: InProcessServer) =>
  server.runtime.runPromise(Effect.map(ParquetMemCache, (c) => c.answers()))

const S = 1_000_000_000n
const T0 = 1_704_067_200n * S // 2024-01-01T00:00:00Z
const MINUTE = 60n * S

/** Lines of the test set: quarter values (exact sums in any order), a series without region, a late tag and field. */
const lines = (from: number, to: number, late: boolean): Array<string> => {
  const out: Array<string> = []
  const series = ["host=a,region=west", "host=b,region=west", "host=c,region=east", "host=d", "region=east"]
  for (let m = from; m < to; m++)
    series.forEach((tags, i) => {
      const t = T0 + BigInt(m) * MINUTE + BigInt(i) * S
      const idle = (m + i) % 3 === 0 ? "" : `,idle=${((m * i) % 17) / 4}`
      out.push(`cpu,${tags} usage=${((m * 7 + i * 3) % 41) / 4}${idle},n=${m}i,w=${(m * 37) % 11}u,label="x" ${t}`)
      if (late && i < 2) out.push(`cpu,${tags},zone=z${i} usage=${m / 4},extra=${(m % 5) / 4} ${t + 500_000_000n}`)
    })
  return out
}

describe("series aggregates over persisted files answer as DuckDB does", () => {
  let cached: InProcessServer
  let plain: InProcessServer

  const write = async (server: InProcessServer, body: Array<string>) =>
    expectOk(await server.request("POST", "/api/v3/write_lp?db=m&precision=nanosecond", { body: body.join("\n") }), 204)
  const persist = (server: InProcessServer) => server.runtime.runPromise(Effect.flatMap(Compactor, (c) => c.persistNow))
  const both = async (f: (s: InProcessServer) => Promise<unknown>) => {
    await f(cached)
    await f(plain)
  }
  const settled = () => settledOf(cached)
  const answers = () => answersOf(cached)
  const query = async (server: InProcessServer, q: string, format = "json") => {
    const res = await server.request("GET", `/api/v3/query_sql?db=m&format=${format}&q=${encodeURIComponent(q)}`)
    expect(res.status, `${q}: ${res.text}`).toBe(200)
    return res.text
  }
  /** The cached server's answer once its columns are loaded, checked against DuckDB's; whether memory answered it. */
  const same = async (q: string, format = "json") => {
    await query(cached, q, format)
    await settled()
    const before = await answers()
    const fromMemory = await query(cached, q, format)
    expect(fromMemory, q).toBe(await query(plain, q, format))
    return { text: fromMemory, fromMemory: (await answers()) > before }
  }

  beforeAll(async () => {
    const config = { withoutAuth: true, persistIntervalMs: 3_600_000, compactionDelayMs: 3_600_000 }
    cached = await startServer(config)
    plain = await startServer({ ...config, parquetMemCacheBytes: 0 })
    // Three 10-minute windows persisted as gen1 files, then a fourth with a new tag and field.
    await both((s) => write(s, lines(0, 30, false)))
    await both(persist)
    await both((s) => write(s, lines(30, 40, true)))
    await both(persist)
  }, 60_000)
  afterAll(async () => {
    await cached.stop()
    await plain.stop()
  })

  const range = "time >= '2024-01-01T00:05:00Z' AND time < '2024-01-01T00:35:00Z'"
  const fromMemory = [
    `SELECT date_bin(INTERVAL '5 minutes', time) AS t, max(usage) AS m FROM cpu WHERE host = 'a' AND ${range} GROUP BY 1 ORDER BY 1`,
    `SELECT date_bin(INTERVAL '7 minutes', time, '2024-01-01T00:03:00Z') AS t, min(usage) AS lo, sum(usage) AS s, avg(usage) AS a, count(usage) AS c, count(*) AS rows, count(idle) AS ci, avg(idle) AS ai FROM cpu GROUP BY 1 ORDER BY 1 DESC`,
    "SELECT host, region, max(usage), avg(idle) FROM cpu GROUP BY host, region ORDER BY host DESC, region NULLS FIRST",
    "SELECT region, count(*) AS n FROM cpu GROUP BY region ORDER BY region",
    "SELECT count(*) AS n, avg(usage) AS a, max(idle) AS m FROM cpu WHERE host = 'zzz'",
    "SELECT date_bin(INTERVAL '1 minute', time) AS t, count(*) AS n FROM cpu WHERE host = 'zzz' GROUP BY 1",
    "SELECT host, sum(usage) AS s FROM cpu WHERE host IN ('a', 'd') GROUP BY host ORDER BY host",
    "SELECT zone, max(extra) AS e, count(*) AS n FROM cpu GROUP BY zone ORDER BY zone",
    "SELECT max(extra) AS e, count(extra) AS c FROM cpu WHERE zone = 'z1'",
    "SELECT count(*) AS n FROM cpu WHERE time BETWEEN '2024-01-01T00:10:00Z' AND '2024-01-01T00:20:01Z'",
    "SELECT avg(usage) AS a FROM cpu WHERE time = '2024-01-01T00:12:00Z'",
    "SELECT date_bin(INTERVAL '10 minutes', c.time) AS tw, c.host, max(c.usage) AS m FROM cpu c WHERE c.region = 'west' GROUP BY tw, c.host ORDER BY tw, c.host",
    "SELECT host, selector_last(usage, time)['value'] AS v, selector_last(usage, time)['time'] AS t, selector_first(idle, time)['value'] AS fv, selector_first(idle, time)['time'] AS ft FROM cpu GROUP BY host ORDER BY host",
    "SELECT region, selector_last(idle, time)['value'] AS v, selector_last(idle, time)['time'] AS t FROM cpu WHERE time < '2024-01-01T00:20:00Z' GROUP BY region ORDER BY region",
    "SELECT date_bin(INTERVAL '10 minutes', time) AS tw, selector_last(extra, time)['value'] AS v FROM cpu WHERE host = 'b' GROUP BY 1 ORDER BY 1",
    "SELECT host, max(n) AS mx, min(w) AS mw, count(label) AS cl, count(n), selector_last(n, time)['value'] AS ln FROM cpu GROUP BY host ORDER BY host"
  ]

  it("answers each shape from memory with DuckDB's bytes", async () => {
    for (const q of fromMemory) {
      const { text, fromMemory: answered } = await same(q)
      expect(answered, q).toBe(true)
      expect(text.length, q).toBeGreaterThan(1)
    }
    // The aggregates are right, not only alike: host a's usage over minutes 5-34.
    const m = JSON.parse((await same(fromMemory[0]!)).text) as Array<{ t: string; m: number }>
    expect(m.map((r) => r.t)).toEqual(["00:05", "00:10", "00:15", "00:20", "00:25", "00:30"].map((t) => `2024-01-01T${t}:00`))
    expect(m[0]!.m).toBe(Math.max(...[5, 6, 7, 8, 9].map((x) => ((x * 7) % 41) / 4)))
    expect(JSON.parse((await same(fromMemory[4]!)).text)).toEqual([{ n: 0 }])
    expect((await same(fromMemory[5]!)).text).toBe("[]")
  })

  it("writes every format from memory as DuckDB's answer does", async () => {
    for (const format of ["csv", "jsonl", "pretty", "json"]) {
      const { fromMemory: answered } = await same(fromMemory[2]!, format)
      expect(answered, format).toBe(true)
    }
  })

  it("leaves buffered rows, deletes and other shapes to DuckDB, and sees new files", async () => {
    const q = "SELECT host, count(*) AS n, max(usage) AS m FROM cpu GROUP BY host ORDER BY host"
    expect((await same(q)).fromMemory).toBe(true)
    // A buffered row later than every file: the files from memory, the buffer's part from DuckDB, merged.
    await both((s) => write(s, [`cpu,host=a,region=west usage=1000 ${T0 + 50n * MINUTE}`]))
    const buffered = await same(q)
    expect(buffered.fromMemory).toBe(true)
    expect(buffered.text).toContain('"m":1000.0')
    // Grouped by a tag and aggregating a field no buffered row has.
    const absent = await same("SELECT zone, count(*) AS n, max(extra) AS e FROM cpu GROUP BY zone ORDER BY zone NULLS FIRST")
    expect(absent.fromMemory).toBe(true)
    expect(JSON.parse(absent.text)[0]).toEqual({ n: 5 * 40 + 1 })
    // A buffered row inside a file's time range may rewrite one of its rows: DuckDB merges them.
    await both((s) => write(s, [`cpu,host=b,region=west usage=2000 ${T0 + 12n * MINUTE + S}`]))
    const rewritten = await same(q)
    expect(rewritten.fromMemory).toBe(false)
    expect(rewritten.text).toContain('"m":2000.0')
    // Persisted, they are in new files memory loads.
    await both(persist)
    const persisted = await same(q)
    expect(persisted.fromMemory).toBe(false)
    expect(persisted.text).toBe(rewritten.text)
    // A row-delete request hides rows of the files at once: DuckDB answers, without them.
    await both(async (s) =>
      expectOk(
        await s.request("POST", "/api/v3/row_delete_requests", {
          body: { db: "m", table: "cpu", delete_predicate: "host = 'b'", min_time: Number(T0), max_time: Number(T0 + 60n * MINUTE) }
        })
      )
    )
    const deleted = await same(q)
    expect(deleted.fromMemory).toBe(false)
    expect(deleted.text).not.toContain('"host":"b"')
    // An integer past 2^53 would round as a double: its file's column is left to DuckDB, which answers it exactly.
    await both((s) => write(s, [`huge,host=a big=9007199254740993i ${T0}`, `huge,host=a big=5i ${T0 + S}`]))
    await both(persist)
    const huge = await same("SELECT host, max(big) AS m FROM huge GROUP BY host")
    expect(huge.text).toBe('[{"host":"a","m":9007199254740993}]')
    expect(huge.fromMemory).toBe(false)
    // Another shape goes to DuckDB.
    expect((await same("SELECT host, max(usage) AS m FROM cpu WHERE usage > 5 GROUP BY host ORDER BY host")).fromMemory).toBe(false)
  })
})

describe("series aggregates over compacted files, under retention", () => {
  let cached: InProcessServer
  let plain: InProcessServer
  const servers = () => [cached, plain]
  const query = async (server: InProcessServer, q: string) => {
    const res = await server.request("GET", `/api/v3/query_sql?db=r&format=json&q=${encodeURIComponent(q)}`)
    expect(res.status, `${q}: ${res.text}`).toBe(200)
    return res.text
  }
  const answers = () => answersOf(cached)
  const settled = () => settledOf(cached)
  const hosts = ["Z", "a", "é", "ﬀ", "😀"]

  beforeAll(async () => {
    const config = { withoutAuth: true, persistIntervalMs: 3_600_000, compactionDelayMs: 3_600_000 }
    cached = await startServer(config)
    plain = await startServer({ ...config, parquetMemCacheBytes: 0 })
    // Rows a minute apart from an hour before retention's cutoff to an hour after it, each 30 s from the cutoff's
    // second so that no row crosses it while the test runs.
    const cutoffS = BigInt(Math.floor(Date.now() / 1000)) - 3600n
    const lines: Array<string> = []
    for (let k = -60n; k < 60n; k++) {
      const t = (cutoffS + 30n + k * 60n) * S
      hosts.forEach((h, i) => lines.push(`cpu,host=${h},region=r${i % 2} usage=${Number((k + 60n) % 13n) / 4 + i} ${t + BigInt(i)}`))
      lines.push(`cpu,region=r9 usage=${Number(k)} ${t}`)
      lines.push(`mem value=${Number(k) / 2} ${t}`)
    }
    for (const s of servers()) {
      expectOk(await s.request("POST", "/api/v3/configure/database", { body: { db: "r", retention_period: "1h" } }))
      expectOk(await s.request("POST", "/api/v3/write_lp?db=r&precision=nanosecond", { body: lines.join("\n") }), 204)
      await s.runtime.runPromise(Effect.flatMap(Compactor, (c) => Effect.zipRight(c.persistNow, c.compactNow())))
    }
  }, 60_000)
  afterAll(async () => {
    await cached.stop()
    await plain.stop()
  })

  it("answers from memory with DuckDB's bytes: rows past retention left out, tags in byte order", async () => {
    const queries = [
      "SELECT host, count(*) AS n, max(usage) AS m, avg(usage) AS a FROM cpu GROUP BY host ORDER BY host",
      "SELECT host, count(*) AS n FROM cpu GROUP BY host ORDER BY host DESC NULLS FIRST",
      "SELECT date_bin(INTERVAL '10 minutes', time) AS t, host, min(usage) AS lo FROM cpu WHERE host IN ('é', '😀') GROUP BY 1, 2 ORDER BY 2, 1",
      "SELECT region, selector_last(usage, time)['value'] AS v, selector_first(usage, time)['time'] AS f FROM cpu GROUP BY region ORDER BY region",
      "SELECT date_bin(INTERVAL '15 minutes', time) AS t, avg(value) AS a, count(*) AS n FROM mem GROUP BY 1 ORDER BY 1",
      // Rows lie 30 s from each whole minute after now() - 30 minutes: none crosses it between the two servers' now().
      "SELECT host, count(*) AS n FROM cpu WHERE time >= now() - INTERVAL '30 minutes' GROUP BY host ORDER BY host"
    ]
    for (const q of queries) await query(cached, q)
    await settled()
    for (const q of queries) {
      const before = await answers()
      const text = await query(cached, q)
      expect(await answers(), q).toBe(before + 1)
      expect(text, q).toBe(await query(plain, q))
    }
    const perHost = JSON.parse(await query(cached, queries[0]!)) as Array<{ host?: string; n: number }>
    // 60 rows of each series are inside retention; hosts in UTF-8 byte order, the series without a host last.
    expect(perHost.map((r) => [r.host ?? null, r.n])).toEqual([...hosts.map((h) => [h, 60]), [null, 60]])
  })

  it("drops a file's columns once compaction replaces it, and loads the new file's", async () => {
    const held = () => cached.runtime.runPromise(Effect.map(ParquetMemCache, (c) => c.heldBytes()))
    const before = await held()
    expect(before).toBeGreaterThan(0)
    const late = `cpu,host=a,region=r1 usage=1000 ${BigInt(Date.now() - 60_000) * 1_000_000n}`
    expectOk(await cached.request("POST", "/api/v3/write_lp?db=r&precision=nanosecond", { body: late }), 204)
    await cached.runtime.runPromise(Effect.flatMap(Compactor, (c) => Effect.zipRight(c.persistNow, c.compactNow())))
    // The new generation is loaded as it appears (prefetch) and the old one's columns leave: the cache holds one copy.
    await new Promise((r) => setTimeout(r, 300))
    await settledOf(cached)
    const after = await held()
    expect(after).toBeGreaterThan(0)
    expect(after).toBeLessThan(before * 1.5)
    const q = "SELECT host, max(usage) AS m FROM cpu WHERE host = 'a' GROUP BY host"
    const answered = await answersOf(cached)
    expect(await query(cached, q)).toBe('[{"host":"a","m":1000.0}]')
    expect(await answersOf(cached)).toBe(answered + 1)
  })
})

describe("series aggregates of generated queries answer as DuckDB does", () => {
  let cached: InProcessServer
  let plain: InProcessServer
  // A fixed-seed generator: the same data and queries on every run.
  let seed = Number(process.env["SERIES_AGGREGATE_SEED"] ?? 20261130)
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
  const pick = <A>(xs: ReadonlyArray<A>): A => xs[Math.floor(random() * xs.length)]!
  const query = async (server: InProcessServer, q: string) => {
    const res = await server.request("GET", `/api/v3/query_sql?db=g&format=jsonl&q=${encodeURIComponent(q)}`)
    expect(res.status, `${q}: ${res.text}`).toBe(200)
    return res.text
  }

  beforeAll(async () => {
    const config = { withoutAuth: true, persistIntervalMs: 3_600_000, compactionDelayMs: 3_600_000 }
    cached = await startServer(config)
    plain = await startServer({ ...config, parquetMemCacheBytes: 0 })
    // Series with and without each tag, fields often null; every row at its own time (no selector ties).
    const series = ["h=a,r=x", "h=b,r=x", "h=c,r=y", "h=d", "r=y", "h=e,r=z"]
    const batches: Array<Array<string>> = [[], [], []]
    let t = T0
    for (let m = 0; m < 400; m++)
      for (const s of series) {
        t += 1_000_000_007n
        const fields: Array<string> = [
          random() < 0.8 ? `u=${Math.floor(random() * 400) / 4 - 50}` : "",
          random() < 0.6 ? `v=${Math.floor(random() * 100) / 4}` : "",
          random() < 0.5 ? `k=${Math.floor(random() * 2000) - 1000}i` : "",
          random() < 0.3 ? `s="${m}"` : ""
        ]
        if (!fields.some((f) => f !== "")) fields[0] = "u=0"
        batches[m < 150 ? 0 : m < 300 ? 1 : 2]!.push(`g,${s} ${fields.filter((f) => f !== "").join(",")} ${t}`)
      }
    for (const s of [cached, plain]) {
      const run = <A, E>(e: Effect.Effect<A, E, Compactor>) => s.runtime.runPromise(e as Effect.Effect<A, E, never>)
      // Compacted, then gen1 files beside the compacted one.
      for (const [i, batch] of batches.entries()) {
        expectOk(await s.request("POST", "/api/v3/write_lp?db=g&precision=nanosecond", { body: batch.join("\n") }), 204)
        // The last batch stays in the buffer: its part is merged with the files'.
        if (i < 2) await run(Effect.flatMap(Compactor, (c) => c.persistNow))
        if (i === 0) await run(Effect.flatMap(Compactor, (c) => c.compactNow()))
      }
    }
  }, 60_000)
  afterAll(async () => {
    await cached.stop()
    await plain.stop()
  })

  it("answers 80 generated queries with DuckDB's bytes, from memory and the buffer's partial aggregates", async () => {
    const minute = (n: number) => new Date(Number(T0 / 1_000_000n) + n * 60_000).toISOString()
    const queries: Array<{ readonly q: string; readonly fromMemory: boolean }> = []
    for (let i = 0; i < 80; i++) {
      const keys: Array<string> = []
      const select: Array<string> = []
      if (random() < 0.7) {
        const origin = random() < 0.3 ? `, '${minute(Math.floor(random() * 10) - 5)}'` : ""
        select.push(`date_bin(INTERVAL '${pick([1, 3, 7, 30, 90])} minutes', time${origin}) AS b`)
        keys.push("b")
      }
      for (const tag of ["h", "r"]) if (random() < 0.35) (select.push(tag), keys.push(tag))
      const n = 1 + Math.floor(random() * 3)
      for (let j = 0; j < n; j++) {
        const field = pick(["u", "v", "k", "s"])
        const fn =
          field === "s"
            ? "count"
            : pick(field === "k" ? ["max", "min", "count", "last", "first"] : ["max", "min", "sum", "avg", "count", "count(*)", "last", "first"])
        select.push(
          fn === "count(*)"
            ? `count(*) AS c${j}`
            : fn === "last" || fn === "first"
              ? `selector_${fn}(${field}, time)['${pick(["value", "time"])}'] AS s${j}`
              : `${fn}(${field}) AS a${j}`
        )
      }
      const where: Array<string> = []
      if (random() < 0.5) where.push(pick(["h = 'a'", "h IN ('b', 'd')", "r = 'y'", "r = 'x' AND h = 'b'", "h = 'zz'"]))
      const from = random() < 0.6 ? Math.floor(random() * 200) : undefined
      if (from !== undefined) where.push(`time >= '${minute(from)}'`)
      // Rows 1-1800 are persisted and 1801-2400 buffered (row n at n * 1.000000007 s): a range starting after the
      // persisted ones but not after the buffered reads only the buffer, which DuckDB answers whole.
      const lo = from === undefined ? undefined : T0 + BigInt(from) * MINUTE
      const bufferOnly = lo !== undefined && lo > T0 + 1800n * 1_000_000_007n && lo <= T0 + 2400n * 1_000_000_007n
      if (random() < 0.4) where.push(`time < '${minute(200 + Math.floor(random() * 250))}'`)
      const order = keys.map((k) => `${k}${random() < 0.3 ? " DESC" : ""}${random() < 0.2 ? " NULLS FIRST" : ""}`)
      queries.push({
        q:
          `SELECT ${select.join(", ")} FROM g${where.length > 0 ? ` WHERE ${where.join(" AND ")}` : ""}` +
          `${keys.length > 0 ? ` GROUP BY ${keys.join(", ")} ORDER BY ${order.join(", ")}` : ""}`,
        fromMemory: !bufferOnly
      })
    }
    for (const { q } of queries) await query(cached, q)
    await settledOf(cached)
    for (const { q, fromMemory } of queries) {
      const before = await answersOf(cached)
      expect(await query(cached, q), q).toBe(await query(plain, q))
      expect((await answersOf(cached)) - before, q).toBe(fromMemory ? 1 : 0)
    }
  })
})
