import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { applyEvent, emptyCatalog, type CatalogState } from "../../src/catalog/state.ts"
import { decodeCheckpoint, encodeCheckpoint } from "../../src/checkpoint/codec.ts"
import {
  abortRowDelete,
  activeRowDeletes,
  createFileIndex,
  deletesOf,
  indexedColumns,
  keepSql,
  parsePredicate,
  requestApplies,
  requestRowDelete
} from "../../src/deletes/state.ts"
import { DatabaseCreated, FileIndexCreated, FileIndexDeleted, RowDeleteAborted, RowDeleteCompleted, TableCreated } from "../../src/events/index.ts"
import { emptyFileIndex } from "../../src/storage/files.ts"

const NOW = 1_800_000_000_000_000_000n
const withTable = (): CatalogState => {
  let s = applyEvent(emptyCatalog, new DatabaseCreated({ version: 1, dbId: 1, name: "d", retentionPeriodNs: null }), NOW, 1)
  s = applyEvent(
    s,
    new TableCreated({
      version: 1,
      dbId: 1,
      tableId: 7,
      name: "cpu",
      columns: [
        { id: 0, name: "host", type: "tag" },
        { id: 1, name: "time", type: "time" },
        { id: 2, name: "usage", type: "float" }
      ],
      retentionPeriodNs: null
    }),
    NOW,
    2
  )
  return s
}
const table = withTable().databases.get(1)!.tables.get(7)!
const request = (s: CatalogState, predicate: string, seq: number) => {
  const events = Either.getOrThrow(requestRowDelete(s, { db: "d", table: "cpu", predicate, minTimeNs: 10n, maxTimeNs: 20n, requestId: `r${seq}` }))
  return applyEvent(s, events[0]!, NOW, seq)
}

describe("row-delete predicates", () => {
  it("takes tag equalities joined by AND, quoted either way, and an empty predicate", () => {
    expect(Either.getOrThrow(parsePredicate(`host = 'a' AND "host" = "it's" and host='x''y'`, table))).toEqual([
      { column: "host", value: "a" },
      { column: "host", value: "it's" },
      { column: "host", value: "x'y" }
    ])
    expect(Either.getOrThrow(parsePredicate("  ", table))).toEqual([])
  })

  it("refuses OR, NOT, IN, other operators, fields, unknown columns and unquoted values, saying which", () => {
    const refused = (text: string) => Either.match(parsePredicate(text, table), { onLeft: (message) => message, onRight: () => "accepted" })
    expect(refused("host = 'a' OR host = 'b'")).toMatch(/OR is not supported/)
    expect(refused("NOT host = 'a'")).toMatch(/NOT is not supported/)
    expect(refused("host IN ('a')")).toMatch(/expected '='/)
    expect(refused("host > 'a'")).toMatch(/expected '=' after 'host', found '>'/)
    expect(refused("usage = '1'")).toMatch(/'usage' is a field column/)
    expect(refused("time = '1'")).toMatch(/'time' is a time column/)
    expect(refused("nope = 'a'")).toMatch(/'nope' is not in table 'cpu'/)
    expect(refused("host = a")).toMatch(/expected a quoted string/)
    expect(refused("host = 'a' host = 'b'")).toMatch(/unexpected 'host'/)
  })
})

describe("row-delete time range", () => {
  const decide = (minTimeNs: bigint | null, maxTimeNs: bigint | null) =>
    Either.map(requestRowDelete(withTable(), { db: "d", table: "cpu", predicate: "", minTimeNs, maxTimeNs, requestId: "r" }), (events) => [events[0]!.minTimeNs, events[0]!.maxTimeNs])
  it("bounds beyond the storable times are no bounds; a range wholly beyond them, or empty, is refused", () => {
    expect(Either.getOrThrow(decide(-9_223_372_036_854_775_808n, 9_223_372_036_854_775_807n))).toEqual([null, null])
    expect(Either.getOrThrow(decide(5n, null))).toEqual([5n, null])
    expect(Either.isLeft(decide(9_223_372_036_854_775_807n, null))).toBe(true)
    expect(Either.isLeft(decide(null, -9_223_372_036_854_775_000n))).toBe(true)
    expect(Either.isLeft(decide(5n, 5n))).toBe(true)
  })
})

describe("row-delete state", () => {
  it("a request takes its event's seq as its sequence; abort and completion change only a pending request", () => {
    let s = request(withTable(), "host = 'a'", 10)
    const r = deletesOf(s).requests.get(10)!
    expect(r).toMatchObject({ sequence: 10, tableId: 7, disposition: "pending", predicate: [{ column: "host", value: "a" }] })
    s = applyEvent(s, new RowDeleteCompleted({ version: 1, sequence: 10, files: 3 }), NOW + 1n, 11)
    expect(deletesOf(s).requests.get(10)).toMatchObject({ disposition: "completed", rewrittenFiles: 3, completedAtNs: NOW + 1n })
    expect(Either.isLeft(abortRowDelete(s, 10, "late"))).toBe(true)
    s = applyEvent(s, new RowDeleteAborted({ version: 1, sequence: 10, reason: "x" }), NOW, 12)
    expect(deletesOf(s).requests.get(10)!.disposition).toBe("completed")
    expect(Either.match(abortRowDelete(s, 99, "x"), { onLeft: (e) => e._tag, onRight: () => "accepted" })).toBe("NotFound")
  })

  it("applies to files persisted before it that overlap its range and hold its columns; aborted requests apply to none", () => {
    let s = request(withTable(), "host = 'a'", 10)
    const r = deletesOf(s).requests.get(10)!
    const file = { tableId: 7, minTimeNs: 0n, maxTimeNs: 15n, columns: ["host", "usage"], coveredSeq: 9 }
    expect(requestApplies(r, file)).toBe(true)
    expect(requestApplies(r, { ...file, coveredSeq: 10 })).toBe(false) // persisted after the request
    expect(requestApplies(r, { ...file, minTimeNs: 20n, maxTimeNs: 30n })).toBe(false) // max_time is exclusive
    expect(requestApplies(r, { ...file, minTimeNs: 0n, maxTimeNs: 9n })).toBe(false)
    expect(requestApplies(r, { ...file, columns: ["usage"] })).toBe(false)
    expect(requestApplies(r, { ...file, tableId: 8 })).toBe(false)
    expect(keepSql(activeRowDeletes(s, 7), file)).toBe(`NOT (COALESCE(time >= make_timestamp_ns(10) AND time < make_timestamp_ns(20) AND "host" = 'a', false))`)
    s = applyEvent(s, new RowDeleteAborted({ version: 1, sequence: 10, reason: "x" }), NOW, 11)
    expect(keepSql(activeRowDeletes(s, 7), file)).toBeUndefined()
  })

  it("file indexes: a table's own index, else its database's; deleting one removes it", () => {
    let s = withTable()
    s = applyEvent(s, Either.getOrThrow(createFileIndex(s, "d", null, ["host"]))[0]!, NOW, 3)
    expect(indexedColumns(s, 1, 7)).toEqual(["host"])
    s = applyEvent(s, new FileIndexCreated({ version: 1, dbId: 1, tableId: 7, columns: ["region"] }), NOW, 4)
    expect(indexedColumns(s, 1, 7)).toEqual(["region"])
    s = applyEvent(s, new FileIndexDeleted({ version: 1, dbId: 1, tableId: 7 }), NOW, 5)
    expect(indexedColumns(s, 1, 7)).toEqual(["host"])
  })

  it("survives a checkpoint round trip; a checkpoint of an older server (no deletes part) reads as empty", () => {
    let s = request(withTable(), "host = 'a'", 10)
    s = applyEvent(s, new FileIndexCreated({ version: 1, dbId: 1, tableId: null, columns: ["host"] }), NOW, 11)
    const back = decodeCheckpoint(encodeCheckpoint({ seq: 11, catalog: s, files: emptyFileIndex })).catalog
    expect(deletesOf(back)).toEqual(deletesOf(s))
    const { deletes: _, ...older } = s
    expect(deletesOf(older as CatalogState).requests.size).toBe(0)
  })
})
