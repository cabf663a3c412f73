import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Grpc from "@grpc/grpc-js"
import { tableFromArrays, tableFromIPC, tableToIPC, type Table } from "apache-arrow"
import { splitIpcStream } from "../../src/flight/arrow.ts"
import { FlightServiceClient, decodeMessage, packCommand, unpackCommand } from "../../src/flight/protocol.ts"
import { expectOk } from "../support/expect.ts"
import { createOperatorToken, startServer, type InProcessServer } from "../support/server.ts"

// 2024-01-01T00:00:00Z in seconds.
const T0 = 1_704_067_200

interface FlightData {
  readonly data_header: Buffer
  readonly data_body: Buffer
}

/** FlightData messages as one Arrow IPC stream, read with apache-arrow. */
const tableOfFlightData = (messages: ReadonlyArray<FlightData>): Table => {
  const parts: Array<Buffer> = []
  for (const m of messages) {
    if (m.data_header.length === 0) continue
    const prefix = Buffer.alloc(8)
    prefix.writeInt32LE(-1, 0)
    prefix.writeInt32LE(m.data_header.length, 4)
    parts.push(prefix, m.data_header, m.data_body)
  }
  return tableFromIPC(Buffer.concat(parts))
}

const cmd = (type: string, fields: Record<string, unknown>) => ({ type: 2, cmd: packCommand(type, fields), path: [] })

describe("Flight SQL on the HTTP port, with a client on @grpc/grpc-js and apache-arrow", () => {
  let server: InProcessServer
  let token: string
  let client: Grpc.Client & Record<string, (...args: Array<unknown>) => unknown>

  const meta = (extra: Record<string, string> = {}, auth = `Bearer ${token}`) => {
    const md = new Grpc.Metadata()
    md.set("authorization", auth)
    for (const [k, v] of Object.entries(extra)) md.set(k, v)
    return md
  }
  const db = (name = "fsql") => meta({ database: name })

  const unary = <T>(method: string, request: unknown, md: Grpc.Metadata) =>
    new Promise<T>((resolve, reject) =>
      client[method]!(request, md, (e: Error | null, v: T) => (e ? reject(e) : resolve(v)))
    )
  const streamed = <T>(call: Grpc.ClientReadableStream<T>) =>
    new Promise<Array<T>>((resolve, reject) => {
      const out: Array<T> = []
      call.on("data", (d: T) => out.push(d))
      call.on("error", reject)
      call.on("end", () => resolve(out))
    })
  const doGet = (ticket: Buffer, md: Grpc.Metadata) =>
    streamed<FlightData>(client["DoGet"]!({ ticket }, md) as Grpc.ClientReadableStream<FlightData>)
  const doAction = (type: string, body: Buffer, md: Grpc.Metadata) =>
    streamed<{ body: Buffer }>(client["DoAction"]!({ type, body }, md) as Grpc.ClientReadableStream<{ body: Buffer }>)
  /** GetFlightInfo for a command, then DoGet on its one endpoint's ticket. */
  const query = async (descriptor: unknown, md: Grpc.Metadata) => {
    const info = await unary<{ endpoint: Array<{ ticket: { ticket: Buffer } }>; schema: Buffer }>(
      "GetFlightInfo",
      descriptor,
      md
    )
    expect(info.endpoint).toHaveLength(1)
    const messages = await doGet(info.endpoint[0]!.ticket.ticket, md)
    return { info, messages, table: tableOfFlightData(messages) }
  }
  const code = async (p: Promise<unknown>) => {
    try {
      await p
    } catch (e) {
      return (e as Grpc.ServiceError).code
    }
    throw new Error("the call succeeded")
  }

  beforeAll(async () => {
    server = await startServer()
    token = await createOperatorToken(server)
    const lines = [
      `cpu,host=a usage=1.5,count=3i ${T0}`,
      `cpu,host=b usage=2.5,count=4i ${T0 + 60}`,
      `mem,host=a free=10u ${T0}`
    ].join("\n")
    expectOk(await server.request("POST", "/api/v3/write_lp?db=fsql&precision=second", { body: lines, token }), 204)
    const many = Array.from({ length: 10_000 }, (_, i) => `big,host=h${i % 10} v=${i}i ${T0 + i}`).join("\n")
    expectOk(await server.request("POST", "/api/v3/write_lp?db=fsql&precision=second", { body: many, token }), 204)
    client = new FlightServiceClient(
      new URL(server.url).host,
      Grpc.credentials.createInsecure()
    ) as unknown as typeof client
  }, 60_000)
  afterAll(async () => {
    client?.close()
    await server?.stop()
  })

  it("a statement: GetFlightInfo carries the schema, DoGet on its ticket the rows", async () => {
    const { info, table } = await query(
      cmd("CommandStatementQuery", { query: "SELECT host, usage, count FROM cpu ORDER BY time" }),
      db()
    )
    expect(table.numRows).toBe(2)
    expect(table.toArray().map((r) => ({ ...r.toJSON(), count: Number(r.toJSON()["count"]) }))).toEqual([
      { host: "a", usage: 1.5, count: 3 },
      { host: "b", usage: 2.5, count: 4 }
    ])
    expect(table.schema.fields.find((f) => f.name === "usage")!.metadata.get("iox::column::type")).toBe(
      "iox::column_type::field::float"
    )
    expect(table.schema.fields.find((f) => f.name === "host")!.metadata.get("iox::column::type")).toBe(
      "iox::column_type::tag"
    )
    const schema = tableFromIPC(info.schema).schema
    expect(schema.fields.map((f) => f.name)).toEqual(["host", "usage", "count"])
    const got = await unary<{ schema: Buffer }>(
      "GetSchema",
      cmd("CommandStatementQuery", { query: "SELECT host FROM cpu" }),
      db()
    )
    expect(tableFromIPC(got.schema).schema.fields.map((f) => f.name)).toEqual(["host"])
  })

  it("the database comes from the database, bucket, bucket-name or iox-namespace-name metadata", async () => {
    for (const header of ["database", "bucket", "bucket-name", "iox-namespace-name"]) {
      const { table } = await query(
        cmd("CommandStatementQuery", { query: "SELECT count(*) AS n FROM cpu" }),
        meta({ [header]: "fsql" })
      )
      expect(Number(table.get(0)!.toJSON()["n"])).toBe(2)
    }
  })

  it("GetCatalogs, GetDbSchemas, GetTableTypes", async () => {
    expect((await query(cmd("CommandGetCatalogs", {}), db())).table.toArray().map((r) => r.toJSON())).toEqual([
      { catalog_name: "public" }
    ])
    const schemas = (await query(cmd("CommandGetDbSchemas", {}), db())).table
      .toArray()
      .map((r) => r.toJSON()["db_schema_name"])
    expect(schemas).toEqual(["iox", "information_schema", "system"])
    const filtered = (await query(cmd("CommandGetDbSchemas", { db_schema_filter_pattern: "i%" }), db())).table
      .toArray()
      .map((r) => r.toJSON()["db_schema_name"])
    expect(filtered).toEqual(["iox", "information_schema"])
    const types = (await query(cmd("CommandGetTableTypes", {}), db())).table
      .toArray()
      .map((r) => r.toJSON()["table_type"])
    expect(types).toEqual(["BASE TABLE", "VIEW"])
  })

  it("GetTables lists the database's tables, with each table's schema and iox column types when asked", async () => {
    const plain = (await query(cmd("CommandGetTables", { db_schema_filter_pattern: "iox" }), db())).table
    expect(plain.schema.fields.map((f) => f.name)).toEqual([
      "catalog_name",
      "db_schema_name",
      "table_name",
      "table_type"
    ])
    expect(plain.toArray().map((r) => r.toJSON()["table_name"])).toEqual(["big", "cpu", "mem"])
    const withSchema = (
      await query(
        cmd("CommandGetTables", {
          db_schema_filter_pattern: "iox",
          table_name_filter_pattern: "cp_",
          include_schema: true
        }),
        db()
      )
    ).table
    expect(withSchema.numRows).toBe(1)
    const bytes = withSchema.get(0)!.toJSON()["table_schema"] as Uint8Array
    const schema = tableFromIPC(bytes).schema
    expect(schema.fields.map((f) => [f.name, f.metadata.get("iox::column::type")])).toEqual([
      ["count", "iox::column_type::field::integer"],
      ["host", "iox::column_type::tag"],
      ["time", "iox::column_type::timestamp"],
      ["usage", "iox::column_type::field::float"]
    ])
    const views = (await query(cmd("CommandGetTables", { table_types: ["VIEW"] }), db())).table
      .toArray()
      .map((r) => r.toJSON()["db_schema_name"])
    expect(new Set(views)).toEqual(new Set(["information_schema"]))
    expect(await code(query(cmd("CommandGetTables", {}), db("nowhere")))).toBe(Grpc.status.INVALID_ARGUMENT)
  })

  it("GetPrimaryKeys and the foreign-key commands answer no rows in their schemas", async () => {
    const pk = (await query(cmd("CommandGetPrimaryKeys", { table: "cpu" }), db())).table
    expect(pk.numRows).toBe(0)
    expect(pk.schema.fields.map((f) => f.name)).toEqual([
      "catalog_name",
      "db_schema_name",
      "table_name",
      "column_name",
      "key_name",
      "key_sequence"
    ])
    const exported = (await query(cmd("CommandGetExportedKeys", { table: "cpu" }), db())).table
    expect(exported.numRows).toBe(0)
    expect(exported.schema.fields.at(-1)!.name).toBe("delete_rule")
  })

  it("GetSqlInfo answers the server's facts in the dense-union layout", async () => {
    const { table } = await query(cmd("CommandGetSqlInfo", { info: [0, 3, 4] }), db())
    expect(table.schema.fields.map((f) => f.name)).toEqual(["info_name", "value"])
    const rows = table.toArray().map((r) => [r.toJSON()["info_name"], r.toJSON()["value"]])
    expect(rows).toEqual([
      [0, "Strata"],
      [3, true],
      [4, true]
    ])
  })

  it("a prepared statement: create, bind parameters by DoPut, query, close", async () => {
    const [created] = await doAction(
      "CreatePreparedStatement",
      packCommand("ActionCreatePreparedStatementRequest", { query: "SELECT usage FROM cpu WHERE host = $host" }),
      db()
    )
    const result = unpackCommand(created!.body)!
    expect(result.type).toBe("ActionCreatePreparedStatementResult")
    const handle = result.fields["prepared_statement_handle"] as Buffer
    const params = splitIpcStream(tableToIPC(tableFromArrays({ host: ["b"] }), "stream"))
    const put = client["DoPut"]!(db()) as Grpc.ClientDuplexStream<unknown, { app_metadata: Buffer }>
    const putResults = streamed(put)
    params.forEach((m, i) =>
      put.write({
        flight_descriptor:
          i === 0 ? cmd("CommandPreparedStatementQuery", { prepared_statement_handle: handle }) : undefined,
        data_header: m.header,
        data_body: m.body
      })
    )
    put.end()
    const [putResult] = await putResults
    expect(decodeMessage("DoPutPreparedStatementResult", putResult!.app_metadata)["prepared_statement_handle"]).toEqual(
      handle
    )
    const { table } = await query(cmd("CommandPreparedStatementQuery", { prepared_statement_handle: handle }), db())
    expect(table.toArray().map((r) => r.toJSON())).toEqual([{ usage: 2.5 }])
    await doAction(
      "ClosePreparedStatement",
      packCommand("ActionClosePreparedStatementRequest", { prepared_statement_handle: handle }),
      db()
    )
    expect(await code(query(cmd("CommandPreparedStatementQuery", { prepared_statement_handle: handle }), db()))).toBe(
      Grpc.status.INVALID_ARGUMENT
    )
  })

  it("Handshake with Basic credentials answers a bearer token that then authenticates", async () => {
    const md = meta({}, `Basic ${Buffer.from(`user:${token}`).toString("base64")}`)
    const call = client["Handshake"]!(md) as Grpc.ClientDuplexStream<unknown, unknown>
    const header = new Promise<Grpc.Metadata>((resolve) => call.on("metadata", resolve))
    const responses = streamed(call)
    call.write({ protocol_version: 0, payload: Buffer.alloc(0) })
    call.end()
    await responses
    const bearer = (await header).get("authorization")[0] as string
    expect(bearer).toBe(`Bearer ${token}`)
    const { table } = await query(
      cmd("CommandStatementQuery", { query: "SELECT 1 AS one" }),
      meta({ database: "fsql" }, bearer)
    )
    expect(table.numRows).toBe(1)
    const wrong = client["Handshake"]!(
      meta({}, `Basic ${Buffer.from("user:apiv3_wrong").toString("base64")}`)
    ) as Grpc.ClientDuplexStream<unknown, unknown>
    wrong.end()
    expect(await code(streamed(wrong))).toBe(Grpc.status.UNAUTHENTICATED)
  })

  it("errors: a bad token, no database, bad SQL", async () => {
    expect(
      await code(
        query(cmd("CommandStatementQuery", { query: "SELECT 1" }), meta({ database: "fsql" }, "Bearer apiv3_wrong"))
      )
    ).toBe(Grpc.status.UNAUTHENTICATED)
    expect(await code(query(cmd("CommandStatementQuery", { query: "SELECT 1" }), meta()))).toBe(
      Grpc.status.INVALID_ARGUMENT
    )
    expect(await code(query(cmd("CommandStatementQuery", { query: "SELEC 1" }), db()))).toBe(
      Grpc.status.INVALID_ARGUMENT
    )
  })

  it("a server stops while a client keeps its gRPC connection open", async () => {
    const other = await startServer()
    const otherToken = await createOperatorToken(other)
    const held = new FlightServiceClient(new URL(other.url).host, Grpc.credentials.createInsecure())
    try {
      const md = new Grpc.Metadata()
      md.set("authorization", `Bearer ${otherToken}`)
      md.set("database", "_internal")
      const calls = held as unknown as Record<string, (...args: Array<unknown>) => unknown>
      const info = await new Promise<unknown>((resolve, reject) =>
        calls["GetFlightInfo"]!(cmd("CommandGetCatalogs", {}), md, (e: Error | null, v: unknown) =>
          e ? reject(e) : resolve(v)
        )
      )
      expect(info).toBeDefined()
      await other.stop()
    } finally {
      held.close()
    }
  })

  it("a large answer streams in several record batches, each under gRPC's 4 MiB message limit", async () => {
    const copies = Array.from({ length: 30 }, (_, i) => `(${i})`).join(", ")
    const sql = `SELECT time, host, v, k FROM big CROSS JOIN (VALUES ${copies}) AS c(k)`
    const { messages, table } = await query(cmd("CommandStatementQuery", { query: sql }), db())
    expect(table.numRows).toBe(300_000)
    expect(messages.length).toBeGreaterThan(3)
    for (const m of messages) expect(m.data_header.length + m.data_body.length).toBeLessThan(4 * 1024 * 1024)
    let sum = 0n
    for (const v of table.getChild("v")!) sum += BigInt(v as bigint)
    expect(sum).toBe(30n * ((9_999n * 10_000n) / 2n))
  })
})
