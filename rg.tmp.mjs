import { DuckDBInstance } from "@duckdb/node-api"
const src = process.argv[2]
const db = await DuckDBInstance.create(":memory:", { threads: "2" }); const c = await db.connect()
const F = "TIMESTAMP_NS '2024-01-01 06:00:00'", T = "TIMESTAMP_NS '2024-01-01 18:00:00'"
const qs = (t) => [
 `SELECT time_bucket(INTERVAL '1 minute', time) AS minute, max(usage_user) AS max_user FROM ${t} WHERE hostname = 'host_7' AND time >= ${F} AND time < ${T} GROUP BY 1 ORDER BY 1`,
 `SELECT time_bucket(INTERVAL '1 hour', time) AS hour, hostname, avg(usage_user) AS mean_user FROM ${t} WHERE time >= ${F} AND time < ${T} GROUP BY 1, 2 ORDER BY 2, 1`,
 `SELECT hostname, arg_max(usage_user, time) AS last_user, max(time) AS time FROM ${t} GROUP BY hostname ORDER BY hostname`,
 `SELECT * FROM ${t} WHERE usage_user > 90 AND time >= ${F} AND time < ${T}`,
 `SELECT count(usage_user) AS n, avg(usage_user) AS mean_user FROM ${t}`]
await c.run("SET parquet_metadata_cache = true")
for (const rg of (process.env.RGS ?? "122880 32768 16384 8192").split(" ")) {
  const f = `/tmp/rg-${rg}.parquet`
  await c.run(`COPY (SELECT * FROM read_parquet('${src}')) TO '${f}' (FORMAT parquet, COMPRESSION lz4_raw, ROW_GROUP_SIZE ${rg})`)
  const t = `read_parquet(['${f}'])`
  const out = []
  for (const q of qs(t)) {
    for (let i = 0; i < 10; i++) await c.runAndReadAll(q)
    const ts = []
    for (let i = 0; i < 31; i++) { const s = performance.now(); await c.runAndReadAll(q); ts.push(performance.now() - s) }
    ts.sort((a, b) => a - b); out.push(ts[15].toFixed(2))
  }
  console.log(rg, out.join("  "), "total", out.reduce((a, b) => a + Number(b), 0).toFixed(1))
}
