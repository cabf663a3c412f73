/**
 * Streaming benchmark: a result of ~10 million rows (the 100-host x 24 h cpu set joined with 12 constants) read in
 * every format, printing bytes, seconds and the server's RSS before, during (peak of samples) and after, to show
 * large answers stream in bounded server memory.
 * `flight` reads the same answer over Arrow Flight (DoGet with InfluxDB 3's JSON ticket, gRPC on the HTTP port) and
 * counts the Arrow IPC bytes of its FlightData.
 * `--cpu-prof DIR` has the server write a V8 CPU profile there when it stops.
 * usage: npx tsx scripts/bench-stream.ts [--formats jsonl,json,csv,pretty,parquet,flight] [--copies N] [--cpu-prof DIR]
 */
import * as Grpc from "@grpc/grpc-js"
import * as NodeFs from "node:fs"
import { FlightServiceClient } from "../src/flight/protocol.ts"
import { cpuData, load, startStrata, stop } from "./lib.ts"

const args = process.argv.slice(2)
const option = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback)
const formats = option("--formats", "jsonl,json,csv,parquet,pretty,flight").split(",")
const copies = Number(option("--copies", "12"))

const file = cpuData(100, 24)
const profileDir = option("--cpu-prof", "")
const strata = await startStrata(18183, [], profileDir === "" ? [] : ["--cpu-prof", "--cpu-prof-dir", profileDir])
/** The answer's pieces over Flight: each FlightData's header and body bytes, as the client receives them. */
async function* flightPieces(url: string, q: string): AsyncGenerator<Uint8Array> {
  // grpc-js clients receive with a 64 KiB HTTP/2 window unless told otherwise (Go, Rust and C++ clients grow theirs).
  const client = new FlightServiceClient(new URL(url).host, Grpc.credentials.createInsecure(), {
    "grpc-node.flow_control_window": 32 * 1024 * 1024
  })
  try {
    const ticket = Buffer.from(JSON.stringify({ database: "bench", sql_query: q, query_type: "sql" }))
    const call = (
      client as unknown as { DoGet: (r: unknown) => AsyncIterable<{ data_header: Buffer; data_body: Buffer }> }
    ).DoGet({ ticket })
    for await (const data of call) {
      yield data.data_header
      yield data.data_body
    }
  } finally {
    client.close()
  }
}

const rssMiB = () => Math.round(Number(/VmRSS:\s+(\d+)/.exec(NodeFs.readFileSync(`/proc/${strata.child.pid}/status`, "utf8"))![1]) / 1024)
// The server's CPU time (user + system, from /proc): unlike seconds elapsed, it holds still on a shared, busy machine.
const cpuOf = (stat: string) => {
  const fields = NodeFs.readFileSync(stat, "utf8").split(") ")[1]!.split(" ")
  return (Number(fields[11]) + Number(fields[12])) / 100
}
const cpuSeconds = () => cpuOf(`/proc/${strata.child.pid}/stat`)
// The JavaScript thread alone (the encoder, HTTP); the rest is DuckDB's threads, workers and libuv's pool.
const mainCpuSeconds = () => cpuOf(`/proc/${strata.child.pid}/task/${strata.child.pid}/stat`)
try {
  const loaded = load(file, `${strata.url}/api/v3/write_lp?db=bench&precision=ns&no_sync=true`)
  const values = Array.from({ length: copies }, (_, i) => `(${i})`).join(", ")
  const q = `SELECT time, hostname, usage_user FROM cpu CROSS JOIN (VALUES ${values}) AS v(k)`
  // The load's rows are persisted in the background (on the server's main thread too): answers are timed after it.
  for (let quiet = 0, waited = 0; quiet < 2 && waited < 120; waited++) {
    const before = cpuSeconds()
    await new Promise((r) => setTimeout(r, 1000))
    quiet = cpuSeconds() - before < 0.05 ? quiet + 1 : 0
  }
  console.log(`${loaded.lines.toLocaleString()} lines loaded; result rows: ${(loaded.lines * copies).toLocaleString()}; server RSS ${rssMiB()} MiB`)
  for (const format of formats) {
    const before = rssMiB()
    const cpuBefore = cpuSeconds()
    const mainBefore = mainCpuSeconds()
    const started = performance.now()
    const res =
      format === "flight"
        ? { status: 200, body: flightPieces(strata.url, q) }
        : await fetch(`${strata.url}/api/v3/query_sql?${new URLSearchParams({ db: "bench", q, format })}`)
    let bytes = 0
    let peak = before
    let pieces = 0
    for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) {
      bytes += piece.byteLength
      if (++pieces % 64 === 0) peak = Math.max(peak, rssMiB())
    }
    const seconds = (performance.now() - started) / 1000
    console.log(
      `${format.padEnd(8)} ${res.status} ${(bytes / 1048576).toFixed(1).padStart(8)} MiB in ${seconds.toFixed(1).padStart(6)} s` +
        `  (${Math.round((loaded.lines * copies) / seconds).toLocaleString()} rows/s)  server CPU ${(cpuSeconds() - cpuBefore).toFixed(1)} s` +
        ` (main thread ${(mainCpuSeconds() - mainBefore).toFixed(1)} s)` +
        `  RSS before ${before} MiB, peak ${peak} MiB, after ${rssMiB()} MiB`
    )
  }
} finally {
  await stop(strata)
}
