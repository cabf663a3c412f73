import { DuckDBInstance } from "@duckdb/node-api"
const f = process.argv[2]
const db = await DuckDBInstance.create(":memory:", { threads: "2" }); const c = await db.connect()
await c.run("SET parquet_metadata_cache = true"); await c.run("SET TimeZone='UTC'")
await c.run(`CREATE OR REPLACE MACRO strata_bin_after_ns(stride_ns, t_ns, origin_ns) AS t_ns - (t_ns - origin_ns) % stride_ns`)
const F = "TIMESTAMP_NS '2024-01-01 06:00:00'", T = "TIMESTAMP_NS '2024-01-01 18:00:00'"
const qs = {
 raw: `SELECT time_bucket(INTERVAL '1 minute', time) AS minute, max(usage_user) AS max_user FROM read_parquet(['${f}']) WHERE hostname = 'host_7' AND time >= ${F} AND time < ${T} GROUP BY 1 ORDER BY 1`,
 strata: `SELECT make_timestamp_ns(strata_bin_after_ns(60000000000, epoch_ns("time"), 0)) AS "minute", max(usage_user) AS max_user FROM (SELECT hostname, "time", usage_user FROM (SELECT hostname, usage_user, "time" FROM read_parquet(main.list_value('${f}'))) AS b) AS cpu WHERE ((hostname = 'host_7') AND ("time" >= CAST('2024-01-01 06:00:00.000000000' AS TIMESTAMP_NS)) AND ("time" < CAST('2024-01-01 18:00:00.000000000' AS TIMESTAMP_NS))) GROUP BY 1 ORDER BY 1`,
 count: `SELECT count(*) FROM read_parquet(['${f}']) WHERE hostname = 'host_7' AND time >= ${F} AND time < ${T}`,
 scanonly: `SELECT max(usage_user) FROM read_parquet(['${f}']) WHERE hostname = 'host_7' AND time >= ${F} AND time < ${T}`,
}
const gap = Number(process.env.GAP ?? 0)
for (const [k, q] of Object.entries(qs)) {
  const p = await c.prepare(q)
  for (let i = 0; i < 10; i++) await p.runAndReadAll()
  const ts = []
  for (let i = 0; i < 61; i++) { if (gap) await new Promise(r => setTimeout(r, gap)); const s = performance.now(); await p.runAndReadAll(); ts.push(performance.now() - s) }
  ts.sort((a, b) => a - b); console.log(k, ts[30].toFixed(2), ts[6].toFixed(2))
}
