import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { createDistinctCache, createLastCache, deleteCache } from "../../src/catalog/cacheCommands.ts"
import { createTable, deleteTable, type CommandContext, type Decision } from "../../src/catalog/commands.ts"
import { applyEnvelope, emptyCatalog, liveDatabase, liveTable, type CatalogState } from "../../src/catalog/state.ts"
import { DatabaseCreated, type StrataEvent } from "../../src/events/index.ts"

const NOW_NS = 1_750_000_000_000_000_000n
const ctx: CommandContext = {
  limits: {
    numDatabaseLimit: 100,
    numTableLimit: 1000,
    numColumnsPerTableLimit: 500,
    hardDeleteDefaultDurationMs: 72 * 3600_000
  },
  nowNs: NOW_NS
}
let seq = 0
const apply = (state: CatalogState, events: ReadonlyArray<StrataEvent>) =>
  events.reduce((s, event) => applyEnvelope(s, { seq: ++seq, at: NOW_NS, node: "test", event, payload: null }), state)
const run = (state: CatalogState, decision: Decision) => {
  if (Either.isLeft(decision)) throw new Error(decision.left.message)
  return apply(state, decision.right)
}
const cpu = (state: CatalogState) => liveTable(liveDatabase(state, "db")!, "cpu")!

const withDb = apply(emptyCatalog, [new DatabaseCreated({ version: 1, dbId: 0, name: "db", retentionPeriodNs: null })])
/** Table cpu: tags host (0) and region (1), fields usage (2) and state (3), time (4). */
const base = run(withDb, createTable(withDb, ctx, "db", "cpu", ["host", "region"], [{ name: "usage", type: "float" }, { name: "state", type: "string" }], undefined))

describe("cache definitions in the catalog", () => {
  it("a created last cache is in its table's definitions, with the seq that created it", () => {
    const state = run(base, createLastCache(base, { db: "db", table: "cpu" }))
    const def = cpu(state).lastCaches.get("cpu_host_region_last_cache")
    expect(def).toMatchObject({
      keyColumnIds: [0, 1],
      valueColumnIds: null,
      count: 1,
      ttlSeconds: 14400,
      createdSeq: state.lastSeq
    })
  })

  it("a created distinct cache is listed; deleting it removes it", () => {
    const created = run(base, createDistinctCache(base, { db: "db", table: "cpu", columns: ["host"] }))
    expect([...cpu(created).distinctCaches.keys()]).toEqual(["cpu_host_distinct_cache"])
    const deleted = run(created, deleteCache(created, "distinct", "db", "cpu", "cpu_host_distinct_cache"))
    expect(cpu(deleted).distinctCaches.size).toBe(0)
  })

  it("deleting the table drops its caches; a new table of the same name starts without any", () => {
    let state = run(base, createLastCache(base, { db: "db", table: "cpu" }))
    state = run(state, deleteTable(state, ctx, "db", "cpu", { dataOnly: false, removeTables: false, hardDeleteAt: undefined }))
    const old = [...liveDatabase(state, "db")!.tables.values()].find((t) => t.deleted)!
    expect(old.lastCaches.size).toBe(0)
    state = run(state, createTable(state, ctx, "db", "cpu", ["host"], [], undefined))
    expect(cpu(state).lastCaches.size).toBe(0)
  })

  it("a data-only delete keeps the definitions but starts their contents anew (a new createdSeq)", () => {
    const created = run(base, createLastCache(base, { db: "db", table: "cpu" }))
    const before = cpu(created).lastCaches.get("cpu_host_region_last_cache")!
    const emptied = run(created, deleteTable(created, ctx, "db", "cpu", { dataOnly: true, removeTables: false, hardDeleteAt: undefined }))
    const after = cpu(emptied).lastCaches.get("cpu_host_region_last_cache")!
    expect({ ...after, createdSeq: 0 }).toEqual({ ...before, createdSeq: 0 })
    expect(after.createdSeq).toBe(emptied.lastSeq)
  })

  it("the value columns given are kept by id, time always last", () => {
    const state = run(base, createLastCache(base, { db: "db", table: "cpu", keyColumns: ["host"], valueColumns: ["state"] }))
    expect(cpu(state).lastCaches.get("cpu_host_last_cache")?.valueColumnIds).toEqual([3, 4])
  })
})
