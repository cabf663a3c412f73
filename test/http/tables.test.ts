import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { liveDatabase, liveTable } from "../../src/catalog/state.ts"
import { expectError, expectOk } from "../support/expect.ts"
import { catalogOf, createOperatorToken, startServer, type InProcessServer } from "../support/server.ts"

let server: InProcessServer
let token: string

beforeAll(async () => {
  server = await startServer()
  token = await createOperatorToken(server)
})
afterAll(() => server.stop())

const HOUR_NS = 3_600_000_000_000n

interface TableBody {
  readonly db: string
  readonly table: string
  readonly tags?: ReadonlyArray<string>
  readonly fields?: ReadonlyArray<{ name: string; type: string }>
  readonly retention_period?: string
}
const createTable = (body: TableBody) =>
  server.request("POST", "/api/v3/configure/table", { token, body: { tags: ["host"], fields: [{ name: "usage", type: "float64" }], ...body } })
const table = async (db: string, name: string) => {
  const database = liveDatabase(await catalogOf(server), db)
  return database === undefined ? undefined : liveTable(database, name)
}
const databaseNames = async () =>
  expectOk(await server.request("GET", "/api/v3/configure/database?format=json", { token })).json<Array<Record<string, string>>>().map((r) => r["iox::database"])

describe("POST /api/v3/configure/table", () => {
  it("creating a table answers 200 with an empty body; tags then fields then time, in request order", async () => {
    const res = expectOk(
      await createTable({
        db: "tables",
        table: "cpu",
        tags: ["region", "host"],
        fields: [
          { name: "f", type: "float64" },
          { name: "i", type: "int64" },
          { name: "u", type: "uint64" },
          { name: "s", type: "utf8" },
          { name: "b", type: "bool" }
        ]
      })
    )
    expect(res.text).toBe("")
    const cpu = await table("tables", "cpu")
    expect(cpu?.columns.map((c) => [c.name, c.type])).toEqual([
      ["region", "tag"],
      ["host", "tag"],
      ["f", "float"],
      ["i", "integer"],
      ["u", "uinteger"],
      ["s", "string"],
      ["b", "boolean"],
      ["time", "time"]
    ])
    expect(cpu?.seriesKey).toEqual(["region", "host"])
  })

  it("creating a table in a missing database creates the database", async () => {
    expect(await databaseNames()).not.toContain("autodb")
    expectOk(await createTable({ db: "autodb", table: "mem" }))
    expect(await databaseNames()).toContain("autodb")
  })

  it("creating a table keeps its retention period", async () => {
    expectOk(await createTable({ db: "tables", table: "retained", retention_period: "6h" }))
    expect((await table("tables", "retained"))?.retentionPeriodNs).toBe(6n * HOUR_NS)
  })

  it("creating a table that exists answers 409", async () => {
    expectOk(await createTable({ db: "tables", table: "dup" }))
    expectError(await createTable({ db: "tables", table: "dup" }), 409, "attempted to create a resource that already exists: table dup")
  })

  it("an unknown field type answers 400 naming the field", async () => {
    expectError(
      await createTable({ db: "tables", table: "badtype", fields: [{ name: "ok", type: "bool" }, { name: "x", type: "float32" }] }),
      400,
      "invalid value for field `fields.1.type`: 'float32' is not one of utf8, int64, uint64, float64, bool"
    )
    expect(await table("tables", "badtype")).toBeUndefined()
  })

  it("a missing tags key answers 400 naming it", async () => {
    expectError(await server.request("POST", "/api/v3/configure/table", { token, body: { db: "tables", table: "t", fields: [] } }), 400, "missing field `tags`")
  })

  it("a column named time answers 400", async () => {
    expectError(await createTable({ db: "tables", table: "reserved", tags: ["time"] }), 400, "'time' is a reserved column")
  })

  it("a tag and a field with one name answer 400", async () => {
    expectError(await createTable({ db: "tables", table: "dupcol", tags: ["x"], fields: [{ name: "x", type: "utf8" }] }), 400, "duplicate column name 'x'")
  })

  it("an empty table name answers 400", async () => {
    expectError(await createTable({ db: "tables", table: "" }), 400, "table name cannot be empty")
  })

  it("an invalid database name answers 400 and creates nothing", async () => {
    expectError(await createTable({ db: "-bad", table: "t" }), 400, /did not start with a number or letter/)
    expect(await databaseNames()).not.toContain("-bad")
  })

  it("a table in _internal answers 400", async () => {
    expectError(await createTable({ db: "_internal", table: "t" }), 400, "cannot create tables in internal db")
  })

  it("an unparsable retention answers 400", async () => {
    expectError(await createTable({ db: "tables", table: "badret", retention_period: "eventually" }), 400, /retention_period 'eventually'/)
  })

  it("tables and columns past their limits answer 422; deleted tables do not count", async () => {
    const limited = await startServer({ numTableLimit: 2, numColumnsPerTableLimit: 2 })
    try {
      const t = await createOperatorToken(limited)
      const post = (name: string, tags: ReadonlyArray<string>, fields: ReadonlyArray<string>) =>
        limited.request("POST", "/api/v3/configure/table", { token: t, body: { db: "lim", table: name, tags, fields: fields.map((f) => ({ name: f, type: "int64" })) } })
      expectError(await post("wide", ["a", "b"], ["c"]), 422, "Update to schema would exceed number of columns per table limit of 2 columns")
      expectOk(await post("t1", ["a"], ["b"]))
      expectOk(await post("t2", [], ["b"]))
      expectError(await post("t3", [], []), 422, /exceed number of tables limit: attempted to create table but already have 2 table\(s\) \(limit: 2\)/)
      expectOk(await limited.request("DELETE", "/api/v3/configure/table?db=lim&table=t1", { token: t }))
      expectOk(await post("t3", [], []))
    } finally {
      await limited.stop()
    }
  })
})

describe("PUT /api/v3/configure/table", () => {
  it("sets a table's retention period and clears it when the key is left out", async () => {
    expectOk(await createTable({ db: "tables", table: "putret" }))
    expectOk(await server.request("PUT", "/api/v3/configure/table", { token, body: { db: "tables", table: "putret", retention_period: "2h" } }))
    expect((await table("tables", "putret"))?.retentionPeriodNs).toBe(2n * HOUR_NS)
    expectOk(await server.request("PUT", "/api/v3/configure/table", { token, body: { db: "tables", table: "putret" } }))
    expect((await table("tables", "putret"))?.retentionPeriodNs).toBeNull()
  })

  it("on a missing table answers 404", async () => {
    expectError(await server.request("PUT", "/api/v3/configure/table", { token, body: { db: "tables", table: "ghost", retention_period: "1h" } }), 404, "table not found: ghost in database tables")
  })

  it("on a missing database answers 404", async () => {
    expectError(await server.request("PUT", "/api/v3/configure/table", { token, body: { db: "ghostdb", table: "t", retention_period: "1h" } }), 404, "database not found: ghostdb")
  })

  it("without table answers 400", async () => {
    expectError(await server.request("PUT", "/api/v3/configure/table", { token, body: { db: "tables" } }), 400, "missing field `table`")
  })
})

describe("DELETE /api/v3/configure/table", () => {
  it("deleting a table renames it and frees the name", async () => {
    expectOk(await createTable({ db: "tables", table: "doomed", tags: ["a"] }))
    const id = (await table("tables", "doomed"))!.id
    const res = expectOk(await server.request("DELETE", "/api/v3/configure/table?db=tables&table=doomed", { token }))
    expect(res.text).toBe("")
    expect(await table("tables", "doomed")).toBeUndefined()
    const renamed = liveDatabase(await catalogOf(server), "tables")!.tables.get(id)!
    expect(renamed.deleted).toBe(true)
    expect(renamed.name).toMatch(/^doomed-\d{8}T\d{6}$/)
    expectOk(await createTable({ db: "tables", table: "doomed", tags: ["b"] }))
    expect((await table("tables", "doomed"))?.seriesKey).toEqual(["b"])
  })

  it("deleting the same table again answers 404", async () => {
    expectOk(await createTable({ db: "tables", table: "gone" }))
    expectOk(await server.request("DELETE", "/api/v3/configure/table?db=tables&table=gone", { token }))
    expectError(await server.request("DELETE", "/api/v3/configure/table?db=tables&table=gone", { token }), 404, "table not found: gone in database tables")
  })

  it("deleting a table of a missing database answers 404", async () => {
    expectError(await server.request("DELETE", "/api/v3/configure/table?db=nodb&table=t", { token }), 404, "database not found: nodb")
  })

  it("without table answers 400 naming the parameter", async () => {
    expectError(await server.request("DELETE", "/api/v3/configure/table?db=tables", { token }), 400, "missing query parameter 'table'")
  })

  it("hard_delete_at=now removes the table from the catalog", async () => {
    expectOk(await createTable({ db: "tables", table: "now" }))
    const id = (await table("tables", "now"))!.id
    expectOk(await server.request("DELETE", "/api/v3/configure/table?db=tables&table=now&hard_delete_at=now", { token }))
    expect(liveDatabase(await catalogOf(server), "tables")!.tables.has(id)).toBe(false)
  })

  it("hard_delete_at with an RFC3339 time schedules the hard delete then", async () => {
    expectOk(await createTable({ db: "tables", table: "later" }))
    const id = (await table("tables", "later"))!.id
    expectOk(await server.request("DELETE", "/api/v3/configure/table?db=tables&table=later&hard_delete_at=2999-01-01T00:00:00Z", { token }))
    expect(liveDatabase(await catalogOf(server), "tables")!.tables.get(id)?.hardDeleteAtNs).toBe(BigInt(Date.parse("2999-01-01T00:00:00Z")) * 1_000_000n)
  })

  it("an unparsable hard_delete_at answers 400 and deletes nothing", async () => {
    expectOk(await createTable({ db: "tables", table: "kept" }))
    expectError(await server.request("DELETE", "/api/v3/configure/table?db=tables&table=kept&hard_delete_at=tomorrow", { token }), 400, /hard_delete_at: 'tomorrow'/)
    expect(await table("tables", "kept")).toBeDefined()
  })

  it("data_only=true keeps the table", async () => {
    expectOk(await createTable({ db: "tables", table: "dataonly" }))
    expectOk(await server.request("DELETE", "/api/v3/configure/table?db=tables&table=dataonly&data_only=true", { token }))
    expect(await table("tables", "dataonly")).toBeDefined()
  })

  it("deleting a database hides its tables", async () => {
    expectOk(await createTable({ db: "parent", table: "child" }))
    expectOk(await server.request("DELETE", "/api/v3/configure/database?db=parent", { token }))
    expectError(await server.request("DELETE", "/api/v3/configure/table?db=parent&table=child", { token }), 404, "database not found: parent")
  })
})

describe("/api/v3/enterprise/configure/table/retention_period", () => {
  it("POST sets a table's retention (204) and DELETE clears it (204)", async () => {
    expectOk(await createTable({ db: "tables", table: "entret" }))
    expectOk(await server.request("POST", "/api/v3/enterprise/configure/table/retention_period?db=tables&table=entret&duration=90m", { token }), 204)
    expect((await table("tables", "entret"))?.retentionPeriodNs).toBe(90n * 60_000_000_000n)
    expectOk(await server.request("DELETE", "/api/v3/enterprise/configure/table/retention_period?db=tables&table=entret", { token }), 204)
    expect((await table("tables", "entret"))?.retentionPeriodNs).toBeNull()
  })

  it("POST without duration answers 400", async () => {
    expectError(await server.request("POST", "/api/v3/enterprise/configure/table/retention_period?db=tables&table=entret", { token }), 400, "missing query parameter 'duration'")
  })

  it("POST with an unparsable duration answers 400", async () => {
    expectOk(await createTable({ db: "tables", table: "entbad" }))
    expectError(await server.request("POST", "/api/v3/enterprise/configure/table/retention_period?db=tables&table=entbad&duration=x", { token }), 400, /'x'/)
  })

  it("POST and DELETE on a missing table answer 404", async () => {
    expectError(await server.request("POST", "/api/v3/enterprise/configure/table/retention_period?db=tables&table=ghost&duration=1h", { token }), 404)
    expectError(await server.request("DELETE", "/api/v3/enterprise/configure/table/retention_period?db=tables&table=ghost", { token }), 404)
  })

  it("needs an admin token: 401 without one", async () => {
    expectError(await server.request("POST", "/api/v3/enterprise/configure/table/retention_period?db=tables&table=entret&duration=1h"), 401)
  })
})
