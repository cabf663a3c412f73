import type { DuckDBConnection } from "@duckdb/node-api"
import { rowsTableName } from "../write/WriteBuffer.ts"

/**
 * Whether a buffered table really holds two rows for one series and time. The write buffer only knows that some
 * series received a time not after its latest (concurrent writers deliver batches out of order all the time), and
 * merging duplicates costs a GROUP BY over every row, so the query path checks — incrementally: rows already
 * proven free of duplicates are only probed by the rows appended since.
 */
export class DuplicateCheck {
  /** Keyed by the buffer's table object, so a dropped and re-created table starts over. */
  private readonly checked = new WeakMap<object, { nextRow: number; duplicates: boolean }>()

  /** True when queries of this table must merge rows with the same series and time. */
  async needsMerge(
    conn: DuckDBConnection,
    tableId: number,
    table: { readonly mayHaveDuplicates: boolean; readonly appended: number }
  ): Promise<boolean> {
    if (!table.mayHaveDuplicates) return false
    const known = this.checked.get(table) ?? { nextRow: 0, duplicates: false }
    // Nothing appended since the last check (`nextRow` is what that check saw, never past what was appended).
    if (known.duplicates || known.nextRow === table.appended) return known.duplicates
    const rows = rowsTableName(tableId)
    const from = known.nextRow
    // A row matching an appended one has its time, so at least the appended rows' earliest: the older rows before it
    // (most of them, the buffer filling in time order) are skipped by their row groups' time bounds, as the rows
    // before `from` are by `_row`'s.
    const result = await conn.runAndReadAll(
      `WITH fresh AS (SELECT min(time) AS since, coalesce(max(_row) + 1, ${from}) AS next_row FROM ${rows} WHERE _row >= ${from}) ` +
        `SELECT (SELECT next_row FROM fresh) AS next_row, EXISTS (SELECT 1 FROM ${rows} n JOIN ${rows} o ` +
        `ON o._sid = n._sid AND o.time = n.time AND o._row < n._row ` +
        `WHERE n._row >= ${from} AND o.time >= (SELECT since FROM fresh)) AS duplicates`
    )
    const [nextRow, duplicates] = result.getRows()[0]! as [number, boolean]
    const current = this.checked.get(table)
    if (current === undefined || current.nextRow < Number(nextRow) || duplicates)
      this.checked.set(table, { nextRow: Number(nextRow), duplicates: duplicates || (current?.duplicates ?? false) })
    return duplicates
  }
}
