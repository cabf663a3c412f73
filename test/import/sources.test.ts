import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as NodeFs from "node:fs"
import * as NodeHttp from "node:http"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"
import { expectError } from "../support/expect.ts"
import { startServer, tempDir, type InProcessServer } from "../support/server.ts"
import { countRows, parquetFrom, waitForJob } from "./support.ts"

let server: InProcessServer
const importDir = tempDir("strata-import-dir-")
const outside = tempDir("strata-outside-")
const url = (p: string) => NodeUrl.pathToFileURL(NodePath.join(importDir, p)).href
const start = (body: unknown, headers: Record<string, string> = {}) => server.request("POST", "/api/v3/enterprise/import", { body, headers })
const finished = (j: { status: string }) => ["imported", "compacted", "terminal_failed", "cancelled"].includes(j.status)

beforeAll(async () => {
  server = await startServer({ withoutAuth: true, importDir, persistIntervalMs: 3_600_000 })
  expect((await server.request("POST", "/api/v3/configure/database", { body: { db: "d" } })).status).toBe(200)
  NodeFs.writeFileSync(
    NodePath.join(importDir, "cpu.csv"),
    "host,usage,time\n" + "a,1.5,2024-01-01T00:00:00Z\n" + "b,oops,2024-01-01T00:00:01Z\n" + "c,3,1704067202000000000\n" + "d,4,\n" + "e,5.5,2024-01-02T00:00:00.5Z\n"
  )
  NodeFs.writeFileSync(
    NodePath.join(importDir, "mem.ndjson"),
    ['{"host":"a","used":10,"ok":true,"time":"2024-01-01T00:00:00Z"}', '{"host":"b","used":"many","ok":false,"time":"2024-01-01T00:00:01Z"}', '{"host":"c","used":30,"time":1704067202000}'].join("\n") + "\n"
  )
  NodeFs.writeFileSync(
    NodePath.join(importDir, "disk.lp"),
    [
      "# a comment",
      "disk,host=a used=1i,free=2.5 1704067200",
      "disk,host=b used=oops 1704067201",
      "other,host=c used=3i 1704067202",
      "disk,host=c used=4i,free=1,ok=true 1704067203",
      "disk,host=d used=5.5 1704067204"
    ].join("\n") + "\n"
  )
  NodeFs.mkdirSync(NodePath.join(importDir, "parts"))
  for (let p = 0; p < 3; p++) {
    await parquetFrom(NodePath.join(importDir, "parts", `p${p}.parquet`), `SELECT 'h' || (i % 4) AS host, i + ${p * 1000} AS v, make_timestamp_ns(1704067200000000000 + (i + ${p * 1000}) * 1000000000) AS time FROM range(1000) t(i)`)
  }
  NodeFs.writeFileSync(NodePath.join(outside, "secret.csv"), "host,v,time\nx,1,2024-01-01T00:00:00Z\n")
  NodeFs.symlinkSync(NodePath.join(outside, "secret.csv"), NodePath.join(importDir, "link.csv"))
})
afterAll(() => server.stop())

describe("import jobs from a source URI", () => {
  it("CSV with on_error=skip_row imports the good rows, counts the bad ones and reports them as JSONL", async () => {
    const res = await start({ database: "d", table: "cpu", create_table: true, on_error: "skip_row", source: { uri: url("cpu.csv") }, column_metadata: { column_mapping: { host: "tag", usage: "f64" } } })
    expect(res.status, res.text).toBe(200)
    const job = await waitForJob(server, undefined, res.json().upload_uuid, finished)
    expect(job).toMatchObject({ status: "imported", rows_imported: 3, rows_skipped: 2, files_total: 1, files_done: 1, percent_complete: 100 })
    expect(job.files).toEqual([{ name: "cpu.csv", rows: 3, skipped: 2, status: "done", error: null }])
    expect(await countRows(server, undefined, "d", "SELECT host, usage, epoch_ns(time) AS t FROM cpu ORDER BY host")).toEqual([
      { host: "a", usage: 1.5, t: 1704067200000000000 },
      { host: "c", usage: 3, t: 1704067202000000000 },
      { host: "e", usage: 5.5, t: 1704153600500000000 }
    ])
    const report = await server.request("GET", `/api/v3/enterprise/import/${job.upload_uuid}/errors`)
    expect(report.status).toBe(200)
    const lines = report.text.trim().split("\n").map((l) => JSON.parse(l))
    expect(lines).toEqual([
      { file: "cpu.csv", row: 2, raw: { time: "2024-01-01T00:00:01Z", host: "b", usage: "oops" }, reason: `column 'usage': cannot read "oops" as f64` },
      { file: "cpu.csv", row: 4, raw: { time: null, host: "d", usage: "4" }, reason: "time column 'time': missing" }
    ])
  })

  it("NDJSON with on_error=abort fails the job (terminal_failed, last_message) and makes none of its rows visible", async () => {
    const res = await start({ database: "d", table: "mem", create_table: true, source: { uri: url("mem.ndjson"), precision: "ms" }, column_metadata: { column_mapping: { host: "tag", used: "i64" } } })
    expect(res.status, res.text).toBe(200)
    const job = await waitForJob(server, undefined, res.json().upload_uuid, finished)
    expect(job.status).toBe("terminal_failed")
    expect(job.last_message).toMatch(/1 row\(s\) of mem.ndjson cannot be imported/)
    expect(job.rows_imported).toBe(0)
    const q = await server.request("GET", `/api/v3/query_sql?db=d&q=${encodeURIComponent("SELECT count(*) AS n FROM mem")}`)
    expect(q.status === 200 ? q.json() : [{ n: 0 }]).toEqual([{ n: 0 }])
    // The same file with skip_row: two rows, the ms precision applied to the integer time.
    const again = await start({ database: "d", table: "mem", create_table: true, on_error: "skip_row", source: { uri: url("mem.ndjson"), format: "ndjson", precision: "ms" }, column_metadata: { column_mapping: { host: "tag", used: "i64" } } })
    const ok = await waitForJob(server, undefined, again.json().upload_uuid, finished)
    expect(ok).toMatchObject({ status: "imported", rows_imported: 2, rows_skipped: 1 })
    expect(await countRows(server, undefined, "d", "SELECT host, used, ok, epoch_ns(time) AS t FROM mem ORDER BY host")).toEqual([
      { host: "a", used: 10, ok: true, t: 1704067200000000000 },
      { host: "c", used: 30, t: 1704067202000000000 }
    ])
  })

  it("NDJSON: a malformed line is skipped and reported by line number with skip_row; abort fails the job naming the line", async () => {
    NodeFs.writeFileSync(
      NodePath.join(importDir, "bad.ndjson"),
      ['{"host":"a","v":1,"time":"2024-01-01T00:00:00Z"}', '{"host":"b","v":2,"time":', '{"host":"c","v":3,"time":"2024-01-01T00:00:02Z"}', "[1,2]", "", '{"host":"d","v":"x","time":"2024-01-01T00:00:03Z"}', '{ "host" : "e", "v": 5, "time": "2024-01-01T00:00:04Z" }'].join("\n") + "\n"
    )
    const body = { database: "d", table: "nd", create_table: true, source: { uri: url("bad.ndjson") }, column_metadata: { column_mapping: { host: "tag", v: "i64" } } }
    const res = await start({ ...body, on_error: "skip_row" })
    expect(res.status, res.text).toBe(200)
    const job = await waitForJob(server, undefined, res.json().upload_uuid, finished)
    expect(job).toMatchObject({ status: "imported", rows_imported: 3, rows_skipped: 3 })
    expect(await countRows(server, undefined, "d", "SELECT host, v FROM nd ORDER BY host")).toEqual([{ host: "a", v: 1 }, { host: "c", v: 3 }, { host: "e", v: 5 }])
    const report = (await server.request("GET", `/api/v3/enterprise/import/${job.upload_uuid}/errors`)).text.trim().split("\n").map((l) => JSON.parse(l))
    expect(report.map((r: { row: number }) => r.row)).toEqual([2, 4, 6])
    expect(report[0]).toMatchObject({ file: "bad.ndjson", raw: '{"host":"b","v":2,"time":' })
    expect(report[0].reason).toMatch(/^malformed JSON at line 2/)
    expect(report[1].reason).toBe("line 4 is not a JSON object")
    expect(report[2].reason).toBe(`column 'v': cannot read "x" as i64`)
    const aborted = await start({ ...body, table: "nd2" })
    const failed = await waitForJob(server, undefined, aborted.json().upload_uuid, finished)
    expect(failed.status).toBe("terminal_failed")
    expect(failed.last_message).toMatch(/3 row\(s\) of bad.ndjson cannot be imported \(on_error=abort.*malformed JSON at line 2/)
  })

  it("line protocol goes through the write path's parser: bad lines and other measurements are reported by line number", async () => {
    const res = await start({ database: "d", table: "disk", create_table: true, on_error: "skip_row", source: { uri: url("disk.lp"), precision: "s" } })
    expect(res.status, res.text).toBe(200)
    const job = await waitForJob(server, undefined, res.json().upload_uuid, finished)
    expect(job).toMatchObject({ status: "imported", rows_imported: 2, rows_skipped: 3 })
    expect(await countRows(server, undefined, "d", "SELECT host, used, free, ok, epoch_ns(time) AS t FROM disk ORDER BY host")).toEqual([
      { host: "a", used: 1, free: 2.5, t: 1704067200000000000 },
      { host: "c", used: 4, free: 1, ok: true, t: 1704067203000000000 }
    ])
    const report = (await server.request("GET", `/api/v3/enterprise/import/${job.upload_uuid}/errors`)).text.trim().split("\n").map((l) => JSON.parse(l))
    expect(report.map((r: { row: number }) => r.row)).toEqual([3, 4, 6])
    expect(report[0].raw).toBe("disk,host=b used=oops 1704067201")
    expect(report[1].reason).toMatch(/measurement 'other'/)
    expect(report[2].reason).toMatch(/column 'used': cannot read "5.5" as i64/)
  })

  it("a directory of Parquet files is one job with a file each; GET lists its files", async () => {
    const res = await start({ database: "d", table: "parts", create_table: true, source: { uri: url("parts"), format: "parquet" }, column_metadata: { column_mapping: { host: "tag" } } })
    expect(res.status, res.text).toBe(200)
    const job = await waitForJob(server, undefined, res.json().upload_uuid, finished)
    expect(job).toMatchObject({ status: "imported", rows_imported: 3000, files_total: 3, files_done: 3 })
    expect(job.files.map((f: { name: string; rows: number }) => [f.name, f.rows])).toEqual([["p0.parquet", 1000], ["p1.parquet", 1000], ["p2.parquet", 1000]])
    expect(await countRows(server, undefined, "d", "SELECT count(*) AS n, sum(v) AS s FROM parts")).toEqual([{ n: 3000, s: (2999 * 3000) / 2 }])
  })

  it("refuses sources outside --import-dir, symbolic links included, and unknown schemes", async () => {
    expectError(await start({ database: "d", table: "x", create_table: true, source: { uri: NodeUrl.pathToFileURL(NodePath.join(outside, "secret.csv")).href } }), 403, /outside --import-dir/)
    expectError(await start({ database: "d", table: "x", create_table: true, source: { uri: url("link.csv") } }), 403, /outside --import-dir/)
    expectError(await start({ database: "d", table: "x", create_table: true, source: { uri: url("../" + NodePath.basename(outside) + "/secret.csv") } }), 403, /outside --import-dir/)
    expectError(await start({ database: "d", table: "x", create_table: true, source: { uri: "ftp://host/x.csv" } }), 400, /unsupported source URI/)
    expectError(await start({ database: "d", table: "nope", source: { uri: url("cpu.csv") } }), 404, /table not found/)
    expectError(await start({ database: "d", table: "x", create_table: true, source: { uri: url("cpu.csv"), format: "xml" } }), 400, /invalid source.format/)
  })

  it("http(s):// sources are downloaded; an Idempotency-Key answers the same job again", async () => {
    const http = NodeHttp.createServer((req, res) => {
      res.writeHead(200, { "content-type": "text/csv" })
      res.end("host,usage,time\nweb,7,2024-01-03T00:00:00Z\n")
    })
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r))
    try {
      const port = (http.address() as { port: number }).port
      const body = { database: "d", table: "web", create_table: true, source: { uri: `http://127.0.0.1:${port}/web.csv` }, column_metadata: { column_mapping: { host: "tag" } } }
      const first = await start(body, { "idempotency-key": "web-1" })
      expect(first.status, first.text).toBe(200)
      const second = await start(body, { "idempotency-key": "web-1" })
      expect(second.json().upload_uuid).toBe(first.json().upload_uuid)
      const job = await waitForJob(server, undefined, first.json().upload_uuid, finished)
      expect(job).toMatchObject({ status: "imported", rows_imported: 1 })
      expect(await countRows(server, undefined, "d", "SELECT host, usage FROM web")).toEqual([{ host: "web", usage: 7 }])
    } finally {
      http.close()
    }
  })

  it("DELETE cancels a job: status cancelled, and a cancelled job stays cancelled", async () => {
    // A queue of jobs: the last is still queued (or running) when cancelled.
    const ids: Array<string> = []
    for (let i = 0; i < 3; i++) {
      const r = await start({ database: "d", table: "parts2", create_table: true, source: { uri: url("parts") }, column_metadata: { column_mapping: { host: "tag" } } })
      ids.push(r.json().upload_uuid)
    }
    const last = ids[2]!
    const del = await server.request("DELETE", `/api/v3/enterprise/import/${last}`)
    expect(del.status, del.text).toBe(200)
    expect(del.json().status).toBe("cancelled")
    for (const id of ids.slice(0, 2)) expect((await waitForJob(server, undefined, id, finished)).status).toBe("imported")
    const job = await waitForJob(server, undefined, last, finished)
    expect(job.status).toBe("cancelled")
    expect(job.files_done).toBeLessThan(3)
    // Files already imported stay whole: the count is a whole number of files (1000 rows each), series overwritten.
    const [{ n }] = await countRows(server, undefined, "d", "SELECT count(*) AS n FROM parts2")
    expect(n).toBe(3000)
    expectError(await server.request("DELETE", "/api/v3/enterprise/import/nope"), 404, /import job not found/)
  })
})
