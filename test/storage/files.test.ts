import { describe, expect, it } from "@effect/vitest"
import { SnapshotPersisted, TableDataDeleted, DatabaseHardDeleted, TableSoftDeleted, type PersistedFile, type StrataEvent } from "../../src/events/index.ts"
import type { Envelope } from "../../src/log/EventLog.ts"
import { applyFileIndex, emptyFileIndex, filesOf, indexedPaths, type FileIndexState } from "../../src/storage/files.ts"

const envelope = (seq: number, event: StrataEvent): Envelope => ({ seq, at: 0n, node: "n", event, payload: null })
const file = (path: string, tableId = 2, dbId = 1, minTimeNs = 0n, maxTimeNs = 10n): PersistedFile => ({ path, dbId, tableId, rows: 1, minTimeNs, maxTimeNs, bytes: 100, columns: ["h", "v"] })
const persisted = (persistedSeq: number, files: Array<PersistedFile>) =>
  new SnapshotPersisted({ version: 1, persistedSeq, files })
const fold = (envelopes: Array<Envelope>): FileIndexState => envelopes.reduce(applyFileIndex, emptyFileIndex)

describe("persisted-file index", () => {
  it("records a persist's files per table and the seq it covered", () => {
    const state = fold([envelope(10, persisted(9, [file("a.parquet"), file("b.parquet", 3)]))])
    expect(state.persistedSeq).toBe(9)
    expect(filesOf(state, 2).map((f) => [f.path, f.persistEventSeq, f.coveredSeq])).toEqual([["a.parquet", 10, 9]])
    expect([...indexedPaths(state)].sort()).toEqual(["a.parquet", "b.parquet"])
  })

  it("orders a table's files by the persist that wrote them, oldest first", () => {
    const state = fold([envelope(20, persisted(19, [file("late.parquet", 2, 1, 0n, 5n)])), envelope(10, persisted(9, [file("early.parquet", 2, 1, 3n, 8n)]))])
    expect(filesOf(state, 2).map((f) => f.path)).toEqual(["early.parquet", "late.parquet"])
    expect(state.persistedSeq).toBe(19)
  })

  it("applying the same persist twice changes nothing", () => {
    const e = envelope(10, persisted(9, [file("a.parquet")]))
    expect(fold([e, e])).toEqual(fold([e]))
  })

  it("a table's data deletion drops the files of writes before it, in either order of arrival", () => {
    const persist = envelope(10, persisted(9, [file("a.parquet"), file("other.parquet", 3)]))
    const deletion = envelope(12, new TableDataDeleted({ version: 1, dbId: 1, tableId: 2 }))
    for (const state of [fold([persist, deletion]), fold([deletion, persist])]) {
      expect(filesOf(state, 2)).toEqual([])
      expect(filesOf(state, 3).map((f) => f.path)).toEqual(["other.parquet"])
    }
  })

  it("files of writes after a data deletion stay", () => {
    const state = fold([envelope(5, new TableDataDeleted({ version: 1, dbId: 1, tableId: 2 })), envelope(10, persisted(9, [file("a.parquet")]))])
    expect(filesOf(state, 2).map((f) => f.path)).toEqual(["a.parquet"])
  })

  it("a database's hard delete drops every file of its tables", () => {
    const state = fold([envelope(10, persisted(9, [file("a.parquet"), file("b.parquet", 3), file("c.parquet", 4, 7)])), envelope(11, new DatabaseHardDeleted({ version: 1, dbId: 1 }))])
    expect([...indexedPaths(state)]).toEqual(["c.parquet"])
  })

  it("a soft delete keeps the files (the table is out of queries; hard delete removes them)", () => {
    const state = fold([envelope(10, persisted(9, [file("a.parquet")])), envelope(11, new TableSoftDeleted({ version: 1, dbId: 1, tableId: 2, newName: "m-1", hardDeleteAtNs: null }))])
    expect(filesOf(state, 2).map((f) => f.path)).toEqual(["a.parquet"])
  })
})
