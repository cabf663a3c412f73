import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { hashToken } from "../../src/auth/tokens.ts"
import {
  createDatabase,
  createNamedAdminToken,
  createOperatorToken,
  createResourceToken,
  createTable,
  deleteDatabase,
  deleteTable,
  deleteToken,
  dueHardDeletes,
  extendSchema,
  parseHardDeleteAt,
  regenerateOperatorToken,
  setDatabaseRetention,
  setTableRetention,
  type CommandContext,
  type Decision,
  type DeleteOptions
} from "../../src/catalog/commands.ts"
import {
  applyEnvelope,
  applyEvent,
  countedDatabases,
  countedTables,
  emptyCatalog,
  liveDatabase,
  liveTable,
  type CatalogState,
  type DatabaseState
} from "../../src/catalog/state.ts"
import {
  ClusterInitialized,
  ColumnsAdded,
  DatabaseCreated,
  DatabaseDataDeleted,
  DatabaseHardDeleted,
  DatabaseRetentionSet,
  DatabaseSoftDeleted,
  TableCreated,
  TableDataDeleted,
  TableHardDeleted,
  TableRetentionSet,
  TableSoftDeleted,
  TokenCreated,
  TokenDeleted,
  TokenRegenerated,
  WriteBatch,
  type StrataEvent
} from "../../src/events/index.ts"
import type { ApiFailure } from "../../src/errors.ts"

type ApiFailureTag = ApiFailure["_tag"]

// 2025-06-17T13:02:33.000Z, the example time of InfluxDB's soft-delete rename.
const NOW_NS = BigInt(Date.parse("2025-06-17T13:02:33.000Z")) * 1_000_000n
const HOUR_NS = 3_600_000_000_000n
const DAY_NS = 24n * HOUR_NS

const ctx: CommandContext = {
  limits: {
    numDatabaseLimit: 3,
    numTableLimit: 4,
    numColumnsPerTableLimit: 3,
    hardDeleteDefaultDurationMs: 72 * 3_600_000
  },
  nowNs: NOW_NS
}
const at = (nowNs: bigint): CommandContext => ({ ...ctx, nowNs })

let seq = 0
/** Applies events as the Catalog actor does: one envelope each, in order. */
const apply = (state: CatalogState, events: ReadonlyArray<StrataEvent>, atNs = NOW_NS): CatalogState =>
  events.reduce((s, event) => applyEnvelope(s, { seq: ++seq, at: atNs, node: "test", event, payload: null }), state)

const events = (decision: Decision): ReadonlyArray<StrataEvent> => {
  if (Either.isLeft(decision)) throw new Error(`expected events, got ${decision.left._tag}: ${decision.left.message}`)
  return decision.right
}

/** Applies a command's events, failing the test if the command was refused. */
const run = (state: CatalogState, decision: Decision, atNs = NOW_NS) => apply(state, events(decision), atNs)

const failure = (decision: Either.Either<unknown, { readonly _tag: string; readonly message: string }>) => {
  if (Either.isRight(decision)) throw new Error(`expected a failure, got ${JSON.stringify(decision.right, (_, v) => (typeof v === "bigint" ? v.toString() : v))}`)
  return decision.left
}

const expectFailure = (
  decision: Either.Either<unknown, { readonly _tag: string; readonly message: string }>,
  tag: ApiFailureTag,
  message: string | RegExp
) => {
  const error = failure(decision)
  expect(error._tag).toBe(tag)
  if (typeof message === "string") expect(error.message).toBe(message)
  else expect(error.message).toMatch(message)
}

/** A catalog as the server starts it: a cluster id and `_internal`. */
const initial = apply(emptyCatalog, [
  new ClusterInitialized({ version: 1, clusterUuid: "uuid-1" }),
  new DatabaseCreated({ version: 1, dbId: 0, name: "_internal", retentionPeriodNs: 7n * DAY_NS })
])

const db = (state: CatalogState, name: string): DatabaseState => {
  const found = liveDatabase(state, name)
  if (found === undefined) throw new Error(`no live database ${name}`)
  return found
}

const withDb = (name: string, state = initial) => run(state, createDatabase(state, ctx, name, undefined))
const withTable = (dbName: string, table: string, state = initial) =>
  run(state, createTable(state, ctx, dbName, table, ["host"], [{ name: "usage", type: "float" }], undefined))

const softDelete: DeleteOptions = { dataOnly: false, removeTables: false, hardDeleteAt: undefined }

describe("catalog reducer", () => {
  it("ClusterInitialized records the cluster uuid", () => {
    const state = applyEvent(emptyCatalog, new ClusterInitialized({ version: 1, clusterUuid: "abc" }), NOW_NS)
    expect(state.clusterUuid).toBe("abc")
  })

  it("DatabaseCreated adds a live database under its name and advances the next id", () => {
    const state = applyEvent(initial, new DatabaseCreated({ version: 1, dbId: 5, name: "foo", retentionPeriodNs: DAY_NS }), NOW_NS)
    const foo = db(state, "foo")
    expect(foo).toMatchObject({ id: 5, name: "foo", retentionPeriodNs: DAY_NS, createdAtNs: NOW_NS, deleted: false, hardDeleteAtNs: null })
    expect(foo.tables.size).toBe(0)
    expect(state.nextDbId).toBe(6)
  })

  it("DatabaseRetentionSet sets and clears a database's retention", () => {
    const created = withDb("foo")
    const id = db(created, "foo").id
    const set = applyEvent(
      created,
      new DatabaseRetentionSet({ version: 1, dbId: id, retentionPeriodNs: 30n * DAY_NS }),
      NOW_NS
    )
    expect(db(set, "foo").retentionPeriodNs).toBe(30n * DAY_NS)
    const cleared = applyEvent(set, new DatabaseRetentionSet({ version: 1, dbId: id, retentionPeriodNs: null }), NOW_NS)
    expect(db(cleared, "foo").retentionPeriodNs).toBeNull()
  })

  it("DatabaseSoftDeleted renames the database, marks it and its tables deleted, and frees the name", () => {
    const state = withTable("foo", "cpu")
    const id = db(state, "foo").id
    const deleted = applyEvent(state, new DatabaseSoftDeleted({ version: 1, dbId: id, newName: "foo-20250617T130233", hardDeleteAtNs: NOW_NS + DAY_NS }), NOW_NS)
    expect(liveDatabase(deleted, "foo")).toBeUndefined()
    const renamed = deleted.databases.get(id)!
    expect(renamed).toMatchObject({ name: "foo-20250617T130233", deleted: true, hardDeleteAtNs: NOW_NS + DAY_NS })
    expect([...renamed.tables.values()].every((t) => t.deleted)).toBe(true)
    expect(deleted.dbIdsByName.get("foo-20250617T130233")).toBe(id)
    expect(deleted.dbIdsByName.has("foo")).toBe(false)
    expect(countedDatabases(deleted)).toBe(0)
  })

  it("DatabaseHardDeleted removes the database and its renamed name", () => {
    const state = withDb("foo")
    const id = db(state, "foo").id
    const soft = applyEvent(state, new DatabaseSoftDeleted({ version: 1, dbId: id, newName: "foo-x", hardDeleteAtNs: NOW_NS }), NOW_NS)
    const hard = applyEvent(soft, new DatabaseHardDeleted({ version: 1, dbId: id }), NOW_NS)
    expect(hard.databases.has(id)).toBe(false)
    expect(hard.dbIdsByName.has("foo-x")).toBe(false)
    expect(hard.nextDbId).toBe(state.nextDbId)
  })

  it("DatabaseHardDeleted leaves a newer database that reuses the name alone", () => {
    let state = withDb("foo")
    const oldId = db(state, "foo").id
    state = run(state, deleteDatabase(state, ctx, "foo", softDelete))
    state = withDb("foo", state)
    const newId = db(state, "foo").id
    const renamed = state.databases.get(oldId)!.name
    state = applyEvent(state, new DatabaseHardDeleted({ version: 1, dbId: oldId }), NOW_NS)
    expect(db(state, "foo").id).toBe(newId)
    expect(state.dbIdsByName.has(renamed)).toBe(false)
  })

  it("DatabaseDataDeleted with removeTables drops the tables and keeps the database", () => {
    const state = withTable("foo", "cpu")
    const id = db(state, "foo").id
    const kept = applyEvent(state, new DatabaseDataDeleted({ version: 1, dbId: id, removeTables: false }), NOW_NS)
    expect(kept).toBe(state)
    const removed = applyEvent(state, new DatabaseDataDeleted({ version: 1, dbId: id, removeTables: true }), NOW_NS)
    expect(db(removed, "foo").tables.size).toBe(0)
    expect(liveTable(db(removed, "foo"), "cpu")).toBeUndefined()
  })

  it("TableCreated adds a table whose series key is its tags in order", () => {
    const state = withDb("foo")
    const id = db(state, "foo").id
    const next = applyEvent(
      state,
      new TableCreated({
        version: 1,
        dbId: id,
        tableId: 7,
        name: "cpu",
        columns: [
          { id: 0, name: "region", type: "tag" },
          { id: 1, name: "host", type: "tag" },
          { id: 2, name: "usage", type: "float" },
          { id: 3, name: "time", type: "time" }
        ],
        retentionPeriodNs: HOUR_NS
      }),
      NOW_NS
    )
    const cpu = liveTable(db(next, "foo"), "cpu")!
    expect(cpu).toMatchObject({ id: 7, seriesKey: ["region", "host"], nextColumnId: 4, retentionPeriodNs: HOUR_NS, deleted: false })
    expect(cpu.columnsByName.get("usage")?.type).toBe("float")
    expect(next.nextTableId).toBe(8)
  })

  it("ColumnsAdded appends columns and extends the series key with new tags", () => {
    const state = withTable("foo", "cpu")
    const foo = db(state, "foo")
    const cpu = liveTable(foo, "cpu")!
    const next = applyEvent(
      state,
      new ColumnsAdded({
        version: 1,
        dbId: foo.id,
        tableId: cpu.id,
        columns: [
          { id: cpu.nextColumnId, name: "region", type: "tag" },
          { id: cpu.nextColumnId + 1, name: "idle", type: "integer" }
        ]
      }),
      NOW_NS
    )
    const after = liveTable(db(next, "foo"), "cpu")!
    expect(after.seriesKey).toEqual(["host", "region"])
    expect(after.columns.map((c) => c.name)).toEqual(["host", "usage", "time", "region", "idle"])
    expect(after.columnsByName.get("idle")?.type).toBe("integer")
    expect(after.nextColumnId).toBe(cpu.nextColumnId + 2)
  })

  it("columns the write buffer cannot hold, logged by older servers, are left out and recorded with their seq", () => {
    let state = withDb("foo")
    const id = db(state, "foo").id
    state = apply(state, [
      new TableCreated({
        version: 1,
        dbId: id,
        tableId: 9,
        name: "cs",
        columns: [
          { id: 0, name: "TIME", type: "tag" },
          { id: 1, name: "host", type: "tag" },
          { id: 2, name: "f", type: "float" },
          { id: 3, name: "F", type: "float" },
          { id: 4, name: "time", type: "time" }
        ],
        retentionPeriodNs: null
      })
    ])
    const createdAt = state.lastSeq
    state = apply(state, [
      new ColumnsAdded({
        version: 1,
        dbId: id,
        tableId: 9,
        columns: [
          { id: 5, name: "_SID", type: "integer" },
          { id: 6, name: "a\u0000b", type: "float" },
          { id: 7, name: "Host", type: "tag" },
          { id: 8, name: "g", type: "float" }
        ]
      })
    ])
    const cs = liveTable(db(state, "foo"), "cs")!
    expect(cs.columns.map((c) => c.name)).toEqual(["host", "f", "time", "g"])
    expect(cs.seriesKey).toEqual(["host"])
    expect(cs.nextColumnId).toBe(9)
    expect(state.quarantinedColumns.map((q) => [q.seq, q.tableId, q.name, q.reason])).toEqual([
      [createdAt, 9, "TIME", "'TIME' is a reserved column"],
      [createdAt, 9, "F", "column name 'F' differs only in letter case from an earlier column of the table"],
      [state.lastSeq, 9, "_SID", "'_SID' is a reserved column"],
      [state.lastSeq, 9, "a\u0000b", 'column name "a\\u0000b" contains a NUL character'],
      [state.lastSeq, 9, "Host", "column name 'Host' differs only in letter case from an earlier column of the table"]
    ])
  })

  it("TableRetentionSet sets a table's retention", () => {
    const state = withTable("foo", "cpu")
    const foo = db(state, "foo")
    const cpu = liveTable(foo, "cpu")!
    const next = applyEvent(
      state,
      new TableRetentionSet({ version: 1, dbId: foo.id, tableId: cpu.id, retentionPeriodNs: HOUR_NS }),
      NOW_NS
    )
    expect(liveTable(db(next, "foo"), "cpu")!.retentionPeriodNs).toBe(HOUR_NS)
  })

  it("TableSoftDeleted renames the table and frees its name", () => {
    const state = withTable("foo", "cpu")
    const foo = db(state, "foo")
    const cpu = liveTable(foo, "cpu")!
    const next = applyEvent(state, new TableSoftDeleted({ version: 1, dbId: foo.id, tableId: cpu.id, newName: "cpu-x", hardDeleteAtNs: null }), NOW_NS)
    const after = db(next, "foo")
    expect(liveTable(after, "cpu")).toBeUndefined()
    expect(after.tables.get(cpu.id)).toMatchObject({ name: "cpu-x", deleted: true, hardDeleteAtNs: null })
    expect(after.tableIdsByName.get("cpu-x")).toBe(cpu.id)
    expect(countedTables(next)).toBe(0)
  })

  it("TableHardDeleted removes the table", () => {
    const state = withTable("foo", "cpu")
    const foo = db(state, "foo")
    const cpu = liveTable(foo, "cpu")!
    const soft = applyEvent(state, new TableSoftDeleted({ version: 1, dbId: foo.id, tableId: cpu.id, newName: "cpu-x", hardDeleteAtNs: NOW_NS }), NOW_NS)
    const hard = applyEvent(soft, new TableHardDeleted({ version: 1, dbId: foo.id, tableId: cpu.id }), NOW_NS)
    expect(db(hard, "foo").tables.has(cpu.id)).toBe(false)
    expect(db(hard, "foo").tableIdsByName.has("cpu-x")).toBe(false)
  })

  it("TableDataDeleted leaves the schema unchanged", () => {
    const state = withTable("foo", "cpu")
    const foo = db(state, "foo")
    const next = applyEvent(state, new TableDataDeleted({ version: 1, dbId: foo.id, tableId: liveTable(foo, "cpu")!.id }), NOW_NS)
    expect(next).toBe(state)
  })

  it("TokenCreated indexes the token by its hash", () => {
    const next = applyEvent(
      initial,
      new TokenCreated({ version: 1, tokenId: 3, name: "ci", hash: "h1", createdAtNs: NOW_NS, expiresAtNs: NOW_NS + HOUR_NS, grant: { _tag: "admin" } }),
      NOW_NS
    )
    expect(next.tokens.get(3)).toMatchObject({ name: "ci", hash: "h1", expiresAtNs: NOW_NS + HOUR_NS, updatedAtNs: null })
    expect(next.tokenIdsByHash.get("h1")).toBe(3)
    expect(next.nextTokenId).toBe(4)
  })

  it("TokenRegenerated replaces the hash so the old secret no longer resolves", () => {
    const created = applyEvent(initial, new TokenCreated({ version: 1, tokenId: 0, name: "_admin", hash: "old", createdAtNs: NOW_NS, expiresAtNs: null, grant: { _tag: "admin" } }), NOW_NS)
    const next = applyEvent(created, new TokenRegenerated({ version: 1, tokenId: 0, hash: "new" }), NOW_NS + 1n)
    expect(next.tokenIdsByHash.has("old")).toBe(false)
    expect(next.tokenIdsByHash.get("new")).toBe(0)
    expect(next.tokens.get(0)).toMatchObject({ hash: "new", updatedAtNs: NOW_NS + 1n })
  })

  it("TokenDeleted removes the token and its hash", () => {
    const created = applyEvent(initial, new TokenCreated({ version: 1, tokenId: 0, name: "ci", hash: "h", createdAtNs: NOW_NS, expiresAtNs: null, grant: { _tag: "admin" } }), NOW_NS)
    const next = applyEvent(created, new TokenDeleted({ version: 1, tokenId: 0 }), NOW_NS)
    expect(next.tokens.size).toBe(0)
    expect(next.tokenIdsByHash.size).toBe(0)
  })

  it("WriteBatch leaves the catalog unchanged", () => {
    const next = applyEvent(initial, new WriteBatch({ version: 1, db: "foo", dbId: 1, precision: "ns", defaultTimeNs: NOW_NS, rejectedLines: [] }), NOW_NS)
    expect(next).toBe(initial)
  })

  it("every envelope advances lastSeq, even one the catalog ignores", () => {
    const next = applyEnvelope(initial, {
      seq: 99,
      at: NOW_NS,
      node: "n",
      event: new WriteBatch({ version: 1, db: "foo", dbId: 1, precision: "ns", defaultTimeNs: NOW_NS, rejectedLines: [] }),
      payload: null
    })
    expect(next.lastSeq).toBe(99)
  })

  it("events for unknown databases, tables and tokens are ignored", () => {
    expect(
      applyEvent(initial, new DatabaseRetentionSet({ version: 1, dbId: 42, retentionPeriodNs: null }), NOW_NS)
    ).toBe(initial)
    expect(applyEvent(initial, new DatabaseSoftDeleted({ version: 1, dbId: 42, newName: "x", hardDeleteAtNs: null }), NOW_NS)).toBe(initial)
    expect(applyEvent(initial, new DatabaseHardDeleted({ version: 1, dbId: 42 }), NOW_NS)).toBe(initial)
    expect(applyEvent(initial, new TokenRegenerated({ version: 1, tokenId: 42, hash: "h" }), NOW_NS)).toBe(initial)
    expect(applyEvent(initial, new TokenDeleted({ version: 1, tokenId: 42 }), NOW_NS)).toBe(initial)
  })
})

describe("database commands", () => {
  it("creating a database emits DatabaseCreated with the next id and parsed retention", () => {
    const decided = events(createDatabase(initial, ctx, "foo", "30d"))
    expect(decided).toHaveLength(1)
    expect(decided[0]).toMatchObject({ _tag: "DatabaseCreated", dbId: initial.nextDbId, name: "foo", retentionPeriodNs: 30n * DAY_NS })
  })

  it("creating a database that exists fails with AlreadyExists", () => {
    const state = withDb("foo")
    expectFailure(createDatabase(state, ctx, "foo", undefined), "AlreadyExists", "attempted to create a resource that already exists: database foo")
  })

  it("creating _internal again fails with AlreadyExists", () => {
    expectFailure(createDatabase(initial, ctx, "_internal", undefined), "AlreadyExists", /already exists/)
  })

  it.each([
    ["", "db name cannot be empty"],
    ["_foo", "db name did not start with a number or letter"],
    ["foo bar", /invalid character/],
    ["a/b/c", /retention policy/],
    ["x".repeat(512), "db name too long: max 511"]
  ] as const)("creating a database named %j fails with InvalidRequest", (name, message) => {
    expectFailure(createDatabase(initial, ctx, name, undefined), "InvalidRequest", message)
  })

  it("creating a database with an unparsable retention fails naming the parameter", () => {
    expectFailure(createDatabase(initial, ctx, "foo", "soon"), "InvalidRequest", /retention_period 'soon'/)
  })

  it("creating a database past the limit fails with LimitExceeded; _internal and deleted ones do not count", () => {
    let state = withDb("a")
    state = withDb("b", state)
    state = run(state, deleteDatabase(state, ctx, "b", softDelete))
    state = withDb("c", state)
    state = withDb("d", state)
    expect(countedDatabases(state)).toBe(3)
    expectFailure(createDatabase(state, ctx, "e", undefined), "LimitExceeded", "Adding a new database would exceed limit of 3 databases")
  })

  it("a retention too long to represent is refused, not a crash", () => {
    expectFailure(createDatabase(initial, ctx, "foo", "9".repeat(400) + "d"), "InvalidRequest", /invalid retention_period/)
  })

  it("setting retention emits DatabaseRetentionSet; omitting it clears", () => {
    const state = withDb("foo")
    expect(events(setDatabaseRetention(state, "foo", "7d"))[0]).toMatchObject({ _tag: "DatabaseRetentionSet", retentionPeriodNs: 7n * DAY_NS })
    expect(events(setDatabaseRetention(state, "foo", undefined))[0]).toMatchObject({ _tag: "DatabaseRetentionSet", retentionPeriodNs: null })
  })

  it("setting retention on a missing database fails with NotFound", () => {
    expectFailure(setDatabaseRetention(initial, "nope", "7d"), "NotFound", "database not found: nope")
  })

  it("setting retention on _internal fails", () => {
    expectFailure(setDatabaseRetention(initial, "_internal", "7d"), "InvalidRequest", "cannot modify internal db")
  })

  it("setting an unparsable retention fails with InvalidRequest", () => {
    expectFailure(setDatabaseRetention(withDb("foo"), "foo", "7 parsecs"), "InvalidRequest", /retention_period/)
  })

  it("deleting a database renames it to name-YYYYMMDDTHHMMSS and frees the name", () => {
    const state = withDb("foo")
    const decided = events(deleteDatabase(state, ctx, "foo", softDelete))
    expect(decided).toEqual([new DatabaseSoftDeleted({ version: 1, dbId: db(state, "foo").id, newName: "foo-20250617T130233", hardDeleteAtNs: null })])
    const after = apply(state, decided)
    expect(liveDatabase(after, "foo")).toBeUndefined()
    expect(Either.isRight(createDatabase(after, ctx, "foo", undefined))).toBe(true)
  })

  it("deleting a database twice in one second appends the id to the second rename", () => {
    let state = withDb("foo")
    state = run(state, deleteDatabase(state, ctx, "foo", softDelete))
    state = withDb("foo", state)
    const secondId = db(state, "foo").id
    const decided = events(deleteDatabase(state, ctx, "foo", softDelete))
    expect(decided[0]).toMatchObject({ newName: `foo-20250617T130233-${secondId}` })
  })

  it("deleting a missing database fails with NotFound", () => {
    expectFailure(deleteDatabase(initial, ctx, "nope", softDelete), "NotFound", "database not found: nope")
  })

  it("deleting an already deleted database by its old name fails with NotFound", () => {
    let state = withDb("foo")
    state = run(state, deleteDatabase(state, ctx, "foo", softDelete))
    expectFailure(deleteDatabase(state, ctx, "foo", softDelete), "NotFound", /foo/)
  })

  it("deleting _internal fails", () => {
    expectFailure(deleteDatabase(initial, ctx, "_internal", softDelete), "InvalidRequest", "cannot delete internal db")
  })

  it("deleting with hard_delete_at=now soft and hard deletes at once", () => {
    const state = withDb("foo")
    const decided = events(deleteDatabase(state, ctx, "foo", { ...softDelete, hardDeleteAt: "now" }))
    expect(decided.map((e) => e._tag)).toEqual(["DatabaseSoftDeleted", "DatabaseHardDeleted"])
    expect(apply(state, decided).databases.has(db(state, "foo").id)).toBe(false)
  })

  it("deleting with hard_delete_at=default schedules the hard delete after the default duration", () => {
    const decided = events(deleteDatabase(withDb("foo"), ctx, "foo", { ...softDelete, hardDeleteAt: "default" }))
    expect(decided[0]).toMatchObject({ hardDeleteAtNs: NOW_NS + 72n * HOUR_NS })
  })

  it("deleting with an unparsable hard_delete_at fails with InvalidRequest", () => {
    expectFailure(deleteDatabase(withDb("foo"), ctx, "foo", { ...softDelete, hardDeleteAt: "tomorrow" }), "InvalidRequest", /Cannot parse the timestamp in hard_delete_at: 'tomorrow'/)
  })

  it("deleting data only emits DatabaseDataDeleted and keeps the name", () => {
    const decided = events(deleteDatabase(withDb("foo"), ctx, "foo", { ...softDelete, dataOnly: true, removeTables: true }))
    expect(decided).toEqual([new DatabaseDataDeleted({ version: 1, dbId: 1, removeTables: true })])
  })
})

describe("hard_delete_at", () => {
  it("never and absent mean no hard delete; now is the decision time", () => {
    expect(parseHardDeleteAt(undefined, ctx)).toEqual(Either.right(null))
    expect(parseHardDeleteAt("never", ctx)).toEqual(Either.right(null))
    expect(parseHardDeleteAt("now", ctx)).toEqual(Either.right(NOW_NS))
  })

  it("an RFC3339 time in the future is kept; one in the past becomes now", () => {
    expect(parseHardDeleteAt("2025-07-01T00:00:00Z", ctx)).toEqual(Either.right(BigInt(Date.parse("2025-07-01T00:00:00Z")) * 1_000_000n))
    expect(parseHardDeleteAt("2020-01-01T00:00:00Z", ctx)).toEqual(Either.right(NOW_NS))
  })

  it("a date without a time is refused", () => {
    expectFailure(parseHardDeleteAt("2025-07-01", ctx), "InvalidRequest", /hard_delete_at/)
  })
})

describe("table commands", () => {
  it("creating a table in a missing database creates the database too", () => {
    const decided = events(createTable(initial, ctx, "foo", "cpu", ["host", "region"], [{ name: "usage", type: "float" }], "1h"))
    expect(decided.map((e) => e._tag)).toEqual(["DatabaseCreated", "TableCreated"])
    expect(decided[1]).toMatchObject({
      dbId: initial.nextDbId,
      tableId: initial.nextTableId,
      name: "cpu",
      retentionPeriodNs: HOUR_NS,
      columns: [
        { id: 0, name: "host", type: "tag" },
        { id: 1, name: "region", type: "tag" },
        { id: 2, name: "usage", type: "float" },
        { id: 3, name: "time", type: "time" }
      ]
    })
  })

  it("creating a table in an existing database emits only TableCreated", () => {
    const state = withDb("foo")
    const decided = events(createTable(state, ctx, "foo", "cpu", [], [{ name: "v", type: "integer" }], undefined))
    expect(decided.map((e) => e._tag)).toEqual(["TableCreated"])
    expect(decided[0]).toMatchObject({ dbId: db(state, "foo").id })
  })

  it("creating a table that exists fails with AlreadyExists", () => {
    expectFailure(createTable(withTable("foo", "cpu"), ctx, "foo", "cpu", [], [], undefined), "AlreadyExists", "attempted to create a resource that already exists: table cpu")
  })

  it("creating a table in _internal fails", () => {
    expectFailure(createTable(initial, ctx, "_internal", "cpu", [], [], undefined), "InvalidRequest", "cannot create tables in internal db")
  })

  it("creating a table with an invalid database name fails and creates nothing", () => {
    expectFailure(createTable(initial, ctx, "-foo", "cpu", [], [], undefined), "InvalidRequest", /did not start with a number or letter/)
  })

  it("creating a table with an empty name fails with InvalidRequest", () => {
    expectFailure(createTable(initial, ctx, "foo", "", [], [], undefined), "InvalidRequest", "table name cannot be empty")
  })

  it("creating a table with a control character in its name fails", () => {
    expectFailure(createTable(initial, ctx, "foo", "c\npu", [], [], undefined), "InvalidRequest", /control characters/)
  })

  it("creating a table with a column named time fails as reserved", () => {
    expectFailure(createTable(initial, ctx, "foo", "cpu", ["time"], [], undefined), "InvalidRequest", "'time' is a reserved column")
  })

  it("creating a table with time in any case, _sid or rowid as a column fails as reserved", () => {
    for (const name of ["TIME", "Time", "_sid", "ROWID", "__chunk_order"]) {
      expectFailure(createTable(initial, ctx, "foo", "cpu", [], [{ name, type: "float" }], undefined), "InvalidRequest", `'${name}' is a reserved column`)
    }
  })

  it("creating a table with two columns differing only in case, or a control character in one, fails", () => {
    expectFailure(
      createTable(initial, ctx, "foo", "cpu", ["host"], [{ name: "Host", type: "string" }], undefined),
      "InvalidRequest",
      "column name 'Host' clashes with column 'host': names that differ only in letter case are the same column here"
    )
    expectFailure(createTable(initial, ctx, "foo", "cpu", ["a\u0000b"], [], undefined), "InvalidRequest", 'column name "a\\u0000b" cannot contain control characters')
    expect(Either.isRight(createTable(initial, ctx, "foo", "cpu", ["é"], [{ name: "É", type: "float" }], undefined))).toBe(true)
  })

  it("creating a table with an empty column name fails", () => {
    expectFailure(createTable(initial, ctx, "foo", "cpu", [""], [], undefined), "InvalidRequest", "column name cannot be empty")
  })

  it("creating a table with a tag and a field of the same name fails as duplicate", () => {
    expectFailure(createTable(initial, ctx, "foo", "cpu", ["host"], [{ name: "host", type: "string" }], undefined), "InvalidRequest", "duplicate column name 'host'")
  })

  it("creating a table with more columns than the limit fails with LimitExceeded; time does not count", () => {
    const three = createTable(initial, ctx, "foo", "cpu", ["a", "b"], [{ name: "c", type: "float" }], undefined)
    expect(Either.isRight(three)).toBe(true)
    expectFailure(
      createTable(initial, ctx, "foo", "cpu", ["a", "b"], [{ name: "c", type: "float" }, { name: "d", type: "float" }], undefined),
      "LimitExceeded",
      "Update to schema would exceed number of columns per table limit of 3 columns"
    )
  })

  it("creating a table past the table limit fails with LimitExceeded; deleted tables do not count", () => {
    let state = initial
    for (const name of ["t1", "t2", "t3", "t4"]) state = withTable("foo", name, state)
    expectFailure(createTable(state, ctx, "foo", "t5", [], [], undefined), "LimitExceeded", /exceed number of tables limit.*already have 4 table\(s\) \(limit: 4\)/)
    state = run(state, deleteTable(state, ctx, "foo", "t1", softDelete))
    expect(Either.isRight(createTable(state, ctx, "foo", "t5", [], [], undefined))).toBe(true)
  })

  it("creating a table with an unparsable retention fails", () => {
    expectFailure(createTable(initial, ctx, "foo", "cpu", [], [], "forever"), "InvalidRequest", /retention_period 'forever'/)
  })

  it("setting a table's retention emits TableRetentionSet; omitting it clears", () => {
    const state = withTable("foo", "cpu")
    expect(events(setTableRetention(state, "foo", "cpu", "2h"))[0]).toMatchObject({ _tag: "TableRetentionSet", retentionPeriodNs: 2n * HOUR_NS })
    expect(events(setTableRetention(state, "foo", "cpu", undefined))[0]).toMatchObject({ retentionPeriodNs: null })
  })

  it("setting retention on a table of a missing database fails with NotFound", () => {
    expectFailure(setTableRetention(initial, "nope", "cpu", "1h"), "NotFound", "database not found: nope")
  })

  it("setting retention on a missing table fails with NotFound", () => {
    expectFailure(setTableRetention(withDb("foo"), "foo", "cpu", "1h"), "NotFound", "table not found: cpu in database foo")
  })

  it("setting an unparsable table retention fails", () => {
    expectFailure(setTableRetention(withTable("foo", "cpu"), "foo", "cpu", "-1h"), "InvalidRequest", /retention_period/)
  })

  it("deleting a table renames it and frees the name", () => {
    const state = withTable("foo", "cpu")
    const decided = events(deleteTable(state, ctx, "foo", "cpu", softDelete))
    expect(decided[0]).toMatchObject({ _tag: "TableSoftDeleted", newName: "cpu-20250617T130233", hardDeleteAtNs: null })
    const after = apply(state, decided)
    expect(liveTable(db(after, "foo"), "cpu")).toBeUndefined()
    expect(Either.isRight(createTable(after, ctx, "foo", "cpu", [], [], undefined))).toBe(true)
  })

  it("deleting a table twice in one second appends the id to the second rename", () => {
    let state = withTable("foo", "cpu")
    state = run(state, deleteTable(state, ctx, "foo", "cpu", softDelete))
    state = withTable("foo", "cpu", state)
    const id = liveTable(db(state, "foo"), "cpu")!.id
    expect(events(deleteTable(state, ctx, "foo", "cpu", softDelete))[0]).toMatchObject({ newName: `cpu-20250617T130233-${id}` })
  })

  it("deleting a table with hard_delete_at=now also hard deletes it", () => {
    const decided = events(deleteTable(withTable("foo", "cpu"), ctx, "foo", "cpu", { ...softDelete, hardDeleteAt: "now" }))
    expect(decided.map((e) => e._tag)).toEqual(["TableSoftDeleted", "TableHardDeleted"])
  })

  it("deleting a table's data only emits TableDataDeleted", () => {
    expect(events(deleteTable(withTable("foo", "cpu"), ctx, "foo", "cpu", { ...softDelete, dataOnly: true })).map((e) => e._tag)).toEqual(["TableDataDeleted"])
  })

  it("deleting a table of a missing database fails with NotFound", () => {
    expectFailure(deleteTable(initial, ctx, "nope", "cpu", softDelete), "NotFound", "database not found: nope")
  })

  it("deleting a missing table fails with NotFound", () => {
    expectFailure(deleteTable(withDb("foo"), ctx, "foo", "cpu", softDelete), "NotFound", "table not found: cpu in database foo")
  })

  it("deleting a table with an unparsable hard_delete_at fails", () => {
    expectFailure(deleteTable(withTable("foo", "cpu"), ctx, "foo", "cpu", { ...softDelete, hardDeleteAt: "later" }), "InvalidRequest", /hard_delete_at/)
  })
})

describe("hard-delete sweep", () => {
  it("hard deletes databases and tables whose deadline has passed, and nothing else", () => {
    let state = withTable("foo", "cpu")
    state = withTable("foo", "mem", state)
    state = withDb("bar", state)
    state = withDb("keep", state)
    state = run(state, deleteTable(state, ctx, "foo", "cpu", { ...softDelete, hardDeleteAt: "default" }))
    state = run(state, deleteTable(state, ctx, "foo", "mem", { ...softDelete, hardDeleteAt: "never" }))
    state = run(state, deleteDatabase(state, ctx, "bar", { ...softDelete, hardDeleteAt: "2025-06-18T00:00:00Z" }))
    const barId = [...state.databases.values()].find((d) => d.name.startsWith("bar-"))!.id
    const cpuId = [...db(state, "foo").tables.values()].find((t) => t.name.startsWith("cpu-"))!.id
    expect(dueHardDeletes(state, NOW_NS)).toEqual([])
    expect(dueHardDeletes(state, NOW_NS + DAY_NS)).toEqual([new DatabaseHardDeleted({ version: 1, dbId: barId })])
    expect(dueHardDeletes(state, NOW_NS + 72n * HOUR_NS)).toEqual([
      new TableHardDeleted({ version: 1, dbId: db(state, "foo").id, tableId: cpuId }),
      new DatabaseHardDeleted({ version: 1, dbId: barId })
    ])
  })
})

describe("schema on write", () => {
  it("a write to a new database creates it and its tables, with time last", () => {
    const decided = Either.getOrThrow(extendSchema(initial, ctx, "foo", [{ table: "cpu", columns: [{ name: "host", type: "tag" }, { name: "u", type: "float" }] }]))
    expect(decided.rejected.size).toBe(0)
    expect(decided.events.map((e) => e._tag)).toEqual(["DatabaseCreated", "TableCreated"])
    expect(decided.events[1]).toMatchObject({ columns: [{ id: 0, name: "host", type: "tag" }, { id: 1, name: "u", type: "float" }, { id: 2, name: "time", type: "time" }] })
  })

  it("new columns of an existing table are added with fresh ids; known ones emit nothing", () => {
    const state = withTable("foo", "cpu")
    const cpu = liveTable(db(state, "foo"), "cpu")!
    const same = Either.getOrThrow(extendSchema(state, ctx, "foo", [{ table: "cpu", columns: [{ name: "host", type: "tag" }, { name: "usage", type: "float" }] }]))
    expect(same.events).toEqual([])
    const more = Either.getOrThrow(extendSchema(state, ctx, "foo", [{ table: "cpu", columns: [{ name: "dc", type: "tag" }] }]))
    expect(more.events).toEqual([new ColumnsAdded({ version: 1, dbId: db(state, "foo").id, tableId: cpu.id, columns: [{ id: cpu.nextColumnId, name: "dc", type: "tag" }] })])
  })

  it("a column type conflict rejects that table only, with InfluxDB's wording", () => {
    const state = withTable("foo", "cpu")
    const decided = Either.getOrThrow(
      extendSchema(state, ctx, "foo", [
        { table: "cpu", columns: [{ name: "usage", type: "integer" }] },
        { table: "mem", columns: [{ name: "free", type: "integer" }] }
      ])
    )
    expect(decided.rejected.get("cpu")).toBe("invalid column type for column 'usage', expected iox::column_type::field::float, got iox::column_type::field::integer")
    expect(decided.events.map((e) => e._tag)).toEqual(["TableCreated"])
  })

  it("a write that would pass the column limit rejects the table", () => {
    const state = withTable("foo", "cpu")
    const decided = Either.getOrThrow(extendSchema(state, ctx, "foo", [{ table: "cpu", columns: [{ name: "a", type: "float" }, { name: "b", type: "float" }] }]))
    expect(decided.rejected.get("cpu")).toMatch(/columns per table limit of 3/)
    expect(decided.events).toEqual([])
  })

  it("a write creating a table with too many columns rejects it", () => {
    const decided = Either.getOrThrow(extendSchema(withDb("foo"), ctx, "foo", [{ table: "wide", columns: ["a", "b", "c", "d"].map((name) => ({ name, type: "float" as const })) }]))
    expect(decided.rejected.get("wide")).toMatch(/columns per table limit of 3/)
  })

  it("a column differing only in case from one of the table's, or reserved, rejects the table (the log never holds it)", () => {
    const state = withTable("foo", "cpu")
    const decided = Either.getOrThrow(
      extendSchema(state, ctx, "foo", [
        { table: "cpu", columns: [{ name: "USAGE", type: "float" }] },
        { table: "mem", columns: [{ name: "f", type: "float" }, { name: "F", type: "float" }] },
        { table: "disk", columns: [{ name: "Time", type: "tag" }] },
        { table: "net", columns: [{ name: "rx", type: "float" }] }
      ])
    )
    expect(Object.fromEntries(decided.rejected)).toEqual({
      cpu: "column name 'USAGE' clashes with column 'usage': names that differ only in letter case are the same column here",
      mem: "column name 'F' clashes with column 'f': names that differ only in letter case are the same column here",
      disk: "'Time' is a reserved column"
    })
    expect(decided.events.map((e) => (e as TableCreated).name)).toEqual(["net"])
  })

  it("a write past the table limit rejects the extra tables", () => {
    let state = initial
    for (const name of ["t1", "t2", "t3"]) state = withTable("foo", name, state)
    const decided = Either.getOrThrow(extendSchema(state, ctx, "foo", [{ table: "t4", columns: [] }, { table: "t5", columns: [] }]))
    expect(decided.events.map((e) => (e as TableCreated).name)).toEqual(["t4"])
    expect(decided.rejected.get("t5")).toMatch(/tables limit/)
  })

  it("a write with an empty table name rejects that table", () => {
    const decided = Either.getOrThrow(extendSchema(withDb("foo"), ctx, "foo", [{ table: "", columns: [] }]))
    expect(decided.rejected.get("")).toBe("table name cannot be empty")
  })

  it("a write to _internal fails", () => {
    expectFailure(extendSchema(initial, ctx, "_internal", []), "InvalidRequest", "cannot write to internal db")
  })

  it("a write to a soft-deleted database's new name fails", () => {
    let state = withDb("foo")
    state = run(state, deleteDatabase(state, ctx, "foo", softDelete))
    expectFailure(extendSchema(state, ctx, "foo-20250617T130233", []), "InvalidRequest", /soft-deleted database/)
  })

  it("a write creating a database past the limit fails", () => {
    let state = initial
    for (const name of ["a", "b", "c"]) state = withDb(name, state)
    expectFailure(extendSchema(state, ctx, "d", []), "LimitExceeded", /limit of 3 databases/)
  })
})

describe("token commands", () => {
  it("the operator token is created once, as an admin named _admin with no expiry", () => {
    const decided = events(createOperatorToken(initial, ctx, "apiv3_secret"))
    expect(decided).toEqual([
      new TokenCreated({ version: 1, tokenId: 0, name: "_admin", hash: hashToken("apiv3_secret"), createdAtNs: NOW_NS, expiresAtNs: null, grant: { _tag: "admin" } })
    ])
  })

  it("creating the operator token again fails with AlreadyExists", () => {
    const state = run(initial, createOperatorToken(initial, ctx, "s1"))
    expectFailure(createOperatorToken(state, ctx, "s2"), "AlreadyExists", "token name already exists, _admin")
  })

  it("regenerating the operator token stores the new secret's hash", () => {
    const state = run(initial, createOperatorToken(initial, ctx, "s1"))
    expect(events(regenerateOperatorToken(state, "s2"))).toEqual([new TokenRegenerated({ version: 1, tokenId: 0, hash: hashToken("s2") })])
  })

  it("regenerating without an operator token fails", () => {
    expectFailure(regenerateOperatorToken(initial, "s"), "NotFound", "missing admin token, cannot update")
  })

  it("a named admin token expires expiry_secs after creation", () => {
    const decided = events(createNamedAdminToken(initial, at(NOW_NS), "ci", 3600, "s"))
    expect(decided[0]).toMatchObject({ name: "ci", expiresAtNs: NOW_NS + HOUR_NS, grant: { _tag: "admin" } })
  })

  it("a named admin token without a name fails", () => {
    expectFailure(createNamedAdminToken(initial, ctx, " ", undefined, "s"), "InvalidRequest", "token_name cannot be empty")
  })

  it("a named admin token may not be called _admin", () => {
    expectFailure(createNamedAdminToken(initial, ctx, "_admin", undefined, "s"), "InvalidRequest", "token name _admin is reserved")
  })

  it("a named admin token with a taken name fails with AlreadyExists", () => {
    const state = run(initial, createNamedAdminToken(initial, ctx, "ci", null, "s"))
    expectFailure(createNamedAdminToken(state, ctx, "ci", null, "t"), "AlreadyExists", "token name already exists, ci")
  })

  it("a named admin token with a non-positive expiry fails", () => {
    expectFailure(createNamedAdminToken(initial, ctx, "ci", 0, "s"), "InvalidRequest", "expiry_secs must be a positive number of seconds")
  })

  it("an infinite expiry_secs fails with InvalidRequest", () => {
    expectFailure(createNamedAdminToken(initial, ctx, "ci", Number.POSITIVE_INFINITY, "s"), "InvalidRequest", "expiry_secs must be a positive number of seconds")
  })

  it("an expiry_secs past the latest representable date fails rather than creating a token it cannot show", () => {
    expectFailure(createNamedAdminToken(initial, ctx, "ci", 1e13, "s"), "InvalidRequest", /expiry_secs 10000000000000 is too large/)
    expectFailure(
      createResourceToken(initial, ctx, "r", [{ resourceType: "db", resourceNames: ["*"], actions: ["read"] }], 1e13, "s"),
      "InvalidRequest",
      /too large/
    )
  })

  it("a resource token keeps its permissions", () => {
    const permissions = [{ resourceType: "db" as const, resourceNames: ["a", "b"], actions: ["read" as const, "write" as const] }]
    const decided = events(createResourceToken(initial, ctx, "r", permissions, null, "s"))
    expect(decided[0]).toMatchObject({ name: "r", expiresAtNs: null, grant: { _tag: "resource", permissions } })
  })

  it.each([
    ["no permissions", [], "permissions cannot be empty"],
    ["no resource names", [{ resourceType: "db", resourceNames: [], actions: ["read"] }], "permissions[].resource_names cannot be empty"],
    ["no actions", [{ resourceType: "db", resourceNames: ["a"], actions: [] }], "permissions[].actions cannot be empty"],
    ["a wildcard mixed with names", [{ resourceType: "db", resourceNames: ["*", "a"], actions: ["read"] }], /wildcard '\*' cannot be mixed/],
    ["write on a system resource", [{ resourceType: "system", resourceNames: ["health"], actions: ["write"] }], "system resources only take the read action"],
    ["an unknown system resource", [{ resourceType: "system", resourceNames: ["pprof"], actions: ["read"] }], /unknown system resource 'pprof'/]
  ] as const)("a resource token with %s fails with InvalidRequest", (_, permissions, message) => {
    expectFailure(createResourceToken(initial, ctx, "r", permissions as never, null, "s"), "InvalidRequest", message)
  })

  it("a resource token with a taken name fails with AlreadyExists", () => {
    const state = run(initial, createNamedAdminToken(initial, ctx, "r", null, "s"))
    expectFailure(
      createResourceToken(state, ctx, "r", [{ resourceType: "db", resourceNames: ["*"], actions: ["read"] }], null, "t"),
      "AlreadyExists",
      "token name already exists, r"
    )
  })

  it("a resource token with an empty name or a negative expiry fails", () => {
    const perms = [{ resourceType: "db" as const, resourceNames: ["*"], actions: ["read" as const] }]
    expectFailure(createResourceToken(initial, ctx, "", perms, null, "s"), "InvalidRequest", "token_name cannot be empty")
    expectFailure(createResourceToken(initial, ctx, "r", perms, -5, "s"), "InvalidRequest", /expiry_secs/)
  })

  it("deleting a token emits TokenDeleted", () => {
    const state = run(initial, createNamedAdminToken(initial, ctx, "ci", null, "s"))
    expect(events(deleteToken(state, "ci"))).toEqual([new TokenDeleted({ version: 1, tokenId: 0 })])
  })

  it("deleting the operator token is not allowed", () => {
    const state = run(initial, createOperatorToken(initial, ctx, "s"))
    expectFailure(deleteToken(state, "_admin"), "NotAllowed", "cannot delete operator token")
  })

  it("deleting an unknown token fails with NotFound", () => {
    expectFailure(deleteToken(initial, "ghost"), "NotFound", "the requested resource was not found: ghost")
  })
})
