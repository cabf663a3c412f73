import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { InfluxDBClient, Point } from "@influxdata/influxdb3-client"
import { tableFromIPC } from "apache-arrow"
import { readParquet } from "parquet-wasm/node"
import { expectError, expectOk } from "../support/expect.ts"
import { createOperatorToken, createResourceToken, startServer, type InProcessServer } from "../support/server.ts"

// 2024-01-01T00:00:00Z in seconds.
const T0 = 1_704_067_200

describe("SQL queries over /api/v3/query_sql", () => {
  let server: InProcessServer
  let token: string
  const write = async (db: string, lines: string, precision = "second") =>
    expectOk(await server.request("POST", `/api/v3/write_lp?db=${db}&precision=${precision}`, { body: lines, token }), 204)
  const get = (
    db: string,
    q: string,
    extra: Record<string, string> = {},
    headers: Record<string, string> = {},
    as = token
  ) => server.request("GET", `/api/v3/query_sql?${new URLSearchParams({ db, q, ...extra })}`, { token: as, headers })
  const rows = async (db: string, q: string, extra: Record<string, string> = {}) => expectOk(await get(db, q, { format: "json", ...extra })).json<Array<Record<string, unknown>>>()

  beforeAll(async () => {
    server = await startServer()
    token = await createOperatorToken(server)
    await write(
      "q1",
      [
        `cpu,host=a,region=eu usage=1.5,count=3i,ok=true,note="hi, there" ${T0}`,
        `cpu,host=b usage=99 ${T0 + 60}`,
        `cpu,host=a,region=eu usage=2.25,count=4i ${T0 + 120}`,
        `mem,host=a free=10u ${T0}`
      ].join("\n")
    )
  }, 30_000)
  afterAll(() => server.stop())

  it("json gives row objects with columns sorted by name, nulls left out, floats with .0 and time without Z", async () => {
    const res = expectOk(await get("q1", "SELECT * FROM cpu ORDER BY time", { format: "json" }))
    expect(res.headers.get("content-type")).toBe("application/json")
    expect(res.json()).toEqual([
      { count: 3, host: "a", note: "hi, there", ok: true, region: "eu", time: "2024-01-01T00:00:00", usage: 1.5 },
      { host: "b", time: "2024-01-01T00:01:00", usage: 99 },
      { count: 4, host: "a", region: "eu", time: "2024-01-01T00:02:00", usage: 2.25 }
    ])
    expect(res.text).toContain(`"usage":99.0`)
    expect(Object.keys(res.json<Array<object>>()[0]!)).toEqual(["count", "host", "note", "ok", "region", "time", "usage"])
  })

  it("jsonl, csv and pretty have InfluxDB 3's shapes and content types", async () => {
    const q = "SELECT host, time, usage, note FROM cpu ORDER BY time"
    const jsonl = expectOk(await get("q1", q, { format: "jsonl" }))
    expect(jsonl.headers.get("content-type")).toBe("application/jsonl")
    expect(jsonl.text).toBe(
      `{"host":"a","time":"2024-01-01T00:00:00","usage":1.5,"note":"hi, there"}\n{"host":"b","time":"2024-01-01T00:01:00","usage":99.0}\n{"host":"a","time":"2024-01-01T00:02:00","usage":2.25}\n`
    )
    const csv = expectOk(await get("q1", q, { format: "csv" }))
    expect(csv.headers.get("content-type")).toBe("text/csv")
    expect(csv.text).toBe(`host,time,usage,note\na,2024-01-01T00:00:00,1.5,"hi, there"\nb,2024-01-01T00:01:00,99.0,\na,2024-01-01T00:02:00,2.25,\n`)
    const pretty = expectOk(await get("q1", "SELECT host, usage FROM cpu ORDER BY time", { format: "pretty" }))
    expect(pretty.headers.get("content-type")).toBe("text/plain; charset=utf-8")
    expect(pretty.text).toBe(
      ["+------+-------+", "| host | usage |", "+------+-------+", "| a    | 1.5   |", "| b    | 99.0  |", "| a    | 2.25  |", "+------+-------+"].join("\n")
    )
  })

  it("times keep 3, 6 or 9 fraction digits as needed", async () => {
    await write("q2", [`t v=1 1704067200000000000`, `t v=2 1704067200123000000`, `t v=3 1704067200123456000`, `t v=4 1704067200123456789`].join("\n"), "nanosecond")
    expect((await rows("q2", "SELECT time FROM t ORDER BY time")).map((r) => r["time"])).toEqual([
      "2024-01-01T00:00:00",
      "2024-01-01T00:00:00.123",
      "2024-01-01T00:00:00.123456",
      "2024-01-01T00:00:00.123456789"
    ])
  })

  it("empty results: json [], jsonl, csv and parquet empty bodies, pretty a bare table", async () => {
    const q = "SELECT host, usage FROM cpu WHERE usage > 1000"
    expect(expectOk(await get("q1", q, { format: "json" })).text).toBe("[]")
    expect(expectOk(await get("q1", q, { format: "jsonl" })).text).toBe("")
    expect(expectOk(await get("q1", q, { format: "csv" })).text).toBe("")
    expect(expectOk(await get("q1", q, { format: "pretty" })).text).toBe(["+------+-------+", "| host | usage |", "+------+-------+", "+------+-------+"].join("\n"))
    const parquet = await fetch(`${server.url}/api/v3/query_sql?${new URLSearchParams({ db: "q1", q, format: "parquet" })}`, { headers: { authorization: `Bearer ${token}` } })
    expect(parquet.status).toBe(200)
    expect((await parquet.arrayBuffer()).byteLength).toBe(0)
  })

  it("parquet answers decode with parquet-wasm and apache-arrow, with nanosecond times and typed columns", async () => {
    const res = await fetch(`${server.url}/api/v3/query_sql?${new URLSearchParams({ db: "q1", q: "SELECT * FROM cpu ORDER BY time", format: "parquet" })}`, {
      headers: { authorization: `Bearer ${token}` }
    })
    expect(res.status).toBe(200)
    expect(res.headers.get("content-type")).toBe("application/vnd.apache.parquet")
    const table = tableFromIPC(readParquet(new Uint8Array(await res.arrayBuffer())).intoIPCStream())
    expect(table.numRows).toBe(3)
    expect(table.schema.fields.map((f) => f.name)).toEqual(["count", "host", "note", "ok", "region", "time", "usage"])
    expect(String(table.schema.fields.find((f) => f.name === "time")!.type)).toMatch(/Timestamp<NANOSECOND/)
    expect(table.getChild("usage")!.toArray()).toEqual(new Float64Array([1.5, 99, 2.25]))
    expect([...table.getChild("host")!]).toEqual(["a", "b", "a"])
    // apache-arrow's get() gives milliseconds; the stored values are the nanoseconds.
    expect((table.getChild("time")!.data[0]!.values as BigInt64Array)[1]).toBe(BigInt(T0 + 60) * 1_000_000_000n)
  })

  it("the Accept header picks the format, format= overrides it, and an unknown Accept is a 400 even with format=", async () => {
    const q = "SELECT host FROM cpu ORDER BY time LIMIT 1"
    expect(expectOk(await get("q1", q, {}, { accept: "text/csv" })).text).toBe("host\na\n")
    expect(expectOk(await get("q1", q, {}, { accept: "application/json, text/plain, */*" })).text).toBe(`[{"host":"a"}]`)
    expect(expectOk(await get("q1", q, { format: "jsonl" }, { accept: "text/csv" })).text).toBe(`{"host":"a"}\n`)
    expectError(await get("q1", q, { format: "json" }, { accept: "application/xml" }), 400, "invalid mime type (application/xml)")
    expectError(await get("q1", q, { format: "yaml" }), 400, /format/)
  })

  it("POST takes a JSON body with params bound to $name placeholders; a missing parameter is a 400", async () => {
    const res = expectOk(
      await server.request("POST", "/api/v3/query_sql", { token, body: { db: "q1", q: "SELECT host, usage FROM cpu WHERE host = $host AND usage > $min ORDER BY time", format: "json", params: { host: "a", min: 2 } } })
    )
    expect(res.json()).toEqual([{ host: "a", usage: 2.25 }])
    const viaGet = await rows("q1", "SELECT usage FROM cpu WHERE host = $host ORDER BY time", { params: JSON.stringify({ host: "b" }) })
    expect(viaGet).toEqual([{ usage: 99 }])
    expectError(await get("q1", "SELECT * FROM cpu WHERE host = $host"), 400, "No value found for placeholder with name $host")
  })

  it("bad requests: unknown database 404, unknown table, bad SQL and missing parameters 400", async () => {
    expectError(await get("nope", "SELECT 1"), 404, "query error: database not found: nope")
    expectError(await get("q1", "SELECT * FROM missing"), 400, "Error during planning: table 'public.iox.missing' not found")
    expectError(await get("q1", "SELEC * FROM cpu"), 400, /syntax error/)
    expectError(await get("q1", "SELECT nothere FROM cpu"), 400, /nothere/)
    expectError(await server.request("GET", "/api/v3/query_sql", { token }), 400, "missing query parameters 'db' and 'q'")
    expectError(await server.request("GET", "/api/v3/query_sql?db=q1", { token }), 400, "missing query parameter 'q'")
    expectError(await get("q1", "SELECT 1; SELECT 2"), 400, /single SQL statement/)
  })

  it("user SQL cannot reach files or DuckDB's own tables", async () => {
    expectError(await get("q1", "SELECT * FROM read_csv('/etc/passwd')"), 400, /table function 'read_csv' not found/)
    expectError(await get("q1", "SELECT * FROM '/etc/passwd'"), 400, /not found/)
    expectError(await get("q1", "SELECT * FROM buf.t1"), 400, /not found/)
    expectError(await get("q1", "SELECT * FROM duckdb_tables()"), 400, /not found/)
  })

  it("a token reads only the databases it has read permission on", async () => {
    const reader = await createResourceToken(server, token, "reader-q1", { resource_type: "db", resource_names: ["q1"], actions: ["read"] })
    await write("q3", `x v=1 ${T0}`)
    expect(expectOk(await get("q1", "SELECT count(*) AS n FROM cpu", {}, {}, reader)).json()).toEqual([{ n: 3 }])
    expectError(await get("q3", "SELECT * FROM x", {}, {}, reader), 403)
    expectError(await get("q1", "SELECT 1", {}, {}, "apiv3_wrong"), 401)
  })

  it("every acknowledged write is visible to the next query", async () => {
    for (let i = 0; i < 20; i++) {
      await write("q4", `seen,round=r${i} v=${i}i ${T0 + i}`)
      expect(await rows("q4", "SELECT count(*) AS n, max(v) AS top FROM seen")).toEqual([{ n: i + 1, top: i }])
    }
  })

  it("the same series and time written twice reads back merged: last write wins, field by field", async () => {
    await write("q5", `m,host=a x=1,y=1 ${T0}\nm,host=a x=2 ${T0}\nm,host=b x=5 ${T0 + 1}`)
    expect(await rows("q5", "SELECT host, x, y FROM m ORDER BY host")).toEqual([
      { host: "a", x: 2, y: 1 },
      { host: "b", x: 5 }
    ])
  })

  it("rows written out of time order read back whole; a duplicate written after a query is still merged", async () => {
    await write("q7", `m,host=a x=1 ${T0 + 10}\nm,host=b x=5 ${T0 + 10}`)
    await write("q7", `m,host=a x=2 ${T0}`)
    expect(await rows("q7", "SELECT host, x FROM m ORDER BY host, time")).toEqual([
      { host: "a", x: 2 },
      { host: "a", x: 1 },
      { host: "b", x: 5 }
    ])
    await write("q7", `m,host=a y=7 ${T0 + 10}`)
    expect(await rows("q7", "SELECT host, x, y FROM m ORDER BY host, time")).toEqual([
      { host: "a", x: 2 },
      { host: "a", x: 1, y: 7 },
      { host: "b", x: 5 }
    ])
  })

  it("a duplicate of an old row, appended after a query among later rows, is still merged", async () => {
    await write("q7b", `m,host=a x=1 ${T0}\nm,host=a x=2 ${T0 + 10}\nm,host=b x=3 ${T0 + 20}`)
    await write("q7b", `m,host=b x=4 ${T0 + 5}`)
    expect(await rows("q7b", "SELECT count(*) AS n FROM m")).toEqual([{ n: 4 }])
    // One batch: a later row of host b, and host a's first time again (the check only looks at times from the
    // batch's earliest, which is that one).
    await write("q7b", `m,host=b x=5 ${T0 + 30}\nm,host=a y=9 ${T0}`)
    expect(await rows("q7b", "SELECT host, x, y FROM m ORDER BY host, time")).toEqual([
      { host: "a", x: 1, y: 9 },
      { host: "a", x: 2 },
      { host: "b", x: 4 },
      { host: "b", x: 3 },
      { host: "b", x: 5 }
    ])
  })

  it("a large result streams whole in every format (pretty spools past its in-memory limit)", async () => {
    await write("q8", Array.from({ length: 300 }, (_, i) => `big,k=k${i % 7} v=${i}i ${T0 + i}`).join("\n"))
    const q = "SELECT a.v AS x, b.k AS k FROM big a CROSS JOIN big b ORDER BY x, k"
    const jsonl = expectOk(await get("q8", q, { format: "jsonl" })).text.split("\n")
    expect(jsonl.length).toBe(90_001)
    expect(jsonl[0]).toBe(`{"x":0,"k":"k0"}`)
    expect(jsonl[89_999]).toBe(`{"x":299,"k":"k6"}`)
    const csv = expectOk(await get("q8", q, { format: "csv" })).text.split("\n")
    expect(csv.length).toBe(90_002)
    const pretty = expectOk(await get("q8", q, { format: "pretty" })).text.split("\n")
    expect(pretty.length).toBe(90_004)
    expect(pretty[3]).toBe("| 0   | k0 |")
    expect(pretty[90_002]).toBe("| 299 | k6 |")
    const json = expectOk(await get("q8", q, { format: "json" })).json<Array<unknown>>()
    expect(json.length).toBe(90_000)
  })

  it("a client that goes away mid-answer cancels the query, and system.queries says so", async () => {
    await write("q9", Array.from({ length: 300 }, (_, i) => `huge v=${i}i ${T0 + i}`).join("\n"))
    const q = "SELECT a.v + b.v + c.v AS x FROM huge a CROSS JOIN huge b CROSS JOIN huge c"
    const aborter = new AbortController()
    const res = await fetch(`${server.url}/api/v3/query_sql?${new URLSearchParams({ db: "q9", q, format: "jsonl" })}`, {
      headers: { authorization: `Bearer ${token}` },
      signal: aborter.signal
    })
    expect(res.status).toBe(200)
    await res.body!.getReader().read()
    aborter.abort()
    let found: Array<Record<string, unknown>> = []
    for (let i = 0; i < 50 && found.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 100))
      found = await rows("q9", `SELECT phase, cancelled, success FROM system.queries WHERE query_text = '${q}' AND NOT running`)
    }
    expect(found).toEqual([{ phase: "cancel", cancelled: true, success: false }])
  })

  it("SHOW TABLES, SHOW COLUMNS and information_schema describe the database as InfluxDB 3 does", async () => {
    const tables = await rows("q1", "SHOW TABLES")
    expect(tables.slice(0, 2)).toEqual([
      { table_catalog: "public", table_schema: "iox", table_name: "cpu", table_type: "BASE TABLE" },
      { table_catalog: "public", table_schema: "iox", table_name: "mem", table_type: "BASE TABLE" }
    ])
    expect(tables.filter((t) => t["table_schema"] === "system").map((t) => t["table_name"])).toContain("queries")
    expect(tables.filter((t) => t["table_schema"] === "information_schema").every((t) => t["table_type"] === "VIEW")).toBe(true)
    expect(await rows("q1", "SHOW COLUMNS FROM mem")).toEqual([
      { table_catalog: "public", table_schema: "iox", table_name: "mem", column_name: "free", data_type: "UInt64", is_nullable: "YES" },
      { table_catalog: "public", table_schema: "iox", table_name: "mem", column_name: "host", data_type: "Dictionary(Int32, Utf8)", is_nullable: "YES" },
      { table_catalog: "public", table_schema: "iox", table_name: "mem", column_name: "time", data_type: "Timestamp(Nanosecond, None)", is_nullable: "NO" }
    ])
    expect(await rows("q1", "SELECT table_name FROM information_schema.tables WHERE table_schema = 'iox' ORDER BY table_name")).toEqual([{ table_name: "cpu" }, { table_name: "mem" }])
    expect(await rows("q1", "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'cpu' AND column_name IN ('count', 'ok', 'note')")).toEqual([
      { column_name: "count", data_type: "Int64" },
      { column_name: "note", data_type: "Utf8" },
      { column_name: "ok", data_type: "Boolean" }
    ])
  })

  it("system.queries lists the database's earlier queries; _internal has databases, tables and tokens", async () => {
    await rows("q1", "SELECT 42 AS marker")
    const queries = await rows("q1", "SELECT query_text, query_type, success, running FROM system.queries WHERE query_text = 'SELECT 42 AS marker'")
    expect(queries).toEqual([{ query_text: "SELECT 42 AS marker", query_type: "sql", success: true, running: false }])
    const dbs = await rows("_internal", "SELECT database_name, deleted FROM system.databases WHERE database_name = 'q1'")
    expect(dbs).toEqual([{ database_name: "q1", deleted: false }])
    expect(await rows("_internal", "SELECT table_name FROM system.tables WHERE database_name = 'q1' ORDER BY table_name")).toEqual([{ table_name: "cpu" }, { table_name: "mem" }])
    expect((await rows("_internal", "SELECT name FROM system.tokens")).map((r) => r["name"])).toContain("_admin")
  })

  it("query telemetry reports the last query's rows read and returned", async () => {
    await rows("q1", "SELECT host FROM cpu WHERE usage > 2")
    const telemetry = expectOk(await server.request("GET", "/api/v3/query_sql_telemetry", { token })).json<{
      query_id: string
      execution_time_us: number
      chunks: Array<{ rows_read: number; rows_returned: number; files_scanned: number; bytes_read: number }>
    }>()
    expect(telemetry.chunks[0]).toMatchObject({ rows_read: 3, rows_returned: 2, files_scanned: 0 })
    expect(telemetry.chunks[0]!.bytes_read).toBeGreaterThan(0)
    expect(telemetry.execution_time_us).toBeGreaterThan(0)
    expectOk(await server.request("POST", "/api/v3/query_sql_telemetry", { token }))
  })

  it("deleting a table removes it from queries", async () => {
    await write("q6", `gone v=1 ${T0}\nstays v=2 ${T0}`)
    expectOk(await server.request("DELETE", "/api/v3/configure/table?db=q6&table=gone&hard_delete_at=never", { token }))
    expectError(await get("q6", "SELECT * FROM gone"), 400, /not found/)
    expect(await rows("q6", "SELECT v FROM stays")).toEqual([{ v: 2 }])
  })
})

describe("query concurrency limit", () => {
  let server: InProcessServer
  let token: string

  beforeAll(async () => {
    server = await startServer()
    token = await createOperatorToken(server)
  }, 30_000)
  afterAll(() => server.stop())

  const limit = async () => expectOk(await server.request("GET", "/api/v3/configure/query_concurrency_limit", { token }))
  const put = (body: unknown, force = false) =>
    server.request("PUT", `/api/v3/configure/query_concurrency_limit${force ? "?force=true" : ""}`, { token, body })

  it("starts unlimited (field omitted), takes values ≥ 16, smaller ones only with force, and null or DELETE restore it", async () => {
    expect((await limit()).json()).toEqual({})
    expectOk(await put({ max_concurrent_queries: 32 }), 204)
    expect((await limit()).json()).toEqual({ max_concurrent_queries: 32 })
    expectError(await put({ max_concurrent_queries: 8 }), 400, /force=true/)
    expectError(await put({ max_concurrent_queries: 0 }), 400, /positive/)
    expectError(await put({ max_concurrent_queries: -3 }, true), 400, /positive/)
    expectError(await put({ max_concurrent_queries: "many" }), 400)
    expectOk(await put({ max_concurrent_queries: 2 }, true), 204)
    expect((await limit()).json()).toEqual({ max_concurrent_queries: 2 })
    expectOk(await put({ max_concurrent_queries: null }), 204)
    expect((await limit()).json()).toEqual({})
    expectOk(await put({ max_concurrent_queries: 20 }), 204)
    expectOk(await server.request("DELETE", "/api/v3/configure/query_concurrency_limit", { token }), 204)
    expect((await limit()).json()).toEqual({})
  })

  it("with a limit of 1, concurrent queries wait their turn and all answer", async () => {
    expectOk(await server.request("POST", `/api/v3/write_lp?db=c1&precision=second`, { token, body: `m v=1 ${T0}` }), 204)
    expectOk(await put({ max_concurrent_queries: 1 }, true), 204)
    const answers = await Promise.all(
      Array.from({ length: 6 }, (_, i) => server.request("GET", `/api/v3/query_sql?${new URLSearchParams({ db: "c1", q: `SELECT v + ${i} AS x FROM m` })}`, { token }))
    )
    expect(answers.map((a) => expectOk(a).json())).toEqual(Array.from({ length: 6 }, (_, i) => [{ x: 1 + i }]))
    const waited = expectOk(
      await server.request("GET", `/api/v3/query_sql?${new URLSearchParams({ db: "c1", q: "SELECT count(*) AS n FROM system.queries WHERE permit_duration IS NOT NULL" })}`, { token })
    ).json<Array<{ n: number }>>()
    expect(waited[0]!.n).toBeGreaterThanOrEqual(6)
    expectOk(await server.request("DELETE", "/api/v3/configure/query_concurrency_limit", { token }), 204)
  })

  it("needs an admin token", async () => {
    const reader = await createResourceToken(server, token, "reader", { resource_type: "db", resource_names: ["*"], actions: ["read"] })
    expectError(await server.request("GET", "/api/v3/configure/query_concurrency_limit", { token: reader }), 403)
    expectError(await server.request("PUT", "/api/v3/configure/query_concurrency_limit", { token: reader, body: { max_concurrent_queries: 20 } }), 403)
  })
})

describe("InfluxDB 3 client library", () => {
  let server: InProcessServer
  let token: string

  beforeAll(async () => {
    server = await startServer()
    token = await createOperatorToken(server)
  }, 30_000)
  afterAll(() => server.stop())

  it("@influxdata/influxdb3-client writes points over HTTP that SQL then reads back", async () => {
    const client = new InfluxDBClient({ host: server.url, token, database: "clientdb" })
    try {
      await client.write([Point.measurement("weather").setTag("city", "Paris").setFloatField("temp", 21).setIntegerField("hum", 40).setTimestamp(new Date("2024-03-01T12:00:00Z"))], "clientdb")
      await client.write(`weather,city=Oslo temp=-3.5 ${Date.parse("2024-03-01T12:00:00Z")}`, "clientdb", undefined, { precision: "ms" })
    } finally {
      await client.close()
    }
    const res = expectOk(await server.request("GET", `/api/v3/query_sql?${new URLSearchParams({ db: "clientdb", q: "SELECT city, hum, temp, time FROM weather ORDER BY city" })}`, { token }))
    expect(res.json()).toEqual([
      { city: "Oslo", temp: -3.5, time: "2024-03-01T12:00:00" },
      { city: "Paris", hum: 40, temp: 21, time: "2024-03-01T12:00:00" }
    ])
  })
})
