/**
 * Live-panel benchmark: the last hour of 100 hosts (a point every 10 s), its first 50 minutes persisted to gen1
 * Parquet files and its last 10 in the write buffer, as a dashboard sees it between persists. Two panels, each a
 * `now() - INTERVAL '1 hour'` query, are timed (median of --runs after a first run, a second's pause and 20 untimed
 * runs, as a dashboard refreshing every few seconds sees them) on a server with the Parquet
 * memory cache (series aggregates from decoded columns plus the buffer's partial aggregates, ADR 20) and on one
 * started with --disable-parquet-mem-cache (DuckDB alone).
 * usage: npx tsx scripts/bench-live.ts [--runs N]
 */
import { startStrata, stop } from "./lib.ts"

const args = process.argv.slice(2)
const RUNS = args.includes("--runs") ? Math.max(1, Number(args[args.indexOf("--runs") + 1]) | 1) : 51
const HOSTS = 100

const panels = [
  {
    name: "max per minute, one host, last hour",
    sql: "SELECT date_bin(INTERVAL '1 minute', time) AS minute, max(usage_user) AS m FROM cpu WHERE hostname = 'host_7' AND time >= now() - INTERVAL '1 hour' GROUP BY 1 ORDER BY 1"
  },
  {
    name: "last value per host, last hour",
    sql: "SELECT hostname, selector_last(usage_user, time)['value'] AS v FROM cpu WHERE time >= now() - INTERVAL '1 hour' GROUP BY hostname ORDER BY hostname"
  }
]

/** Writes the points of [fromS, toS) (epoch seconds) for every host. */
const write = async (url: string, fromS: number, toS: number) => {
  const lines: Array<string> = []
  for (let t = fromS; t < toS; t += 10)
    for (let h = 0; h < HOSTS; h++)
      lines.push(`cpu,hostname=host_${h},region=r${h % 5} usage_user=${(t * 7 + h) % 100},usage_system=${(t + h) % 50} ${t}000000000`)
  for (let i = 0; i < lines.length; i += 5000) {
    const res = await fetch(`${url}/api/v3/write_lp?db=live&precision=ns`, { method: "POST", body: lines.slice(i, i + 5000).join("\n") })
    if (res.status !== 204) throw new Error(`write: ${res.status} ${await res.text()}`)
  }
}

/** The persisted files' count, from system.parquet_files. */
const files = async (url: string) => {
  const q = "SELECT count(*) AS n FROM system.parquet_files"
  const res = await fetch(`${url}/api/v3/query_sql?${new URLSearchParams({ db: "live", q, format: "json" })}`)
  return ((await res.json()) as Array<{ n: number }>)[0]?.n ?? 0
}

const median = async (url: string, sql: string) => {
  const target = `${url}/api/v3/query_sql?${new URLSearchParams({ db: "live", q: sql, format: "json" })}`
  const run = async () => {
    const started = performance.now()
    const res = await fetch(target)
    await res.arrayBuffer()
    if (res.status !== 200) throw new Error(`${res.status} from ${sql}`)
    return performance.now() - started
  }
  // A dashboard refreshes every few seconds: columns the first refresh found missing are loaded by the next.
  await run()
  await new Promise((r) => setTimeout(r, 1000))
  for (let i = 0; i < 20; i++) await run()
  const times: Array<number> = []
  for (let i = 0; i < RUNS; i++) times.push(await run())
  return times.sort((a, b) => a - b)[(RUNS - 1) >> 1]!
}

const results: Record<string, Array<number>> = {}
for (const [label, flags] of [["memory cache", []], ["DuckDB alone", ["--disable-parquet-mem-cache"]]] as const) {
  // A persist at most every 10 s: the old part reaches files first; the recent part is timed while it is buffered
  // (both panels take ~1 s), and timed again should a persist have come in between.
  const strata = await startStrata(18191, ["--persist-interval", "10s", ...flags])
  try {
    const nowS = Math.floor(Date.now() / 1000)
    await write(strata.url, nowS - 3600, nowS - 600)
    for (let i = 0; i < 200 && (await files(strata.url)) === 0; i++) await new Promise((r) => setTimeout(r, 100))
    await write(strata.url, nowS - 600, nowS)
    for (let attempt = 0; attempt < 5; attempt++) {
      const before = await files(strata.url)
      const times: Array<number> = []
      for (const panel of panels) times.push(await median(strata.url, panel.sql))
      if ((await files(strata.url)) !== before) continue
      results[label] = times
      break
    }
    if (results[label] === undefined) throw new Error("the buffer was persisted during every attempt")
    const metrics = await (await fetch(`${strata.url}/metrics`)).text()
    const answered = /^strata_parquet_mem_cache_answers_total (\d+)/m.exec(metrics)?.[1] ?? "0"
    console.log(
      `${label}: ${panels.map((p, i) => `${p.name} ${results[label]![i]!.toFixed(2)} ms`).join(", ")}; ` +
        `${answered} answers from memory, ${await files(strata.url)} files`
    )
  } finally {
    await stop(strata)
  }
}
console.log(
  panels
    .map((p, i) => `${p.name}: memory cache ${results["memory cache"]![i]!.toFixed(2)} ms, DuckDB alone ${results["DuckDB alone"]![i]!.toFixed(2)} ms`)
    .join("\n")
)
