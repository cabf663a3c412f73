import { Effect, Metric, MetricBoundaries, MetricState } from "effect"
import type { MetricKey } from "effect/MetricKey"

export const httpRequestsTotal = Metric.counter("http_requests_total", { description: "HTTP requests by route, method and status" })
export const httpRequestDuration = Metric.histogram(
  "http_request_duration_seconds",
  MetricBoundaries.exponential({ start: 0.0005, factor: 2, count: 16 }),
  "HTTP request latency by route and method"
)
/** Families under InfluxDB 3's own names, for dashboards and alerts built against it. */
export const influxWriteLinesTotal = Metric.counter("influxdb3_write_lines_total", { description: "Lines written, by database" })
export const influxWriteLinesRejectedTotal = Metric.counter("influxdb3_write_lines_rejected_total", { description: "Lines rejected, by database" })
export const influxWriteBytesTotal = Metric.counter("influxdb3_write_bytes_total", { description: "Line-protocol bytes written, by database" })
export const influxCatalogOperationsTotal = Metric.counter("influxdb3_catalog_operations_total", {
  description: "Catalog operations committed, by type"
})
export const influxLastCacheQueryDuration = Metric.histogram(
  "influxdb3_last_values_cache_query_duration_seconds",
  MetricBoundaries.exponential({ start: 0.00001, factor: 4, count: 10 }),
  "Time to answer a last_cache() call from the last-value cache"
)
export const ioxQueryLogEnd2end = Metric.histogram(
  "influxdb_iox_query_log_end2end_duration_seconds",
  MetricBoundaries.exponential({ start: 0.0005, factor: 2, count: 16 }),
  "End-to-end duration of finished queries"
)
export const ioxQueryLogParquetFiles = Metric.histogram(
  "influxdb_iox_query_log_parquet_files",
  MetricBoundaries.exponential({ start: 1, factor: 4, count: 8 }),
  "Parquet files scanned by finished queries"
)
export const actorRestartsTotal = Metric.counter("strata_actor_restarts_total", { description: "Actor loops restarted after a defect" })

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")

const labels = (key: MetricKey.Untyped, extra?: string) => {
  const parts = [...key.tags].sort((a, b) => a.key.localeCompare(b.key)).map((t) => `${t.key}="${escapeLabel(t.value)}"`)
  if (extra !== undefined) parts.push(extra)
  return parts.length === 0 ? "" : `{${parts.join(",")}}`
}

const processLines = (): Array<string> => {
  const mem = process.memoryUsage()
  const cpu = process.cpuUsage()
  return [
    "# HELP process_resident_memory_bytes Resident memory size in bytes.",
    "# TYPE process_resident_memory_bytes gauge",
    `process_resident_memory_bytes ${mem.rss}`,
    "# HELP process_heap_used_bytes V8 heap memory in use in bytes.",
    "# TYPE process_heap_used_bytes gauge",
    `process_heap_used_bytes ${mem.heapUsed}`,
    "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.",
    "# TYPE process_cpu_seconds_total counter",
    `process_cpu_seconds_total ${(cpu.user + cpu.system) / 1e6}`,
    "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.",
    "# TYPE process_start_time_seconds gauge",
    // The process's own start (the time origin of `performance`), not a reading of the clock.
    `process_start_time_seconds ${Math.floor(performance.timeOrigin / 1000)}`,
    "# HELP process_uptime_seconds Time since the process started in seconds.",
    "# TYPE process_uptime_seconds gauge",
    `process_uptime_seconds ${process.uptime()}`
  ]
}

/** Every metric of the process in Prometheus text format. */
export const renderPrometheus = Effect.map(Metric.snapshot, (pairs) => {
  const byName = new Map<string, Array<(typeof pairs)[number]>>()
  for (const pair of pairs) {
    const name = pair.metricKey.name
    if (name.startsWith("effect_")) continue
    const list = byName.get(name) ?? []
    list.push(pair)
    byName.set(name, list)
  }
  const out: Array<string> = []
  for (const [name, list] of [...byName.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const first = list[0]!
    const description = first.metricKey.description
    // promtool wants HELP on every family; a metric declared without a description is named instead.
    out.push(`# HELP ${name} ${(description._tag === "Some" ? description.value : name).replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`)
    const state = first.metricState
    const type = MetricState.isCounterState(state) ? "counter" : MetricState.isGaugeState(state) ? "gauge" : MetricState.isHistogramState(state) ? "histogram" : "untyped"
    out.push(`# TYPE ${name} ${type}`)
    for (const { metricKey: key, metricState: s } of list) {
      if (MetricState.isCounterState(s) || MetricState.isGaugeState(s)) {
        out.push(`${name}${labels(key)} ${MetricState.isCounterState(s) ? s.count : s.value}`)
      } else if (MetricState.isHistogramState(s)) {
        for (const [le, n] of s.buckets) if (Number.isFinite(le)) out.push(`${name}_bucket${labels(key, `le="${le}"`)} ${n}`)
        out.push(`${name}_bucket${labels(key, 'le="+Inf"')} ${s.count}`)
        out.push(`${name}_sum${labels(key)} ${s.sum}`)
        out.push(`${name}_count${labels(key)} ${s.count}`)
      }
    }
  }
  out.push(...processLines())
  return out.join("\n") + "\n"
})
