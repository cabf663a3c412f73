import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { parseSql, renderSql, type JsonObject } from "../../src/query/ast.ts"
import { dialectSetupSql, isDialectError, rewriteDialect, type DialectError } from "../../src/query/dialect/index.ts"

// Query start time: 2024-01-01T00:06:00Z.
const NOW_NS = 1704067560000000000n

let instance: DuckDBInstance
let conn: DuckDBConnection

beforeAll(async () => {
  instance = await DuckDBInstance.create(":memory:")
  conn = await instance.connect()
  await conn.run("SET TimeZone='UTC'")
  for (const statement of dialectSetupSql) await conn.run(statement)
  await conn.run(
    "CREATE TABLE cpu(host VARCHAR, region VARCHAR, time TIMESTAMP_NS, usage DOUBLE, count BIGINT, ok BOOLEAN, msg VARCHAR)"
  )
  await conn.run(`INSERT INTO cpu VALUES
    ('a', 'us', '2024-01-01 00:00:00', 1.0, 10, true, 'hello world'),
    ('a', 'us', '2024-01-01 00:01:00', 2.0, 20, false, 'Hello'),
    ('a', 'us', '2024-01-01 00:05:00', 6.0, 60, true, NULL),
    ('b', 'eu', '2024-01-01 00:00:30', 10.0, 5, true, 'error: disk full'),
    ('b', 'eu', '2024-01-01 00:02:00.123456789', 30.0, 7, NULL, 'warn'),
    ('b', 'eu', '2024-01-01 00:03:00', 30.0, 9, false, NULL),
    ('b', 'eu', '2024-01-01 00:04:00', NULL, 1, true, 'x')`)
  await conn.run("CREATE SCHEMA iox")
  await conn.run("CREATE VIEW iox.cpu AS SELECT * FROM main.cpu")
})

afterAll(() => {
  conn.closeSync()
  instance.closeSync()
})

interface Result {
  readonly columns: ReadonlyArray<string>
  readonly types: ReadonlyArray<string>
  readonly rows: ReadonlyArray<ReadonlyArray<unknown>>
}

/** What a user's query goes through: parse, dialect rewrite, render, run. */
const rewrite = async (sql: string): Promise<ReadonlyArray<JsonObject> | DialectError> => {
  const parsed = await parseSql(conn, sql)
  if (!Array.isArray(parsed)) throw new Error(`parse failed: ${(parsed as { message: string }).message}`)
  const out: Array<JsonObject> = []
  for (const statement of parsed) {
    const rewritten = rewriteDialect(statement, { nowNs: NOW_NS })
    if (isDialectError(rewritten)) return rewritten
    out.push(rewritten)
  }
  return out
}

const query = async (sql: string): Promise<Result> => {
  const statements = await rewrite(sql)
  if (isDialectError(statements)) throw new Error(statements.message)
  const text = await renderSql(conn, statements)
  const reader = await conn.runAndReadAll(text)
  return { columns: reader.columnNames(), types: reader.columnTypes().map(String), rows: reader.getRowsJson() }
}

const rows = async (sql: string) => (await query(sql)).rows

const dialectError = async (sql: string): Promise<string> => {
  const result = await rewrite(sql)
  if (!isDialectError(result)) throw new Error(`expected a DialectError for ${sql}`)
  return result.message
}

describe("time literals", () => {
  it("an RFC3339 literal with an offset means that instant (01:02+01:00 is 00:02 UTC)", async () => {
    expect(await rows("SELECT count(*) AS n FROM cpu WHERE time >= '2024-01-01T01:02:00+01:00'")).toEqual([["4"]])
    expect(await rows("SELECT count(*) AS n FROM cpu WHERE '2024-01-01T01:02:00+01:00' <= time")).toEqual([["4"]])
  })

  it("offsets in BETWEEN bounds count, both ends inclusive", async () => {
    expect(
      await rows(
        "SELECT host, time FROM cpu WHERE time BETWEEN '2023-12-31T19:00:00-05:00' AND '2024-01-01T00:01:00Z' ORDER BY time"
      )
    ).toEqual([
      ["a", "2024-01-01 00:00:00"],
      ["b", "2024-01-01 00:00:30"],
      ["a", "2024-01-01 00:01:00"]
    ])
  })

  it("a literal with nanoseconds matches exactly, and IN lists convert too", async () => {
    expect(await rows("SELECT host FROM cpu WHERE time = '2024-01-01T00:02:00.123456789Z'")).toEqual([["b"]])
    expect(await rows("SELECT host FROM cpu WHERE time = '2024-01-01T00:02:00.123456788Z'")).toEqual([])
    expect(
      await rows("SELECT count(*) FROM cpu WHERE time IN ('2024-01-01T01:00:00+01:00', '2024-01-01T00:05:00Z')")
    ).toEqual([["2"]])
  })

  it("TIMESTAMP literals and ::timestamp casts are nanosecond timestamps that honour offsets", async () => {
    const result = await query("SELECT TIMESTAMP '2024-01-01T00:00:00.123456789+02:00' AS t, '2024-01-01T00:00:00Z'::timestamp AS u")
    expect(result.rows).toEqual([["2023-12-31 22:00:00.123456789", "2024-01-01 00:00:00"]])
    expect(result.types).toEqual(["TIMESTAMP_NS", "TIMESTAMP_NS"])
  })

  it("a literal that is no timestamp is a planning error", async () => {
    expect(await dialectError("SELECT * FROM cpu WHERE time > 'yesterday'")).toBe(
      "Error during planning: Cannot cast string 'yesterday' to value of Timestamp(Nanosecond, None) type"
    )
  })
})

describe("now() and intervals", () => {
  it("now() is the query start time as TIMESTAMP_NS", async () => {
    const result = await query("SELECT now() AS t")
    expect(result.rows).toEqual([["2024-01-01 00:06:00"]])
    expect(result.types).toEqual(["TIMESTAMP_NS"])
  })

  it("time > now() - interval filters relative to the query start", async () => {
    expect(await rows("SELECT host, time FROM cpu WHERE time > now() - interval '2 minutes' ORDER BY time")).toEqual([
      ["a", "2024-01-01 00:05:00"]
    ])
    expect(await rows("SELECT count(*) FROM cpu WHERE time > now() - INTERVAL '1 hour' AND time <= now()")).toEqual([["7"]])
    expect(await rows("SELECT count(*) FROM cpu WHERE time > current_timestamp - INTERVAL '3 minutes'")).toEqual([["2"]])
  })

  it("time ± interval keeps nanoseconds", async () => {
    const result = await query(
      "SELECT time + interval '1 second' AS later, time - INTERVAL '1 day' AS earlier FROM cpu WHERE time > '2024-01-01T00:02:00Z' AND time < '2024-01-01T00:02:01Z'"
    )
    expect(result.rows).toEqual([["2024-01-01 00:02:01.123456789", "2023-12-31 00:02:00.123456789"]])
    expect(result.types).toEqual(["TIMESTAMP_NS", "TIMESTAMP_NS"])
  })
})

describe("date and time functions", () => {
  it("date_bin bins from the epoch by default and returns TIMESTAMP_NS", async () => {
    const result = await query(
      "SELECT date_bin(interval '2 minutes', time) AS bin, count(*) AS n FROM cpu GROUP BY bin ORDER BY bin"
    )
    expect(result.rows).toEqual([
      ["2024-01-01 00:00:00", "3"],
      ["2024-01-01 00:02:00", "2"],
      ["2024-01-01 00:04:00", "2"]
    ])
    expect(result.types[0]).toBe("TIMESTAMP_NS")
  })

  it("date_bin with an origin aligns bins on it", async () => {
    expect(
      await rows(
        "SELECT date_bin(INTERVAL '2 minutes', time, '2024-01-01T00:01:00Z') AS bin, count(*) AS n FROM cpu GROUP BY 1 ORDER BY 1"
      )
    ).toEqual([
      ["2023-12-31 23:59:00", "2"],
      ["2024-01-01 00:01:00", "2"],
      ["2024-01-01 00:03:00", "2"],
      ["2024-01-01 00:05:00", "1"]
    ])
  })

  it("date_bin keeps sub-microsecond precision of the bin", async () => {
    expect(await rows("SELECT date_bin(INTERVAL '1 millisecond', time) AS ms FROM cpu WHERE usage = 30 ORDER BY time")).toEqual([
      ["2024-01-01 00:02:00.123"],
      ["2024-01-01 00:03:00"]
    ])
  })

  it("date_bin by a fixed-length stride bins as by any other, before and after the epoch and from an origin", async () => {
    // Fixed-length strides take integer arithmetic; the general macro (months too) is the oracle.
    const strides = ["2 minutes", "1 M", "90 s", "1.5 hours", "2 days 3 hours", "1 week", "250 ms", "7 us", "1 month"]
    const times = ["time", "time - INTERVAL '60 years'"]
    for (const stride of strides)
      for (const t of times)
        for (const origin of ["", ", '2024-01-01T00:01:00.5Z'"]) {
          const general = origin === "" ? "TIMESTAMP_NS '1970-01-01 00:00:00'" : "TIMESTAMP_NS '2024-01-01 00:01:00.5'"
          const q = `SELECT date_bin(INTERVAL '${stride}', ${t}${origin}) AS a,
            strata_date_bin(INTERVAL '${stride}', ${t}, ${general}) AS b FROM cpu ORDER BY time`
          const result = await rows(q)
          expect(result.length).toBe(7)
          for (const [a, b] of result) expect(a, q).toBe(b)
        }
  })

  it("date_bin's bins are the floor of the time's distance from the origin, before the epoch and the origin too", async () => {
    // An oracle outside SQL: BigInt arithmetic on the epoch nanoseconds DuckDB reports.
    const strides: Array<[string, bigint]> = [["90 s", 90_000_000_000n], ["1.5 hours", 5_400_000_000_000n], ["7 us", 7_000n], ["1 day", 86_400_000_000_000n]]
    const origins: Array<[string, string]> = [["", "0"], [", '2024-01-01T00:01:00.5Z'", "epoch_ns(TIMESTAMP_NS '2024-01-01 00:01:00.5')"]]
    for (const [stride, strideNs] of strides)
      for (const t of ["time", "time - INTERVAL '60 years'", "time + INTERVAL '123457 us'"])
        for (const [origin, originNs] of origins) {
          const q = `SELECT CAST(epoch_ns(${t}) AS VARCHAR) AS t, CAST(${originNs} AS VARCHAR) AS o,
            CAST(epoch_ns(date_bin(INTERVAL '${stride}', ${t}${origin})) AS VARCHAR) AS bin FROM cpu ORDER BY time`
          const result = await rows(q)
          expect(result.length).toBe(7)
          for (const [tNs, oNs, bin] of result) {
            const distance = BigInt(tNs as string) - BigInt(oNs as string)
            const floorMod = ((distance % strideNs) + strideNs) % strideNs
            expect(BigInt(bin as string), q).toBe(BigInt(tNs as string) - floorMod)
          }
        }
  })

  it("date_trunc returns TIMESTAMP_NS", async () => {
    const result = await query("SELECT date_trunc('minute', time) AS m FROM cpu WHERE host = 'b' AND usage = 30 ORDER BY time")
    expect(result.rows).toEqual([["2024-01-01 00:02:00"], ["2024-01-01 00:03:00"]])
    expect(result.types).toEqual(["TIMESTAMP_NS"])
  })

  it("date_part and extract return Int32 for calendar parts and Float64 for epoch", async () => {
    const result = await query(
      "SELECT date_part('minute', time) AS m, extract(second FROM time) AS s, date_part('epoch', time) AS e FROM cpu WHERE host = 'b' ORDER BY time LIMIT 1"
    )
    expect(result.rows).toEqual([[0, 30, 1704067230]])
    expect(result.types).toEqual(["INTEGER", "INTEGER", "DOUBLE"])
  })

  it("to_timestamp reads RFC3339 strings and integer nanoseconds (InfluxDB's override)", async () => {
    const result = await query(
      "SELECT to_timestamp('2024-01-01T00:00:00.5+01:00') AS a, to_timestamp(1704067200000000001) AS b, to_timestamp(CAST('2024-01-01T00:00:00.000000007-01:00' AS VARCHAR)) AS c"
    )
    expect(result.rows).toEqual([["2023-12-31 23:00:00.5", "2024-01-01 00:00:00.000000001", "2024-01-01 01:00:00.000000007"]])
    expect(result.types).toEqual(["TIMESTAMP_NS", "TIMESTAMP_NS", "TIMESTAMP_NS"])
  })

  it("to_timestamp_seconds/millis/micros/nanos count their unit and truncate strings to it", async () => {
    expect(
      await rows(
        "SELECT to_timestamp_seconds(1704067200) AS s, to_timestamp_millis(1704067200123) AS ms, to_timestamp_micros(1704067200123456) AS us, to_timestamp_nanos(1704067200123456789) AS ns, to_timestamp_seconds('2024-01-01T00:00:09.9Z') AS t"
      )
    ).toEqual([
      ["2024-01-01 00:00:00", "2024-01-01 00:00:00.123", "2024-01-01 00:00:00.123456", "2024-01-01 00:00:00.123456789", "2024-01-01 00:00:09"]
    ])
  })

  it("to_timestamp reads a string column at run time", async () => {
    await conn.run("CREATE TEMP TABLE stamps(s VARCHAR)")
    await conn.run("INSERT INTO stamps VALUES ('2024-01-01T00:05:00.123456789+01:00'), ('2024-01-01')")
    expect(await rows("SELECT to_timestamp(s) AS t FROM stamps ORDER BY t")).toEqual([
      ["2023-12-31 23:05:00.123456789"],
      ["2024-01-01 00:00:00"]
    ])
  })

  it("from_unixtime reads seconds; to_unixtime returns seconds", async () => {
    const result = await query(
      "SELECT from_unixtime(1704067200) AS f, to_unixtime(time) AS u, to_unixtime('2024-01-01T01:00:00+01:00') AS v FROM cpu WHERE usage = 1"
    )
    expect(result.rows).toEqual([["2024-01-01 00:00:00", "1704067200", "1704067200"]])
    expect(result.types).toEqual(["TIMESTAMP_NS", "BIGINT", "BIGINT"])
  })

  it("tz shows the instant in a time zone with its offset", async () => {
    expect(
      await rows(
        "SELECT tz(time, 'Europe/Paris') AS paris, tz(time, 'America/New_York') AS ny, tz(time) AS utc FROM cpu WHERE host = 'b' AND usage = 30 ORDER BY time LIMIT 1"
      )
    ).toEqual([["2024-01-01T01:02:00.123456789+01:00", "2023-12-31T19:02:00.123456789-05:00", "2024-01-01T00:02:00.123456789+00:00"]])
    expect(await dialectError("SELECT tz(time, 'NewYork') FROM cpu")).toBe(
      'Error during planning: TZ requires a valid timezone string, got "NewYork"'
    )
  })
})

describe("gap filling", () => {
  const GAPFILL = `SELECT host, date_bin_gapfill(INTERVAL '1 minute', time) AS minute, avg(usage) AS avg_usage,
      locf(avg(usage)) AS locf_usage, interpolate(avg(usage)) AS interpolated
    FROM cpu WHERE time >= '2024-01-01T00:00:00Z' AND time < '2024-01-01T00:06:00Z'
    GROUP BY host, minute`

  it("date_bin_gapfill emits every bin of the range per series, NULL where there is no data", async () => {
    const result = await query(GAPFILL)
    expect(result.columns).toEqual(["host", "minute", "avg_usage", "locf_usage", "interpolated"])
    expect(result.rows.map((r) => r.slice(0, 3))).toEqual([
      ["a", "2024-01-01 00:00:00", 1],
      ["a", "2024-01-01 00:01:00", 2],
      ["a", "2024-01-01 00:02:00", null],
      ["a", "2024-01-01 00:03:00", null],
      ["a", "2024-01-01 00:04:00", null],
      ["a", "2024-01-01 00:05:00", 6],
      ["b", "2024-01-01 00:00:00", 10],
      ["b", "2024-01-01 00:01:00", null],
      ["b", "2024-01-01 00:02:00", 30],
      ["b", "2024-01-01 00:03:00", 30],
      ["b", "2024-01-01 00:04:00", null],
      ["b", "2024-01-01 00:05:00", null]
    ])
    expect(result.types[1]).toBe("TIMESTAMP_NS")
  })

  it("locf carries the last non-NULL value forward within each series", async () => {
    expect((await rows(GAPFILL)).map((r) => r[3])).toEqual([1, 2, 2, 2, 2, 6, 10, 10, 30, 30, 30, 30])
  })

  it("interpolate fills linearly between known bins and leaves the ends open", async () => {
    expect((await rows(GAPFILL)).map((r) => r[4])).toEqual([1, 2, 3, 4, 5, 6, 10, 20, 30, 30, null, null])
  })

  it("an exclusive lower bound, an inclusive upper bound and ORDER BY are honoured", async () => {
    expect(
      await rows(`SELECT date_bin_gapfill(INTERVAL '2 minutes', time) AS bin, count(*) AS n FROM cpu
        WHERE host = 'a' AND time > '2024-01-01T00:00:00Z' AND time <= '2024-01-01T00:06:00Z'
        GROUP BY 1 ORDER BY bin DESC`)
    ).toEqual([
      ["2024-01-01 00:06:00", null],
      ["2024-01-01 00:04:00", "1"],
      ["2024-01-01 00:02:00", null],
      ["2024-01-01 00:00:00", "1"]
    ])
  })

  it("a range relative to now() works", async () => {
    expect(
      await rows(`SELECT date_bin_gapfill(INTERVAL '3 minutes', time) AS bin, locf(min(usage)) AS m FROM cpu
        WHERE time >= now() - INTERVAL '9 minutes' AND time < now() GROUP BY bin`)
    ).toEqual([
      ["2023-12-31 23:57:00", null],
      ["2024-01-01 00:00:00", 1],
      ["2024-01-01 00:03:00", 6]
    ])
  })

  it("without a time range it fails as InfluxDB does", async () => {
    expect(
      await dialectError("SELECT date_bin_gapfill(INTERVAL '1 minute', time) AS m, count(*) FROM cpu GROUP BY m")
    ).toBe("Error during planning: gap-filling query is missing both upper and lower time bounds")
    expect(
      await dialectError(
        "SELECT date_bin_gapfill(INTERVAL '1 minute', time) AS m, count(*) FROM cpu WHERE time > '2024-01-01T00:00:00Z' GROUP BY m"
      )
    ).toBe("Error during planning: gap-filling query is missing upper time bound")
    expect(
      await dialectError("SELECT date_bin_gapfill(INTERVAL '1 minute', time) AS m, count(*) FROM cpu WHERE time < now() GROUP BY m")
    ).toBe("Error during planning: gap-filling query is missing lower time bound")
  })

  it("misplaced gap-filling functions are planning errors", async () => {
    expect(await dialectError("SELECT locf(avg(usage)) FROM cpu")).toBe(
      "Error during planning: locf may only be used in the SELECT list of a gap-filling query"
    )
    expect(await dialectError("SELECT date_bin_gapfill(INTERVAL '1 minute', time) FROM cpu")).toBe(
      "Error during planning: date_bin_gapfill may only be used as a GROUP BY expression"
    )
    expect(
      await dialectError(
        "SELECT date_bin_gapfill(INTERVAL '1 minute') AS m, count(*) FROM cpu WHERE time > now() - INTERVAL '1 hour' AND time < now() GROUP BY m"
      )
    ).toBe("Error during planning: DATE_BIN_GAPFILL expects 2 or 3 arguments, got 1")
  })
})

describe("selectors", () => {
  it("selector_first/last pick by time and min/max by value, earliest time among ties, ignoring NULL values", async () => {
    const result = await query(`SELECT host,
        selector_first(usage, time)['value'] AS fv, selector_first(usage, time)['time'] AS ft,
        selector_last(usage, time)['value'] AS lv, selector_last(usage, time)['time'] AS lt,
        selector_min(usage, time)['value'] AS minv, selector_min(usage, time)['time'] AS mint,
        selector_max(usage, time)['value'] AS maxv, selector_max(usage, time)['time'] AS maxt
      FROM cpu GROUP BY host ORDER BY host`)
    expect(result.rows).toEqual([
      ["a", 1, "2024-01-01 00:00:00", 6, "2024-01-01 00:05:00", 1, "2024-01-01 00:00:00", 6, "2024-01-01 00:05:00"],
      ["b", 10, "2024-01-01 00:00:30", 30, "2024-01-01 00:03:00", 10, "2024-01-01 00:00:30", 30, "2024-01-01 00:02:00.123456789"]
    ])
    expect(result.types[2]).toBe("TIMESTAMP_NS")
  })

  it("an unaliased selector is a struct of value and time named as DataFusion names it", async () => {
    const result = await query("SELECT selector_last(count, time) FROM cpu WHERE host = 'a'")
    expect(result.columns).toEqual(["selector_last(cpu.count,cpu.time)"])
    expect(result.rows).toEqual([[{ value: "60", time: "2024-01-01 00:05:00" }]])
  })

  it("a selector with one argument fails like InfluxDB's", async () => {
    expect(await dialectError("SELECT selector_first(usage) FROM cpu")).toBe(
      "Error during planning: selector_first requires at least 2 arguments, got 1"
    )
  })
})

describe("regular expressions", () => {
  it("~ matches anywhere in the string, not the whole string", async () => {
    expect(await rows("SELECT msg FROM cpu WHERE msg ~ 'wor' ORDER BY msg")).toEqual([["hello world"]])
  })

  it("~* ignores case; !~ and !~* negate", async () => {
    expect(await rows("SELECT msg FROM cpu WHERE msg ~* 'HELLO' ORDER BY msg")).toEqual([["Hello"], ["hello world"]])
    expect(await rows("SELECT msg FROM cpu WHERE msg !~ 'o' ORDER BY msg")).toEqual([["warn"], ["x"]])
    expect(await rows("SELECT msg FROM cpu WHERE msg !~* 'h' ORDER BY msg")).toEqual([["error: disk full"], ["warn"], ["x"]])
  })

  it("regexp_like and regexp_match", async () => {
    expect(await rows("SELECT msg FROM cpu WHERE regexp_like(msg, '^h') ORDER BY msg")).toEqual([["hello world"]])
    expect(await rows("SELECT msg FROM cpu WHERE regexp_like(msg, '^h', 'i') ORDER BY msg")).toEqual([["Hello"], ["hello world"]])
    expect(
      await rows("SELECT regexp_match(msg, '(\\w+) (\\w+)') AS m, regexp_match(msg, 'or') AS n FROM cpu WHERE msg IS NOT NULL ORDER BY msg")
    ).toEqual([
      [null, null],
      [["disk", "full"], ["or"]],
      [["hello", "world"], ["or"]],
      [null, null],
      [null, null]
    ])
  })
})

describe("aggregates", () => {
  it("approx_percentile_cont, median, stddev, var and count(DISTINCT)", async () => {
    const result = await query(
      "SELECT approx_percentile_cont(usage, 0.5) AS p50, median(usage) AS med, count(DISTINCT host) AS hosts, var(usage) AS v, stddev(usage) AS sd, var_pop(usage) AS vp, approx_distinct(region) AS regions FROM cpu"
    )
    // usage: 1, 2, 6, 10, 30, 30 (one NULL)
    const mean = 79 / 6
    const squares = [1, 2, 6, 10, 30, 30].reduce((s, x) => s + (x - mean) ** 2, 0)
    const [p50, med, hosts, v, sd, vp, regions] = result.rows[0]!
    expect([p50, med, hosts, regions]).toEqual([8, 8, "2", "2"])
    expect(v).toBeCloseTo(squares / 5, 9)
    expect(sd).toBeCloseTo(Math.sqrt(squares / 5), 9)
    expect(vp).toBeCloseTo(squares / 6, 9)
  })

  it("first_value/last_value with ORDER BY as aggregates", async () => {
    expect(
      await rows(
        "SELECT host, first_value(usage ORDER BY time) AS f, last_value(count ORDER BY time) AS l FROM cpu GROUP BY host ORDER BY host"
      )
    ).toEqual([
      ["a", 1, "60"],
      ["b", 10, "1"]
    ])
  })

  it("a wrong argument count is a planning error", async () => {
    expect(await dialectError("SELECT date_trunc('minute') FROM cpu")).toBe(
      "Error during planning: Function 'date_trunc' expects 2 arguments but received 1"
    )
    expect(await dialectError("SELECT approx_percentile_cont(usage) FROM cpu")).toBe(
      "Error during planning: Function 'approx_percentile_cont' expects 2 to 3 arguments but received 1"
    )
  })
})

describe("result column names", () => {
  it("aggregates and functions get DataFusion's names, qualified by the table", async () => {
    const result = await query("SELECT count(*), avg(usage), max(usage), count(DISTINCT host), host FROM cpu GROUP BY host ORDER BY host")
    expect(result.columns).toEqual(["count(*)", "avg(cpu.usage)", "max(cpu.usage)", "count(DISTINCT cpu.host)", "host"])
  })

  it("literals, intervals, operators and struct fields print as DataFusion prints them", async () => {
    const names = await query(
      "SELECT date_bin(INTERVAL '1 minute', time), selector_last(usage, time)['value'], count(*) FILTER (WHERE usage > 1) AS f FROM cpu GROUP BY 1 ORDER BY 1 LIMIT 1"
    )
    expect(names.columns).toEqual([
      'date_bin(IntervalMonthDayNano("IntervalMonthDayNano { months: 0, days: 0, nanoseconds: 60000000000 }"),cpu.time)',
      "selector_last(cpu.usage,cpu.time)[value]",
      "f"
    ])
    const scalars = await query("SELECT usage * 2, 'x', 1.5, usage > 1 AND host = 'a' FROM cpu LIMIT 1")
    expect(scalars.columns).toEqual(["cpu.usage * Int64(2)", 'Utf8("x")', "Float64(1.5)", 'cpu.usage > Int64(1) AND cpu.host = Utf8("a")'])
  })

  it("an aggregate's ORDER BY is named with its null order, explicit or DataFusion's default for the direction", async () => {
    const names = await query(
      "SELECT array_agg(usage ORDER BY time DESC NULLS LAST), array_agg(usage ORDER BY time DESC), array_agg(usage ORDER BY time NULLS FIRST) FROM cpu"
    )
    expect(names.columns).toEqual([
      "array_agg(cpu.usage) ORDER BY [cpu.time DESC NULLS LAST]",
      "array_agg(cpu.usage) ORDER BY [cpu.time DESC NULLS FIRST]",
      "array_agg(cpu.usage) ORDER BY [cpu.time ASC NULLS FIRST]"
    ])
  })

  it("a schema-qualified table qualifies names with schema and table; user aliases stay", async () => {
    const result = await query("SELECT avg(usage), min(usage) AS lowest FROM iox.cpu")
    expect(result.columns).toEqual(["avg(iox.cpu.usage)", "lowest"])
  })
})
