/**
 * Out-of-range inputs and slow senders (issue 9, finding 7): each is a 4xx with the JSON error body over real HTTP,
 * never a 500, and a request that does not arrive within `--http-request-timeout` is answered 408 and cut.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as NodeNet from "node:net"
import { expectError, expectOk } from "../support/expect.ts"
import { createOperatorToken, startServer, type InProcessServer } from "../support/server.ts"

let server: InProcessServer
let admin: string

beforeAll(async () => {
  // A short deadline so the slow-sender cases finish quickly; every other request here arrives at once.
  server = await startServer({ httpRequestTimeoutMs: 1_000 })
  admin = await createOperatorToken(server)
  expectOk(await server.request("POST", "/api/v3/write_lp?db=d1", { token: admin, body: "m,host=a v=1 1\n" }), 204)
})
afterAll(() => server.stop())

/** A request whose body is sent as written (numbers JSON.stringify could not produce, e.g. `1e400`). */
const rawJson = (method: string, path: string, body: string) =>
  server.request(method, path, { token: admin, body, headers: { "content-type": "application/json" } })

const nested = (depth: number, inner: string) => "(".repeat(depth) + inner + ")".repeat(depth)

describe("token expiry_secs", () => {
  it.each([
    ["1e300", /expiry_secs 1e\+300 is too large/],
    ["1e400", "expiry_secs must be a positive number of seconds"],
    ["-5", "expiry_secs must be a positive number of seconds"],
    ["0.5", "expiry_secs 0.5 must be a whole number of seconds"],
    ['"3600"', /invalid value for field `expiry_secs`/]
  ])("expiry_secs %s answers 400 and creates no token", async (expiry, message) => {
    expectError(await rawJson("POST", "/api/v3/configure/token/named_admin", `{"token_name":"t","expiry_secs":${expiry}}`), 400, message)
    const resource = `{"token_name":"t","permissions":[{"resource_type":"db","resource_names":["d1"],"actions":["read"]}],"expiry_secs":${expiry}}`
    expectError(await rawJson("POST", "/api/v3/enterprise/configure/token", resource), 400, message)
    expectError(await server.request("DELETE", "/api/v3/configure/token?token_name=t", { token: admin }), 404)
  })
})

describe("retention periods and other catalog numbers", () => {
  const huge = "9".repeat(300) + "d"
  it.each([
    [huge, /must be at most 292 years/],
    ["300y", /must be at most 292 years/],
    ["0.0000001ns", /must be at least 1ms/],
    ["1e300d", /expected a duration/],
    ["-1d", /expected a duration/]
  ])("retention_period %s answers 400 on databases and tables", async (period, message) => {
    expectError(await server.request("POST", "/api/v3/configure/database", { token: admin, body: { db: "r1", retention_period: period } }), 400, message)
    expectError(await server.request("PUT", "/api/v3/configure/database", { token: admin, body: { db: "d1", retention_period: period } }), 400, message)
    expectError(await server.request("PUT", "/api/v3/configure/table", { token: admin, body: { db: "d1", table: "m", retention_period: period } }), 400, message)
    const params = new URLSearchParams({ db: "d1", table: "m", duration: period })
    expectError(await server.request("POST", `/api/v3/enterprise/configure/table/retention_period?${params}`, { token: admin }), 400, message)
  })

  it("hard_delete_at past the representable range answers 400", async () => {
    for (const at of ["275760-09-14T00:00:00Z", "1e400"]) {
      expectError(await server.request("DELETE", `/api/v3/configure/database?db=d1&hard_delete_at=${at}`, { token: admin }), 400, /hard_delete_at/)
    }
  })

  it.each(["1e400", "1e300", "0.5", "-1", '"8"'])("max_concurrent_queries %s answers 400", async (value) => {
    expectError(await rawJson("PUT", "/api/v3/configure/query_concurrency_limit?force=true", `{"max_concurrent_queries":${value}}`), 400, /max_concurrent_queries/)
  })
})

describe("numeric query parameters", () => {
  const sqlGet = (q: string, params: string) => server.request("GET", `/api/v3/query_sql?${new URLSearchParams({ db: "d1", q, params })}`, { token: admin })

  it.each(["1e400", "-1e400", "[1, 1e400]", '{"a": 1e400}'])("a SQL parameter %s answers 400 naming it, GET and POST", async (value) => {
    const message = /^invalid 'params': the value of \$x is a number out of range/
    expectError(await sqlGet("SELECT $x AS x", `{"x": ${value}}`), 400, message)
    expectError(await rawJson("POST", "/api/v3/query_sql", `{"db":"d1","q":"SELECT $x AS x","params":{"x":${value}}}`), 400, message)
  })

  it("a whole SQL parameter past 2^53 binds as a double", async () => {
    const res = expectOk(await rawJson("POST", "/api/v3/query_sql", `{"db":"d1","q":"SELECT $x AS x, $y AS y","params":{"x":1e300,"y":12345678901234567890123}}`))
    expect(res.json()).toEqual([{ x: 1e300, y: 12345678901234567890123 }])
  })

  it.each([
    ["1e400", 'strconv.ParseFloat: parsing "1e400": value out of range'],
    ["-1.5e400", 'strconv.ParseFloat: parsing "-1.5e400": value out of range'],
    ["12345678901234567890123", 'strconv.ParseInt: parsing "12345678901234567890123": value out of range']
  ])("an InfluxQL parameter %s answers 400, as InfluxDB 1.x does (v1 and v3)", async (value, reason) => {
    const params = new URLSearchParams({ db: "d1", q: "SELECT v FROM m WHERE v < $x", params: `{"x": ${value}}` })
    const v1 = await server.request("GET", `/query?${params}`, { token: admin })
    expect(v1.status).toBe(400)
    expect(v1.json()).toEqual({ error: `error parsing json value: ${reason}` })
    expectError(await server.request("GET", `/api/v3/query_influxql?${params}`, { token: admin }), 400, `error parsing json value: ${reason}`)
  })

  it("an InfluxQL parameter 1e400 in a POST body answers 400, typed or not", async () => {
    for (const x of ["1e400", '{"number": 1e400}']) {
      const body = `{"db":"d1","q":"SELECT v FROM m WHERE v < $x","params":{"x":${x}}}`
      expectError(await rawJson("POST", "/api/v3/query_influxql", body), 400, "invalid value for field `params.x`: number out of range")
    }
  })

  it("the largest int64 still binds as an integer", async () => {
    const params = new URLSearchParams({ db: "d1", q: "SELECT v FROM m WHERE v < $x", params: '{"x": 9223372036854775807}' })
    expect(expectOk(await server.request("GET", `/api/v3/query_influxql?${params}`, { token: admin })).json()).toHaveLength(1)
  })
})

describe("numeric literals", () => {
  it.each([
    ["SELECT v FROM m WHERE v > 1e400", "1e400", "unable to parse number"],
    ["SELECT v FROM m WHERE v > -1.5e400", "1.5e400", "unable to parse number"],
    ["SELECT v FROM m WHERE v > 99999999999999999999999", "99999999999999999999999", "unable to parse integer"],
    ["SELECT mean(v) FROM m WHERE time > 0 AND time < 10s GROUP BY time(1s) fill(1e400)", "1e400", "unable to parse number"],
    ["SELECT mean(v) FROM m WHERE time > 0 AND time < 10s GROUP BY time(99999999999999999999d)", "99999999999999999999d", "invalid duration"],
    ["SELECT v FROM m WHERE time > now() - 9999999999999d", "9999999999999d", "invalid duration"]
  ])("InfluxQL %s is a parse error naming the literal, as in 1.x", async (q, literal, reason) => {
    const message = `${reason} at line 1, char ${q.indexOf(literal) + 1}`
    expectError(await server.request("GET", `/api/v3/query_influxql?${new URLSearchParams({ db: "d1", q })}`, { token: admin }), 400, `error in InfluxQL statement: parsing error: ${message}`)
    const v1 = await server.request("GET", `/query?${new URLSearchParams({ db: "d1", q })}`, { token: admin })
    expect(v1.json()).toEqual({ results: [{ statement_id: 0, error: `error parsing query: ${message}` }] })
  })

  it("InfluxQL integers up to uint64 and durations up to int64 nanoseconds are still accepted", async () => {
    for (const q of ["SELECT v FROM m WHERE v < 18446744073709551615", "SELECT v FROM m WHERE time > now() - 106751d"]) {
      expect(expectOk(await server.request("GET", `/api/v3/query_influxql?${new URLSearchParams({ db: "d1", q })}`, { token: admin })).json()).toHaveLength(1)
    }
  })

  it("SQL SELECT 1e400 answers 400", async () => {
    expectError(await server.request("GET", "/api/v3/query_sql?db=d1&q=SELECT%201e400", { token: admin }), 400, /numeric literal out of range/)
  })
})

describe("deep nesting", () => {
  it("SQL with 10,000 nested parentheses answers 400", async () => {
    expectError(await server.request("POST", "/api/v3/query_sql", { token: admin, body: { db: "d1", q: `SELECT ${nested(10_000, "1")}` } }), 400)
  })

  it("InfluxQL with 10,000 nested parentheses answers 400 with a parse error (v3) or the statement's error (v1)", async () => {
    const message = /^error in InfluxQL statement: parsing error: expression nested too deeply: more than 1000 levels at line 1, char \d+$/
    for (const q of [`SELECT v FROM m WHERE ${nested(10_000, "v > 0")}`, `SELECT ${nested(10_000, "v")} FROM m`, `SELECT ${"abs(".repeat(10_000)}v${")".repeat(10_000)} FROM m`]) {
      expectError(await server.request("POST", "/api/v3/query_influxql", { token: admin, body: { db: "d1", q } }), 400, message)
    }
    const v1 = await server.request("POST", "/query", { token: admin, body: new URLSearchParams({ db: "d1", q: `SELECT v FROM m WHERE ${nested(10_000, "v > 0")}` }).toString(), headers: { "content-type": "application/x-www-form-urlencoded" } })
    expect(v1.status).toBeLessThan(500)
    expect(v1.text).toMatch(/error parsing query: expression nested too deeply/)
  })

  it("InfluxQL: a 100,000-term OR chain and 10,000 nested subqueries answer 400", async () => {
    const chain = `SELECT v FROM m WHERE ${Array(100_000).fill("v = 1").join(" OR ")}`
    expectError(await server.request("POST", "/api/v3/query_influxql", { token: admin, body: { db: "d1", q: chain } }), 400, /expression nested too deeply/)
    const subqueries = `SELECT * FROM ${"(SELECT * FROM ".repeat(10_000)}m${")".repeat(10_000)}`
    expectError(await server.request("POST", "/api/v3/query_influxql", { token: admin, body: { db: "d1", q: subqueries } }), 400, /subqueries nested too deeply: more than 100 levels/)
  })

  it("InfluxQL within the limits still answers: 500 nested parentheses, a 900-term OR chain", async () => {
    expect(expectOk(await server.request("POST", "/api/v3/query_influxql", { token: admin, body: { db: "d1", q: `SELECT v FROM m WHERE ${nested(500, "v > 0")}` } })).json()).toHaveLength(1)
    const chain = `SELECT v FROM m WHERE ${Array(900).fill("v = 1").join(" OR ")}`
    expect(expectOk(await server.request("POST", "/api/v3/query_influxql", { token: admin, body: { db: "d1", q: chain } })).json()).toHaveLength(1)
  })

  it("a JSON body of 10,000 nested brackets answers 400", async () => {
    expectError(await rawJson("POST", "/api/v3/configure/database", "[".repeat(10_000) + "]".repeat(10_000)), 400, /nested more than 64 levels deep/)
    const deepParam = `{"db":"d1","q":"SELECT $x AS x","params":{"x":${"[".repeat(10_000)}${"]".repeat(10_000)}}}`
    expectError(await rawJson("POST", "/api/v3/query_sql", deepParam), 400, /nested more than 64 levels deep/)
  })

  it("SQL params nested 10,000 deep in the query string answer 400", async () => {
    const params = new URLSearchParams({ db: "d1", q: "SELECT $x AS x", params: `{"x":${"[".repeat(10_000)}${"]".repeat(10_000)}}` })
    // Too long for a URL: the server answers 431 itself, with the JSON body too.
    const res = await server.request("GET", `/api/v3/query_sql?${params}`, { token: admin })
    expect(res.status).toBe(431)
    expect(res.json()).toEqual({ error: "request header fields too large", data: null })
    const short = new URLSearchParams({ db: "d1", q: "SELECT $x AS x", params: `{"x":${"[".repeat(100)}${"]".repeat(100)}}` })
    expectError(await server.request("GET", `/api/v3/query_sql?${short}`, { token: admin }), 400, /^invalid 'params': the value of \$x nests arrays and objects more than 64 levels deep$/)
  })
})

/** What a raw connection received, and when it was closed. */
interface RawExchange {
  readonly received: string
  readonly closedAfterMs: number
}

/** Opens a TCP connection, writes `head`, then `drip` every `everyMs` until the server closes the connection. */
const slowSender = (head: string, drip: string, everyMs: number): Promise<RawExchange> =>
  new Promise((resolve, reject) => {
    const { hostname, port } = new URL(server.url)
    const started = Date.now()
    const socket = NodeNet.connect(Number(port), hostname, () => {
      if (head !== "") socket.write(head)
    })
    let received = ""
    const timer = setInterval(() => {
      if (drip !== "" && socket.writable) socket.write(drip)
    }, everyMs)
    const safety = setTimeout(() => {
      socket.destroy()
      reject(new Error(`the server kept the connection open for 10 s; received ${JSON.stringify(received)}`))
    }, 10_000)
    socket.on("data", (chunk) => (received += chunk.toString("utf8")))
    socket.on("error", () => undefined)
    socket.on("close", () => {
      clearInterval(timer)
      clearTimeout(safety)
      resolve({ received, closedAfterMs: Date.now() - started })
    })
  })

/** The status and JSON body of a raw HTTP/1.1 answer. */
const parseRaw = (raw: string) => {
  const [head = "", body = ""] = raw.split("\r\n\r\n")
  return { status: Number(head.split(" ")[1]), head: head.toLowerCase(), body: JSON.parse(body) as unknown }
}

describe("--http-request-timeout", () => {
  const timeoutBody = { error: "request timeout: the request did not arrive completely within 1s (--http-request-timeout)", data: null }

  it("a body sent a byte every 300 ms is answered 408 with the JSON error body and its connection closed, while other requests are answered", async () => {
    const head = `POST /api/v3/write_lp?db=d1 HTTP/1.1\r\nHost: strata\r\nAuthorization: Bearer ${admin}\r\nContent-Length: 1000\r\n\r\n`
    const slow = slowSender(head, "m", 300)
    const others: Array<number> = []
    for (let i = 0; i < 3; i++) {
      others.push((await server.request("GET", "/health", { token: admin })).status)
      await new Promise((r) => setTimeout(r, 200))
    }
    const { received, closedAfterMs } = await slow
    expect(others).toEqual([200, 200, 200])
    const answer = parseRaw(received)
    expect(answer.status).toBe(408)
    expect(answer.head).toMatch(/content-type: application\/json/)
    expect(answer.head).toMatch(/connection: close/)
    expect(answer.body).toEqual(timeoutBody)
    expect(closedAfterMs).toBeGreaterThanOrEqual(900)
    expect(closedAfterMs).toBeLessThan(5_000)
    // Nothing of the unfinished body was written.
    const count = await server.request("GET", "/api/v3/query_sql?db=d1&q=SELECT%20count(*)%20AS%20n%20FROM%20m", { token: admin })
    expect(expectOk(count).json()).toEqual([{ n: 1 }])
  })

  it("headers sent a line every 300 ms (slowloris) are answered 408 and the connection closed", async () => {
    const { received, closedAfterMs } = await slowSender("GET /health HTTP/1.1\r\n", "X-Slow: 1\r\n", 300)
    expect(parseRaw(received)).toMatchObject({ status: 408, body: timeoutBody })
    expect(closedAfterMs).toBeLessThan(5_000)
  })

  it("a connection that sends nothing is answered 408 and closed", async () => {
    const { received, closedAfterMs } = await slowSender("", "", 300)
    expect(parseRaw(received)).toMatchObject({ status: 408, body: timeoutBody })
    expect(closedAfterMs).toBeLessThan(5_000)
  })

  it("a malformed request line is answered 400 with the JSON error body", async () => {
    const { received } = await slowSender("NOT HTTP\r\n\r\n", "", 300)
    const answer = parseRaw(received)
    expect(answer.status).toBe(400)
    expect(answer.body).toMatchObject({ error: expect.stringMatching(/^malformed HTTP request: /), data: null })
  })
})
