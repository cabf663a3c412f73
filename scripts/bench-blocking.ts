/**
 * Blocking benchmark: ~1M points loaded into Strata, then one big v1 `/query` per answer format while a second loop
 * asks `/health` every 10 ms. Prints, per format, the query's time, its bytes and a hash of its body (to compare
 * answers across versions), the worst and 99th-percentile `/health` latency while it ran (the time other requests
 * waited for the event loop) and the server's peak RSS while it ran. The same loop without a query first gives the
 * machine's own noise (a loaded machine delays /health without any query).
 * usage: npx tsx scripts/bench-blocking.ts [--points N] [--formats json,pretty,csv,msgpack,chunked,msgpack-chunked]
 */
import * as Crypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { load, startStrata, stop } from "./lib.ts"

const args = process.argv.slice(2)
const option = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback)
const points = Number(option("--points", "1000000"))
const formats = option("--formats", "json,pretty,csv,msgpack,chunked,msgpack-chunked").split(",")

interface Case {
  readonly params: Record<string, string>
  readonly accept: string
}

const cases: Record<string, Case> = {
  json: { params: {}, accept: "application/json" },
  pretty: { params: { pretty: "true" }, accept: "application/json" },
  csv: { params: {}, accept: "application/csv" },
  msgpack: { params: {}, accept: "application/x-msgpack" },
  chunked: { params: { chunked: "true" }, accept: "application/json" },
  "msgpack-chunked": { params: { chunked: "true" }, accept: "application/x-msgpack" }
}

/** `points` lines over 10 hosts, one every second per host: a float, an integer and now and then a string. */
const writeData = (file: string) => {
  const out = NodeFs.openSync(file, "w")
  const t0 = 1_704_067_200n * 1_000_000_000n
  let batch: Array<string> = []
  for (let i = 0; i < points; i++) {
    const t = t0 + BigInt(Math.floor(i / 10)) * 1_000_000_000n
    batch.push(`bench,host=h${i % 10} usage=${((i * 37) % 10007) / 100.3},count=${i}i${i % 1000 === 0 ? `,note="n${i}"` : ""} ${t}`)
    if (batch.length === 10_000) {
      NodeFs.writeSync(out, batch.join("\n") + "\n")
      batch = []
    }
  }
  if (batch.length > 0) NodeFs.writeSync(out, batch.join("\n") + "\n")
  NodeFs.closeSync(out)
}

const dataDir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "strata-blocking-"))
const file = NodePath.join(dataDir, "points.lp")
writeData(file)
const strata = await startStrata(18187)
try {
  const loaded = load(file, `${strata.url}/api/v3/write_lp?db=bench&precision=nanosecond&no_sync=true`)
  console.log(`${loaded.lines.toLocaleString()} points loaded in ${loaded.seconds} s`)
  const rssMiB = () => Math.round(Number(/VmRSS:\s+(\d+)/.exec(NodeFs.readFileSync(`/proc/${strata.child.pid}/status`, "utf8"))![1]) / 1024)
  /** Asks /health every 10 ms, one at a time, while `during` runs; the latencies, sorted, and the peak RSS. */
  const watch = async (during: () => Promise<void>) => {
    let running = true
    const latencies: Array<number> = []
    let peak = rssMiB()
    const health = (async () => {
      while (running) {
        const sent = performance.now()
        const r = await fetch(`${strata.url}/health`)
        await r.arrayBuffer()
        latencies.push(performance.now() - sent)
        peak = Math.max(peak, rssMiB())
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
    })()
    await new Promise((resolve) => setTimeout(resolve, 100))
    await during()
    running = false
    await health
    latencies.sort((a, b) => a - b)
    const worst = latencies[latencies.length - 1] ?? NaN
    const p99 = latencies[Math.floor(latencies.length * 0.99)] ?? NaN
    return `/health worst ${worst.toFixed(0).padStart(5)} ms, p99 ${p99.toFixed(0).padStart(4)} ms (${String(latencies.length).padStart(3)} asked), RSS peak ${String(peak).padStart(5)} MiB`
  }
  console.log(`${"no query, 3 s".padEnd(39)} ${await watch(() => new Promise((resolve) => setTimeout(resolve, 3000)))}`)
  const q = "SELECT * FROM bench"
  for (const name of formats) {
    const c = cases[name]
    if (c === undefined) throw new Error(`unknown format ${name}`)
    let head = ""
    let digest = ""
    const figures = await watch(async () => {
      const started = performance.now()
      const res = await fetch(`${strata.url}/query?${new URLSearchParams({ db: "bench", q, ...c.params })}`, { headers: { accept: c.accept } })
      const hash = Crypto.createHash("sha256")
      let bytes = 0
      for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) {
        hash.update(piece)
        bytes += piece.byteLength
      }
      const seconds = (performance.now() - started) / 1000
      head = `${name.padEnd(16)} ${res.status} ${(bytes / 1048576).toFixed(1).padStart(6)} MiB ${seconds.toFixed(2).padStart(6)} s`
      digest = `sha256 ${hash.digest("hex").slice(0, 16)}`
    })
    console.log(`${head.padEnd(39)} ${figures}  ${digest}`)
  }
} finally {
  await stop(strata)
  NodeFs.rmSync(dataDir, { recursive: true, force: true })
}
