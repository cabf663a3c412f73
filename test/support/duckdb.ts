import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api"
import { afterAll, beforeAll } from "@effect/vitest"

/**
 * A connection to an in-memory DuckDB for the enclosing describe block (or file): opened before its tests, closed
 * after them. Call the returned function inside tests to get it.
 */
export const memoryConnection = (): (() => DuckDBConnection) => {
  let instance: DuckDBInstance | undefined
  let conn: DuckDBConnection | undefined
  beforeAll(async () => {
    instance = await DuckDBInstance.create(":memory:")
    conn = await instance.connect()
  })
  afterAll(() => {
    conn?.closeSync()
    instance?.closeSync()
  })
  return () => {
    if (conn === undefined) throw new Error("the DuckDB connection is opened before the tests run")
    return conn
  }
}
