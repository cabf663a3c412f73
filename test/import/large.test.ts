import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { expectError } from "../support/expect.ts"
import { startServer, tempDir, type InProcessServer } from "../support/server.ts"
import { countRows, parquetFrom, upload, waitForJob } from "./support.ts"

let server: InProcessServer
let big: Uint8Array
const ROWS = 2_000_000

beforeAll(async () => {
  server = await startServer({ withoutAuth: true, maxImportSize: 64 * 1024 * 1024 })
  expect((await server.request("POST", "/api/v3/configure/table", { body: { db: "d", table: "big", tags: ["host"], fields: [{ name: "v", type: "float64" }] } })).status).toBe(200)
  // Random doubles do not compress: tens of MB.
  const path = await parquetFrom(
    NodePath.join(tempDir("strata-import-big-"), "big.parquet"),
    `SELECT 'h' || (i % 1000) AS host, random() AS v, random() AS w, make_timestamp_ns(1704067200000000000 + i * 1000000) AS time FROM range(${ROWS}) t(i)`
  )
  big = NodeFs.readFileSync(path)
})
afterAll(() => server.stop())

describe("large uploads", () => {
  it("a multi-ten-MB upload is streamed to disk, staged whole and imported", async () => {
    expect(big.byteLength).toBeGreaterThan(20 * 1024 * 1024)
    const t0 = Date.now()
    const res = await upload(server, undefined, { database: "d", table: "big", column_metadata: '{"column_mapping":{"host":"tag"}}' }, big, "big.parquet")
    expect(res.status, res.text).toBe(200)
    expect(res.json()).toMatchObject({ size_bytes: big.byteLength, row_count: ROWS })
    console.log("upload took", Date.now() - t0)
    const done = await waitForJob(server, undefined, res.json().upload_uuid, (j) => ["imported", "failed", "terminal_failed"].includes(j.status), 120_000)
    expect(done.last_message).toBeNull()
    expect(done.status).toBe("imported")
    expect(await countRows(server, undefined, "d", "SELECT count(*) AS n, count(DISTINCT host) AS hosts FROM big")).toEqual([{ n: ROWS, hosts: 1000 }])
    // The staged upload is gone once the job is done.
    expect(NodeFs.readdirSync(NodePath.join(server.dataDir, "imports", res.json().upload_uuid))).not.toContain("inputs")
  })

  it("answers 413 past --max-import-size and keeps nothing of the upload", async () => {
    const small = await startServer({ withoutAuth: true, maxImportSize: 1024 * 1024 })
    try {
      expect((await small.request("POST", "/api/v3/configure/table", { body: { db: "d", table: "big", tags: ["host"], fields: [{ name: "v", type: "float64" }] } })).status).toBe(200)
      expectError(await upload(small, undefined, { database: "d", table: "big" }, big, "big.parquet"), 413, /--max-import-size \(1048576 bytes\)/)
      const staged = NodePath.join(small.dataDir, "imports")
      expect((NodeFs.readdirSync(staged, { recursive: true }) as Array<string>).filter((p) => p.endsWith(".parquet"))).toEqual([])
    } finally {
      await small.stop()
    }
  })
})
