import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as NodeHttp from "node:http"
import { startServer, type InProcessServer } from "../support/server.ts"
import { countRows, waitForJob } from "./support.ts"

let server: InProcessServer
beforeAll(async () => {
  server = await startServer({ withoutAuth: true, persistIntervalMs: 3_600_000 })
  expect((await server.request("POST", "/api/v3/configure/database", { body: { db: "d" } })).status).toBe(200)
})
afterAll(() => server.stop())

describe("progress within one file", () => {
  it("GET shows the bytes of the file in progress while it is read, before the file is done", async () => {
    const csv =
      "host,v,time\n" + Array.from({ length: 4000 }, (_, i) => `h${i % 7},${i},${1704067200 + i}`).join("\n") + "\n"
    const bytes = Buffer.from(csv)
    const half = Math.floor(bytes.length / 2)
    let release: () => void = () => {}
    const released = new Promise<void>((r) => (release = r))
    // A source that sends half of the file, then waits until the test has seen the progress.
    const http = NodeHttp.createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/csv", "content-length": String(bytes.length) })
      res.write(bytes.subarray(0, half))
      void released.then(() => res.end(bytes.subarray(half)))
    })
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r))
    try {
      const port = (http.address() as { port: number }).port
      const res = await server.request("POST", "/api/v3/enterprise/import", {
        body: {
          database: "d",
          table: "slow",
          create_table: true,
          source: { uri: `http://127.0.0.1:${port}/slow.csv`, precision: "s" },
          column_metadata: { column_mapping: { host: "tag" } }
        }
      })
      expect(res.status, res.text).toBe(200)
      const id = res.json().upload_uuid
      const midway = await waitForJob(server, undefined, id, (j) => j.files[0]?.progress?.bytes_done === half)
      expect(midway).toMatchObject({ status: "dispatched", files_done: 0, rows_imported: 0, percent_complete: 0 })
      expect(midway.files[0]).toMatchObject({
        name: "slow.csv",
        status: "running",
        progress: { phase: "downloading", bytes_done: half, rows_done: 0 }
      })
      release()
      const job = await waitForJob(server, undefined, id, (j) => ["imported", "terminal_failed"].includes(j.status))
      expect(job).toMatchObject({ status: "imported", rows_imported: 4000, percent_complete: 100 })
      expect(job.files[0].progress).toBeUndefined()
      expect(await countRows(server, undefined, "d", "SELECT count(*) AS n FROM slow")).toEqual([{ n: 4000 }])
    } finally {
      release()
      http.close()
    }
  })
})
