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

interface Kept {
  readonly statement: DuckDBPreparedStatement
  readonly validity: Validity
}

const byConnection = new WeakMap<DuckDBConnection, Map<string, Kept>>()

/** Whether two validities are the same versions, item by item. */
export const sameValidity = (a: Validity, b: Validity) => a.length === b.length && a.every((v, i) => v === b[i])

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
  if (statements === undefined) byConnection.set(conn, (statements = new Map()))
  const kept = statements.get(sql)
  if (kept !== undefined) {
    statements.delete(sql)
    if (sameValidity(kept.validity, validity)) {
      statements.set(sql, kept)
      return kept.statement
    }
    kept.statement.destroySync()
  }
  const statement = await conn.prepare(sql)
  statements.set(sql, { statement, validity })
  if (statements.size > MAX_STATEMENTS) {
    const [oldest, evicted] = statements.entries().next().value!
    statements.delete(oldest)
    evicted.statement.destroySync()
  }
  return statement
}
