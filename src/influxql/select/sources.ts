import type { DatabaseState, TableState } from "../../catalog/state.ts"
import type { Source } from "../ast.ts"
import { regexOrFail } from "./failure.ts"

/** Stage 1: the measurements a statement reads (FROM, with regexes over the database's tables). */

/** Resolves the measurements a statement reads: names as given (missing ones skipped), regexes over the db's tables. */
export const resolveSources = (sources: ReadonlyArray<Source>, db: DatabaseState): Array<TableState> => {
  const out = new Map<string, TableState>()
  const live = [...db.tables.values()].filter((t) => !t.deleted)
  for (const s of sources) {
    if (s.regex !== undefined) {
      const re = regexOrFail(s.regex)
      for (const t of live) if (re.test(t.name)) out.set(t.name, t)
    } else if (s.name !== undefined) {
      const t = live.find((x) => x.name === s.name)
      if (t !== undefined) out.set(t.name, t)
    }
  }
  return [...out.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
}

/** The database a statement names in its FROM clause (`db.rp.m`, `db..m`), if any. */
export const sourceDatabase = (sources: ReadonlyArray<Source>): string | undefined => {
  for (const s of sources) {
    const db = s.db ?? (s.subquery !== undefined ? sourceDatabase(s.subquery.sources) : undefined)
    if (db !== undefined) return db
  }
  return undefined
}
