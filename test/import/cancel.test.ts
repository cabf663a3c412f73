import { afterAll, describe, expect, it } from "@effect/vitest"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"
import { startServer, tempDir, type InProcessServer } from "../support/server.ts"
import { countRows, parquetFrom, waitForJob } from "./support.ts"

const running: Array<InProcessServer> = []
afterAll(() => Promise.all(running.map((s) => s.stop())))

const FILES = 8
const ROWS = 200_000

describe("DELETE /api/v3/enterprise/import/{id} on a running job", () => {
  it("stops it: status cancelled, the files already imported stay whole, nothing of the file in progress is visible", async () => {
    const importDir = tempDir("strata-import-cancel-src-")
    for (let f = 0; f < FILES; f++) {
      await parquetFrom(
        NodePath.join(importDir, `part-${f}.parquet`),
        `SELECT 'h' || (i % 50) AS host, random() AS v, ${f} AS part, make_timestamp_ns(1704067200000000000 + (i + ${f * ROWS}) * 1000000) AS time FROM range(${ROWS}) t(i)`
      )
    }
    const server = await startServer({ withoutAuth: true, importDir, persistIntervalMs: 3_600_000 })
    running.push(server)
    expect((await server.request("POST", "/api/v3/configure/database", { body: { db: "d" } })).status).toBe(200)
    const res = await server.request("POST", "/api/v3/enterprise/import", {
      body: { database: "d", table: "m", create_table: true, source: { uri: NodeUrl.pathToFileURL(importDir).href }, column_metadata: { column_mapping: { host: "tag" } } }
    })
    const id = res.json().upload_uuid
    await waitForJob(server, undefined, id, (j) => j.files_done >= 1, 60_000)
    const del = await server.request("DELETE", `/api/v3/enterprise/import/${id}`)
    expect(del.status, del.text).toBe(200)
    expect(del.json().status).toBe("cancelled")
    const done = del.json().files_done
    expect(done).toBeLessThan(FILES)
    // Given time, nothing more happens: the runner records nothing after a cancel.
    await new Promise((r) => setTimeout(r, 1500))
    const after = await waitForJob(server, undefined, id, () => true)
    expect(after).toMatchObject({ status: "cancelled", files_done: done, rows_imported: done * ROWS })
    expect(after.completed_at).not.toBeNull()
    const parts = await countRows(server, undefined, "d", "SELECT part, count(*) AS n FROM m GROUP BY part ORDER BY part")
    expect(parts).toEqual(Array.from({ length: done }, (_, part) => ({ part, n: ROWS })))
    const files = (NodeFs.readdirSync(NodePath.join(server.dataDir, "dbs"), { recursive: true }) as Array<string>).filter((p) => p.includes(`import-${id}`))
    expect(files.filter((p) => p.endsWith(".parquet"))).toHaveLength(done)
    // Cancelling again changes nothing.
    expect((await server.request("DELETE", `/api/v3/enterprise/import/${id}`)).json().status).toBe("cancelled")
  })
})
