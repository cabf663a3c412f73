import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as NodeZlib from "node:zlib"
import { Effect } from "effect"
import { Catalog } from "../../src/catalog/Catalog.ts"
import { liveDatabase, liveTable } from "../../src/catalog/state.ts"
import { DuckDb } from "../../src/query/DuckDb.ts"
import { Ingester } from "../../src/write/Ingester.ts"
import { rowsTableName, seriesTableName } from "../../src/write/WriteBuffer.ts"
import { expectError, expectOk } from "../support/expect.ts"
import { bufferedRows } from "../support/rows.ts"
import { createOperatorToken, createResourceToken, startServer, type InProcessServer } from "../support/server.ts"

const T0 = 1_700_000_000n

describe("line-protocol writes", () => {
  let server: InProcessServer
  let token: string
  const write = (path: string, body: string | Uint8Array, headers: Record<string, string> = {}) =>
    server.request("POST", path, { body, token, headers })

  beforeAll(async () => {
    server = await startServer({ maxHttpRequestSize: 64 * 1024, numColumnsPerTableLimit: 6 })
    token = await createOperatorToken(server)
  }, 30_000)
  afterAll(() => server.stop())

  it("a v3 write answers 204 and its rows are in the buffer with tags, time and fields", async () => {
    expectOk(await write("/api/v3/write_lp?db=w1&precision=second", `cpu,host=a,region=eu usage=1.5,count=3i,ok=true,note="hi there" ${T0}\ncpu,host=b usage=2 ${T0 + 1n}`), 204)
    const rows = (await bufferedRows(server, "w1", "cpu")).map(({ time: _, ...rest }) => rest)
    expect(rows).toEqual([
      { host: "a", region: "eu", usage: 1.5, count: 3n, ok: true, note: "hi there" },
      { host: "b", region: null, usage: 2, count: null, ok: null, note: null }
    ])
    expect(await server.runtime.runPromise(rawTimeList("w1", "cpu"))).toEqual([1700000000000000000n, 1700000001000000000n])
  })

  it("auto precision reads seconds, milliseconds, microseconds and nanoseconds by magnitude", async () => {
    expectOk(await write("/api/v3/write_lp?db=w2", [`m,k=s v=1 1700000000`, `m,k=ms v=1 1700000000123`, `m,k=us v=1 1700000000123456`, `m,k=ns v=1 1700000000123456789`].join("\n")), 204)
    const rows = await server.runtime.runPromise(rawTimes("w2", "m"))
    expect(rows).toEqual({
      s: 1700000000000000000n,
      ms: 1700000000123000000n,
      us: 1700000000123456000n,
      ns: 1700000000123456789n
    })
  })

  it("v1 /write takes minute and hour precision and maps rp to <db>/<rp>", async () => {
    expectOk(await write("/write?db=w3&precision=h", "m v=1 2"), 204)
    expectOk(await write("/write?db=w3&rp=autogen&precision=m", "m v=2 3"), 204)
    expectOk(await write("/write?db=w3&rp=weekly&precision=s", "m v=3 4"), 204)
    const times = await server.runtime.runPromise(rawTimeList("w3", "m"))
    expect(times).toEqual([180_000_000_000n, 7_200_000_000_000n])
    expect(await server.runtime.runPromise(rawTimeList("w3/weekly", "m"))).toEqual([4_000_000_000n])
  })

  it("a line without a timestamp gets the server's time", async () => {
    const before = BigInt(Date.now()) * 1_000_000n
    expectOk(await write("/api/v3/write_lp?db=w4", "m v=1"), 204)
    const after = BigInt(Date.now()) * 1_000_000n
    const [t] = await server.runtime.runPromise(rawTimeList("w4", "m"))
    expect(t! >= before && t! <= after).toBe(true)
  })

  it("an unknown precision answers 400 naming the parameter", async () => {
    expectError(await write("/api/v3/write_lp?db=w5&precision=fortnight", "m v=1 1"), 400, /precision/)
    expectError(await write("/api/v2/write?bucket=w5&precision=h", "m v=1 1"), 400, /precision/)
  })

  it("a bad line is refused with its physical line number while the good lines are written (400)", async () => {
    const body = "# header comment\ncpu,host=a val=1 10\n\ncpu,host=b val= 11\ncpu,host=c val=3 12"
    const res = await write("/api/v3/write_lp?db=w6&precision=ns", body)
    expectError(res, 400, "partial write of line protocol occurred", [
      { error_message: "No fields were provided", line_number: 4, original_line: "cpu,host=b val= 11" }
    ])
    expect(Object.keys(res.json<{ data: Array<object> }>().data[0]!)).toEqual(["error_message", "line_number", "original_line"])
    expect((await bufferedRows(server, "w6", "cpu")).map((r) => r["host"])).toEqual(["a", "c"])
  })

  it("with accept_partial=false one bad line rejects the batch and nothing is written", async () => {
    const res = await write("/api/v3/write_lp?db=w7&accept_partial=false", "cpu,host=a val=1 10\ncpu,host=b val=x 11")
    const body = expectError(res, 400, /nothing was written/, { error_message: "No fields were provided", line_number: 2, original_line: "cpu,host=b val=x 11" })
    expect(body.error).toMatch(/accept_partial=false/)
    expect(await bufferedRows(server, "w7", "cpu")).toEqual([])
  })

  it("v1 and v2 writes also report partial writes and write the good lines", async () => {
    expectError(await write("/write?db=w8", "a v=1 1\na v=\"s\" 2"), 400, "partial write of line protocol occurred", [expect.objectContaining({ line_number: 2 })])
    expectError(await write("/api/v2/write?bucket=w8", "b v=1 1\nb v=1 2 3"), 400, "partial write of line protocol occurred", [expect.objectContaining({ line_number: 2 })])
    expect((await bufferedRows(server, "w8", "a")).length).toBe(1)
    expect((await bufferedRows(server, "w8", "b")).length).toBe(1)
  })

  it("a field whose type conflicts with the table's schema rejects that line with InfluxDB's message", async () => {
    expectOk(await write("/api/v3/write_lp?db=w9", "m,t=a f=1 1"), 204)
    const res = await write("/api/v3/write_lp?db=w9", "m,t=a f=1i 2\nm,f=x g=1 3")
    expectError(res, 400, "partial write of line protocol occurred", [
      { error_message: "invalid column type for column 'f', expected iox::column_type::field::float, got iox::column_type::field::integer", line_number: 1, original_line: "m,t=a f=1i 2" },
      { error_message: "invalid column type for column 'f', expected iox::column_type::field::float, got iox::column_type::tag", line_number: 2, original_line: "m,f=x g=1 3" }
    ])
  })

  it("a table past the column limit refuses the line with 422", async () => {
    const res = await write("/api/v3/write_lp?db=w10", "wide a=1,b=1,c=1,d=1,e=1,f=1,g=1 1")
    expectError(res, 422, "partial write of line protocol occurred", [
      { error_message: "Update to schema would exceed number of columns per table limit of 6 columns", line_number: 1, original_line: "wide a=1,b=1,c=1,d=1,e=1,f=1,g=1 1" }
    ])
  })

  it("for the same series and time the last write wins field by field; a missing field keeps the earlier value", async () => {
    expectOk(await write("/api/v3/write_lp?db=w11", "m,t=a f1=1,f2=3 10"), 204)
    expectOk(await write("/api/v3/write_lp?db=w11", "m,t=a f1=2 10"), 204)
    const rows = await bufferedRows(server, "w11", "m")
    expect(rows.map(({ t, f1, f2 }) => ({ t, f1, f2 }))).toEqual([{ t: "a", f1: 2, f2: 3 }])
  })

  it("gzip bodies are accepted, multi-member too; an invalid gzip body answers 400", async () => {
    const body = Buffer.concat([NodeZlib.gzipSync("g v=1 1\n"), NodeZlib.gzipSync("g v=2 2\n")])
    expectOk(await write("/api/v3/write_lp?db=w12", body, { "content-encoding": "gzip" }), 204)
    expect((await bufferedRows(server, "w12", "g")).length).toBe(2)
    expectError(await write("/api/v3/write_lp?db=w12", "not gzip at all", { "content-encoding": "gzip" }), 400, /gzip/)
  })

  it("a body over --max-http-request-size answers 413, on the wire or after gunzip", async () => {
    const big = "m v=1 1\n".repeat(10_000)
    expectError(await write("/api/v3/write_lp?db=w13", big), 413, "max request size (65536 bytes) exceeded")
    expectError(await write("/api/v3/write_lp?db=w13", NodeZlib.gzipSync(big), { "content-encoding": "gzip" }), 413, "max request size (65536 bytes) exceeded")
  })

  it("an empty body, a missing db and an invalid database name answer 400", async () => {
    expectError(await write("/api/v3/write_lp?db=w14", "# only a comment\n\n"), 400, "incoming write was empty")
    expectError(await write("/api/v3/write_lp", "m v=1 1"), 400, "missing query parameter 'db'")
    expectError(await write("/api/v3/write_lp?db=_bad", "m v=1 1"), 400, "db name did not start with a number or letter")
  })

  it("a write creates the database on first use", async () => {
    expectOk(await write("/api/v3/write_lp?db=w15", "m v=1 1"), 204)
    const list = await server.request("GET", "/api/v3/configure/database?format=json", { token })
    expect(list.json<Array<Record<string, string>>>()).toContainEqual({ "iox::database": "w15" })
  })

  it("deleting a table drops its buffered rows; writing again starts empty", async () => {
    expectOk(await write("/api/v3/write_lp?db=w16", "m v=1 1\nm v=2 2"), 204)
    expectOk(await server.request("DELETE", "/api/v3/configure/table?db=w16&table=m", { token }))
    await new Promise((r) => setTimeout(r, 100))
    expectOk(await write("/api/v3/write_lp?db=w16", "m v=3 3"), 204)
    expect((await bufferedRows(server, "w16", "m")).map((r) => r["v"])).toEqual([3])
  })

  it("a resource token writes only to the databases it may write to (403 otherwise)", async () => {
    const writer = await createResourceToken(server, token, "writer", { resource_type: "db", resource_names: ["allowed"], actions: ["write"] })
    expectOk(await server.request("POST", "/api/v3/write_lp?db=allowed", { token: writer, body: "m v=1 1" }), 204)
    expectError(await server.request("POST", "/api/v3/write_lp?db=other", { token: writer, body: "m v=1 1" }), 403)
    expectOk(await server.request("POST", `/write?db=allowed&p=${writer}`, { body: "m v=2 2" }), 204)
    expectError(await server.request("POST", "/api/v3/write_lp?db=allowed", { body: "m v=1 1" }), 401)
  })
})

/** Raw nanosecond times of a buffered table, in time order. */
const rawTimeList = (db: string, table: string) =>
  Effect.map(rawRows(db, table, "epoch_ns(b.time) AS t", "t"), (rows) => rows.map((r) => r["t"] as bigint))

/** Raw times by the tag `k`. */
const rawTimes = (db: string, table: string) =>
  Effect.map(rawRows(db, table, "s.k, epoch_ns(b.time) AS t", "t"), (rows) => Object.fromEntries(rows.map((r) => [r["k"] as string, r["t"] as bigint])))

const rawRows = (db: string, table: string, select: string, order: string) =>
  Effect.gen(function* () {
    yield* (yield* Ingester).flush
    const state = yield* (yield* Catalog).current
    const t = liveTable(liveDatabase(state, db)!, table)!
    const duck = yield* DuckDb
    const reader = yield* Effect.promise(() =>
      duck.writer.runAndReadAll(`SELECT ${select} FROM ${rowsTableName(t.id)} b JOIN ${seriesTableName(t.id)} s USING (_sid) ORDER BY ${order}`)
    )
    return reader.getRowObjectsJS()
  })
