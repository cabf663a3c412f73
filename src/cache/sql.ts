import { type DuckDBConnection, DuckDBTimestampNanosecondsValue } from "@duckdb/node-api"
import { duckTypeName } from "../query/virtualTables.ts"
import type { CacheRows } from "./Caches.ts"
import { sqlIdentifier as quote } from "../query/literal.ts"

/**
 * Puts a cache's rows into the temporary table `into` of a connection, replacing it: a typed CREATE and one appender
 * pass, so a read costs O(rows) without SQL text per row for DuckDB to parse.
 */
export const materialise = async (
  conn: DuckDBConnection,
  into: string,
  { columns, rows }: CacheRows
): Promise<void> => {
  await conn.run(
    `CREATE OR REPLACE TEMP TABLE ${quote(into)} (${columns.map((c) => `${quote(c.name)} ${duckTypeName[c.type]}`).join(", ")})`
  )
  if (rows.length === 0) return
  const appender = await conn.createAppender(into, "main", "temp")
  try {
    for (const row of rows) {
      for (let i = 0; i < columns.length; i++) {
        const v = row[i]
        if (v === null || v === undefined) {
          appender.appendNull()
          continue
        }
        switch (columns[i]!.type) {
          case "tag":
          case "string":
            appender.appendVarchar(String(v))
            break
          case "float":
            appender.appendDouble(v as number)
            break
          case "integer":
            appender.appendBigInt(v as bigint)
            break
          case "uinteger":
            appender.appendUBigInt(v as bigint)
            break
          case "boolean":
            appender.appendBoolean(v as boolean)
            break
          case "time":
            appender.appendTimestampNanoseconds(new DuckDBTimestampNanosecondsValue(v as bigint))
            break
        }
      }
      appender.endRow()
    }
    appender.flushSync()
  } finally {
    appender.closeSync()
  }
}
