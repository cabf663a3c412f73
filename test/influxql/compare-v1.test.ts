import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import type { ChildProcess } from "node:child_process"
import { spawnSync } from "node:child_process"
import * as NodeFs from "node:fs"
import { startInfluxV1, stop } from "../../scripts/lib.ts"
import { startServer, type InProcessServer } from "../support/server.ts"

// The same points written to a real InfluxDB 1.x and to Strata; the v1 JSON of each query must be identical.
const hasInfluxd = spawnSync("sh", ["-c", "command -v influxd"]).status === 0

const T0 = 1_704_067_200n * 1_000_000_000n
const lines: Array<string> = []
for (let i = 0; i < 60; i++) {
  const t = T0 + BigInt(i) * 10_000_000_000n
  for (const [h, host] of ["a", "b", "c"].entries()) {
    if (host === "c" && i % 4 !== 0) continue
    const region = host === "c" ? "" : `,region=${host === "a" ? "eu" : "us"}`
    lines.push(`cpu,host=${host}${region} usage=${((i * 7 + h * 13) % 40) * 0.25},load=${(i * 3 + h) % 11}i${i % 5 === 0 ? `,state="s${i % 3}"` : ""} ${t + BigInt(h) * 1_000_000_000n}`)
  }
  if (i % 10 === 0) lines.push(`mem,host=a free=${1000 - i}i ${t}`)
}
const RANGE = `time >= '2024-01-01T00:00:00Z' AND time < '2024-01-01T00:10:00Z'`

const QUERIES = [
  "SELECT * FROM cpu WHERE host = 'c'",
  "SELECT usage, load FROM cpu WHERE usage > 8 AND host =~ /^(a|b)$/ LIMIT 5",
  "SELECT * FROM cpu GROUP BY host LIMIT 3 OFFSET 1",
  `SELECT mean(usage), max(load), count(usage) FROM cpu WHERE ${RANGE} GROUP BY time(1m)`,
  `SELECT mean(usage) FROM cpu WHERE ${RANGE} GROUP BY time(1m), host fill(none)`,
  `SELECT sum(load), spread(usage) FROM cpu WHERE ${RANGE} AND host = 'c' GROUP BY time(30s) fill(previous)`,
  `SELECT first(usage), last(usage) FROM cpu WHERE ${RANGE} GROUP BY time(2m, 30s), * fill(0)`,
  `SELECT mean(usage) FROM cpu WHERE ${RANGE} AND host = 'c' GROUP BY time(20s) fill(linear) LIMIT 6`,
  "SELECT max(usage) FROM cpu",
  "SELECT min(usage), load, host FROM cpu",
  "SELECT percentile(usage, 90), median(load), count(state) FROM cpu GROUP BY region",
  "SELECT distinct(state) FROM cpu",
  "SELECT usage * 2 + 1, load / 2 FROM cpu WHERE host = 'b' ORDER BY time DESC LIMIT 3",
  "SELECT last(usage) FROM cpu GROUP BY host SLIMIT 2",
  "SELECT mean(free) FROM mem, cpu",
  `SELECT count(usage) FROM cpu WHERE ${RANGE} GROUP BY time(5m) tz('America/Chicago')`,
  "SHOW MEASUREMENTS",
  "SHOW TAG KEYS",
  `SHOW TAG VALUES WITH KEY IN ("host", "region")`,
  "SHOW FIELD KEYS",
  "SHOW SERIES"
]

describe.skipIf(!hasInfluxd)("InfluxQL answers match a real InfluxDB 1.x", () => {
  let server: InProcessServer
  let influx: { child: ChildProcess; dir: string; url: string }

  beforeAll(async () => {
    const port = 20_000 + Math.floor(Math.random() * 20_000)
    ;[server, influx] = await Promise.all([startServer({ withoutAuth: true }), startInfluxV1(port)])
    await fetch(`${influx.url}/query`, { method: "POST", body: new URLSearchParams({ q: "CREATE DATABASE t" }) })
    const body = lines.join("\n")
    const a = await fetch(`${influx.url}/write?db=t`, { method: "POST", body })
    expect(a.status).toBe(204)
    const b = await server.request("POST", "/api/v3/write_lp?db=t&precision=nanosecond", { body })
    expect(b.status).toBe(204)
  }, 60_000)
  afterAll(async () => {
    await server?.stop()
    if (influx !== undefined) {
      await stop(influx.child)
      NodeFs.rmSync(influx.dir, { recursive: true, force: true })
    }
  })

  for (const q of QUERIES) {
    it(q, async () => {
      const params = new URLSearchParams({ db: "t", q })
      const expected = await fetch(`${influx.url}/query?${params}`).then((r) => r.json())
      const actual = (await server.request("GET", `/query?${params}`)).json()
      expect(JSON.stringify(expected)).toContain(`"series"`)
      expect(actual).toEqual(expected)
    })
  }
})
