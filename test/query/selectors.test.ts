import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { parseSql, renderSql, type JsonObject } from "../../src/query/ast.ts"
import { dialectSetupSql, isDialectError, rewriteDialect } from "../../src/query/dialect/index.ts"

// selector_min/selector_max over every field type: ties go to the earliest time, NULL values never win, and a group
// without a value answers NULL for both. Rows are written out of time order so that scan order cannot decide a tie.

let instance: DuckDBInstance
let conn: DuckDBConnection

beforeAll(async () => {
  instance = await DuckDBInstance.create(":memory:")
  conn = await instance.connect()
  await conn.run("SET TimeZone='UTC'")
  for (const statement of dialectSetupSql) await conn.run(statement)
  await conn.run("CREATE TABLE m(host VARCHAR, time TIMESTAMP_NS, f DOUBLE, i BIGINT, u UBIGINT, s VARCHAR, b BOOLEAN)")
  await conn.run(`INSERT INTO m VALUES
    ('a', '2024-01-01 00:00:05', 3.5, 7, 18446744073709551615, 'pear', true),
    ('a', '2024-01-01 00:00:01', NULL, NULL, NULL, NULL, NULL),
    ('a', '2024-01-01 00:00:04', -2.5, -9223372036854775808, 0, 'apple', false),
    ('a', '2024-01-01 00:00:03', 3.5, 7, 18446744073709551615, 'pear', true),
    ('a', '2024-01-01 00:00:02.000000001', -2.5, -9223372036854775808, 0, 'apple', false),
    ('a', '2024-01-01 00:00:06', 1.0, 1, 5, 'fig', NULL),
    ('b', '2024-01-01 00:00:09', NULL, NULL, NULL, NULL, NULL),
    ('b', '2024-01-01 00:00:08', NULL, NULL, NULL, NULL, NULL)`)
  // Many rows over few values: ties everywhere, some NULLs, times in a shuffled order.
  await conn.run(`CREATE TABLE r AS SELECT 'h' || (i % 13) AS host,
      make_timestamp_ns(1704067200000000000 + ((i * 7919) % 50000) * 1000000000) AS time,
      CASE WHEN i % 11 = 0 THEN NULL ELSE ((i * 31) % 17) * 0.5 END AS v
    FROM range(50000) t(i)`)
})

afterAll(() => {
  conn.closeSync()
  instance.closeSync()
})

/** What a user's query goes through: parse, dialect rewrite, render, run. */
const rows = async (sql: string): Promise<ReadonlyArray<ReadonlyArray<unknown>>> => {
  const parsed = await parseSql(conn, sql)
  if (!Array.isArray(parsed)) throw new Error(`parse failed: ${(parsed as { message: string }).message}`)
  const statements: Array<JsonObject> = []
  for (const statement of parsed) {
    const rewritten = rewriteDialect(statement, { nowNs: 1704067560000000000n })
    if (isDialectError(rewritten)) throw new Error(rewritten.message)
    statements.push(rewritten)
  }
  const reader = await conn.runAndReadAll(await renderSql(conn, statements))
  return reader.getRowsJson()
}

const both = (column: string) =>
  `selector_min(${column}, time)['value'], selector_min(${column}, time)['time'], ` +
  `selector_max(${column}, time)['value'], selector_max(${column}, time)['time']`

describe("selector_min and selector_max", () => {
  it("pick the earliest of tied float, integer and unsigned values, never a NULL one", async () => {
    expect(await rows(`SELECT host, ${both("f")}, ${both("i")}, ${both("u")} FROM m GROUP BY host ORDER BY host`)).toEqual([
      [
        "a",
        -2.5, "2024-01-01 00:00:02.000000001", 3.5, "2024-01-01 00:00:03",
        "-9223372036854775808", "2024-01-01 00:00:02.000000001", "7", "2024-01-01 00:00:03",
        "0", "2024-01-01 00:00:02.000000001", "18446744073709551615", "2024-01-01 00:00:03"
      ],
      ["b", null, null, null, null, null, null, null, null, null, null, null, null]
    ])
  })

  it("order strings and booleans the same way", async () => {
    expect(await rows(`SELECT host, ${both("s")}, ${both("b")} FROM m GROUP BY host ORDER BY host`)).toEqual([
      [
        "a",
        "apple", "2024-01-01 00:00:02.000000001", "pear", "2024-01-01 00:00:03",
        false, "2024-01-01 00:00:02.000000001", true, "2024-01-01 00:00:03"
      ],
      ["b", null, null, null, null, null, null, null, null]
    ])
  })

  it("answer a whole-table selector and one over a filtered range", async () => {
    expect(await rows(`SELECT ${both("f")} FROM m`)).toEqual([[-2.5, "2024-01-01 00:00:02.000000001", 3.5, "2024-01-01 00:00:03"]])
    expect(await rows(`SELECT ${both("f")} FROM m WHERE time >= '2024-01-01T00:00:04Z'`)).toEqual([
      [-2.5, "2024-01-01 00:00:04", 3.5, "2024-01-01 00:00:05"]
    ])
  })

  it("agree with ordering every group's rows by value then time, over many ties", async () => {
    const reference = (direction: "ASC" | "DESC") =>
      `SELECT host, first(v ORDER BY v ${direction}, time), strftime(first(time ORDER BY v ${direction}, time), '%Y-%m-%d %H:%M:%S')
       FROM r WHERE v IS NOT NULL GROUP BY host ORDER BY host`
    const selected = (name: string) =>
      `SELECT host, ${name}(v, time)['value'], strftime(${name}(v, time)['time'], '%Y-%m-%d %H:%M:%S')
       FROM r GROUP BY host ORDER BY host`
    const min = await rows(selected("selector_min"))
    const max = await rows(selected("selector_max"))
    expect(min).toHaveLength(13)
    expect(min).toEqual((await conn.runAndReadAll(reference("ASC"))).getRowsJson())
    expect(max).toEqual((await conn.runAndReadAll(reference("DESC"))).getRowsJson())
  })
})

describe("selector_first and selector_last", () => {
  const edges = (column: string) =>
    `selector_first(${column}, time)['value'], selector_first(${column}, time)['time'], ` +
    `selector_last(${column}, time)['value'], selector_last(${column}, time)['time']`

  it("pick the earliest and the latest row with a value of every type, never a NULL one", async () => {
    // a's earliest row has no value at all and its latest no boolean; b has no value anywhere.
    const first = "2024-01-01 00:00:02.000000001"
    expect(await rows(`SELECT host, ${edges("f")}, ${edges("i")}, ${edges("u")}, ${edges("s")}, ${edges("b")} FROM m GROUP BY host ORDER BY host`)).toEqual([
      [
        "a",
        -2.5, first, 1, "2024-01-01 00:00:06",
        "-9223372036854775808", first, "1", "2024-01-01 00:00:06",
        "0", first, "5", "2024-01-01 00:00:06",
        "apple", first, "fig", "2024-01-01 00:00:06",
        false, first, true, "2024-01-01 00:00:05"
      ],
      ["b", ...Array.from({ length: 20 }, () => null)]
    ])
  })
})
