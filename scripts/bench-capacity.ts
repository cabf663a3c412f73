/**
 * Capacity benchmark (issue 10, items 13–14): N days of the 100-host TSBS-like cpu set (864,000 lines a day, from
 * ../shared/bench/gen-cpu.mjs) posted day after day into one database over HTTP (5,000-line batches, 4 keep-alive
 * connections), the server's RSS sampled from /proc every 100 ms. Then the server is stopped (SIGTERM, or kill -9
 * with --kill) and restarted on the same data dir, timed to the first correct `count(*)`. Prints per-day ingest rate,
 * RSS, data-dir size against the line-protocol bytes, restart time and RSS after restart, with PASS/FAIL per target.
 * usage: npx tsx scripts/bench-capacity.ts [--days N | --rows N] [--kill] [--keep-lp] [--server-args "--flag v ..."]
 * --rows N loads N rows (N/100 ten-second steps) as one "day" instead, for the restart-with-half-a-million-rows target.
 * Each day's line protocol is generated to a temp file before the server starts, so that generation takes no CPU
 * from ingest (on 2 cores it would); the files are removed at the end unless --keep-lp.
 */
import { spawn, spawnSync } from "node:child_process"
import * as NodeFs from "node:fs"
import * as Http from "node:http"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { benchDir, repoRoot, startStrata, stop } from "./lib.ts"

const args = process.argv.slice(2)
const option = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined)
const rowsOption = option("--rows") === undefined ? undefined : Number(option("--rows"))
const days = rowsOption === undefined ? Number(option("--days") ?? 6) : 1
const serverArgs = (option("--server-args") ?? "").split(/\s+/).filter(Boolean)
const kill9 = args.includes("--kill")
const port = Number(option("--port") ?? 18191)
const HOSTS = 100
const BATCH = 5000
const CONNECTIONS = 4
const MiB = 1048576
const restartTargetS = rowsOption !== undefined && rowsOption <= 500_000 ? 3 : 5

/** Generates (once) one day of the cpu set, or the --rows variant, into a temp file; returns path, lines and bytes. */
const dayFile = (day: number) => {
  const hours = rowsOption === undefined ? 24 : (rowsOption / HOSTS) * 10 / 3600
  const start = new Date(Date.UTC(2024, 0, 1 + day)).toISOString()
  const file = NodePath.join(NodeOs.tmpdir(), `strata-capacity-${HOSTS}x${rowsOption ?? "24h"}-day${day}.lp`)
  if (!NodeFs.existsSync(file)) {
    const out = NodeFs.openSync(file + ".part", "w")
    const r = spawnSync("node", [NodePath.join(benchDir, "gen-cpu.mjs"), String(HOSTS), String(hours), "10", start], { stdio: ["ignore", out, "inherit"] })
    NodeFs.closeSync(out)
    if (r.status !== 0) throw new Error("gen-cpu failed")
    NodeFs.renameSync(file + ".part", file)
  }
  return file
}

/** Splits a line-protocol buffer into batches of `BATCH` lines without copying. */
const batchesOf = (data: Buffer) => {
  const batches: Array<Buffer> = []
  let lines = 0
  let start = 0
  let count = 0
  for (let i = data.indexOf(10); i !== -1; i = data.indexOf(10, i + 1)) {
    lines++
    if (++count === BATCH) {
      batches.push(data.subarray(start, i))
      start = i + 1
      count = 0
    }
  }
  if (start < data.length) {
    const tail = data.subarray(start)
    if (tail.some((b) => b !== 10)) batches.push(tail), (lines += tail[tail.length - 1] === 10 ? 0 : 1)
  }
  return { batches, lines }
}

/** Posts batches over `CONNECTIONS` keep-alive connections; returns seconds taken and refused batches. */
const post = async (url: string, batches: ReadonlyArray<Buffer>) => {
  const agent = new Http.Agent({ keepAlive: true, maxSockets: CONNECTIONS })
  const u = new URL(url)
  let next = 0
  let refused = 0
  let firstError: string | undefined
  const one = (body: Buffer) =>
    new Promise<void>((resolve) => {
      const req = Http.request(
        { host: u.hostname, port: u.port, path: u.pathname + u.search, method: "POST", agent, headers: { "content-type": "text/plain; charset=utf-8", "content-length": body.length } },
        (res) => {
          let text = ""
          res.on("data", (c) => (text += c))
          res.on("end", () => {
            if (res.statusCode! >= 300) (refused++, (firstError ??= `${res.statusCode} ${text.slice(0, 300)}`))
            resolve()
          })
        }
      )
      req.on("error", (e) => (refused++, (firstError ??= String(e)), resolve()))
      req.end(body)
    })
  const started = performance.now()
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (next < batches.length) await one(batches[next++]!)
    })
  )
  agent.destroy()
  return { seconds: (performance.now() - started) / 1000, refused, firstError }
}

const rssOf = (pid: number) => {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(NodeFs.readFileSync(`/proc/${pid}/status`, "utf8"))
    return m ? Number(m[1]) * 1024 : 0
  } catch {
    return 0
  }
}

/** Samples a process's RSS every 100 ms; `peak()` since the last `reset()`. */
const sampler = (pid: number) => {
  let peak = 0
  const timer = setInterval(() => (peak = Math.max(peak, rssOf(pid))), 100)
  return { peak: () => Math.max(peak, rssOf(pid)), reset: () => void (peak = 0), stop: () => clearInterval(timer) }
}

const dirBytes = (dir: string): number => {
  let total = 0
  for (const entry of NodeFs.readdirSync(dir, { withFileTypes: true })) {
    const path = NodePath.join(dir, entry.name)
    try {
      if (entry.isDirectory()) total += dirBytes(path)
      else if (entry.isFile()) total += NodeFs.statSync(path).size
    } catch {
      /* removed meanwhile */
    }
  }
  return total
}

/** Bytes per top-level entry of the data dir (log, dbs, catalog...), for the note. */
const dirBreakdown = (dir: string) =>
  Object.fromEntries(
    NodeFs.readdirSync(dir, { withFileTypes: true }).map((e) => {
      const p = NodePath.join(dir, e.name)
      return [e.name, Math.round((e.isDirectory() ? dirBytes(p) : NodeFs.statSync(p).size) / MiB)]
    })
  )

const metric = async (url: string, name: string) => {
  const text = await (await fetch(`${url}/metrics`)).text()
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, "m").exec(text)
  return m ? Number(m[1]) : NaN
}

const countRows = async (url: string): Promise<number | undefined> => {
  try {
    const r = await fetch(`${url}/api/v3/query_sql?${new URLSearchParams({ db: "capacity", q: "SELECT count(*) AS n FROM cpu", format: "json" })}`)
    if (r.status !== 200) return undefined
    const rows = (await r.json()) as Array<{ n: number }>
    return Number(rows[0]?.n)
  } catch {
    return undefined
  }
}

const files = Array.from({ length: days }, (_, d) => dayFile(d))
// A server left on the port (an earlier run's, still replaying) would answer in place of ours.
if (await fetch(`http://127.0.0.1:${port}/health`).then(() => true, () => false)) throw new Error(`port ${port} is in use; pass --port`)
const server = await startStrata(port, serverArgs)
const url = server.url
const writeUrl = `${url}/api/v3/write_lp?db=capacity&precision=ns`
const rss = sampler(server.child.pid!)
let peakAll = 0
let lpBytes = 0
let linesWritten = 0
let refusedAll = 0
const dayRows: Array<Record<string, string | number>> = []
let restart: { seconds: number; answered: boolean; rssAfterMiB: number; stopSeconds: number } | undefined
let dataDirAfterIngest = 0
let dataDirFinal = 0
let breakdown: Record<string, number> = {}
try {
  for (let d = 0; d < days; d++) {
    const data = NodeFs.readFileSync(files[d]!)
    const { batches, lines } = batchesOf(data)
    rss.reset()
    const r = await post(writeUrl, batches)
    const peak = rss.peak()
    peakAll = Math.max(peakAll, peak)
    lpBytes += data.length
    linesWritten += lines
    refusedAll += r.refused
    if (r.firstError !== undefined) console.error(`day ${d + 1}: ${r.refused} batch(es) refused, first: ${r.firstError}`)
    const row = {
      day: d + 1,
      lines,
      seconds: Number(r.seconds.toFixed(2)),
      lines_per_s: Math.round(lines / r.seconds),
      refused: r.refused,
      peak_rss_mib: Math.round(peak / MiB),
      rss_end_mib: Math.round(rssOf(server.child.pid!) / MiB),
      buffer_rows: await metric(url, "strata_write_buffer_rows"),
      persists: await metric(url, "strata_persists_total"),
      data_dir_mib: Math.round(dirBytes(server.dir) / MiB),
      lp_mib: Math.round(lpBytes / MiB)
    }
    dayRows.push(row)
    console.log(JSON.stringify(row))
  }
  dataDirAfterIngest = dirBytes(server.dir)
  breakdown = dirBreakdown(server.dir)
  peakAll = Math.max(peakAll, rss.peak())
  rss.stop()

  // Stop, then restart on the same dir and time the first correct answer.
  const stopStarted = performance.now()
  server.child.kill(kill9 ? "SIGKILL" : "SIGTERM")
  await new Promise((r) => server.child.once("exit", r))
  const stopSeconds = (performance.now() - stopStarted) / 1000
  dataDirFinal = dirBytes(server.dir)
  const started = performance.now()
  const child = spawn("node", [NodePath.join(repoRoot, "src/bin/strata.mjs"), "serve", "--data-dir", server.dir, "--http-bind", `127.0.0.1:${port}`, "--without-auth", "--log-filter", "warn", ...serverArgs], {
    stdio: ["ignore", "inherit", "inherit"]
  })
  server.child = child
  let answered = false
  let last: number | undefined
  while (performance.now() - started < 120_000 && child.exitCode === null) {
    last = await countRows(url)
    if (last === linesWritten) {
      answered = true
      break
    }
    await new Promise((r) => setTimeout(r, 25))
  }
  const seconds = (performance.now() - started) / 1000
  if (!answered) console.error(`after restart count(*) is ${last}, expected ${linesWritten}`)
  // RSS once it answered and a few seconds later (the Compactor's first tick may persist what was replayed).
  const after = sampler(child.pid!)
  await new Promise((r) => setTimeout(r, 3000))
  const rssAfterMiB = Math.round(after.peak() / MiB)
  after.stop()
  restart = { seconds, answered, rssAfterMiB, stopSeconds }
} finally {
  rss.stop()
  // A server still replaying may not handle SIGTERM for a while: kill it.
  const killer = setTimeout(() => server.child.kill("SIGKILL"), 10_000)
  await stop(server)
  clearTimeout(killer)
  if (!args.includes("--keep-lp")) for (const f of files) NodeFs.rmSync(f, { force: true })
}

const verdict = (ok: boolean) => (ok ? "PASS" : "FAIL")
console.log("")
console.log("day  lines      seconds  lines/s    refused  peak RSS MiB  RSS end MiB  buffer rows  persists  data dir MiB  LP MiB")
for (const r of dayRows) {
  console.log(
    `${String(r["day"]).padEnd(4)} ${String(r["lines"]).padEnd(10)} ${String(r["seconds"]).padEnd(8)} ${String(r["lines_per_s"]).padEnd(10)} ${String(r["refused"]).padEnd(8)} ${String(r["peak_rss_mib"]).padEnd(13)} ${String(r["rss_end_mib"]).padEnd(12)} ${String(r["buffer_rows"]).padEnd(12)} ${String(r["persists"]).padEnd(9)} ${String(r["data_dir_mib"]).padEnd(13)} ${r["lp_mib"]}`
  )
}
const ratio = dataDirFinal / lpBytes
console.log("")
console.log(`data dir by entry after ingest (MiB): ${JSON.stringify(breakdown)}`)
console.log(`refused writes:        ${refusedAll}   ${verdict(refusedAll === 0)} (target 0)`)
console.log(`peak RSS during ingest: ${Math.round(peakAll / MiB)} MiB   ${verdict(peakAll <= 1024 * MiB)} (target ≤ 1024 MiB)`)
console.log(`data dir / LP bytes:   ${Math.round(dataDirFinal / MiB)} / ${Math.round(lpBytes / MiB)} MiB = ${ratio.toFixed(3)} (after ingest ${Math.round(dataDirAfterIngest / MiB)} MiB)   ${verdict(ratio <= 0.5)} (target ≤ 0.5)`)
console.log(`stop (${kill9 ? "kill -9" : "SIGTERM"}):        ${restart?.stopSeconds.toFixed(2)} s`)
console.log(`restart to correct count(*): ${restart?.seconds.toFixed(2)} s${restart?.answered ? "" : " (never correct)"}   ${verdict(restart?.answered === true && restart.seconds < restartTargetS)} (target < ${restartTargetS} s)`)
console.log(`RSS after restart:     ${restart?.rssAfterMiB} MiB   ${verdict(restart?.answered === true && restart.rssAfterMiB <= 600)} (target ≤ 600 MiB)`)
console.log(
  JSON.stringify({
    days,
    lines: linesWritten,
    lp_mib: Math.round(lpBytes / MiB),
    refused: refusedAll,
    peak_rss_mib: Math.round(peakAll / MiB),
    data_dir_mib: Math.round(dataDirFinal / MiB),
    data_dir_ratio: Number(ratio.toFixed(3)),
    restart_s: Number(restart?.seconds.toFixed(2)),
    rss_after_restart_mib: restart?.rssAfterMiB
  })
)
