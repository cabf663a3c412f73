import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { expectError, expectOk } from "../support/expect.ts"
import { createOperatorToken, startServer, type InProcessServer } from "../support/server.ts"

let server: InProcessServer
let token: string

beforeAll(async () => {
  server = await startServer()
  token = await createOperatorToken(server)
})
afterAll(() => server.stop())

const scrape = async () => {
  const res = expectOk(await server.request("GET", "/metrics", { token }))
  return res.text
}

/** The value of one sample line, `name{labels} value`; undefined when absent. */
const sample = (text: string, name: string, labels: Record<string, string> = {}) => {
  const wanted = Object.entries(labels)
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (m === null || m[1] !== name) continue
    const have = new Map([...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!] as const))
    if (wanted.every(([k, v]) => have.get(k) === v) && have.size === wanted.length) return Number(m[3])
  }
  return undefined
}

describe("GET /metrics", () => {
  it("answers Prometheus text format 0.0.4", async () => {
    const res = expectOk(await server.request("GET", "/metrics", { token }))
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8")
    expect(res.text.endsWith("\n")).toBe(true)
  })

  it("every sample line is well-formed and every metric family has a TYPE line before its samples", async () => {
    const text = await scrape()
    const typed = new Map<string, string>()
    for (const line of text.trimEnd().split("\n")) {
      const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line)
      if (type !== null) {
        expect(typed.has(type[1]!)).toBe(false)
        typed.set(type[1]!, type[2]!)
        continue
      }
      if (line.startsWith("# HELP ")) continue
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)$/.exec(line)
      expect(m, `bad sample line: ${line}`).not.toBeNull()
      const name = m![1]!
      const family = typed.has(name) ? name : name.replace(/_(bucket|sum|count)$/, "")
      expect(typed.has(family), `no TYPE for ${name}`).toBe(true)
    }
    expect(typed.get("http_requests_total")).toBe("counter")
    expect(typed.get("http_request_duration_seconds")).toBe("histogram")
    expect(typed.get("process_start_time_seconds")).toBe("gauge")
  })

  it("http_requests_total counts requests by method, path and status", async () => {
    const ok = { method: "GET", path: "/health", status: "200" }
    const unauthenticated = { method: "GET", path: "/health", status: "401" }
    const before = await scrape()
    await server.request("GET", "/health", { token })
    await server.request("GET", "/health", { token })
    await server.request("GET", "/health")
    const after = await scrape()
    expect((sample(after, "http_requests_total", ok) ?? 0) - (sample(before, "http_requests_total", ok) ?? 0)).toBe(2)
    expect((sample(after, "http_requests_total", unauthenticated) ?? 0) - (sample(before, "http_requests_total", unauthenticated) ?? 0)).toBe(1)
  })

  it("http_request_duration_seconds has cumulative buckets ending in +Inf equal to its count", async () => {
    await server.request("POST", "/ping", { token })
    const text = await scrape()
    const labels = { method: "POST", path: "/ping", status: "200" }
    const count = sample(text, "http_request_duration_seconds_count", labels)
    expect(count).toBeGreaterThanOrEqual(1)
    expect(sample(text, "http_request_duration_seconds_bucket", { ...labels, le: "+Inf" })).toBe(count)
    const buckets = text
      .split("\n")
      .filter((l) => l.startsWith("http_request_duration_seconds_bucket{") && l.includes('path="/ping"') && l.includes('method="POST"'))
      .map((l) => Number(l.slice(l.lastIndexOf(" ") + 1)))
    expect(buckets.length).toBeGreaterThan(1)
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b))
    expect(sample(text, "http_request_duration_seconds_sum", labels)).toBeGreaterThan(0)
  })

  it("event log appends and commits grow with catalog changes", async () => {
    const before = await scrape()
    expectOk(await server.request("POST", "/api/v3/configure/database", { token, body: { db: "counted" } }))
    const after = await scrape()
    expect(sample(after, "strata_eventlog_appends_total")! - sample(before, "strata_eventlog_appends_total")!).toBe(1)
    expect(sample(after, "strata_eventlog_commits_total")!).toBeGreaterThan(sample(before, "strata_eventlog_commits_total")!)
    expect(sample(after, "strata_eventlog_commit_duration_seconds_count")).toBe(sample(after, "strata_eventlog_commits_total"))
  })

  it("reports process metrics", async () => {
    const text = await scrape()
    expect(sample(text, "process_resident_memory_bytes")).toBeGreaterThan(0)
    expect(sample(text, "process_cpu_seconds_total")).toBeGreaterThan(0)
    const started = sample(text, "process_start_time_seconds")!
    expect(Math.abs(started - Date.now() / 1000)).toBeLessThan(3600)
  })

  it("needs a token: 401 without one", async () => {
    expectError(await server.request("GET", "/metrics"), 401, "the request was not authenticated")
  })

  it("exposes InfluxDB 3's names too: writes by database, catalog operations, the query log, last-cache lookups", async () => {
    const before = await scrape()
    const lines = (name: string, db: string) => sample(before, name, { db }) ?? 0
    const written = lines("influxdb3_write_lines_total", "influx_names")
    const rejected = lines("influxdb3_write_lines_rejected_total", "influx_names")
    const bytes = lines("influxdb3_write_bytes_total", "influx_names")
    const body = "cpu,host=a usage=1\ncpu,host=b usage=2\nnot line protocol"
    await server.request("POST", "/api/v3/write_lp?db=influx_names&accept_partial=true", { token, body })
    await server.request("POST", "/api/v3/configure/last_cache", { token, body: { db: "influx_names", table: "cpu", name: "lc" } })
    await server.request("GET", "/api/v3/query_sql?db=influx_names&q=SELECT%20*%20FROM%20last_cache('cpu')", { token })
    const after = await scrape()
    expect(sample(after, "influxdb3_write_lines_total", { db: "influx_names" })).toBe(written + 2)
    expect(sample(after, "influxdb3_write_lines_rejected_total", { db: "influx_names" })).toBe(rejected + 1)
    expect(sample(after, "influxdb3_write_bytes_total", { db: "influx_names" })).toBe(bytes + Buffer.byteLength(body))
    expect(sample(after, "influxdb3_catalog_operations_total", { type: "LastCacheCreated" })).toBeGreaterThanOrEqual(1)
    expect(sample(after, "influxdb3_last_values_cache_query_duration_seconds_count")).toBeGreaterThanOrEqual(1)
    expect(sample(after, "influxdb_iox_query_log_end2end_duration_seconds_count")).toBeGreaterThan(
      sample(before, "influxdb_iox_query_log_end2end_duration_seconds_count") ?? 0
    )
    expect(after).toContain("# TYPE influxdb_iox_query_log_parquet_files histogram")
  })
})
