/**
 * Write benchmark: 100 hosts x 24 h of TSBS-like cpu data (864,000 lines of 10 tags + 10 fields), loaded with
 * ../shared/bench/load.mjs (5,000-line batches, 4 connections) into Strata (durable and no_sync) and into a real
 * InfluxDB 1.x from Debian. Prints lines/s for each and Strata's peak RSS.
 * usage: npx tsx scripts/bench-write.ts [--skip-influx] [--hours N] [--runs N]
 *   [--server-args "--persist-interval 2s ..."]
 * --server-args passes flags to Strata, e.g. a short --persist-interval so that persists run during the load.
 * Each load runs N times (default 3; Strata into fresh databases) and the median is what counts: on a shared 2-core
 * machine single runs vary by tens of percent, for InfluxDB as much as for Strata.
 */
import { cpuData, load, peakRssBytes, startInfluxV1, startStrata, stop } from "./lib.ts"

const args = process.argv.slice(2)
const option = (name: string, fallback: number) =>
  args.includes(name) ? Number(args[args.indexOf(name) + 1]) || fallback : fallback
const hours = option("--hours", 24)
const runs = option("--runs", 3)
const serverArgs = args.includes("--server-args") ? (args[args.indexOf("--server-args") + 1] ?? "").split(/\s+/).filter(Boolean) : []
const file = cpuData(100, hours)
const results: Record<string, number> = {}
const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!

/** Loads the file `runs` times (into a fresh database each time) and returns the median lines/s. */
const loadRuns = (label: string, url: (run: number) => string) => {
  const rates: Array<number> = []
  for (let run = 1; run <= runs; run++) {
    const r = load(file, url(run))
    rates.push(r.lines_per_s)
    console.log(`${`${label}:`.padEnd(16)} ${r.lines_per_s.toLocaleString()} lines/s (${r.seconds}s)${runs > 1 ? ` [run ${run}/${runs}]` : ""}`)
  }
  const m = median(rates)
  if (runs > 1) console.log(`${`${label} median:`.padEnd(16)} ${m.toLocaleString()} lines/s`)
  return m
}

const strata = await startStrata(18181, serverArgs)
try {
  results["strata_durable_lines_per_s"] = loadRuns("strata durable", (run) => `${strata.url}/api/v3/write_lp?db=bench_durable_${run}&precision=ns`)
  results["strata_nosync_lines_per_s"] = loadRuns("strata no_sync", (run) => `${strata.url}/api/v3/write_lp?db=bench_nosync_${run}&precision=ns&no_sync=true`)
  results["strata_peak_rss_mb"] = Math.round(peakRssBytes(strata.child.pid!) / 1048576)
  console.log(`strata peak RSS: ${results["strata_peak_rss_mb"]} MiB`)
} finally {
  await stop(strata)
}

if (!args.includes("--skip-influx")) {
  const influx = await startInfluxV1(18086, "bench")
  try {
    const v1 = loadRuns("influxdb 1.x", () => `${influx.url}/write?db=bench&precision=ns`)
    results["influxdb1_lines_per_s"] = v1
    console.log(`ratio durable/influx: ${(results["strata_durable_lines_per_s"]! / v1).toFixed(2)}x (target ≥ 1.5x)`)
    console.log(`ratio no_sync/influx: ${(results["strata_nosync_lines_per_s"]! / v1).toFixed(2)}x (target ≥ 3x)`)
  } finally {
    await stop(influx)
  }
}
console.log(JSON.stringify(results))
