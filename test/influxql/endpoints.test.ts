import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { unpack, unpackMultiple } from "msgpackr"
import { expectError, expectOk } from "../support/expect.ts"
import { startServerWith, type InProcessServer } from "../support/server.ts"

const LINES = [
  `cpu,host=a,region=eu usage=1.5,count=3i,ok=true,note="hi" 1704067200000000000`,
  `cpu,host=b usage=99 1704067260000000000`,
  `cpu,host=a,region=eu usage=2.25,count=4i 1704067320000000000`,
  `cpu,host=b usage=5 1704067500000000000`,
  `mem,host=a free=10i 1704067200000000000`
].join("\n")

const RANGE = `time >= '2024-01-01T00:00:00Z' AND time < '2024-01-01T00:10:00Z'`

describe("InfluxQL over /query and /api/v3/query_influxql", () => {
  let server: InProcessServer
  let token: string
  const v1 = async (q: string, extra: Record<string, string> = {}, headers: Record<string, string> = {}) =>
    expectOk(await server.request("GET", `/query?${new URLSearchParams({ db: "t", q, ...extra })}`, { token, headers }))
  const v1json = async (q: string, extra: Record<string, string> = {}) => (await v1(q, extra)).json()
  const v3 = (q: string, extra: Record<string, string> = {}) => server.request("GET", `/api/v3/query_influxql?${new URLSearchParams({ db: "t", q, ...extra })}`, { token })

  beforeAll(async () => {
    const started = await startServerWith("t", LINES)
    server = started.server
    token = started.token
  }, 30_000)
  afterAll(() => server.stop())

  it("SELECT * gives one series with columns sorted by name and RFC3339 times", async () => {
    const res = await v1("SELECT * FROM cpu")
    expect(res.headers.get("content-type")).toBe("application/json")
    expect(res.text).toBe(
      `{"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","count","host","note","ok","region","usage"],"values":[` +
        `["2024-01-01T00:00:00Z",3,"a","hi",true,"eu",1.5],["2024-01-01T00:01:00Z",null,"b",null,null,null,99],` +
        `["2024-01-01T00:02:00Z",4,"a",null,null,"eu",2.25],["2024-01-01T00:05:00Z",null,"b",null,null,null,5]]}]}]}`
    )
  })

  it("GROUP BY time(1ns) over years answers the max-select-buckets error instead of generating the buckets", async () => {
    const since2000 = await v1json(`SELECT mean(usage) FROM cpu WHERE time >= '2000-01-01T00:00:00Z' GROUP BY time(1ns)`)
    expect(since2000.results[0].error).toMatch(/^max-select-buckets limit exceeded: \(\d+\/100000\)$/)
    const open = await v1json(`SELECT mean(usage) FROM cpu WHERE time <= '2024-01-02T00:00:00Z' GROUP BY time(1ns)`)
    expect(open.results[0].error).toMatch(/^max-select-buckets limit exceeded/)
    const res = await v3(`SELECT mean(usage) FROM cpu WHERE time >= '2000-01-01T00:00:00Z' GROUP BY time(1s)`)
    expect(res.status).toBe(400)
    expect(res.json().error).toMatch(/max-select-buckets limit exceeded/)
  })

  it("GROUP BY time buckets start at the bucket, count fills 0, tags make series, fill(linear) interpolates", async () => {
    expect(await v1json(`SELECT count(usage) FROM cpu WHERE ${RANGE} GROUP BY time(2m)`)).toEqual({
      results: [{ statement_id: 0, series: [{ name: "cpu", columns: ["time", "count"], values: [["2024-01-01T00:00:00Z", 2], ["2024-01-01T00:02:00Z", 1], ["2024-01-01T00:04:00Z", 1], ["2024-01-01T00:06:00Z", 0], ["2024-01-01T00:08:00Z", 0]] }] }]
    })
    expect(await v1json(`SELECT mean(usage) FROM cpu WHERE ${RANGE} GROUP BY time(2m), host fill(linear)`)).toEqual({
      results: [
        {
          statement_id: 0,
          series: [
            { name: "cpu", tags: { host: "a" }, columns: ["time", "mean"], values: [["2024-01-01T00:00:00Z", 1.5], ["2024-01-01T00:02:00Z", 2.25], ["2024-01-01T00:04:00Z", null], ["2024-01-01T00:06:00Z", null], ["2024-01-01T00:08:00Z", null]] },
            { name: "cpu", tags: { host: "b" }, columns: ["time", "mean"], values: [["2024-01-01T00:00:00Z", 99], ["2024-01-01T00:02:00Z", 52], ["2024-01-01T00:04:00Z", 5], ["2024-01-01T00:06:00Z", null], ["2024-01-01T00:08:00Z", null]] }
          ]
        }
      ]
    })
    expect(await v1json(`SELECT max(usage) FROM cpu WHERE ${RANGE} GROUP BY time(5m) fill(previous)`, { epoch: "s" })).toEqual({
      results: [{ statement_id: 0, series: [{ name: "cpu", columns: ["time", "max"], values: [[1704067200, 99], [1704067500, 5]] }] }]
    })
    expect(await v1json(`SELECT sum(count) FROM cpu WHERE ${RANGE} GROUP BY time(2m) fill(none)`)).toEqual({
      results: [{ statement_id: 0, series: [{ name: "cpu", columns: ["time", "sum"], values: [["2024-01-01T00:00:00Z", 3], ["2024-01-01T00:02:00Z", 4]] }] }]
    })
  })

  it("aggregates report time 0, a lone selector the time of its point", async () => {
    expect(await v1json("SELECT max(usage) FROM cpu")).toEqual({ results: [{ statement_id: 0, series: [{ name: "cpu", columns: ["time", "max"], values: [["2024-01-01T00:01:00Z", 99]] }] }] })
    expect(await v1json("SELECT percentile(usage, 50), median(usage), spread(usage), sum(count), count(usage) FROM cpu")).toEqual({
      results: [{ statement_id: 0, series: [{ name: "cpu", columns: ["time", "percentile", "median", "spread", "sum", "count"], values: [["1970-01-01T00:00:00Z", 2.25, 3.625, 97.5, 7, 4]] }] }]
    })
    expect(await v1json("SELECT last(usage) FROM cpu GROUP BY *")).toEqual({
      results: [
        {
          statement_id: 0,
          series: [
            { name: "cpu", tags: { host: "a", region: "eu" }, columns: ["time", "last"], values: [["2024-01-01T00:02:00Z", 2.25]] },
            { name: "cpu", tags: { host: "b", region: "" }, columns: ["time", "last"], values: [["2024-01-01T00:05:00Z", 5]] }
          ]
        }
      ]
    })
  })

  it("WHERE on tags, fields and regexes; ORDER BY time DESC with LIMIT; math names columns", async () => {
    expect(await v1json(`SELECT usage FROM cpu WHERE host =~ /^b$/ AND usage > 10`)).toEqual({ results: [{ statement_id: 0, series: [{ name: "cpu", columns: ["time", "usage"], values: [["2024-01-01T00:01:00Z", 99]] }] }] })
    expect(await v1json(`SELECT usage FROM cpu WHERE region = '' ORDER BY time DESC LIMIT 1`)).toEqual({ results: [{ statement_id: 0, series: [{ name: "cpu", columns: ["time", "usage"], values: [["2024-01-01T00:05:00Z", 5]] }] }] })
    expect(await v1json(`SELECT usage * 2, usage + count FROM cpu WHERE host !~ /b/`)).toEqual({
      results: [{ statement_id: 0, series: [{ name: "cpu", columns: ["time", "usage", "usage_count"], values: [["2024-01-01T00:00:00Z", 3, 4.5], ["2024-01-01T00:02:00Z", 4.5, 6.25]] }] }]
    })
  })

  it("several statements, empty results and statement errors answer 200", async () => {
    const res = await v1json("SELECT free FROM mem; SELECT nope FROM cpu; SELECT mean(usage), usage FROM cpu", { epoch: "ms" })
    expect(res).toEqual({
      results: [
        { statement_id: 0, series: [{ name: "mem", columns: ["time", "free"], values: [[1704067200000, 10]] }] },
        { statement_id: 1 },
        { statement_id: 2, error: "mixing aggregate and non-aggregate queries is not supported" }
      ]
    })
    expect(await v1json("SELEC x")).toEqual({ results: [{ statement_id: 0, error: "error parsing query: found SELEC, expected SELECT, DELETE, SHOW, CREATE, DROP, EXPLAIN, GRANT, REVOKE, ALTER, SET, KILL at line 1, char 1" }] })
    expect(await v1json("SELECT usage FROM cpu", { db: "nodb" })).toEqual({ results: [{ statement_id: 0, error: "Cannot retrieve database: External error: database not found: nodb" }] })
    expect(await v1json("SELECT usage FROM cpu", { db: "" })).toEqual({ results: [{ statement_id: 0, error: "must specify a 'db' parameter, or provide the database in the InfluxQL query" }] })
    expect(await v1json("SELECT sample(usage, 2) FROM cpu")).toEqual({ results: [{ statement_id: 0, error: "unsupported function: sample() is not implemented" }] })
  })

  it("the database may come from FROM db..m and wins over db", async () => {
    expect(await v1json("SELECT free FROM t..mem", { db: "other" })).toEqual({ results: [{ statement_id: 0, series: [{ name: "mem", columns: ["time", "free"], values: [["2024-01-01T00:00:00Z", 10]] }] }] })
    expect(await v1json(`SELECT free FROM "t"."autogen"."mem"`, { db: "" })).toMatchObject({ results: [{ statement_id: 0, series: [{ name: "mem" }] }] })
  })

  it("SHOW statements in the v1 shapes", async () => {
    expect(await v1json("SHOW DATABASES")).toEqual({ results: [{ statement_id: 0, series: [{ name: "databases", columns: ["name"], values: [["_internal"], ["t"]] }] }] })
    expect(await v1json("SHOW MEASUREMENTS WITH MEASUREMENT =~ /c.*/")).toEqual({ results: [{ statement_id: 0, series: [{ name: "measurements", columns: ["name"], values: [["cpu"]] }] }] })
    expect(await v1json("SHOW TAG KEYS")).toEqual({
      results: [{ statement_id: 0, series: [{ name: "cpu", columns: ["tagKey"], values: [["host"], ["region"]] }, { name: "mem", columns: ["tagKey"], values: [["host"]] }] }]
    })
    expect(await v1json(`SHOW TAG VALUES FROM cpu WITH KEY IN ("host","region")`)).toEqual({
      results: [{ statement_id: 0, series: [{ name: "cpu", columns: ["key", "value"], values: [["host", "a"], ["host", "b"], ["region", "eu"]] }] }]
    })
    expect(await v1json(`SHOW TAG VALUES WITH KEY =~ /ho/ WHERE region = 'eu'`)).toEqual({ results: [{ statement_id: 0, series: [{ name: "cpu", columns: ["key", "value"], values: [["host", "a"]] }] }] })
    expect(await v1json("SHOW FIELD KEYS FROM cpu")).toEqual({
      results: [{ statement_id: 0, series: [{ name: "cpu", columns: ["fieldKey", "fieldType"], values: [["count", "integer"], ["note", "string"], ["ok", "boolean"], ["usage", "float"]] }] }]
    })
    expect(await v1json("SHOW RETENTION POLICIES")).toEqual({ results: [{ statement_id: 0, series: [{ name: "retention_policies", columns: ["name", "duration", "default"], values: [["t", "0s", true]] }] }] })
    expect(await v1json("SHOW SERIES")).toEqual({ results: [{ statement_id: 0, series: [{ columns: ["key"], values: [["cpu,host=a,region=eu"], ["cpu,host=b"], ["mem,host=a"]] }] }] })
  })

  it("chunked answers are concatenated objects marked partial; CSV and pretty JSON", async () => {
    const chunked = await v1("SELECT usage FROM cpu WHERE host = 'a'", { chunked: "true", chunk_size: "1", epoch: "s" })
    expect(chunked.text).toBe(
      `{"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","usage"],"values":[[1704067200,1.5]],"partial":true}],"partial":true}]}` +
        `{"results":[{"statement_id":0,"series":[{"name":"cpu","columns":["time","usage"],"values":[[1704067320,2.25]]}]}]}`
    )
    const csv = await v1("SELECT usage FROM cpu GROUP BY host", {}, { accept: "application/csv" })
    expect(csv.headers.get("content-type")).toBe("application/csv")
    expect(csv.text).toBe("name,tags,time,usage\ncpu,host=a,1704067200000000000,1.5\ncpu,host=a,1704067320000000000,2.25\ncpu,host=b,1704067260000000000,99\ncpu,host=b,1704067500000000000,5\n")
    const pretty = await v1("SELECT free FROM mem", { pretty: "true" })
    expect(pretty.text).toBe(JSON.stringify({ results: [{ statement_id: 0, series: [{ name: "mem", columns: ["time", "free"], values: [["2024-01-01T00:00:00Z", 10]] }] }] }, null, 4))
  })

  it("POST takes form bodies and raw InfluxQL; bad requests answer non-200", async () => {
    const form = expectOk(await server.request("POST", "/query?db=t", { body: "q=SELECT+free+FROM+mem&epoch=s", token, headers: { "content-type": "application/x-www-form-urlencoded" } }))
    expect(form.json()).toEqual({ results: [{ statement_id: 0, series: [{ name: "mem", columns: ["time", "free"], values: [[1704067200, 10]] }] }] })
    const rawBody = expectOk(await server.request("POST", "/query?db=t&epoch=s", { body: "SELECT free FROM mem", token, headers: { "content-type": "application/vnd.influxql" } }))
    expect(rawBody.json()).toEqual(form.json())
    const noQuery = await server.request("POST", "/query?db=t", { body: "", token, headers: { "content-type": "application/x-www-form-urlencoded" } })
    expect([noQuery.status, noQuery.json()]).toEqual([400, { error: "expected a query to be provided in the query string or body" }])
    const bare = await server.request("GET", "/query", { token })
    expect([bare.status, bare.json()]).toEqual([400, { error: "missing query parameters 'db' and 'q'" }])
    const mime = await server.request("GET", "/query?db=t&q=SHOW+DATABASES", { token, headers: { accept: "text/xml" } })
    expect([mime.status, mime.json()]).toEqual([400, { error: "invalid mime type (text/xml)" }])
    const epoch = await server.request("GET", "/query?db=t&q=SHOW+DATABASES&epoch=x", { token })
    expect(epoch.status).toBe(400)
  })

  it("Accept: application/x-msgpack answers the same structure as JSON, in MessagePack (chunked: one object per chunk)", async () => {
    const fetchBytes = async (extra: Record<string, string>, accept: string) => {
      const r = await fetch(`${server.url}/query?${new URLSearchParams({ db: "t", ...extra })}`, { headers: { authorization: `Bearer ${token}`, accept } })
      return { status: r.status, type: r.headers.get("content-type"), bytes: new Uint8Array(await r.arrayBuffer()) }
    }
    const queries = [
      "SELECT * FROM cpu",
      "SELECT mean(usage) FROM cpu GROUP BY host; SELECT free FROM mem",
      "SELECT usage FROM nope",
      "SELECT nonsense FROM"
    ]
    for (const q of queries) {
      for (const extra of [{}, { epoch: "ns" }]) {
        const packed = await fetchBytes({ q, ...extra }, "application/x-msgpack")
        expect(packed.status).toBe(200)
        expect(packed.type).toBe("application/x-msgpack")
        const json = await fetchBytes({ q, ...extra }, "application/json")
        // 64-bit integers past 2^53 decode as bigints; JSON.parse reads them as the nearest double.
        const numbers = (v: unknown): unknown =>
          typeof v === "bigint" ? Number(v) : Array.isArray(v) ? v.map(numbers) : v !== null && typeof v === "object" ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, numbers(x)])) : v
        expect(numbers(unpack(packed.bytes))).toEqual(JSON.parse(new TextDecoder().decode(json.bytes)))
      }
    }
    const chunked = await fetchBytes({ q: "SELECT * FROM cpu", chunked: "true", chunk_size: "2" }, "application/x-msgpack")
    const objects = unpackMultiple(chunked.bytes) as Array<{
      results: Array<{ partial?: boolean; series: Array<{ values: Array<unknown> }> }>
    }>
    expect(objects.length).toBeGreaterThan(1)
    expect(objects.slice(0, -1).every((o) => o.results[0]!.partial === true)).toBe(true)
    expect(objects.flatMap((o) => o.results[0]!.series.flatMap((x) => x.values))).toEqual(
      JSON.parse(new TextDecoder().decode((await fetchBytes({ q: "SELECT * FROM cpu" }, "application/json")).bytes)).results[0].series[0].values
    )
  })

  it("v1 auth takes p=, Basic and Token; none is a 401", async () => {
    const q = encodeURIComponent("SELECT free FROM mem")
    expect((await server.request("GET", `/query?db=t&q=${q}&u=me&p=${token}`)).status).toBe(200)
    expect((await server.request("GET", `/query?db=t&q=${q}`, { headers: { authorization: `Basic ${Buffer.from(`me:${token}`).toString("base64")}` } })).status).toBe(200)
    expect((await server.request("GET", `/query?db=t&q=${q}`, { headers: { authorization: `Token ${token}` } })).status).toBe(200)
    expect((await server.request("GET", `/query?db=t&q=${q}`)).status).toBe(401)
    expect((await server.request("GET", `/query?db=t&q=${q}&p=wrong`)).status).toBe(401)
  })

  it("/api/v3/query_influxql answers flat rows with iox::measurement first", async () => {
    const json = expectOk(await v3(`SELECT usage, host FROM cpu WHERE host = 'b'`))
    expect(json.headers.get("content-type")).toBe("application/json")
    expect(json.text).toBe(`[{"iox::measurement":"cpu","time":"2024-01-01T00:01:00","usage":99.0,"host":"b"},{"iox::measurement":"cpu","time":"2024-01-01T00:05:00","usage":5.0,"host":"b"}]`)
    const grouped = expectOk(await v3(`SELECT mean(usage) FROM cpu GROUP BY host`, { format: "jsonl" }))
    expect(grouped.text).toBe(`{"iox::measurement":"cpu","time":"1970-01-01T00:00:00","host":"a","mean":1.875}\n{"iox::measurement":"cpu","time":"1970-01-01T00:00:00","host":"b","mean":52.0}\n`)
    const csv = expectOk(await v3(`SELECT free FROM mem`, { format: "csv" }))
    expect(csv.text).toBe("iox::measurement,time,free\nmem,2024-01-01T00:00:00,10\n")
    expect(expectOk(await v3("SELECT usage FROM nope")).text).toBe("[]")
    const parquet = expectOk(await v3(`SELECT free FROM mem`, { format: "parquet" }))
    expect(parquet.headers.get("content-type")).toBe("application/vnd.apache.parquet")
  })

  it("/api/v3/query_influxql SHOW statements have the flat shapes", async () => {
    expect(expectOk(await v3("SHOW MEASUREMENTS")).json()).toEqual([{ "iox::measurement": "measurements", name: "cpu" }, { "iox::measurement": "measurements", name: "mem" }])
    expect(expectOk(await v3("SHOW TAG KEYS FROM cpu")).json()).toEqual([{ "iox::measurement": "cpu", tagKey: "host" }, { "iox::measurement": "cpu", tagKey: "region" }])
    expect(expectOk(await v3(`SHOW TAG VALUES WITH KEY = "host"`)).json()).toEqual([
      { "iox::measurement": "cpu", key: "host", value: "a" },
      { "iox::measurement": "cpu", key: "host", value: "b" },
      { "iox::measurement": "mem", key: "host", value: "a" }
    ])
    expect(expectOk(await v3("SHOW FIELD KEYS FROM mem")).json()).toEqual([{ "iox::measurement": "mem", fieldKey: "free", fieldType: "integer" }])
    expect(expectOk(await v3("SHOW DATABASES", { db: "" })).json()).toEqual([{ "iox::database": "_internal", deleted: false }, { "iox::database": "t", deleted: false }])
    expect(expectOk(await v3("SHOW RETENTION POLICIES")).json()).toEqual([{ "iox::database": "t", name: "autogen", duration: "0s" }])
  })

  it("/api/v3/query_influxql binds $params from a JSON string (GET) or an object (POST)", async () => {
    const get = expectOk(await v3("SELECT usage FROM cpu WHERE host = $h AND usage > $min", { params: '{"h":"b","min":50}' }))
    expect(get.text).toBe(`[{"iox::measurement":"cpu","time":"2024-01-01T00:01:00","usage":99.0}]`)
    const post = expectOk(
      await server.request("POST", "/api/v3/query_influxql", { body: { db: "t", q: "SELECT free FROM mem WHERE free = $f", params: { f: 10 }, format: "jsonl" }, token })
    )
    expect(post.text).toBe(`{"iox::measurement":"mem","time":"2024-01-01T00:00:00","free":10}\n`)
    expectError(await v3("SELECT usage FROM cpu WHERE host = $h", { params: "{}" }), 400, "error in InfluxQL statement: parsing error: missing parameter: h")
    expectError(await v3("SELECT usage FROM cpu WHERE host = $h", { params: "[" }), 400, /^error parsing query parameters: /)
    expectError(await server.request("POST", "/api/v3/query_influxql", { body: { db: "t", q: "SELECT free FROM mem", params: [1] }, token }), 400, /params/)
  })

  it("/api/v3/query_influxql refuses several statements, parse errors and unknown databases", async () => {
    expectError(await v3("SHOW DATABASES; SHOW DATABASES"), 400, "must provide only one InfluxQl statement per query")
    expectError(await v3("SELEC x"), 400, /^error in InfluxQL statement: parsing error: found SELEC/)
    expectError(await v3("SELECT x FROM cpu", { db: "nodb" }), 404, "query error: database not found: nodb")
    expectError(await v3("SELECT x FROM other..cpu"), 400, /does not match/)
    const post = expectOk(await server.request("POST", "/api/v3/query_influxql", { body: { db: "t", q: "SELECT free FROM mem", format: "jsonl" }, token }))
    expect(post.text).toBe(`{"iox::measurement":"mem","time":"2024-01-01T00:00:00","free":10}\n`)
  })
})
