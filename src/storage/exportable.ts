import { type CatalogState, type DatabaseState, type TableState } from "../catalog/state.ts"
import { filesOf, type FileIndexState, type IndexedFile } from "./files.ts"

// `dbs/<db_id>/<table_id>/<YYYY-MM-DD>/compacted-<gen>[-<n>].parquet`: only compacted windows are exported, as in
// InfluxDB 3 Enterprise (gen1 files of a window not yet compacted are not).
const COMPACTED = /^dbs\/\d+\/\d+\/([^/]+)\/compacted-\d+(?:-\d+)?\.parquet$/

/** The 24-hour UTC window (`YYYY-MM-DD`) of a compacted file, or undefined for a gen1 file. */
export const compactedWindowOf = (path: string): string | undefined => COMPACTED.exec(path)?.[1]

/** A table's compacted windows, oldest first, each with its compacted files in path order. */
export const compactedWindows = (
  index: FileIndexState,
  tableId: number
): ReadonlyMap<string, ReadonlyArray<IndexedFile>> => {
  const byWindow = new Map<string, Array<IndexedFile>>()
  for (const f of filesOf(index, tableId)) {
    const window = compactedWindowOf(f.path)
    if (window === undefined) continue
    const list = byWindow.get(window)
    if (list === undefined) byWindow.set(window, [f])
    else list.push(f)
  }
  const out = new Map<string, ReadonlyArray<IndexedFile>>()
  for (const window of [...byWindow.keys()].sort())
    out.set(
      window,
      byWindow.get(window)!.sort((a, b) => (a.path < b.path ? -1 : 1))
    )
  return out
}

const byName = <T extends { readonly name: string }>(a: T, b: T) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)

/** The live tables of a database that have at least one compacted window, by name. */
export const exportableTables = (index: FileIndexState, db: DatabaseState): ReadonlyArray<TableState> =>
  [...db.tables.values()].filter((t) => !t.deleted && compactedWindows(index, t.id).size > 0).sort(byName)

/** The live databases with at least one exportable table, by name. */
export const exportableDatabases = (catalog: CatalogState, index: FileIndexState): ReadonlyArray<DatabaseState> =>
  [...catalog.databases.values()].filter((d) => !d.deleted && exportableTables(index, d).length > 0).sort(byName)

/**
 * A table name as one archive or directory path segment: `/`, `\` and `%` percent-encoded, and `.`/`..` spelled
 * `%2E`/`%2E%2E`, so no table name can reach outside its own directory when the archive is unpacked.
 */
export const tableSegment = (name: string): string =>
  name === "." || name === ".." ? name.replaceAll(".", "%2E") : name.replace(/[%/\\]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`)

/** Where a compacted file goes in an export: `<table>/<YYYY-MM-DD>/<file>.parquet`. */
export const exportEntryName = (table: string, window: string, path: string): string =>
  `${tableSegment(table)}/${window}/${path.slice(path.lastIndexOf("/") + 1)}`
