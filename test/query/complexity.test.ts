/**
 * Query complexity (issue 9, finding 4: no request holds the main thread): SQL text is counted before DuckDB parses
 * it, with DuckDB's lexical rules; trees are read and written in linear time with big integers exact; oversized or
 * overdeep queries answer 400 `query too complex: …` over HTTP, never 500, while other requests are answered.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { parseJson, parseSql, renderSql, stringifyJson, transform, type JsonObject } from "../../src/query/ast.ts"
import { countSql, SQL_LIMITS, sqlTooComplex } from "../../src/query/complexity.ts"
import { expectError, expectOk } from "../support/expect.ts"
import { createOperatorToken, startServer, type InProcessServer, type TestResponse } from "../support/server.ts"
import { memoryConnection } from "../support/duckdb.ts"

const terms = (n: number, term: (i: number) => string, separator: string) =>
  Array.from({ length: n }, (_, i) => term(i)).join(separator)

describe("counting SQL text", () => {
  it("counts AND/OR keywords in any case, but not inside literals, quoted names or comments", () => {
    expect(countSql("SELECT * FROM m WHERE a = 1 AND b = 2 or c = 3 Or d").booleanOperators).toBe(3)
    const hidden = [
      "'a or b and c'",
      "'it''s or and'",
      `"or" AND "and"`,
      "E'x\\' or y and z'",
      "$$ or and $$",
      "$tag$ or $$ and $tag$",
      "-- or and\n1",
      "/* or /* and */ or */ 1",
      "m.or + m.and"
    ]
    expect(hidden.map((sql) => countSql(`SELECT ${sql}`).booleanOperators)).toEqual([0, 0, 1, 0, 0, 0, 0, 0, 0])
  })

  it("lexes as DuckDB does where a wrong guess would hide text: a standard string keeps its backslash, a lone $ is no quote", () => {
    // DuckDB: 'a\' is a whole string, then OR; E'a\'' continues past the escaped quote; `$1` and `a$$b` start no quote.
    expect(countSql("SELECT 'a\\' OR 'b'").booleanOperators).toBe(1)
    expect(countSql("SELECT E'a\\'' OR 'b'").booleanOperators).toBe(1)
    expect(countSql("SELECT $1 OR $2 OR a$$b OR 1").booleanOperators).toBe(3)
    expect(countSql("SELECT 1 -- comment\r OR 2").booleanOperators).toBe(1)
    expect(countSql("SELECT 1E'x' OR 1e5 OR 1.5e-3").booleanOperators).toBe(2)
  })

  it("counts the terms of each GROUP BY clause, nested lists included, and reports the largest", () => {
    expect(countSql("SELECT a, b, c FROM m GROUP BY a, b").groupByTerms).toBe(2)
    expect(countSql("SELECT 1 FROM m GROUP BY GROUPING SETS ((a, b), (c))").groupByTerms).toBe(3)
    expect(countSql("SELECT * FROM (SELECT a FROM m GROUP BY a) s, (SELECT b, c FROM m GROUP BY b, c) t").groupByTerms).toBe(2)
    expect(countSql("SELECT a FROM m GROUP BY a UNION ALL SELECT x, y, z FROM n").groupByTerms).toBe(1)
    expect(countSql("SELECT a FROM m GROUP BY a, 'x, y, z', t.select, b").groupByTerms).toBe(4)
    expect(countSql("SELECT a FROM m GROUP BY a, b HAVING a IN (1, 2, 3) ORDER BY a, b LIMIT 1").groupByTerms).toBe(2)
    expect(countSql("SELECT a FROM m GROUP BY a, (SELECT x AS order FROM n), b").groupByTerms).toBe(3)
  })

  it("refuses past each limit with a message naming the count and the limit", () => {
    expect(sqlTooComplex(`SELECT * FROM m WHERE ${terms(5_000, (i) => `v = ${i}`, " OR ")}`)).toBeUndefined()
    expect(sqlTooComplex(`SELECT * FROM m WHERE ${terms(20_000, (i) => `v = ${i}`, " OR ")}`)).toBe(
      "query too complex: 19,999 AND/OR operators (at most 5,000; a list of values can be written as IN (…))"
    )
    expect(sqlTooComplex(`SELECT 1 FROM m GROUP BY ${terms(SQL_LIMITS.groupByTerms + 1, (i) => `v + ${i}`, ", ")}`)).toBe(
      "query too complex: 1,001 GROUP BY terms (at most 1,000)"
    )
    expect(sqlTooComplex(`SELECT * FROM m WHERE v IN (${terms(40_000, (i) => `${i}`, ", ")})`)).toBe("query too complex: 80,008 tokens (at most 60,000)")
  })
})

describe("trees as JSON", () => {
  const conn = memoryConnection()

  it("keeps integers past 2^53 exact both ways, in values and not in strings", () => {
    const text = '{"a":1704067200000000001,"b":-9223372036854775808,"c":"1704067200000000001","d":[12345678901234567890,1.5e+300,3]}'
    const tree = parseJson(text) as JsonObject
    expect(tree).toEqual({ a: 1704067200000000001n, b: -9223372036854775808n, c: "1704067200000000001", d: [12345678901234567890n, 1.5e300, 3] })
    expect(stringifyJson(tree)).toBe(text)
    // A string beginning with U+10000 (a surrogate pair whose first half is the mark's code unit) stays a string.
    const linearB = '{"s":"\u{10000}1","n":12345678901234567890}'
    expect(parseJson(linearB)).toEqual({ s: "\u{10000}1", n: 12345678901234567890n })
    expect(stringifyJson(parseJson(linearB))).toBe(linearB)
  })

  it("renders a constant past 2^53 as DuckDB wrote it", async () => {
    const parsed = (await parseSql(conn(), "SELECT 1704067200000000001 AS n, -9223372036854775808 AS m")) as Array<JsonObject>
    expect(await renderSql(conn(), parsed)).toBe("SELECT 1704067200000000001 AS n, -9223372036854775808 AS m")
  })

  it("leaves a tree untouched by a walk that changes nothing, and copies only the path to a change", async () => {
    const parsed = (await parseSql(conn(), "SELECT a + 1, b FROM m WHERE c = 2")) as Array<JsonObject>
    const statement = parsed[0]!
    expect(transform(statement, () => undefined)).toBe(statement)
    const changed = transform(statement, (node) => (node["class"] === "COLUMN_REF" && (node["column_names"] as Array<string>)[0] === "b" ? { ...node, alias: "x" } : undefined)) as JsonObject
    const node = (t: JsonObject) => t["node"] as JsonObject
    expect(changed).not.toBe(statement)
    expect(node(changed)["where_clause"]).toBe(node(statement)["where_clause"])
    expect((node(changed)["select_list"] as Array<JsonObject>)[0]).toBe((node(statement)["select_list"] as Array<JsonObject>)[0])
    expect(await renderSql(conn(), [changed])).toBe("SELECT (a + 1), b AS x FROM m WHERE (c = 2)")
  })
})

describe("complex queries over HTTP", () => {
  let server: InProcessServer
  let admin: string
  beforeAll(async () => {
    server = await startServer()
    admin = await createOperatorToken(server)
    expectOk(await server.request("POST", "/api/v3/write_lp?db=d1", { token: admin, body: "m,host=a v=1 1\nm,host=b v=2 2\n" }), 204)
  })
  afterAll(() => server.stop())

  const sql = (q: string) => server.request("POST", "/api/v3/query_sql", { token: admin, body: { db: "d1", q } })

  it("a 20,000-term OR chain answers 400 query too complex, and /health is answered while a long chain is planned", async () => {
    const order: Array<string> = []
    const track = (name: string, answer: Promise<TestResponse>) => answer.then((res) => (order.push(name), res))
    // DuckDB takes a while to plan a 2,000-term chain, on its own threads: /health, sent after it, comes back first.
    const long = track("long chain", sql(`SELECT count(*) AS n FROM m WHERE ${terms(2_000, (i) => `v = ${i}`, " OR ")}`))
    const refused = track("20,000-term chain", sql(`SELECT * FROM m WHERE ${terms(20_000, (i) => `v = ${i}`, " OR ")}`))
    const health = track("health", server.request("GET", "/health", { token: admin }))
    expectError(await refused, 400, /^query too complex: 19,999 AND\/OR operators \(at most 5,000/)
    expect((await health).status).toBe(200)
    expect(expectOk(await long).json()).toEqual([{ n: 2 }])
    expect(order.indexOf("health")).toBeLessThan(order.indexOf("long chain"))
  })

  it("other oversized queries answer 400 naming what is too large, never 500", async () => {
    expectError(await sql(`SELECT * FROM m WHERE v IN (${terms(40_000, (i) => `${i}`, ", ")})`), 400, "query too complex: 80,008 tokens (at most 60,000)")
    expectError(await sql(`SELECT 1 FROM m GROUP BY ${terms(2_000, (i) => `v + ${i}`, ", ")}`), 400, "query too complex: 2,000 GROUP BY terms (at most 1,000)")
    expectError(await sql(terms(3_000, () => "SELECT * FROM m", " UNION ALL ")), 400, /^query too complex: its 3,000 table references expand to more than 100,000 nodes$/)
    expectError(await sql(`${"WITH a AS (".repeat(950)}SELECT * FROM m${") SELECT * FROM a".repeat(950)}`), 400, /^query too complex: nested too deeply to plan$|Max expression depth/)
    expectError(await sql(`SELECT ${terms(2_000, () => "v", " + ")} FROM m`), 400, /Max expression depth limit of 1000 exceeded/)
  })

  it("a parameter holding a lone surrogate binds as U+FFFD", async () => {
    const res = await server.request("POST", "/api/v3/query_sql", { token: admin, body: { db: "d1", q: "SELECT $s AS s", params: { s: "a\ud800b" } } })
    expect(expectOk(res).json()).toEqual([{ s: "a\ufffdb" }])
  })

  it("a 500-term sum and a 10,000-value IN list still answer", async () => {
    expect(expectOk(await sql(`SELECT ${terms(500, () => "v", " + ")} AS s FROM m ORDER BY s`)).json()).toEqual([{ s: 500 }, { s: 1000 }])
    expect(expectOk(await sql(`SELECT host FROM m WHERE v IN (${terms(10_000, (i) => `${i}`, ", ")}) ORDER BY host`)).json()).toEqual([{ host: "a" }, { host: "b" }])
  })
})
