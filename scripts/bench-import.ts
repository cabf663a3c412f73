/**
 * Import benchmark: the cpu set (100 hosts, 10 tags + 10 fields, one point per host every 10 s; default 144 h = six
 * days, 5,184,000 rows) loaded as line protocol through /api/v3/write_lp (5,000-line batches, 4 connections), then the
 * same rows imported as one Parquet file (the seed's multipart upload), and as CSV, NDJSON and LP files through
 * source jobs. Prints rows/s and the server's CPU seconds of each, the Parquet/write_lp ratio (target ≥ 4x) and the
 * server's peak RSS. `--only parquet` skips the CSV, NDJSON and LP source jobs.
 * usage: npx tsx scripts/bench-import.ts [--hours N] [--only parquet]
 */
import { spawnSync } from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import * as NodeStream from "node:stream"
import * as NodeStreamPromises from "node:stream/promises"
import * as NodeUrl from "node:url"
import { cpuData, load, peakRssBytes, startStrata, stop } from "./lib.ts"

const args = process.argv.slice(2)
const hours = args.includes("--hours") ? Number(args[args.indexOf("--hours") + 1]) || 144 : 144
const onlyParquet = args.includes("--only") && args[args.indexOf("--only") + 1] === "parquet"
const lpFile = cpuData(100, hours)
const importDir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "strata-bench-import-"))
// Six days are 1.9 GB of line protocol, past what one string holds: lines are counted chunk by chunk, and the file is
// loaded a day (864,000 lines) at a time.
const countLines = (file: string) => {
  const fd = NodeFs.openSync(file, "r")
  const buffer = Buffer.alloc(1 << 24)
  let lines = 0
  for (let n = NodeFs.readSync(fd, buffer); n > 0; n = NodeFs.readSync(fd, buffer)) {
    for (let i = buffer.indexOf(10); i !== -1 && i < n; i = buffer.indexOf(10, i + 1)) lines++
  }
  NodeFs.closeSync(fd)
  return lines
}
const rows = countLines(lpFile)
const head = Buffer.alloc(2000)
const headFd = NodeFs.openSync(lpFile, "r")
NodeFs.readSync(headFd, head)
NodeFs.closeSync(headFd)
const firstLine = head.toString("utf8").split("\n")[0]!
const tags = firstLine.split(" ")[0]!.split(",").slice(1).map((kv) => kv.split("=")[0]!)
const mapping = Object.fromEntries(tags.map((t) => [t, "tag"]))
const results: Record<string, number> = { rows }
// The server's CPU time (user + system, from /proc): unlike seconds elapsed, it holds still on a shared, busy machine.
const cpuSeconds = (pid: number) => {
  const fields = NodeFs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return (Number(fields[11]) + Number(fields[12])) / 100
}

const strata = await startStrata(18291, ["--import-dir", importDir, "--max-import-size", "20GiB"])
const api = (path: string, init?: RequestInit) => fetch(`${strata.url}${path}`, init)
const waitJob = async (id: string) => {
  for (;;) {
    const job = (await (await api(`/api/v3/enterprise/import/${id}`)).json()) as { status: string; rows_imported: number; last_message: string | null }
    if (["imported", "compacted"].includes(job.status)) return job
    if (["failed", "terminal_failed", "cancelled"].includes(job.status)) throw new Error(`import ${id} ${job.status}: ${job.last_message}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}
let cpuMark = 0
/** Waits (at most a minute) until the server has used under 50 ms of CPU in a second. */
const waitIdle = async () => {
  for (let i = 0; i < 60; i++) {
    const before = cpuSeconds(strata.child.pid!)
    await new Promise((r) => setTimeout(r, 1000))
    if (cpuSeconds(strata.child.pid!) - before < 0.05) return
  }
}
const report = (label: string, n: number, seconds: number) => {
  const rate = Math.round(n / seconds)
  const cpu = cpuSeconds(strata.child.pid!) - cpuMark
  results[`${label}_rows_per_s`] = rate
  results[`${label}_server_cpu_s`] = Number(cpu.toFixed(1))
  console.log(
    `${`${label}:`.padEnd(14)} ${rate.toLocaleString()} rows/s (${n.toLocaleString()} rows in ${seconds.toFixed(1)}s, ` +
      `server CPU ${cpu.toFixed(1)} s)`
  )
  return rate
}
try {
  cpuMark = cpuSeconds(strata.child.pid!)
  const parts = NodePath.join(importDir, "lp-part-")
  const split = spawnSync("split", ["-l", "864000", lpFile, parts])
  if (split.status !== 0) throw new Error(`split: ${split.stderr}`)
  let lpSeconds = 0
  for (const part of NodeFs.readdirSync(importDir).filter((n) => n.startsWith("lp-part-")).sort()) {
    lpSeconds += load(NodePath.join(importDir, part), `${strata.url}/api/v3/write_lp?db=base&precision=ns`).seconds
    NodeFs.rmSync(NodePath.join(importDir, part))
  }
  const lpRate = report("write_lp", rows, lpSeconds)

  // The same rows as Parquet, CSV and NDJSON files, streamed out of the server.
  const exports = [["parquet", "parquet"], ["csv", "csv"], ["jsonl", "ndjson"]] as const
  for (const [format, ext] of onlyParquet ? exports.slice(0, 1) : exports) {
    const res = await api(`/api/v3/query_sql?db=base&format=${format}&q=${encodeURIComponent("SELECT * FROM cpu")}`)
    if (!res.ok || res.body === null) throw new Error(`exporting as ${format}: ${res.status} ${await res.text()}`)
    await NodeStreamPromises.pipeline(NodeStream.Readable.fromWeb(res.body as never), NodeFs.createWriteStream(NodePath.join(importDir, `cpu.${ext}`)))
  }
  NodeFs.copyFileSync(lpFile, NodePath.join(importDir, "cpu.lp"))
  const table = (db: string) => api("/api/v3/configure/database", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ db }) })

  // The server persists and compacts what write_lp loaded in the background: that work is not the import's.
  await waitIdle()
  // Parquet through the seed's upload, timed from the first byte sent to the job imported.
  await table("pq")
  await api("/api/v3/write_lp?db=pq", { method: "POST", body: firstLine })
  const parquet = NodePath.join(importDir, "cpu.parquet")
  const boundary = "----bench"
  async function* multipart() {
    yield Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="database"\r\n\r\npq\r\n--${boundary}\r\ncontent-disposition: form-data; name="table"\r\n\r\ncpu\r\n`)
    yield Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="column_metadata"\r\n\r\n${JSON.stringify({ column_mapping: mapping })}\r\n`)
    yield Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="file_bytes"; filename="cpu.parquet"\r\n\r\n`)
    for await (const chunk of NodeFs.createReadStream(parquet, { highWaterMark: 1 << 20 })) yield chunk as Buffer
    yield Buffer.from(`\r\n--${boundary}--\r\n`)
  }
  let started = performance.now()
  cpuMark = cpuSeconds(strata.child.pid!)
  const up = await api("/api/v3/enterprise/import", {
    method: "POST",
    headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
    body: NodeStream.Readable.toWeb(NodeStream.Readable.from(multipart())) as ReadableStream,
    duplex: "half"
  } as RequestInit)
  if (!up.ok) throw new Error(`upload: ${up.status} ${await up.text()}`)
  await waitJob(((await up.json()) as { upload_uuid: string }).upload_uuid)
  const pqRate = report("parquet", rows, (performance.now() - started) / 1000)
  results["parquet_vs_write_lp"] = Number((pqRate / lpRate).toFixed(2))
  console.log(`ratio parquet/write_lp: ${results["parquet_vs_write_lp"]}x (target ≥ 4x)`)

  const sources = [["csv", "cpu.csv"], ["ndjson", "cpu.ndjson"], ["lp", "cpu.lp"]] as const
  for (const [label, file] of onlyParquet ? [] : sources) {
    const db = `imp_${label}`
    await table(db)
    await waitIdle()
    started = performance.now()
    cpuMark = cpuSeconds(strata.child.pid!)
    const res = await api("/api/v3/enterprise/import", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ database: db, table: "cpu", create_table: true, source: { uri: NodeUrl.pathToFileURL(NodePath.join(importDir, file)).href }, column_metadata: { column_mapping: label === "lp" ? {} : mapping } })
    })
    if (!res.ok) throw new Error(`${label}: ${res.status} ${await res.text()}`)
    const job = await waitJob(((await res.json()) as { upload_uuid: string }).upload_uuid)
    report(label, job.rows_imported, (performance.now() - started) / 1000)
  }
  results["strata_peak_rss_mb"] = Math.round(peakRssBytes(strata.child.pid!) / 1048576)
  console.log(`strata peak RSS: ${results["strata_peak_rss_mb"]} MiB`)
} finally {
  await stop(strata)
  NodeFs.rmSync(importDir, { recursive: true, force: true })
}
console.log(JSON.stringify(results))
