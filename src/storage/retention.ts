import type { DatabaseState, TableState } from "../catalog/state.ts"

/**
 * A table's retention period: its own when set (it overrides the database's, as InfluxDB 3 Enterprise), else the
 * database's.
 */
export const retentionOf = (db: DatabaseState, table: TableState): bigint | null =>
  table.retentionPeriodNs ?? db.retentionPeriodNs

/**
 * The oldest time (ns) a table still answers at `nowMs`: rows before it are outside retention. Undefined when the
 * table keeps everything. A cutoff before the earliest time a row can hold is no cutoff either.
 */
export const retentionCutoffNs = (db: DatabaseState, table: TableState, nowMs: number): bigint | undefined => {
  const period = retentionOf(db, table)
  if (period === null || period <= 0n) return undefined
  const cutoff = BigInt(nowMs) * 1_000_000n - period
  return cutoff <= MIN_TIME_NS ? undefined : cutoff
}

/** The earliest time a row can hold (i64::MIN ns, as InfluxDB 3). */
const MIN_TIME_NS = -(2n ** 63n)
