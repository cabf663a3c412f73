import { describe, expect, it } from "@effect/vitest"
import { parseDuration } from "../../src/influxql/lexer.ts"
import { isParseError, parseInfluxQl } from "../../src/influxql/parser.ts"

const one = (q: string) => {
  const parsed = parseInfluxQl(q)
  if (isParseError(parsed)) throw new Error(parsed.message)
  expect(parsed).toHaveLength(1)
  return parsed[0]!
}

const errorOf = (q: string) => {
  const parsed = parseInfluxQl(q)
  if (!isParseError(parsed)) throw new Error(`expected a parse error for ${q}`)
  return parsed.message
}

describe("InfluxQL parser", () => {
  it("parses a regex as a whole field and as a function's argument, and nothing after a regex field", () => {
    expect(one("SELECT /usage_(user|idle)/, mean(/^l/) AS m, abs(x) FROM cpu")).toMatchObject({
      fields: [
        { expr: { _tag: "regex", pattern: "usage_(user|idle)" } },
        { expr: { _tag: "call", name: "mean", args: [{ _tag: "regex", pattern: "^l" }] }, alias: "m" },
        { expr: { _tag: "call", name: "abs", args: [{ _tag: "ref", name: "x" }] } }
      ]
    })
    expect(errorOf("SELECT /usage/ + 1 FROM cpu")).toBe("found +, expected FROM at line 1, char 16")
    expect(errorOf("SELECT /a(/ FROM cpu")).toMatch(/^error parsing regexp: missing closing \): `a\(`/)
  })

  it("parses a full SELECT with every clause", () => {
    const s = one(
      `SELECT mean("usage") AS m, max(x) * 2 FROM cpu, "db"..mem, /^c.*/ WHERE time > now() - 1h AND host =~ /a\\/b/ AND x <> 'q\\'' ` +
        `GROUP BY time(5m, -1m), host fill(previous) ORDER BY time DESC LIMIT 10 OFFSET 2 SLIMIT 1 SOFFSET 3 tz('Europe/Paris')`
    )
    expect(s).toMatchObject({
      _tag: "select",
      fields: [{ expr: { _tag: "call", name: "mean", args: [{ _tag: "ref", name: "usage" }] }, alias: "m" }, { expr: { _tag: "binary", op: "*" } }],
      sources: [{ name: "cpu" }, { name: "mem", db: "db" }, { regex: "^c.*" }],
      groupBy: { tags: ["host"], allTags: false, time: { intervalNs: 300_000_000_000n, offsetNs: -60_000_000_000n } },
      fill: { _tag: "previous" },
      descending: true,
      limit: 10,
      offset: 2,
      slimit: 1,
      soffset: 3,
      tz: "Europe/Paris"
    })
    const where = (s as { where: unknown }).where
    expect(where).toMatchObject({
      _tag: "binary",
      op: "AND",
      left: { op: "AND", left: { op: ">", right: { op: "-", left: { _tag: "call", name: "now" }, right: { _tag: "duration", ns: 3_600_000_000_000n } } }, right: { op: "=~", right: { _tag: "regex", pattern: "a/b" } } },
      right: { op: "!=", right: { _tag: "string", value: "q'" } }
    })
  })

  it("gives arithmetic the usual precedence and keeps integer literals exact", () => {
    const s = one("SELECT a + b * 2 FROM m WHERE time >= 1704067200000000001")
    expect(s).toMatchObject({ fields: [{ expr: { op: "+", left: { name: "a" }, right: { op: "*", left: { name: "b" }, right: { value: 2 } } } }] })
    expect((s as { where: { right: { raw: string } } }).where.right.raw).toBe("1704067200000000001")
  })

  it("reads db.rp.measurement, wildcards, casts, distinct and fill values", () => {
    expect(one("SELECT *::field, usage::float FROM mydb.autogen.cpu GROUP BY * fill(-1.5)")).toMatchObject({
      fields: [{ expr: { _tag: "wildcard", only: "field" } }, { expr: { _tag: "ref", name: "usage", cast: "float" } }],
      sources: [{ db: "mydb", rp: "autogen", name: "cpu" }],
      groupBy: { allTags: true },
      fill: { _tag: "value", value: -1.5, integer: false }
    })
    expect(one("SELECT count(distinct(host)), distinct(x) FROM m")).toMatchObject({
      fields: [{ expr: { name: "count", args: [{ _tag: "call", name: "distinct" }] } }, { expr: { _tag: "call", name: "distinct" } }]
    })
  })

  it("splits statements on semicolons", () => {
    const parsed = parseInfluxQl("SELECT a FROM m; SHOW DATABASES;")
    expect(isParseError(parsed) ? parsed.message : parsed.map((s) => s._tag)).toEqual(["select", "showDatabases"])
  })

  it("parses the SHOW statements", () => {
    expect(one("SHOW MEASUREMENTS ON db WITH MEASUREMENT =~ /c.*/ LIMIT 5")).toEqual({ _tag: "showMeasurements", on: "db", measurement: { op: "=~", pattern: "c.*" }, limit: 5 })
    expect(one("SHOW TAG KEYS FROM cpu")).toEqual({ _tag: "showTagKeys", from: [{ name: "cpu" }] })
    expect(one(`SHOW TAG VALUES FROM cpu WITH KEY IN ("host", region) WHERE region = 'eu'`)).toMatchObject({ _tag: "showTagValues", key: { op: "in", values: ["host", "region"] }, where: { op: "=" } })
    expect(one(`SHOW TAG VALUES WITH KEY = "host"`)).toEqual({ _tag: "showTagValues", from: [], key: { op: "=", value: "host" } })
    expect(one("SHOW FIELD KEYS")).toEqual({ _tag: "showFieldKeys", from: [] })
    expect(one("SHOW RETENTION POLICIES ON foo")).toEqual({ _tag: "showRetentionPolicies", on: "foo" })
    expect(one("show series from cpu")).toEqual({ _tag: "showSeries", from: [{ name: "cpu" }] })
  })

  it("reports errors with InfluxDB 1.x's wording and position", () => {
    expect(errorOf("SELEC x")).toBe("found SELEC, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, ALTER, SET, KILL at line 1, char 1")
    expect(errorOf("SELECT usage FROM cpu WHERE")).toBe("found EOF, expected identifier, string, number, bool at line 1, char 29")
    expect(errorOf("SELECT a FROM m ORDER BY host")).toMatch(/^only ORDER BY time supported/)
    expect(errorOf("SELECT a FROM m WHERE s = 'open")).toMatch(/^unterminated string/)
    expect(errorOf("SELECT a FROM (SHOW DATABASES)")).toBe("found SHOW, expected SELECT at line 1, char 16")
    expect(errorOf("SELECT a FROM (SELECT b FROM m")).toBe("found EOF, expected ) at line 1, char 32")
  })

  it("a subquery is a source holding its own statement", () => {
    const parsed = parseInfluxQl("SELECT max(m) FROM (SELECT mean(v) AS m FROM cpu GROUP BY host), mem WHERE time > 0")
    if (isParseError(parsed)) throw new Error(parsed.message)
    const stmt = parsed[0]
    if (stmt?._tag !== "select") throw new Error("expected a SELECT")
    expect(stmt.sources).toMatchObject([{ subquery: { sources: [{ name: "cpu" }], groupBy: { tags: ["host"] } } }, { name: "mem" }])
  })

  it("reads durations of every unit, compound ones too", () => {
    expect(parseDuration("10ns")).toBe(10n)
    expect(parseDuration("3u")).toBe(3_000n)
    expect(parseDuration("3µ")).toBe(3_000n)
    expect(parseDuration("5ms")).toBe(5_000_000n)
    expect(parseDuration("2s")).toBe(2_000_000_000n)
    expect(parseDuration("1h30m")).toBe(5_400_000_000_000n)
    expect(parseDuration("1d")).toBe(86_400_000_000_000n)
    expect(parseDuration("2w")).toBe(1_209_600_000_000_000n)
    expect(parseDuration("5x")).toBeUndefined()
  })
})
