import { DuckDBInstance } from "@duckdb/node-api"
import { parseSql } from "./src/query/ast.ts"
import { rewriteDialect } from "./src/query/dialect/index.ts"
const db = await DuckDBInstance.create(":memory:"); const c = await db.connect()
const p = await parseSql(c, process.argv[2]!) as any
const r = rewriteDialect(p[0], { nowNs: 0n }) as any
const strip = (v: any): any => Array.isArray(v) ? v.map(strip) : v && typeof v === "object" ? Object.fromEntries(Object.entries(v).filter(([k]) => k !== "query_location").map(([k, x]) => [k, strip(x)])) : v
console.log(JSON.stringify(strip(r.node), (k, v) => typeof v === "bigint" ? `${v}n` : v, 1).replace(/\n\s*/g, " "))
