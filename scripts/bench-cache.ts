/**
 * Last-value cache benchmark (issue 13, item 5): "latest usage per host" over the cpu set with many hosts (1,000 by
 * default, 2 hours every 10 s), answered by `last_cache()`, by the plain SQL it replaces, and by InfluxDB 1.x's
 * `SELECT last(usage_user) FROM cpu GROUP BY hostname` on the same data. Each is the median of 9 runs after a warm-up,
 * the whole answer read by the client. Prints the three times and the ratios (targets: plain SQL ≥ 5× last_cache(),
 * and last_cache() faster than InfluxDB 1.x).
 * usage: npx tsx scripts/bench-cache.ts [--hosts N] [--hours N] [--skip-influx]
 */
import { cpuData, load, startInfluxV1, startStrata, stop } from "./lib.ts"

const args = process.argv.slice(2)
const option = (name: string, fallback: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback)
const hosts = option("--hosts", 1000)
const hours = option("--hours", 2)
const file = cpuData(hosts, hours)

const timed = async (url: string, init?: RequestInit) => {
  const started = performance.now()
  const res = await fetch(url, init)
  const body = await res.arrayBuffer()
  if (res.status !== 200) throw new Error(`${res.status} from ${url}: ${new TextDecoder().decode(body).slice(0, 300)}`)
  return performance.now() - started
}

const median = async (run: () => Promise<number>, n = 9) => {
  await run()
  const times: Array<number> = []
  for (let i = 0; i < n; i++) times.push(await run())
  return times.sort((a, b) => a - b)[Math.floor(n / 2)]!
}

const sqlUrl = (base: string, q: string) => `${base}/api/v3/query_sql?${new URLSearchParams({ db: "bench", q, format: "json" })}`

const strata = await startStrata(18185)
let cacheMs = 0
let plainMs = 0
try {
  const loaded = load(file, `${strata.url}/api/v3/write_lp?db=bench&precision=ns`)
  console.log(`${loaded.lines.toLocaleString()} lines of ${hosts} hosts x ${hours} h loaded`)
  const created = await fetch(`${strata.url}/api/v3/configure/last_cache`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ db: "bench", table: "cpu", name: "by_host", key_columns: ["hostname"], value_columns: ["usage_user"], ttl: 86400 * 365 * 10 })
  })
  if (created.status !== 201) throw new Error(`last cache: ${created.status} ${await created.text()}`)
  const cacheSql = "SELECT hostname, usage_user, time FROM last_cache('cpu', 'by_host') ORDER BY hostname"
  const plainSql =
    "SELECT hostname, selector_last(usage_user, time)['value'] AS usage_user, max(time) AS time FROM cpu GROUP BY hostname ORDER BY hostname"
  const [a, b] = await Promise.all([fetch(sqlUrl(strata.url, cacheSql)).then((r) => r.json()), fetch(sqlUrl(strata.url, plainSql)).then((r) => r.json())])
  if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error("last_cache() and the plain SQL answer differently")
  cacheMs = await median(() => timed(sqlUrl(strata.url, cacheSql)))
  plainMs = await median(() => timed(sqlUrl(strata.url, plainSql)))
  console.log(`last_cache():                 ${cacheMs.toFixed(1).padStart(7)} ms`)
  console.log(`plain SQL (selector_last):    ${plainMs.toFixed(1).padStart(7)} ms   ${(plainMs / cacheMs).toFixed(1)}x last_cache() (target ≥ 5x)`)
} finally {
  await stop(strata)
}

if (!args.includes("--skip-influx")) {
  const influx = await startInfluxV1(18087, "bench")
  try {
    load(file, `${influx.url}/write?db=bench&precision=ns`)
    const q = `${influx.url}/query?${new URLSearchParams({ db: "bench", q: "SELECT last(usage_user) FROM cpu GROUP BY hostname" })}`
    const influxMs = await median(() => timed(q))
    const verdict = cacheMs < influxMs ? "last_cache() faster" : "last_cache() slower"
    console.log(`InfluxDB 1.x last() by host:  ${influxMs.toFixed(1).padStart(7)} ms   (${verdict})`)
  } finally {
    await stop(influx)
  }
}
