import { spawn, spawnSync, type ChildProcess } from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"

/** Shared helpers of the benchmark scripts: data generation, starting Strata and InfluxDB 1.x, loading. */

export const repoRoot = NodePath.resolve(import.meta.dirname, "..")
export const benchDir = NodePath.resolve(repoRoot, "../shared/bench")

/** Generates (once) the TSBS-like cpu data set and returns its path. */
export const cpuData = (hosts = 100, hours = 24) => {
  const file = NodePath.join(NodeOs.tmpdir(), `strata-cpu-${hosts}x${hours}.lp`)
  if (!NodeFs.existsSync(file)) {
    const out = NodeFs.openSync(file + ".part", "w")
    const r = spawnSync("node", [NodePath.join(benchDir, "gen-cpu.mjs"), String(hosts), String(hours)], { stdio: ["ignore", out, "inherit"] })
    NodeFs.closeSync(out)
    if (r.status !== 0) throw new Error("gen-cpu failed")
    NodeFs.renameSync(file + ".part", file)
  }
  return file
}

const waitFor = async (url: string, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    try {
      const r = await fetch(url)
      if (r.status < 500) return
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 200))
  }
  throw new Error(`${url} did not come up`)
}

/** Starts a Strata server on a fresh data dir without auth; resolves once it answers. */
export const startStrata = async (
  port: number,
  extraArgs: ReadonlyArray<string> = [],
  nodeArgs: ReadonlyArray<string> = []
) => {
  // Another benchmark's server on the port would answer the health check, and take this one's load.
  const taken = await fetch(`http://127.0.0.1:${port}/health`).then(() => true, () => false)
  if (taken) throw new Error(`port ${port} is in use (another benchmark running?)`)
  const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "strata-bench-"))
  const child = spawn("node", [...nodeArgs, NodePath.join(repoRoot, "src/bin/strata.mjs"), "serve", "--data-dir", dir, "--http-bind", `127.0.0.1:${port}`, "--without-auth", "--log-filter", "warn", ...extraArgs], {
    stdio: ["ignore", "inherit", "inherit"]
  })
  await waitFor(`http://127.0.0.1:${port}/health`, 60_000)
  return { child, dir, url: `http://127.0.0.1:${port}` }
}

/**
 * Starts InfluxDB 1.x (Debian's `influxdb` package, installed with apt-get when missing) on a temp dir, with
 * `database` created.
 */
export const startInfluxV1 = async (port: number, database: string) => {
  if (spawnSync("sh", ["-c", "command -v influxd"]).status !== 0) {
    const r = spawnSync("sh", ["-c", "DEBIAN_FRONTEND=noninteractive apt-get install -y influxdb >/dev/null 2>&1 || (apt-get update >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y influxdb >/dev/null 2>&1)"], { stdio: "inherit" })
    if (r.status !== 0) throw new Error("could not install influxdb with apt-get")
  }
  const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "influxv1-"))
  const config = NodePath.join(dir, "influxdb.conf")
  NodeFs.writeFileSync(
    config,
    `reporting-disabled = true
bind-address = "127.0.0.1:${port + 1}"
[meta]
  dir = "${dir}/meta"
[data]
  dir = "${dir}/data"
  wal-dir = "${dir}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:${port}"
  log-enabled = false
  max-body-size = 0
[monitor]
  store-enabled = false
`
  )
  const child = spawn("influxd", ["-config", config], { stdio: ["ignore", "ignore", "ignore"] })
  await waitFor(`http://127.0.0.1:${port}/ping`, 60_000)
  const url = `http://127.0.0.1:${port}`
  await fetch(`${url}/query?q=${encodeURIComponent(`CREATE DATABASE "${database}"`)}`, { method: "POST" })
  return { child, dir, url }
}

/** Runs `../shared/bench/load.mjs` and returns its figures; fails if any batch was refused. */
export const load = (file: string, url: string, batch = 5000, concurrency = 4) => {
  const r = spawnSync("node", [NodePath.join(benchDir, "load.mjs"), file, url, String(batch), String(concurrency)], { encoding: "utf8", maxBuffer: 1 << 24 })
  if (r.status !== 0) throw new Error(`load.mjs failed: ${r.stderr}`)
  const figures = JSON.parse(r.stdout.trim().split("\n").pop()!) as { lines: number; seconds: number; lines_per_s: number; mb_per_s: number; errors: number; firstError: string | null }
  if (figures.errors > 0) throw new Error(`${figures.errors} batches refused by ${url}: ${figures.firstError}`)
  return figures
}

/** A process's CPU time (user + system) in seconds, from /proc (Linux). */
export const cpuSecondsOf = (pid: number) => {
  const fields = NodeFs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/**
 * Waits until a server is quiet: under 5% of a core over a whole second, so that what a load left running (garbage
 * collection of its bodies, a persist's or merge's tail, file removal) is not timed as the first queries' cost. Gives
 * up after `timeoutMs` and says so. Returns the seconds waited.
 */
export const waitQuiet = async (pid: number, timeoutMs = 60_000) => {
  const started = performance.now()
  for (;;) {
    const before = cpuSecondsOf(pid)
    await new Promise((r) => setTimeout(r, 1000))
    if (cpuSecondsOf(pid) - before < 0.05) return (performance.now() - started) / 1000
    if (performance.now() - started > timeoutMs) {
      console.log(`(pid ${pid} still busy after ${timeoutMs / 1000}s; measuring anyway)`)
      return (performance.now() - started) / 1000
    }
  }
}

/**
 * Waits until all `lines` rows of the `bench` database's `cpu` table are in compacted Parquet files (10 min at most)
 * and returns their paths, relative to the server's data dir.
 */
export const waitCompacted = async (url: string, lines: number): Promise<Array<string>> => {
  const started = performance.now()
  const q = "SELECT path, row_count FROM system.parquet_files WHERE table_name = 'cpu'"
  for (;;) {
    const res = await fetch(`${url}/api/v3/query_sql?${new URLSearchParams({ db: "bench", q, format: "json" })}`)
    if (res.status !== 200) throw new Error(`${res.status}: ${await res.text()}`)
    const files = (await res.json()) as Array<{ path: string; row_count: number }>
    const rows = files.reduce((n, f) => n + Number(f.row_count), 0)
    if (rows === lines && files.length > 0 && files.every((f) => /\/compacted-\d+(-\d+)?\.parquet$/.test(f.path))) {
      console.log(`persisted and compacted into ${files.length} file(s) in ${((performance.now() - started) / 1000).toFixed(1)}s after the load`)
      return files.map((f) => f.path)
    }
    if (performance.now() - started > 600_000) throw new Error(`${url}: not persisted and compacted after 10 min: ${rows} rows in ${files.length} file(s)`)
    await new Promise((r) => setTimeout(r, 500))
  }
}

/** The peak resident set of a process, from /proc (Linux). */
export const peakRssBytes = (pid: number) => {
  const status = NodeFs.readFileSync(`/proc/${pid}/status`, "utf8")
  const m = /VmHWM:\s+(\d+) kB/.exec(status)
  return m ? Number(m[1]) * 1024 : NaN
}

/**
 * Stops a server started here and removes its data directory: a write benchmark leaves gigabytes behind, and a few
 * runs fill the disk.
 */
export const stop = async ({ child, dir }: { readonly child: ChildProcess; readonly dir: string }) => {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill("SIGTERM")
    await new Promise((r) => child.once("exit", r))
  }
  NodeFs.rmSync(dir, { recursive: true, force: true })
}
