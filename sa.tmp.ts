import { DuckDBInstance } from "@duckdb/node-api"
import { parseSql } from "./src/query/ast.ts"
import { rewriteDialect } from "./src/query/dialect/index.ts"
import { seriesAggregateOf } from "./src/query/seriesAggregate.ts"
const db = await DuckDBInstance.create(":memory:"); const c = await db.connect()
const p = await parseSql(c, process.argv[2]!) as any
const r = rewriteDialect(p[0], { nowNs: 0n }) as any
const table: any = { id: 1, name: "cpu", columns: [{ name: "hostname", type: "tag" }, { name: "region", type: "tag" }, { name: "time", type: "time" }, { name: "usage_user", type: "float" }, { name: "usage_system", type: "float" }, { name: "usage", type: "float" }, { name: "idle", type: "float" }, { name: "host", type: "tag" }] }
console.log(seriesAggregateOf(r.node, r.node.from_table, table))
