import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { compileRegex, isRegexError, RegexError } from "../../src/influxql/regex.ts"
import { expectError, expectOk } from "../support/expect.ts"
import { startServerWith, type InProcessServer } from "../support/server.ts"

// A name that makes a backtracking `^(a+)+$` try 2^31 ways before failing: it froze the server as a JS RegExp.
const EVIL = "a".repeat(31) + "!"

const LINES = [
  `${EVIL} v=1,s="${EVIL}" 1000000000`,
  `aaa v=2 1000000000`,
  `cpu,host=a usage=1 1000000000`,
  `cpu,host=b7 usage=2 2000000000`,
  `CPU,host=a usage=3 3000000000`,
  `disk1 v=4 1000000000`,
  `diskx v=5 1000000000`,
  `a.b v=6 1000000000`,
  `axb v=7 1000000000`
].join("\n")

describe("compileRegex", () => {
  it("takes Go's RE2 syntax: flags, Perl and POSIX classes, \\Q…\\E, Unicode classes", () => {
    const matches = (pattern: string, value: string) => {
      const re = compileRegex(pattern)
      if (isRegexError(re)) throw new Error(re.message)
      return re.test(value)
    }
    expect(matches("(?i)^CPU$", "cpu")).toBe(true)
    expect(matches("^disk\\d$", "disk1")).toBe(true)
    expect(matches("^disk\\d$", "diskx")).toBe(false)
    expect(matches("^\\Qa.b\\E$", "a.b")).toBe(true)
    expect(matches("^\\Qa.b\\E$", "axb")).toBe(false)
    expect(matches("^[[:alpha:]]+$", "abc")).toBe(true)
    expect(matches("^\\pL+$", "héllo")).toBe(true)
    expect(matches("^\\x{61}$", "a")).toBe(true)
    expect(matches("^(a+)+$", EVIL)).toBe(false)
  })

  it("refuses what Go's regexp refuses, in Go's words", () => {
    expect(compileRegex("(a")).toEqual(new RegexError({ message: "error parsing regexp: missing closing ): `(a`" }))
    expect(compileRegex("a(?=b)")).toEqual(new RegexError({ message: "error parsing regexp: invalid or unsupported Perl syntax: `(?=`" }))
    expect(compileRegex("a{1001}")).toEqual(new RegexError({ message: "error parsing regexp: invalid repeat count: `{1001}`" }))
    expect(compileRegex("\\8")).toEqual(new RegexError({ message: "error parsing regexp: invalid escape sequence: `\\8`" }))
  })

  it("refuses a pattern whose program would be too large to compile and match on the event loop", () => {
    expect(compileRegex("[a-z]{1000}".repeat(100))).toEqual(new RegexError({ message: "error parsing regexp: expression too large" }))
    expect(compileRegex("x".repeat(100_000))).toEqual(new RegexError({ message: "error parsing regexp: expression too large" }))
    expect(isRegexError(compileRegex("^[a-z]{1,1000}-\\d{4}$"))).toBe(false)
  })
})

describe("InfluxQL regular expressions over HTTP", () => {
  let server: InProcessServer
  let token: string
  const v1 = async (q: string, params?: string) =>
    expectOk(await server.request("GET", `/query?${new URLSearchParams({ db: "t", q, ...(params === undefined ? {} : { params }) })}`, { token })).json()
  const v3 = (q: string) => server.request("GET", `/api/v3/query_influxql?${new URLSearchParams({ db: "t", q })}`, { token })
  const names = (answer: { results: Array<{ series?: Array<{ name: string }> }> }) =>
    (answer.results[0]!.series ?? []).map((s) => s.name)

  beforeAll(async () => {
    const started = await startServerWith("t", LINES)
    server = started.server
    token = started.token
  }, 30_000)
  afterAll(() => server.stop())

  it("FROM /^(a+)+$/ over a name of 31 a's and a ! answers (RE2 is linear) with only the matching measurement", async () => {
    expect(await v1("SELECT * FROM /^(a+)+$/")).toEqual({
      results: [{ statement_id: 0, series: [{ name: "aaa", columns: ["time", "v"], values: [["1970-01-01T00:00:01Z", 2]] }] }]
    })
    // The same pattern in SHOW and over string values (DuckDB's RE2) is as quick.
    expect(await v1("SHOW MEASUREMENTS WITH MEASUREMENT =~ /^(a+)+$/")).toEqual({
      results: [{ statement_id: 0, series: [{ name: "measurements", columns: ["name"], values: [["aaa"]] }] }]
    })
    expect(await v1(`SELECT v FROM "${EVIL}" WHERE s =~ /^(a+)+$/`)).toEqual({ results: [{ statement_id: 0 }] })
    expect(names(await v1(`SELECT v FROM "${EVIL}" WHERE s !~ /^(a+)+$/`))).toEqual([EVIL])
  })

  it("a number or boolean matches neither =~ nor !~, as in 1.x; a missing field matches !~", async () => {
    expect(await v1("SELECT v FROM aaa WHERE v =~ /2/")).toEqual({ results: [{ statement_id: 0 }] })
    expect(await v1("SELECT v FROM aaa WHERE v !~ /3/")).toEqual({ results: [{ statement_id: 0 }] })
    expect(names(await v1("SELECT v FROM aaa WHERE nope !~ /3/"))).toEqual(["aaa"])
  })

  it("FROM /re/ takes RE2 syntax: (?i), \\d, \\Q…\\E", async () => {
    expect(names(await v1("SELECT * FROM /(?i)^cpu$/"))).toEqual(["CPU", "cpu"])
    expect(names(await v1("SELECT * FROM /^disk\\d$/"))).toEqual(["disk1"])
    expect(names(await v1("SELECT * FROM /^\\Qa.b\\E$/"))).toEqual(["a.b"])
  })

  it("WHERE =~, GROUP BY /re/ and SHOW … WITH KEY =~ take RE2 syntax", async () => {
    expect(await v1("SELECT usage FROM cpu WHERE host =~ /\\d$/")).toEqual({
      results: [{ statement_id: 0, series: [{ name: "cpu", columns: ["time", "usage"], values: [["1970-01-01T00:00:02Z", 2]] }] }]
    })
    expect(await v1("SELECT last(usage) FROM cpu GROUP BY /(?i)^HOST$/")).toEqual({
      results: [
        {
          statement_id: 0,
          series: [
            { name: "cpu", tags: { host: "a" }, columns: ["time", "last"], values: [["1970-01-01T00:00:01Z", 1]] },
            { name: "cpu", tags: { host: "b7" }, columns: ["time", "last"], values: [["1970-01-01T00:00:02Z", 2]] }
          ]
        }
      ]
    })
    expect(await v1("SHOW TAG VALUES FROM cpu WITH KEY =~ /(?i)^HOST$/")).toEqual({
      results: [{ statement_id: 0, series: [{ name: "cpu", columns: ["key", "value"], values: [["host", "a"], ["host", "b7"]] }] }]
    })
    expect(await v1("SELECT usage FROM cpu WHERE host =~ $re", '{"re":{"regex":"(?i)^B\\\\d$"}}')).toEqual({
      results: [{ statement_id: 0, series: [{ name: "cpu", columns: ["time", "usage"], values: [["1970-01-01T00:00:02Z", 2]] }] }]
    })
  })

  it("an invalid pattern is refused as InfluxDB 1.x refuses it: v3 400, v1 the parse error in the results", async () => {
    expectError(await v3("SELECT * FROM /(a/"), 400, "error in InfluxQL statement: parsing error: error parsing regexp: missing closing ): `(a` at line 1, char 14")
    expectError(await v3("SELECT usage FROM cpu WHERE host =~ /a(?=b)/"), 400, /invalid or unsupported Perl syntax: `\(\?=` at line 1, char 36$/)
    expectError(await v3("SHOW TAG VALUES FROM cpu WITH KEY =~ /[z-a]/"), 400, /error parsing regexp: invalid character class range: `z-a`/)
    expect(await v1("SELECT * FROM cpu GROUP BY /a{1001}/")).toEqual({
      results: [{ statement_id: 0, error: "error parsing query: error parsing regexp: invalid repeat count: `{1001}` at line 1, char 27" }]
    })
    expect(await v1("SELECT usage FROM cpu WHERE host =~ $re", '{"re":{"regex":"(a"}}')).toEqual({
      results: [{ statement_id: 0, error: "error parsing query: error parsing regexp: missing closing ): `(a` at line 1, char 37" }]
    })
  })
})
