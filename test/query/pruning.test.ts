import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Compactor } from "../../src/compactor/Compactor.ts"
import { parseSql, type JsonObject } from "../../src/query/ast.ts"
import { referencedColumns } from "../../src/query/columnRefs.ts"
import { binsAfterOrigin } from "../../src/query/timeBins.ts"
import { readingSelects, whereTimeRange } from "../../src/query/timeRange.ts"
import { expectOk } from "../support/expect.ts"
import { startServer, type InProcessServer } from "../support/server.ts"
import { memoryConnection } from "../support/duckdb.ts"

// A query reads only the parts of a table it can need: files and buffered rows outside its time bounds are left
// out, and the buffer skips its series dictionary when no tag is named. The answers stay what they were.

describe("what a statement lets the planner leave out", () => {
  const conn = memoryConnection()
  const parse = async (sql: string): Promise<JsonObject> => {
    const parsed = await parseSql(conn(), sql)
    if (!Array.isArray(parsed)) throw new Error(`did not parse: ${sql}`)
    return parsed[0]!
  }
  const columns = async (sql: string) => {
    const refs = referencedColumns(await parse(sql))
    return refs === "all" ? "all" : [...refs].sort()
  }
  // The table the statements read is `cpu`.
  const isCpu = (ref: object) => (ref as Record<string, unknown>)["table_name"] === "cpu"
  // The bounds of the first SELECT reading `cpu` directly.
  const range = async (sql: string) => {
    const reader = readingSelects(await parse(sql), isCpu).values().next().value
    return reader === undefined ? undefined : whereTimeRange(reader)
  }

  it("names the columns a statement reads, or all when its shape can read unnamed ones", async () => {
    expect(await columns("SELECT count(usage) AS n FROM cpu")).toEqual(["usage"])
    expect(await columns("SELECT c.Host, max(time) FROM cpu c GROUP BY 1")).toEqual(["c", "host", "time"])
    expect(await columns("SELECT a.v FROM cpu a JOIN mem b USING (host)")).toEqual(["a", "host", "v"])
    expect(await columns("SELECT count(*) FROM cpu")).toEqual([])
    for (const all of [
      "SELECT * FROM cpu",
      "SELECT cpu.* FROM cpu",
      "SELECT COLUMNS('h.*') FROM cpu",
      "SELECT #1 FROM cpu",
      "SELECT v FROM cpu NATURAL JOIN mem",
      "SELECT x FROM cpu AS c(x)",
      "SELECT count(v) FROM (SELECT * EXCLUDE (host) FROM cpu)"
    ])
      expect(await columns(all), all).toBe("all")
  })

  it("reads time bounds from the top-level AND terms of the SELECT that reads the table", async () => {
    const t = (s: string) => `CAST('${s}' AS TIMESTAMP_NS)`
    const a = 1_704_088_800_000_000_000n // 2024-01-01 06:00:00
    const b = 1_704_132_000_000_000_000n // 2024-01-01 18:00:00
    expect(await range(`SELECT * FROM cpu WHERE time >= ${t("2024-01-01 06:00:00")} AND time < ${t("2024-01-01 18:00:00")}`))
      .toEqual({ min: a, max: b - 1n })
    expect(await range(`SELECT * FROM cpu WHERE host = 'a' AND ${t("2024-01-01 06:00:00")} < time`)).toEqual({ min: a + 1n, max: undefined })
    expect(await range(`SELECT * FROM cpu WHERE time BETWEEN ${t("2024-01-01 06:00:00")} AND ${t("2024-01-01 18:00:00")}`))
      .toEqual({ min: a, max: b })
    expect(await range(`SELECT * FROM cpu WHERE time = ${t("2024-01-01 06:00:00.000000001")}`)).toEqual({ min: a + 1n, max: a + 1n })
    // now() ± a fixed interval, as the dialect writes it; months are the calendar's, so not a bound.
    const shifted = (f: string, i: string) => `${f}(${t("2024-01-01 06:00:00")}, CAST('${i}' AS INTERVAL))`
    expect(await range(`SELECT * FROM cpu WHERE time >= ${shifted("strata_ts_sub", "2 hours")} AND time < ${shifted("strata_ts_add", "1 day")}`))
      .toEqual({ min: a - 7_200_000_000_000n, max: a + 86_400_000_000_000n - 1n })
    expect(await range(`SELECT * FROM cpu WHERE time >= ${shifted("strata_ts_sub", "1 month")}`)).toBeUndefined()
    // However deep that SELECT sits, and in the InfluxQL planner's form.
    expect(await range(`SELECT max(v) FROM (SELECT v FROM cpu AS c WHERE c.time >= ${t("2024-01-01 06:00:00")}) AS s WHERE v > 1`))
      .toEqual({ min: a, max: undefined })
    expect(await range(`SELECT * FROM (SELECT * FROM cpu WHERE "time" >= make_timestamp_ns(${a}) AND "time" <= make_timestamp_ns(${b})) AS s`))
      .toEqual({ min: a, max: b })
    for (const none of [
      `SELECT * FROM cpu WHERE time > ${t("2024-01-01 06:00:00")} OR host = 'a'`,
      `SELECT * FROM cpu WHERE time > CAST('2024-01-01 06:00:00' AS TIMESTAMP)`,
      `SELECT * FROM cpu a JOIN mem b USING (host) WHERE time > ${t("2024-01-01 06:00:00")}`,
      `SELECT * FROM cpu WHERE usage > 5`,
      `SELECT * FROM cpu WHERE o.time > ${t("2024-01-01 06:00:00")}`,
      `SELECT * FROM mem WHERE time > ${t("2024-01-01 06:00:00")}`,
      `SELECT * FROM cpu`
    ])
      expect(await range(none), none).toBeUndefined()
  })

  it("bins a SELECT's own time by the one-branch formula only when its WHERE keeps no time before the origin", async () => {
    const rewritten = async (sql: string, earliest: bigint) => {
      const reader = readingSelects(await parse(sql), isCpu).values().next().value!
      return [...binsAfterOrigin(reader, earliest).values()].map((n) => String(n["function_name"]))
    }
    const bin = (t: string, origin = "0") => `strata_bin_ns(60000000000, epoch_ns(${t}), ${origin})`
    expect(await rewritten(`SELECT ${bin("time")} AS b, max(v) FROM cpu GROUP BY 1 ORDER BY ${bin("cpu.time")}`, 0n))
      .toEqual(["strata_bin_after_ns", "strata_bin_after_ns"])
    expect(await rewritten(`SELECT ${bin("time", "60")} FROM cpu`, 60n)).toEqual(["strata_bin_after_ns"])
    for (const kept of [
      `SELECT ${bin("time", "61")} FROM cpu`,
      `SELECT ${bin("other")} FROM cpu`,
      `SELECT ${bin("time", "epoch_ns(now())")} FROM cpu`,
      `SELECT v FROM cpu WHERE ${bin("time")} > 0`,
      `SELECT (SELECT ${bin("time")} FROM mem LIMIT 1) FROM cpu`
    ])
      expect(await rewritten(kept, 60n), kept).toEqual([])
  })
})

/** A database's SQL answers (each a 200), line-protocol writes and persisting the buffer, on a test server. */
const databaseOn = (server: () => InProcessServer, db: string) => ({
  sql: async (q: string) => {
    const res = await server().request("GET", `/api/v3/query_sql?db=${db}&format=json&q=${encodeURIComponent(q)}`)
    expect(res.status, `${q}: ${res.text}`).toBe(200)
    return res.json<Array<Record<string, unknown>>>()
  },
  write: async (lines: ReadonlyArray<string>) =>
    expectOk(await server().request("POST", `/api/v3/write_lp?db=${db}&precision=nanosecond`, { body: lines.join("\n") }), 204),
  persist: () => server().runtime.runPromise(Effect.flatMap(Compactor, (c) => c.persistNow))
})

const S = 1_000_000_000n
const T0 = 1_704_067_200n * S // 2024-01-01T00:00:00Z
const HOUR = 3600n * S

describe("queries over files and buffer read only what their bounds and columns need", () => {
  let server: InProcessServer
  const { sql, write, persist } = databaseOn(() => server, "p")
  const scanned = async (q: string) => {
    const rows = await sql(q)
    const telemetry = expectOk(await server.request("GET", "/api/v3/query_sql_telemetry")).json<{ chunks: Array<{ files_scanned: number }> }>()
    return { rows, files: telemetry.chunks[0]!.files_scanned }
  }

  beforeAll(async () => {
    server = await startServer({ withoutAuth: true, persistIntervalMs: 3_600_000, compactionDelayMs: 3_600_000 })
    // Hours 0 and 1 persisted (one gen1 file per window), hour 2 and a late rewrite of hour 1 in the buffer.
    const at = (h: bigint, m: bigint) => T0 + h * HOUR + m * 60n * S
    await write(["a", "b"].flatMap((host, i) => [0n, 1n].flatMap((h) => [0n, 30n].map((m) => `cpu,host=${host} usage=${Number(h) * 10 + Number(m) / 10 + i} ${at(h, m)}`))))
    await persist()
    await write([`cpu,host=a usage=2 ${at(2n, 0n)}`, `cpu,host=b usage=3 ${at(2n, 30n)}`, `cpu,host=a usage=99 ${at(1n, 30n)}`])
  }, 60_000)
  afterAll(() => server.stop())

  it("a query bounded in time skips the files outside its bounds and answers as before", async () => {
    const all = await scanned("SELECT count(usage) AS n, sum(usage) AS s FROM cpu")
    expect(all.rows).toEqual([{ n: 10, s: 0 + 3 + 10 + 99 + 1 + 4 + 11 + 14 + 2 + 3 }])
    const late = await scanned("SELECT host, usage FROM cpu WHERE time >= '2024-01-01T01:00:00Z' ORDER BY time, host")
    expect(late.rows).toEqual([
      { host: "a", usage: 10 },
      { host: "b", usage: 11 },
      { host: "a", usage: 99 },
      { host: "b", usage: 14 },
      { host: "a", usage: 2 },
      { host: "b", usage: 3 }
    ])
    expect(late.files).toBeLessThan(all.files)
    // Only the buffer: the rewrite of 01:30 is not in range, hour 2 is.
    const buffered = await scanned("SELECT host, usage FROM cpu WHERE time > '2024-01-01T01:45:00Z' ORDER BY time")
    expect(buffered.rows).toEqual([{ host: "a", usage: 2 }, { host: "b", usage: 3 }])
    expect(buffered.files).toBe(0)
    // Only files: the buffer's rows all lie later.
    const early = await sql("SELECT host, usage FROM cpu WHERE time < '2024-01-01T00:45:00Z' ORDER BY time, host")
    expect(early).toEqual([{ host: "a", usage: 0 }, { host: "b", usage: 1 }, { host: "a", usage: 3 }, { host: "b", usage: 4 }])
    expect(await sql("SELECT count(*) AS n FROM cpu WHERE time > '2030-01-01T00:00:00Z'")).toEqual([{ n: 0 }])
  })

  it("date_bin bins rows a WHERE keeps after the origin as it bins any row", async () => {
    const q = (stride: string, origin: string, where: string) =>
      sql(`SELECT date_bin(INTERVAL '${stride}', time${origin}) AS b, count(*) AS n FROM cpu ${where} GROUP BY 1 ORDER BY 1`)
    // From the epoch: 2024-01-01T00:00Z is a whole number of 90 minutes after it.
    const fromEpoch = [{ b: "2024-01-01T00:00:00", n: 6 }, { b: "2024-01-01T01:30:00", n: 4 }]
    expect(await q("90 minutes", "", "WHERE time >= '2024-01-01T00:00:00Z'")).toEqual(fromEpoch)
    expect(await q("90 minutes", "", "WHERE time <= '2024-01-01T03:00:00Z'")).toEqual(fromEpoch)
    // From an origin after the WHERE's lower bound: the earlier rows fall in the bin before it.
    expect(await q("1 hour", ", '2024-01-01T00:45:00Z'", "WHERE time >= '2024-01-01T00:00:00Z'")).toEqual([
      { b: "2023-12-31T23:45:00", n: 4 },
      { b: "2024-01-01T00:45:00", n: 4 },
      { b: "2024-01-01T01:45:00", n: 2 }
    ])
  })

  it("InfluxQL's time range prunes files the same way", async () => {
    const influxql = async (q: string) => {
      const res = await server.request("GET", `/query?db=p&epoch=ns&q=${encodeURIComponent(q)}`)
      expect(res.status, res.text).toBe(200)
      const telemetry = expectOk(await server.request("GET", "/api/v3/query_sql_telemetry")).json<{ chunks: Array<{ files_scanned: number }> }>()
      return {
        body: res.json<{ results: Array<{ series?: Array<{ values: Array<Array<unknown>> }> }> }>(),
        files: telemetry.chunks[0]!.files_scanned
      }
    }
    const all = await influxql("SELECT count(usage) FROM cpu")
    expect(all.body.results[0]!.series![0]!.values).toEqual([[0, 10]])
    const late = await influxql("SELECT count(usage), last(usage) FROM cpu WHERE time >= '2024-01-01T01:00:00Z'")
    expect(late.body.results[0]!.series![0]!.values).toEqual([[Number(T0 + HOUR), 6, 3]])
    expect(late.files).toBeLessThan(all.files)
  })

  it("queries naming no tag answer as those naming them", async () => {
    expect(await sql("SELECT selector_last(usage, time)['value'] AS v, count(*) AS n FROM cpu")).toEqual([{ v: 3, n: 10 }])
    expect(await sql("SELECT host, selector_last(usage, time)['value'] AS v FROM cpu GROUP BY host ORDER BY host")).toEqual([
      { host: "a", v: 2 },
      { host: "b", v: 3 }
    ])
    expect(await sql("SELECT max(usage) AS m FROM cpu WHERE time >= '2024-01-01T02:00:00Z'")).toEqual([{ m: 3 }])
    expect(await sql("SELECT count(*) AS n FROM cpu WHERE host = 'a' AND time >= '2024-01-01T02:00:00Z'")).toEqual([{ n: 1 }])
    const rows = await sql("SELECT cpu FROM cpu WHERE time >= '2024-01-01T02:00:00Z' ORDER BY time")
    expect(JSON.stringify(rows)).toContain('"host":"a"')
  })

  it("a rewrite within the buffer is merged whether or not the query names a tag (last write wins)", async () => {
    const at = T0 + 3n * HOUR
    await write([`cpu,host=c usage=1 ${at}`, `cpu,host=c usage=5 ${at}`])
    const since = "time >= '2024-01-01T03:00:00Z'"
    expect(await sql(`SELECT count(*) AS n, max(usage) AS m FROM cpu WHERE ${since}`)).toEqual([{ n: 1, m: 5 }])
    expect(await sql(`SELECT host, usage FROM cpu WHERE ${since}`)).toEqual([{ host: "c", usage: 5 }])
  })
})

describe("a tag condition reads only the buffered series it names", () => {
  let server: InProcessServer
  const { sql, write, persist } = databaseOn(() => server, "s")
  // The same condition written so that no equality can be read from it: the query reads every series.
  const unpruned = (condition: string) => condition.replace(/\b(host|region|zone)\b(?= (=|IN))/g, "($1 || '')")

  beforeAll(async () => {
    server = await startServer({ withoutAuth: true, persistIntervalMs: 3_600_000, compactionDelayMs: 3_600_000 })
    const hosts = [["a", "west"], ["b", "west"], ["c", "east"]] as const
    await write(hosts.flatMap(([h, r], i) => [0n, 1n].map((m) => `cpu,host=${h},region=${r} usage=${i * 10 + Number(m)} ${T0 + m * 60n * S}`)))
    await persist()
    // In the buffer: later rows, a rewrite of a persisted row (files and buffer overlap), a duplicate within the
    // buffer, and a series with a tag the others lack.
    await write([
      ...hosts.map(([h, r], i) => `cpu,host=${h},region=${r} usage=${100 + i} ${T0 + HOUR}`),
      `cpu,host=a,region=west usage=50 ${T0}`,
      `cpu,host=b,region=west usage=7 ${T0 + HOUR}`,
      `cpu,host=d,region=east,zone=z1 usage=9 ${T0 + HOUR}`
    ])
  }, 60_000)
  afterAll(() => server.stop())

  it("answers every condition as the same query reading all series does", async () => {
    const conditions = [
      "host = 'a'",
      "host IN ('a', 'c')",
      "host = 'zzz'",
      "host = 'a' AND region = 'west'",
      "host = 'a' AND region = 'east'",
      "region = 'east'",
      "zone = 'z1'",
      "host = 'b' AND usage > 5"
    ]
    for (const where of conditions) {
      for (const q of [
        `SELECT host, region, zone, usage, time FROM cpu WHERE ${where} ORDER BY time, host`,
        `SELECT host, count(*) AS n, max(usage) AS m FROM cpu WHERE ${where} GROUP BY host ORDER BY host`
      ]) {
        const pruned = await sql(q)
        expect(pruned, q).toEqual(await sql(q.replace(where, unpruned(where))))
      }
    }
    expect(await sql("SELECT usage FROM cpu WHERE host = 'a' AND time = '2024-01-01T00:00:00Z'")).toEqual([{ usage: 50 }])
    expect(await sql("SELECT usage FROM cpu WHERE host = 'b' AND time >= '2024-01-01T01:00:00Z'")).toEqual([{ usage: 7 }])
    expect(await sql("SELECT count(*) AS n FROM cpu WHERE host = 'zzz'")).toEqual([{ n: 0 }])
  })

  it("each table reference is scoped by the WHERE of the SELECT reading it, never by an outer query's", async () => {
    expect(await sql("SELECT (SELECT count(*) FROM cpu i WHERE o.host = 'a') AS n FROM cpu o WHERE o.host = 'b' LIMIT 1"))
      .toEqual([{ n: 0 }])
    expect(await sql("SELECT (SELECT count(*) FROM cpu i WHERE i.host = 'a') AS n FROM cpu o WHERE o.host = 'b' LIMIT 1"))
      .toEqual([{ n: 3 }])
    // Renamed columns: `host` here is the table's `region`.
    expect(await sql("SELECT count(*) AS n FROM cpu AS c(region, host) WHERE host = 'west'"))
      .toEqual(await sql("SELECT count(*) AS n FROM cpu WHERE region = 'west'"))
    const q = `SELECT a.n, b.n AS m FROM (SELECT count(*) AS n FROM cpu WHERE host = 'a') a,
      (SELECT count(*) AS n FROM cpu WHERE region = 'east') b`
    expect(await sql(q)).toEqual([{ n: 3, m: 4 }])
  })

  it("InfluxQL's tag conditions answer as the same conditions written as regular expressions", async () => {
    const influxql = async (q: string) => {
      const res = await server.request("GET", `/query?db=s&epoch=ns&q=${encodeURIComponent(q)}`)
      expect(res.status, res.text).toBe(200)
      return res.text
    }
    for (const [equal, regex] of [
      ["host = 'a'", "host =~ /^a$/"],
      ["host = 'b' AND region = 'west'", "host =~ /^b$/ AND region =~ /^west$/"],
      ["zone = 'z1'", "zone =~ /^z1$/"],
      ["host = 'zzz'", "host =~ /^zzz$/"]
    ]) {
      for (const q of [
        "SELECT count(usage), last(usage) FROM cpu WHERE %s GROUP BY time(1h), host",
        "SELECT usage FROM cpu WHERE %s",
        "SELECT max(usage) FROM cpu WHERE %s AND time >= '2024-01-01T00:00:00Z' AND time < '2024-01-01T03:00:00Z' GROUP BY time(30m) fill(0)"
      ])
        expect(await influxql(q.replace("%s", equal)), q.replace("%s", equal)).toBe(await influxql(q.replace("%s", regex)))
    }
  })

  it("a series written after the query's first plan is read by the next one", async () => {
    expect(await sql("SELECT count(*) AS n FROM cpu WHERE host = 'e'")).toEqual([{ n: 0 }])
    await write([`cpu,host=e,region=north usage=1 ${T0 + 2n * HOUR}`])
    expect(await sql("SELECT count(*) AS n FROM cpu WHERE host = 'e'")).toEqual([{ n: 1 }])
  })
})

describe("a query naming a few columns reads views of only those", () => {
  let server: InProcessServer
  const { sql, write, persist } = databaseOn(() => server, "c")

  beforeAll(async () => {
    server = await startServer({ withoutAuth: true, persistIntervalMs: 3_600_000, compactionDelayMs: 3_600_000 })
    // Hour 0 in a file; hour 1 in another, with a field and a tag the first lacks; hour 2 and a rewrite of hour 0
    // in the buffer (rows merged by series and time across the file and the buffer).
    await write([`cpu,host=a usage=1,load=10 ${T0}`, `cpu,host=b usage=2,load=20 ${T0}`])
    await persist()
    await write([`cpu,host=a,zone=z1 usage=3,temp=30 ${T0 + HOUR}`, `cpu,host=b usage=4 ${T0 + HOUR}`])
    await persist()
    await write([`cpu,host=a usage=5,load=50 ${T0 + 2n * HOUR}`, `cpu,host=b usage=9 ${T0}`])
  }, 60_000)
  afterAll(() => server.stop())

  it("answers as the same query over every column of the table", async () => {
    const queries = [
      "SELECT usage FROM %t ORDER BY time, usage",
      "SELECT host, temp, zone FROM %t ORDER BY time, host",
      "SELECT count(load) AS n, sum(usage) AS s FROM %t",
      "SELECT host, max(usage) AS m FROM %t WHERE time >= '2024-01-01T01:00:00Z' GROUP BY host ORDER BY host",
      "SELECT load FROM %t WHERE time >= '2024-01-01T02:00:00Z'",
      "SELECT c.usage FROM %t AS c WHERE c.host = 'b' ORDER BY c.time"
    ]
    for (const q of queries) expect(await sql(q.replace("%t", "cpu")), q).toEqual(await sql(q.replace("%t", "(SELECT * FROM cpu)")))
    expect(await sql("SELECT count(load) AS n, sum(usage) AS s FROM cpu")).toEqual([{ n: 3, s: 1 + 9 + 3 + 4 + 5 }])
    expect(await sql("SELECT host, temp, zone FROM cpu WHERE temp IS NOT NULL")).toEqual([{ host: "a", temp: 30, zone: "z1" }])
  })
})
