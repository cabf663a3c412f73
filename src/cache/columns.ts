import type { DistinctCacheDef, LastCacheDef, TableState } from "../catalog/state.ts"

const columnName = (table: TableState, id: number) => table.columns.find((c) => c.id === id)

/** A last cache's key columns, and its value columns as of `table` (every non-key one when not explicit; time last). */
export const lastCacheColumns = (table: TableState, def: LastCacheDef) => {
  const keys = def.keyColumnIds.flatMap((id) => columnName(table, id) ?? [])
  const keyIds = new Set(def.keyColumnIds)
  const values =
    def.valueColumnIds === null
      ? table.columns.filter((c) => !keyIds.has(c.id) && c.type !== "time")
      : def.valueColumnIds.flatMap((id) => {
          const c = columnName(table, id)
          return c === undefined || c.type === "time" ? [] : [c]
        })
  return { keys, values, time: table.columns.find((c) => c.type === "time")! }
}

/** A distinct cache's columns. */
export const distinctCacheColumns = (table: TableState, def: DistinctCacheDef) =>
  def.columnIds.flatMap((id) => columnName(table, id) ?? [])
