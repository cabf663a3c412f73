import type { ColumnType } from "../events/index.ts"
import { sqlString } from "../query/literal.ts"
import { duckTypeName } from "../query/virtualTables.ts"
import type { CacheColumn, CacheRows } from "./Caches.ts"
import type { CacheValue } from "./LastValueCache.ts"

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`

/** One cell as a typed DuckDB literal: each typed alike, so VALUES rows unify without widening decimals. */
const cell = (value: CacheValue, type: ColumnType): string => {
  if (value === null) return "NULL"
  switch (type) {
    case "tag":
    case "string":
      return sqlString(String(value))
    case "boolean":
      return value === true ? "true" : "false"
    case "float":
      return `CAST(${String(value)} AS DOUBLE)`
    case "integer":
      return `CAST(${String(value)} AS BIGINT)`
    case "uinteger":
      return `CAST(${String(value)} AS UBIGINT)`
    case "time":
      return `make_timestamp_ns(${String(value)})`
  }
}

/** The SQL of a cache's rows: a relation with the cache's columns under their names and the table's types. */
export const cacheRowsSql = ({ columns, rows }: CacheRows): string => {
  const typed = (expr: (c: CacheColumn, i: number) => string) => columns.map((c, i) => `CAST(${expr(c, i)} AS ${duckTypeName[c.type]}) AS ${quote(c.name)}`).join(", ")
  if (rows.length === 0) return `SELECT ${typed(() => "NULL")} WHERE false`
  const values = rows.map((r) => `(${r.map((v, i) => cell(v, columns[i]!.type)).join(", ")})`).join(", ")
  return `SELECT ${typed((_, i) => `c${i}`)} FROM (VALUES ${values}) AS v(${columns.map((_, i) => `c${i}`).join(", ")})`
}
