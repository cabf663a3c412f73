import { beforeAll, describe, expect, it } from "@effect/vitest"
import { parseSql, renderSql } from "../../src/query/ast.ts"
import { literalTemplate } from "../../src/query/literalTemplate.ts"
import { memoryConnection } from "../support/duckdb.ts"

// Queries that differ only in their literals share one parse and one rendering by DuckDB (a literal template): each
// must still answer with its own literals, whatever they hold.

const connection = memoryConnection()

beforeAll(async () => {
  const conn = connection()
  await conn.run("SET TimeZone='UTC'")
  await conn.run(`CREATE TABLE t AS SELECT * FROM (VALUES
    ('a', TIMESTAMP '2024-01-01 00:00:00', 1.5), ('b', TIMESTAMP '2024-01-01 00:01:00', 2.5),
    ('it''s', TIMESTAMP '2024-01-01 00:02:00', 3.5), ('line
break', TIMESTAMP '2024-01-01 00:03:00', 4.5), ('żółw 🐢', TIMESTAMP '2024-01-01 00:04:00', 5.5),
    ('back\\slash', TIMESTAMP '2024-01-01 00:05:00', 6.5)) v(s, time, x)`)
})

/** A query's rows through parse and render (templated where it can be), as JSON. */
const through = async (sql: string) => {
  const conn = connection()
  const parsed = await parseSql(conn, sql)
  if (!Array.isArray(parsed)) throw new Error(`parse failed: ${(parsed as { message: string }).message}`)
  return (await conn.runAndReadAll(await renderSql(conn, [...parsed]))).getRowsJson()
}

/** The same query run by DuckDB as it is. */
const direct = async (sql: string) => (await connection().runAndReadAll(sql)).getRowsJson()

const quoted = (s: string) => `'${s.replaceAll("'", "''")}'`

describe("literal templates", () => {
  it("stands in for plain literals only, outside quoted identifiers and comments", () => {
    const template = literalTemplate(`SELECT 'a' AS "it's", 'b''c' -- 'not a literal'\nFROM t WHERE s = ''`)
    expect(template?.values).toEqual(["a", "b'c", ""])
    expect(template?.text).toContain(`AS "it's"`)
    expect(template?.text).toContain("-- 'not a literal'\n")
    expect(template?.text).not.toContain("'a'")
  })

  it("stands in for integers of BIGINT size only: not smaller ones, signed ones, decimals or digits of a name", () => {
    const template = literalTemplate("SELECT 1704088800000000000 AS a, 5, x2147483648, 2147483648.5, - 3000000000, 2147483648")
    expect(template?.integers).toEqual(["1704088800000000000", "2147483648"])
    expect(template?.values).toEqual([])
    expect(template?.text).toContain("x2147483648, 2147483648.5, - 3000000000,")
  })

  it("leaves alone what it does not read: prefixed, dollar-quoted, commented-out and unterminated literals", () => {
    for (const sql of [
      "SELECT E'a\\tb'",
      "SELECT x'0A'",
      "SELECT U&'d\\0061t\\+000061'",
      "SELECT /* 'a' */ 1",
      "SELECT $$a$$",
      "SELECT $tag$a$tag$",
      "SELECT 'open",
      "SELECT 1"
    ])
      expect(literalTemplate(sql)).toBeUndefined()
  })

  it("answers each query of one template with its own literals", async () => {
    const shape = (s: string) => `SELECT s, x FROM t WHERE s = ${quoted(s)} ORDER BY s`
    for (const s of ["a", "b", "it's", "line\nbreak", "żółw 🐢", "back\\slash", "missing"])
      expect(await through(shape(s))).toEqual(await direct(shape(s)))
    expect((await through(shape("b")))[0]).toEqual(["b", "2.5"])
    expect((await through(shape("a")))[0]).toEqual(["a", "1.5"])
  })

  it("keeps literals that the parser casts, that name struct fields, patterns and lists", async () => {
    for (const sql of [
      "SELECT time_bucket(INTERVAL '1 minute', time) AS m, count(*) AS n FROM t WHERE time >= '2024-01-01T00:01:00Z' GROUP BY 1 ORDER BY 1",
      "SELECT time_bucket(INTERVAL '2 minutes', time) AS m, count(*) AS n FROM t WHERE time >= '2024-01-01T00:02:00Z' GROUP BY 1 ORDER BY 1",
      "SELECT {'k': s}['k'] AS k FROM t WHERE s LIKE 'a%' OR s IN ('b', 'it''s') ORDER BY 1",
      "SELECT {'k': s}['k'] AS k FROM t WHERE s LIKE 'b%' OR s IN ('a', 'żółw 🐢') ORDER BY 1",
      "SELECT 'x' AS one, 'x' AS two, s || '-' || s AS both FROM t ORDER BY s",
      "SELECT E'tab\\there' AS e, 'plain' AS p",
      "SELECT make_timestamp_ns(1704067200000000000) AS t, (1704067320000000000 - 1704067200000000000) // 60000000000 AS n",
      "SELECT make_timestamp_ns(1704067260000000000) AS t, (1704067380000000000 - 1704067200000000000) // 30000000000 AS n",
      "SELECT s FROM t WHERE epoch_ns(time) >= 1704067260000000000 AND epoch_ns(time) < 1704067440000000000 ORDER BY s",
      "SELECT s FROM t WHERE epoch_ns(time) >= 1704067320000000000 AND epoch_ns(time) < 1704067380000000000 ORDER BY s",
      "SELECT -3000000000 AS neg, 3000000000 * 2 AS pos, 2147483648 AS smallest, 9223372036854775807 AS largest",
      "SELECT typeof(2147483647) AS i, typeof(2147483648) AS b, typeof(9223372036854775808) AS h"
    ])
      expect(await through(sql)).toEqual(await direct(sql))
  })

  it("reports a syntax error in the text's own words", async () => {
    const parsed = await parseSql(connection(), "SELECT 'a' FROM WHERE s = 'b'")
    expect(Array.isArray(parsed)).toBe(false)
    expect((parsed as { message: string }).message).not.toMatch(/strata_literal/)
  })
})
