import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"
import { progressLine } from "../../src/import/cli.ts"
import { runCli, startServer, tempDir, type InProcessServer } from "../support/server.ts"
import { countRows, parquetFrom } from "./support.ts"

let server: InProcessServer
const importDir = tempDir("strata-import-cli-")

beforeAll(async () => {
  server = await startServer({ withoutAuth: true, importDir })
  expect((await server.request("POST", "/api/v3/configure/table", { body: { db: "d", table: "m", tags: ["host"], fields: [{ name: "v", type: "int64" }] } })).status).toBe(200)
  for (let f = 0; f < 2; f++) {
    await parquetFrom(NodePath.join(importDir, "up", "sub", `f${f}.parquet`), `SELECT 'h' || (i % 3) AS host, i AS v, make_timestamp_ns(1704067200000000000 + (i + ${f * 100}) * 1000000000) AS time FROM range(100) t(i)`)
  }
  NodeFs.writeFileSync(NodePath.join(importDir, "bad.csv"), "host,v,time\na,1,2024-01-01T00:00:00Z\nb,x,2024-01-01T00:00:01Z\n")
})
afterAll(() => server.stop())

describe("strata import", () => {
  it("uploads a directory's Parquet files (one job each), follows them and prints a JSON summary", async () => {
    const res = await runCli(["import", "--host", server.url, "--database", "d", "--table", "m", "--columns", "host:tag", "--json", NodePath.join(importDir, "up")])
    expect(res.code, res.stderr).toBe(0)
    const summary = JSON.parse(res.stdout)
    expect(summary.ok).toBe(true)
    expect(
      summary.jobs.map((j: { filename: string; status: string; rows_imported: number }) => [
        j.filename,
        j.status,
        j.rows_imported
      ])
    ).toEqual([
      ["f0.parquet", "imported", 100],
      ["f1.parquet", "imported", 100]
    ])
    expect(await countRows(server, undefined, "d", "SELECT count(*) AS n FROM m")).toEqual([{ n: 200 }])
  })

  it("exits non-zero when the job fails", async () => {
    const uri = NodeUrl.pathToFileURL(NodePath.join(importDir, "bad.csv")).href
    const res = await runCli(["import", "--host", server.url, "--database", "d", "--table", "m", "--columns", "host:tag", "--uri", uri])
    expect(res.code).toBe(1)
    expect(res.stdout).toMatch(/terminal_failed .*1 row\(s\) of bad.csv cannot be imported/)
  })

  it("draws a progress line with rows, percent, rate and ETA", () => {
    expect(progressLine(5000, 50, 2)).toBe(`[${"#".repeat(15)}${" ".repeat(15)}]  50%  5000 rows  2500 rows/s  ETA 2s`)
  })
})
