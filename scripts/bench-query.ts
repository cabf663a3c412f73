/**
 * Query benchmark: the 100-host x 24 h cpu data set loaded into Strata (write buffer) and into a real InfluxDB 1.x,
 * then five TSBS-like queries — SQL on Strata, InfluxQL on InfluxDB 1.x — each timed as the median of 3 runs after
 * one warm-up, the whole answer read by the client. Prints each pair and the ratio of the totals (target ≤ 0.5).
 * usage: npx tsx scripts/bench-query.ts [--hours N] [--skip-influx]
 */
import { cpuData, load, startInfluxV1, startStrata, stop } from "./lib.ts"

const args = process.argv.slice(2)
const hours = Number(args[args.indexOf("--hours") + 1] ?? 24) || 24
const file = cpuData(100, hours)

const from = "2024-01-01T06:00:00Z"
const to = "2024-01-01T18:00:00Z"

interface BenchQuery {
  readonly name: string
  readonly sql: string
  readonly influxql: string
}

const queries: ReadonlyArray<BenchQuery> = [
  {
    name: "max per minute, one host, 12 h",
    sql: `SELECT date_bin(INTERVAL '1 minute', time) AS minute, max(usage_user) AS max_user FROM cpu WHERE hostname = 'host_7' AND time >= '${from}' AND time < '${to}' GROUP BY 1 ORDER BY 1`,
    influxql: `SELECT max(usage_user) FROM cpu WHERE hostname = 'host_7' AND time >= '${from}' AND time < '${to}' GROUP BY time(1m)`
  },
  {
    name: "mean per hour per host, 12 h",
    sql: `SELECT date_bin(INTERVAL '1 hour', time) AS hour, hostname, avg(usage_user) AS mean_user FROM cpu WHERE time >= '${from}' AND time < '${to}' GROUP BY 1, 2 ORDER BY 2, 1`,
    influxql: `SELECT mean(usage_user) FROM cpu WHERE time >= '${from}' AND time < '${to}' GROUP BY time(1h), hostname`
  },
  {
    name: "last value per host",
    sql: `SELECT hostname, selector_last(usage_user, time)['value'] AS last_user, selector_last(usage_user, time)['time'] AS time FROM cpu GROUP BY hostname ORDER BY hostname`,
    influxql: `SELECT last(usage_user) FROM cpu GROUP BY hostname`
  },
  {
    name: "rows with usage_user > 90, 12 h",
    sql: `SELECT * FROM cpu WHERE usage_user > 90 AND time >= '${from}' AND time < '${to}'`,
    influxql: `SELECT * FROM cpu WHERE usage_user > 90 AND time >= '${from}' AND time < '${to}'`
  },
  {
    name: "count and mean over everything",
    sql: `SELECT count(usage_user) AS n, avg(usage_user) AS mean_user FROM cpu`,
    influxql: `SELECT count(usage_user), mean(usage_user) FROM cpu`
  }
]

/** Runs a request once and returns its time in ms and the response size, failing on a non-200. */
const timed = async (url: string): Promise<{ ms: number; bytes: number }> => {
  const started = performance.now()
  const res = await fetch(url)
  const body = await res.arrayBuffer()
  const ms = performance.now() - started
  if (res.status !== 200) throw new Error(`${res.status} from ${url}: ${new TextDecoder().decode(body).slice(0, 500)}`)
  return { ms, bytes: body.byteLength }
}

const medianOf3 = async (url: string) => {
  await timed(url)
  const runs = [await timed(url), await timed(url), await timed(url)].sort((a, b) => a.ms - b.ms)
  return runs[1]!
}

const strataTimes: Array<number> = []
const influxTimes: Array<number> = []

const strata = await startStrata(18181)
try {
  const loaded = load(file, `${strata.url}/api/v3/write_lp?db=bench&precision=ns`)
  console.log(`strata loaded ${loaded.lines.toLocaleString()} lines in ${loaded.seconds}s`)
  for (const q of queries) {
    const r = await medianOf3(`${strata.url}/api/v3/query_sql?${new URLSearchParams({ db: "bench", q: q.sql, format: "json" })}`)
    strataTimes.push(r.ms)
    console.log(`strata  ${q.name.padEnd(36)} ${r.ms.toFixed(1).padStart(9)} ms  (${r.bytes.toLocaleString()} bytes)`)
  }
} finally {
  await stop(strata)
}

if (!args.includes("--skip-influx")) {
  const influx = await startInfluxV1(18086, "bench")
  try {
    const loaded = load(file, `${influx.url}/write?db=bench&precision=ns`)
    console.log(`influxdb 1.x loaded ${loaded.lines.toLocaleString()} lines in ${loaded.seconds}s`)
    for (const q of queries) {
      const r = await medianOf3(`${influx.url}/query?${new URLSearchParams({ db: "bench", q: q.influxql, epoch: "ns" })}`)
      influxTimes.push(r.ms)
      console.log(`influx  ${q.name.padEnd(36)} ${r.ms.toFixed(1).padStart(9)} ms  (${r.bytes.toLocaleString()} bytes)`)
    }
  } finally {
    await stop(influx)
  }
}

const total = (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0)
console.log("")
queries.forEach((q, i) => {
  const s = strataTimes[i]!
  const v = influxTimes[i]
  console.log(`${q.name.padEnd(36)} strata ${s.toFixed(1).padStart(9)} ms   influxdb ${v === undefined ? "-" : v.toFixed(1).padStart(9)} ms${v === undefined ? "" : `   ${(s / v).toFixed(2)}x`}`)
})
const results: Record<string, number> = { strata_total_ms: Math.round(total(strataTimes)) }
if (influxTimes.length > 0) {
  results["influxdb1_total_ms"] = Math.round(total(influxTimes))
  results["ratio"] = Number((total(strataTimes) / total(influxTimes)).toFixed(3))
  console.log(`total: strata ${total(strataTimes).toFixed(1)} ms, influxdb 1.x ${total(influxTimes).toFixed(1)} ms → ratio ${results["ratio"]} (target ≤ 0.5)`)
}
console.log(JSON.stringify(results))
