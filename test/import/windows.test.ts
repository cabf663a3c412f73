import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { DuckDBInstance } from "@duckdb/node-api"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"
import { startServer, tempDir, type InProcessServer } from "../support/server.ts"
import { countRows, parquetFrom, waitForJob } from "./support.ts"

let server: InProcessServer
const importDir = tempDir("strata-import-windows-src-")
const DAY = 86_400_000_000_000n
const T0 = 1704067200000000000n

beforeAll(async () => {
  server = await startServer({ withoutAuth: true, importDir, persistIntervalMs: 3_600_000 })
  expect((await server.request("POST", "/api/v3/configure/database", { body: { db: "d" } })).status).toBe(200)
})
afterAll(() => server.stop())

/** Rows of the Parquet files an import job wrote, in file order, one list per file (by window name). */
const importedFiles = async (jobId: string) => {
  const dbs = NodePath.join(server.dataDir, "dbs")
  const files = (NodeFs.readdirSync(dbs, { recursive: true }) as Array<string>)
    .filter((p) => p.includes(`import-${jobId}`))
    .sort()
  const db = await DuckDBInstance.create(":memory:")
  const c = await db.connect()
  try {
    const out: Array<{ readonly window: string; readonly rows: Array<Record<string, unknown>> }> = []
    for (const f of files) {
      const reader = await c.runAndReadAll(
        `SELECT * EXCLUDE (time), epoch_ns(time) AS t FROM read_parquet('${NodePath.join(dbs, f)}')`
      )
      out.push({ window: NodePath.basename(NodePath.dirname(f)), rows: reader.getRowObjectsJson() })
    }
    return out
  } finally {
    c.closeSync()
    db.closeSync()
  }
}

const run = async (table: string, file: string, mapping: Record<string, string>) => {
  const res = await server.request("POST", "/api/v3/enterprise/import", {
    body: {
      database: "d",
      table,
      create_table: true,
      source: { uri: NodeUrl.pathToFileURL(NodePath.join(importDir, file)).href },
      column_metadata: { column_mapping: mapping }
    }
  })
  expect(res.status, res.text).toBe(200)
  return waitForJob(server, undefined, res.json().upload_uuid, (j) => ["imported", "compacted", "terminal_failed"].includes(j.status), 60_000)
}

const byKey = (a: Record<string, unknown>, b: Record<string, unknown>, tags: ReadonlyArray<string>) => {
  for (const k of [...tags, "t"]) {
    const [x, y] = [a[k], b[k]]
    if (x === y) continue
    // NULL tags sort last, as the compactor sorts them.
    if (x === null) return 1
    if (y === null) return -1
    if (k === "t") return BigInt(x as string) < BigInt(y as string) ? -1 : 1
    return String(x) < String(y) ? -1 : 1
  }
  return 0
}

describe("the files an import writes", () => {
  it("are one per 24-hour window (before 1970 too), sorted by series key then time, duplicates merged", async () => {
    // Shuffled rows of 5 hosts × 3 regions (some NULL) over three days, one the day before 1970; the last two rows
    // repeat a series and time: field by field the later row wins.
    await parquetFrom(
      NodePath.join(importDir, "shuffled.parquet"),
      `SELECT * FROM (
         SELECT 'h' || (i % 5) AS host, CASE WHEN i % 7 = 0 THEN NULL ELSE 'r' || (i % 3) END AS region,
                i AS v, CAST(NULL AS DOUBLE) AS w,
                make_timestamp_ns(CASE WHEN i % 11 = 0 THEN -1000 * (i + 1) ELSE ${T0} + (i % 3) * ${DAY} + i * 1000 END) AS time
         FROM range(3000) t(i) ORDER BY hash(i)
       ) UNION ALL SELECT 'h1', 'r1', NULL, 0.5, make_timestamp_ns(${T0} + 1000)
         UNION ALL SELECT 'h1', 'r1', 7, NULL, make_timestamp_ns(${T0} + 1000)`
    )
    const job = await run("win", "shuffled.parquet", { host: "tag", region: "tag" })
    expect(job).toMatchObject({ status: "imported", rows_imported: 3002, files_done: 1 })
    const files = await importedFiles(job.upload_uuid)
    expect(files.map((f) => f.window)).toEqual(["1969-12-31", "2024-01-01", "2024-01-02", "2024-01-03"])
    for (const f of files) {
      expect(f.rows.length).toBeGreaterThan(0)
      expect(f.rows).toEqual([...f.rows].sort((a, b) => byKey(a, b, ["host", "region"])))
    }
    expect(files.reduce((n, f) => n + f.rows.length, 0)).toBe(3001)
    expect(await countRows(server, undefined, "d", "SELECT count(*) AS n, count(region) AS r FROM win")).toEqual([
      { n: 3001, r: 3001 - 429 }
    ])
    expect(
      await countRows(server, undefined, "d", `SELECT host, region, v, w FROM win WHERE time = make_timestamp_ns(${T0 + 1000n})`)
    ).toEqual([{ host: "h1", region: "r1", v: 7, w: 0.5 }])
  })

  it("are sorted by the tags themselves when the series are too many to rank", async () => {
    // 80,000 series × 3 tags: past the ranked sort's limit.
    await parquetFrom(
      NodePath.join(importDir, "many.parquet"),
      `SELECT 'host-' || (i * 7919 % 80000) AS host, 'rack-' || (i % 13) AS rack, 'dc-' || (i % 2) AS dc, i AS v,
              make_timestamp_ns(${T0} + i * 1000) AS time FROM range(80000) t(i)`
    )
    const job = await run("many", "many.parquet", { host: "tag", rack: "tag", dc: "tag" })
    expect(job).toMatchObject({ status: "imported", rows_imported: 80000 })
    const files = await importedFiles(job.upload_uuid)
    expect(files).toHaveLength(1)
    const rows = files[0]!.rows
    expect(rows).toHaveLength(80000)
    expect(rows).toEqual([...rows].sort((a, b) => byKey(a, b, ["host", "rack", "dc"])))
    expect(await countRows(server, undefined, "d", "SELECT count(DISTINCT host) AS n FROM many")).toEqual([{ n: 80000 }])
  })
})
