import { afterAll, describe, expect, it } from "@effect/vitest"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"
import { spawnServer, tempDir, type ChildServer } from "../support/server.ts"
import { countRows, parquetFrom, waitForJob } from "./support.ts"

const running: Array<ChildServer> = []
afterAll(() => Promise.all(running.map((s) => s.kill())))

const FILES = 8
const ROWS = 200_000

describe("kill -9 in the middle of an import job", () => {
  it("resumes from the first file not recorded as imported: every row exactly once, no file half", async () => {
    const importDir = tempDir("strata-import-crash-src-")
    const dataDir = tempDir("strata-import-crash-")
    for (let f = 0; f < FILES; f++) {
      await parquetFrom(
        NodePath.join(importDir, `part-${f}.parquet`),
        `SELECT 'h' || (i % 50) AS host, random() AS v, ${f} AS part, make_timestamp_ns(1704067200000000000 + (i + ${f * ROWS}) * 1000000) AS time FROM range(${ROWS}) t(i)`
      )
    }
    const args = ["--without-auth", "--import-dir", importDir]
    const first = await spawnServer(dataDir, args, 90_000)
    running.push(first)
    expect((await first.request("POST", "/api/v3/configure/database", { body: { db: "d" } })).status).toBe(200)
    const res = await first.request("POST", "/api/v3/enterprise/import", {
      body: { database: "d", table: "m", create_table: true, source: { uri: NodeUrl.pathToFileURL(importDir).href }, column_metadata: { column_mapping: { host: "tag" } } }
    })
    expect(res.status, res.text).toBe(200)
    const id = res.json().upload_uuid
    const mid = await waitForJob(first, undefined, id, (j) => j.files_done >= 1, 60_000)
    await first.kill()
    expect(mid.files_done).toBeLessThan(FILES)

    // An upload the crash cut short (no job names it) is debris.
    const cutShort = NodePath.join(dataDir, "imports", "cut-short-upload", "inputs")
    NodeFs.mkdirSync(cutShort, { recursive: true })
    NodeFs.writeFileSync(NodePath.join(cutShort, "upload.parquet"), "partial")
    const second = await spawnServer(dataDir, args, 90_000)
    running.push(second)
    const job = await waitForJob(second, undefined, id, (j) => j.status === "imported", 120_000)
    expect(job).toMatchObject({ rows_imported: FILES * ROWS, files_total: FILES, files_done: FILES })
    expect(job.files.map((f: { rows: number }) => f.rows)).toEqual(Array(FILES).fill(ROWS))
    const rows = await countRows(second, undefined, "d", "SELECT part, count(*) AS n FROM m GROUP BY part ORDER BY part")
    expect(rows).toEqual(Array.from({ length: FILES }, (_, part) => ({ part, n: ROWS })))
    // One output file per input (one window each): no orphan of the interrupted input is left in the index or on disk.
    const files = (NodeFs.readdirSync(NodePath.join(dataDir, "dbs"), { recursive: true }) as Array<string>).filter((p) => p.endsWith(".parquet"))
    expect(files.filter((p) => p.includes(`import-${id}`))).toHaveLength(FILES)
    expect(NodeFs.existsSync(NodePath.join(dataDir, "imports", "cut-short-upload"))).toBe(false)
    await second.stop()
  }, 300_000)
})
