import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { tableFromIPC } from "apache-arrow"
import { readParquet } from "parquet-wasm/node"
import { liveDatabase } from "../../src/catalog/state.ts"
import { expectError, expectOk } from "../support/expect.ts"
import { catalogOf, createOperatorToken, startServer, type InProcessServer } from "../support/server.ts"

let server: InProcessServer
let token: string

beforeAll(async () => {
  server = await startServer()
  token = await createOperatorToken(server)
})
afterAll(() => server.stop())

const DAY_NS = 86_400_000_000_000n
const SOFT_DELETED = /^(.+)-(\d{8}T\d{6})(?:-\d+)?$/

type ListRow = { "iox::database": string; deleted?: boolean }
const list = async (query = "") => {
  const res = expectOk(await server.request("GET", `/api/v3/configure/database?format=json${query}`, { token }))
  return res.json<Array<ListRow>>()
}
const names = async () => (await list()).map((r) => r["iox::database"])
const create = (db: string, retention_period?: string) =>
  server.request("POST", "/api/v3/configure/database", { token, body: retention_period === undefined ? { db } : { db, retention_period } })
const dbState = async (name: string) => liveDatabase(await catalogOf(server), name)

describe("GET /api/v3/configure/database", () => {
  it("a new server lists only _internal", async () => {
    const fresh = await startServer()
    try {
      const t = await createOperatorToken(fresh)
      const res = expectOk(await fresh.request("GET", "/api/v3/configure/database?format=json", { token: t }))
      expect(res.json()).toEqual([{ "iox::database": "_internal" }])
    } finally {
      await fresh.stop()
    }
  })

  it("lists databases sorted by name, _internal among them", async () => {
    for (const db of ["list-b", "list-a", "list-C"]) expectOk(await create(db))
    const all = await names()
    expect(all).toEqual([...all].sort())
    expect(all).toEqual(expect.arrayContaining(["_internal", "list-C", "list-a", "list-b"]))
  })

  it("needs the format parameter: 400 without it", async () => {
    expectError(await server.request("GET", "/api/v3/configure/database", { token }), 400, "missing query parameter 'format'")
  })

  it("rejects an unknown format with 400", async () => {
    expectError(await server.request("GET", "/api/v3/configure/database?format=xml", { token }), 400, /format.*'xml'/)
  })

  it("renders csv, jsonl and pretty", async () => {
    expectOk(await create("fmt"))
    const csv = expectOk(await server.request("GET", "/api/v3/configure/database?format=csv", { token }))
    expect(csv.headers.get("content-type")).toBe("text/csv")
    expect(csv.text.split("\n")[0]).toBe("iox::database")
    expect(csv.text.split("\n")).toContain("fmt")
    const jsonl = expectOk(await server.request("GET", "/api/v3/configure/database?format=jsonl", { token }))
    expect(jsonl.text.trimEnd().split("\n").map((l) => JSON.parse(l))).toContainEqual({ "iox::database": "fmt" })
    const pretty = expectOk(await server.request("GET", "/api/v3/configure/database?format=pretty", { token }))
    expect(pretty.text).toMatch(/^\+-+\+\n\| iox::database +\|/)
    expect(pretty.text).toMatch(/\| fmt +\|/)
  })

  it("renders parquet, readable with parquet-wasm and apache-arrow", async () => {
    expectOk(await create("pq"))
    const res = await fetch(`${server.url}/api/v3/configure/database?format=parquet&show_deleted=true`, { headers: { authorization: `Bearer ${token}` } })
    expect(res.status).toBe(200)
    expect(res.headers.get("content-type")).toBe("application/vnd.apache.parquet")
    const table = tableFromIPC(readParquet(new Uint8Array(await res.arrayBuffer())).intoIPCStream())
    expect(table.schema.fields.map((f) => f.name)).toEqual(["iox::database", "deleted"])
    expect([...table.getChild("iox::database")!]).toContain("pq")
    expect([...table.getChild("deleted")!].every((d) => typeof d === "boolean")).toBe(true)
  })

  it("show_deleted=true adds a deleted column and lists live databases first", async () => {
    expectOk(await create("shown"))
    expectOk(await server.request("DELETE", "/api/v3/configure/database?db=shown", { token }))
    const rows = await list("&show_deleted=true")
    expect(rows.every((r) => typeof r.deleted === "boolean")).toBe(true)
    const firstDeleted = rows.findIndex((r) => r.deleted)
    expect(firstDeleted).toBeGreaterThan(0)
    expect(rows.slice(firstDeleted).every((r) => r.deleted)).toBe(true)
    expect(rows.filter((r) => r.deleted).map((r) => r["iox::database"])).toContainEqual(expect.stringMatching(/^shown-\d{8}T\d{6}$/))
    expect((await list()).some((r) => "deleted" in r)).toBe(false)
  })

  it("needs an admin token: 401 without one", async () => {
    expectError(await server.request("GET", "/api/v3/configure/database?format=json"), 401, "the request was not authenticated")
  })
})

describe("POST /api/v3/configure/database", () => {
  it("creating a database answers 200 with an empty body and lists it", async () => {
    const res = expectOk(await create("created"))
    expect(res.text).toBe("")
    expect(await names()).toContain("created")
  })

  it("creating a database keeps its retention period", async () => {
    expectOk(await create("retained", "30d"))
    expect((await dbState("retained"))?.retentionPeriodNs).toBe(30n * DAY_NS)
  })

  it("creating a database that exists answers 409", async () => {
    expectOk(await create("twice"))
    expectError(await create("twice"), 409, "attempted to create a resource that already exists: database twice")
  })

  it("creating _internal answers 409", async () => {
    expectError(await create("_internal"), 409)
  })

  it.each([
    ["_leading", "db name did not start with a number or letter"],
    ["has space", /invalid character/],
    ["", "db name cannot be empty"]
  ])("creating a database named %j answers 400", async (db, message) => {
    expectError(await create(db), 400, message)
  })

  it("an unparsable retention_period answers 400 naming it", async () => {
    expectError(await create("badret", "a fortnight"), 400, /retention_period 'a fortnight'/)
    expect(await names()).not.toContain("badret")
  })

  it("a retention_period too long to represent answers 400", async () => {
    expectError(await create("huge", "9".repeat(400) + "d"), 400, /invalid retention_period/)
  })

  it("creating past --num-database-limit answers 422; _internal and deleted databases do not count", async () => {
    const limited = await startServer({ numDatabaseLimit: 2 })
    try {
      const t = await createOperatorToken(limited)
      const post = (db: string) => limited.request("POST", "/api/v3/configure/database", { token: t, body: { db } })
      expectOk(await post("one"))
      expectOk(await post("two"))
      expectError(await post("three"), 422, "Adding a new database would exceed limit of 2 databases")
      expectOk(await limited.request("DELETE", "/api/v3/configure/database?db=one", { token: t }))
      expectOk(await post("three"))
    } finally {
      await limited.stop()
    }
  })
})

describe("PUT /api/v3/configure/database", () => {
  it("sets the retention period, and clears it when the key is left out", async () => {
    expectOk(await create("putret"))
    expect((expectOk(await server.request("PUT", "/api/v3/configure/database", { token, body: { db: "putret", retention_period: "7d" } }))).text).toBe("")
    expect((await dbState("putret"))?.retentionPeriodNs).toBe(7n * DAY_NS)
    expectOk(await server.request("PUT", "/api/v3/configure/database", { token, body: { db: "putret" } }))
    expect((await dbState("putret"))?.retentionPeriodNs).toBeNull()
  })

  it("takes the database from the query string when the body has none", async () => {
    expectOk(await create("putquery"))
    expectOk(await server.request("PUT", "/api/v3/configure/database?db=putquery", { token, body: { retention_period: "2d" } }))
    expect((await dbState("putquery"))?.retentionPeriodNs).toBe(2n * DAY_NS)
  })

  it("without a database answers 400", async () => {
    expectError(await server.request("PUT", "/api/v3/configure/database", { token, body: { retention_period: "1d" } }), 400, "missing field `db`")
  })

  it("on a missing database answers 404", async () => {
    expectError(await server.request("PUT", "/api/v3/configure/database", { token, body: { db: "ghost", retention_period: "1d" } }), 404, "database not found: ghost")
  })

  it("on _internal answers 400", async () => {
    expectError(await server.request("PUT", "/api/v3/configure/database", { token, body: { db: "_internal", retention_period: "1d" } }), 400, "cannot modify internal db")
  })

  it("with an unparsable retention answers 400", async () => {
    expectOk(await create("putbad"))
    expectError(await server.request("PUT", "/api/v3/configure/database", { token, body: { db: "putbad", retention_period: "1 moon" } }), 400, /retention_period/)
  })
})

describe("/api/v3/configure/database/retention_period", () => {
  it("POST sets the retention (204) and DELETE clears it (204)", async () => {
    expectOk(await create("rp"))
    const set = expectOk(await server.request("POST", "/api/v3/configure/database/retention_period?db=rp&duration=72h", { token }), 204)
    expect(set.text).toBe("")
    expect((await dbState("rp"))?.retentionPeriodNs).toBe(3n * DAY_NS)
    expectOk(await server.request("DELETE", "/api/v3/configure/database/retention_period?db=rp", { token }), 204)
    expect((await dbState("rp"))?.retentionPeriodNs).toBeNull()
  })

  it("POST without duration answers 400 naming the parameter", async () => {
    expectError(await server.request("POST", "/api/v3/configure/database/retention_period?db=rp", { token }), 400, "missing query parameter 'duration'")
  })

  it("POST with an unparsable duration answers 400", async () => {
    expectOk(await create("rpbad"))
    expectError(await server.request("POST", "/api/v3/configure/database/retention_period?db=rpbad&duration=soon", { token }), 400, /'soon'/)
  })

  it("POST and DELETE on a missing database answer 404", async () => {
    expectError(await server.request("POST", "/api/v3/configure/database/retention_period?db=ghost&duration=1h", { token }), 404)
    expectError(await server.request("DELETE", "/api/v3/configure/database/retention_period?db=ghost", { token }), 404)
  })

  it("DELETE without db answers 400", async () => {
    expectError(await server.request("DELETE", "/api/v3/configure/database/retention_period", { token }), 400, "missing query parameter 'db'")
  })
})

describe("DELETE /api/v3/configure/database", () => {
  it("deleting a database renames it and frees the name", async () => {
    expectOk(await create("doomed"))
    const before = await dbState("doomed")
    const res = expectOk(await server.request("DELETE", "/api/v3/configure/database?db=doomed", { token }))
    expect(res.text).toBe("")
    expect(await names()).not.toContain("doomed")
    const renamed = (await catalogOf(server)).databases.get(before!.id)!
    expect(renamed.deleted).toBe(true)
    const [, original, stamp] = SOFT_DELETED.exec(renamed.name)!
    expect(original).toBe("doomed")
    // The stamp is the UTC deletion time, to the second.
    const stampMs = Date.parse(`${stamp!.slice(0, 4)}-${stamp!.slice(4, 6)}-${stamp!.slice(6, 8)}T${stamp!.slice(9, 11)}:${stamp!.slice(11, 13)}:${stamp!.slice(13, 15)}Z`)
    expect(Math.abs(Date.now() - stampMs)).toBeLessThan(60_000)
    expectOk(await create("doomed"))
    expect((await dbState("doomed"))?.id).not.toBe(before!.id)
  })

  it("deleting the same name again answers 404", async () => {
    expectOk(await create("gone"))
    expectOk(await server.request("DELETE", "/api/v3/configure/database?db=gone", { token }))
    expectError(await server.request("DELETE", "/api/v3/configure/database?db=gone", { token }), 404, "database not found: gone")
  })

  it("deleting _internal answers 400 and keeps it", async () => {
    expectError(await server.request("DELETE", "/api/v3/configure/database?db=_internal", { token }), 400, "cannot delete internal db")
    expect(await names()).toContain("_internal")
  })

  it("without db answers 400", async () => {
    expectError(await server.request("DELETE", "/api/v3/configure/database", { token }), 400, "missing query parameter 'db'")
  })

  it("hard_delete_at=now removes the database from the catalog at once", async () => {
    expectOk(await create("now"))
    const id = (await dbState("now"))!.id
    expectOk(await server.request("DELETE", "/api/v3/configure/database?db=now&hard_delete_at=now", { token }))
    expect((await catalogOf(server)).databases.has(id)).toBe(false)
    expect((await list("&show_deleted=true")).map((r) => r["iox::database"]).filter((n) => n.startsWith("now-"))).toEqual([])
  })

  const hardDeleteCases: ReadonlyArray<readonly [string, bigint | null | "default"]> = [
    ["never", null],
    ["default", "default"],
    ["2999-01-01T00:00:00Z", BigInt(Date.parse("2999-01-01T00:00:00Z")) * 1_000_000n]
  ]
  it.each(hardDeleteCases)("hard_delete_at=%s schedules the hard delete accordingly", async (when, want) => {
    const name = `hd-${when.slice(0, 4)}`
    expectOk(await create(name))
    const id = (await dbState(name))!.id
    const started = BigInt(Date.now()) * 1_000_000n
    expectOk(await server.request("DELETE", `/api/v3/configure/database?db=${name}&hard_delete_at=${encodeURIComponent(when)}`, { token }))
    const deleted = (await catalogOf(server)).databases.get(id)!
    expect(deleted.deleted).toBe(true)
    if (want === "default") {
      // 72h after the deletion, by the configured default.
      const delta = deleted.hardDeleteAtNs! - started
      expect(delta > 71n * 3_600_000_000_000n && delta < 73n * 3_600_000_000_000n).toBe(true)
    } else {
      expect(deleted.hardDeleteAtNs).toBe(want)
    }
  })

  it("an unparsable hard_delete_at answers 400 and deletes nothing", async () => {
    expectOk(await create("hdbad"))
    expectError(await server.request("DELETE", "/api/v3/configure/database?db=hdbad&hard_delete_at=someday", { token }), 400, /hard_delete_at: 'someday'/)
    expect(await names()).toContain("hdbad")
  })

  it("data_only=true keeps the database", async () => {
    expectOk(await create("dataonly"))
    expectOk(await server.request("DELETE", "/api/v3/configure/database?db=dataonly&data_only=true", { token }))
    expect(await names()).toContain("dataonly")
  })

  it("a data_only that is not a boolean answers 400 naming it", async () => {
    expectError(await server.request("DELETE", "/api/v3/configure/database?db=x&data_only=yes", { token }), 400, /invalid query parameter 'data_only'/)
  })
})
