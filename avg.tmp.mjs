import { DuckDBInstance } from "@duckdb/node-api"
const db = await DuckDBInstance.create(":memory:", { threads: "1" }); const c = await db.connect()
const xs = Array.from({ length: 5000 }, (_, i) => Math.round(Math.random() * 1e6) / 100 * (i % 7 === 0 ? 1e10 : 1))
await c.run("CREATE TABLE t(x DOUBLE)")
const a = await c.createAppender("t"); for (const x of xs) { a.appendDouble(x); a.endRow() } a.closeSync()
const r = (await c.runAndReadAll("SELECT avg(x), sum(x), sum(x)/count(x), fsum(x)/count(x) FROM t")).getRows()[0]
let s = 0; for (const x of xs) s += x
console.log(r, s, s / xs.length)
