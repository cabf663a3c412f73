/**
 * Write benchmark: 100 hosts x 24 h of TSBS-like cpu data (864,000 lines of 10 tags + 10 fields), loaded with
 * ../shared/bench/load.mjs (5,000-line batches, 4 connections) into Strata (durable and no_sync) and into a real
 * InfluxDB 1.x from Debian. Prints lines/s for each and Strata's peak RSS.
 * usage: npx tsx scripts/bench-write.ts [--skip-influx] [--hours N]
 */
import { cpuData, load, peakRssBytes, startInfluxV1, startStrata, stop } from "./lib.ts"

const args = process.argv.slice(2)
const hours = Number(args[args.indexOf("--hours") + 1] ?? 24) || 24
const file = cpuData(100, hours)
const results: Record<string, number> = {}

const strata = await startStrata(18181)
try {
  const durable = load(file, `${strata.url}/api/v3/write_lp?db=bench_durable&precision=ns`)
  if (durable.errors > 0) throw new Error(`strata durable errors: ${durable.firstError}`)
  results["strata_durable_lines_per_s"] = durable.lines_per_s
  console.log(`strata durable:  ${durable.lines_per_s.toLocaleString()} lines/s (${durable.seconds}s)`)
  const nosync = load(file, `${strata.url}/api/v3/write_lp?db=bench_nosync&precision=ns&no_sync=true`)
  if (nosync.errors > 0) throw new Error(`strata no_sync errors: ${nosync.firstError}`)
  results["strata_nosync_lines_per_s"] = nosync.lines_per_s
  console.log(`strata no_sync:  ${nosync.lines_per_s.toLocaleString()} lines/s (${nosync.seconds}s)`)
  results["strata_peak_rss_mb"] = Math.round(peakRssBytes(strata.child.pid!) / 1048576)
  console.log(`strata peak RSS: ${results["strata_peak_rss_mb"]} MiB`)
} finally {
  await stop(strata.child)
}

if (!args.includes("--skip-influx")) {
  const influx = await startInfluxV1(18086)
  try {
    await fetch(`${influx.url}/query?q=${encodeURIComponent("CREATE DATABASE bench")}`, { method: "POST" })
    const v1 = load(file, `${influx.url}/write?db=bench&precision=ns`)
    if (v1.errors > 0) throw new Error(`influxdb errors: ${v1.firstError}`)
    results["influxdb1_lines_per_s"] = v1.lines_per_s
    console.log(`influxdb 1.x:    ${v1.lines_per_s.toLocaleString()} lines/s (${v1.seconds}s)`)
    console.log(`ratio durable/influx: ${(results["strata_durable_lines_per_s"]! / v1.lines_per_s).toFixed(2)}x (target ≥ 1.5x)`)
    console.log(`ratio no_sync/influx: ${(results["strata_nosync_lines_per_s"]! / v1.lines_per_s).toFixed(2)}x (target ≥ 3x)`)
  } finally {
    await stop(influx.child)
  }
}
console.log(JSON.stringify(results))
