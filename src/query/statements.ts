import type { DuckDBConnection, DuckDBPreparedStatement } from "@duckdb/node-api"

/**
 * DuckDB prepared statements by SQL text, kept per connection. Binding and optimizing a planned query (its table
 * views, the dialect's macros) costs DuckDB 2-3.5 ms, as much as running a one-host aggregate: a dashboard's repeated
 * query, planned to the same text, skips it while the data it reads has not changed.
 *
 * Why "while the data has not changed": DuckDB's optimizer folds what a table's statistics prove into the plan
 * (measured: a statement prepared for `count(*) WHERE a > 100` over rows below 100 still answers 0 after such a row is
 * appended). So each statement is kept with the versions of what queries read (`Validity`: the write buffer's
 * contents, the cache tables, the persisted-file index), and a statement prepared under other versions is prepared
 * again. Rebinding after a table is altered or re-created, and reading Parquet files afresh, DuckDB does itself.
 */
export type Validity = ReadonlyArray<unknown>

/** Statements that read no table: valid whatever the data. */
export const ALWAYS_VALID: Validity = []

const MAX_STATEMENTS = 32

/** Texts longer than this (long IN lists, many files) are prepared each time: rarely repeated, costly to keep. */
const MAX_TEXT = 64 * 1024

/**
 * Values kept by key while what they were made from is unchanged (their `Validity`), the most recently used first to
 * stay. `drop` is given each value that goes, stale or evicted (a prepared statement is destroyed).
 */
export class KeptWhileValid<V> {
  private readonly entries = new Map<string, { readonly value: V; readonly validity: Validity }>()
  constructor(
    private readonly capacity: number,
    private readonly drop: (value: V) => void = () => {}
  ) {}

  /** The value kept for the key under the same validity, or undefined (a stale one is dropped). */
  get(key: string, validity: Validity): V | undefined {
    const kept = this.entries.get(key)
    if (kept === undefined) return undefined
    this.entries.delete(key)
    if (!sameValidity(kept.validity, validity)) {
      this.drop(kept.value)
      return undefined
    }
    this.entries.set(key, kept)
    return kept.value
  }

  set(key: string, validity: Validity, value: V): void {
    const replaced = this.entries.get(key)
    this.entries.delete(key)
    if (replaced !== undefined) this.drop(replaced.value)
    this.entries.set(key, { value, validity })
    if (this.entries.size > this.capacity) {
      const [oldest, evicted] = this.entries.entries().next().value!
      this.entries.delete(oldest)
      this.drop(evicted.value)
    }
  }
}

const byConnection = new WeakMap<DuckDBConnection, KeptWhileValid<DuckDBPreparedStatement>>()

/** Whether two validities are the same versions, item by item. */
const sameValidity = (a: Validity, b: Validity) => a.length === b.length && a.every((v, i) => v === b[i])

/**
 * The connection's statement for the text, prepared before under the same validity (the most recently used are
 * kept), or prepared now. A connection runs one statement at a time, so a kept one is never in use elsewhere.
 */
export const preparedStatement = async (
  conn: DuckDBConnection,
  sql: string,
  validity: Validity
): Promise<DuckDBPreparedStatement> => {
  if (sql.length > MAX_TEXT) return conn.prepare(sql)
  let statements = byConnection.get(conn)
  if (statements === undefined) {
    statements = new KeptWhileValid<DuckDBPreparedStatement>(MAX_STATEMENTS, (s) => s.destroySync())
    byConnection.set(conn, statements)
  }
  const kept = statements.get(sql, validity)
  if (kept !== undefined) return kept
  const statement = await conn.prepare(sql)
  statements.set(sql, validity, statement)
  return statement
}
