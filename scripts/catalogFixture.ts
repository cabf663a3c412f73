import type { DatabaseState, TableState } from "../src/catalog/state.ts"
import type { ColumnDef } from "../src/events/common.ts"

/** A catalog table for in-process benchmarks: the tags, `time`, then float fields. */
export const catalogTable = (
  id: number,
  name: string,
  tags: ReadonlyArray<string>,
  fields: ReadonlyArray<string>
): TableState => {
  const columns: Array<ColumnDef> = [
    ...tags.map((n, i) => ({ id: i, name: n, type: "tag" as const })),
    { id: tags.length, name: "time", type: "time" },
    ...fields.map((n, i) => ({ id: tags.length + 1 + i, name: n, type: "float" as const }))
  ]
  return {
    id,
    name,
    columns,
    columnsByName: new Map(columns.map((c) => [c.name, c])),
    seriesKey: tags,
    nextColumnId: columns.length,
    retentionPeriodNs: null,
    createdAtNs: 0n,
    deleted: false,
    hardDeleteAtNs: null,
    lastCaches: new Map(),
    distinctCaches: new Map()
  }
}

/** A catalog database (id 1) holding the tables. */
export const catalogDatabase = (name: string, tables: ReadonlyArray<TableState>): DatabaseState => ({
  id: 1,
  name,
  retentionPeriodNs: null,
  createdAtNs: 0n,
  deleted: false,
  hardDeleteAtNs: null,
  tables: new Map(tables.map((t) => [t.id, t])),
  tableIdsByName: new Map(tables.map((t) => [t.name, t.id])),
  nameHistory: new Map(tables.map((t) => [t.name, [{ tableId: t.id, fromSeq: 0, toSeq: null }]]))
})
