/**
 * Streaming benchmark: a result of ~10 million rows (the 100-host x 24 h cpu set joined with 12 constants) read in
 * every format, printing bytes, seconds and the server's RSS before, during (peak of samples) and after, to show
 * large answers stream in bounded server memory.
 * `flight` reads the same answer over Arrow Flight (DoGet with InfluxDB 3's JSON ticket, gRPC on the HTTP port) and
 * counts the Arrow IPC bytes of its FlightData.
 * `--cpu-prof DIR` has the server write a V8 CPU profile there when it stops.
 * `--client fetch` reads the text formats through fetch's web streams instead of node:http: on this 2-core machine
 * that client's own CPU (~3 s for 700 MiB) competes with the server's, so the default is the leaner node:http.
 * usage: npx tsx scripts/bench-stream.ts [--formats jsonl,json,csv,pretty,parquet,flight] [--copies N] [--cpu-prof DIR]
 *   [--client http|fetch]
 */
import * as Grpc from "@grpc/grpc-js"
import * as NodeFs from "node:fs"
import * as NodeHttp from "node:http"
import { FlightServiceClient } from "../src/flight/protocol.ts"
import { cpuData, load, startStrata, stop } from "./lib.ts"

const args = process.argv.slice(2)
const option = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback)
const formats = option("--formats", "jsonl,json,csv,parquet,pretty,flight").split(",")
const copies = Number(option("--copies", "12"))
const clientKind = option("--client", "http")

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

/** The answer over HTTP: status, and its bytes counted as they arrive (sampling `onPiece` every 64 pieces). */
const readAnswer = async (url: string, onPiece: () => void): Promise<{ status: number; bytes: number }> => {
  let bytes = 0
  let pieces = 0
  const count = (piece: Uint8Array) => {
    bytes += piece.byteLength
    if (++pieces % 64 === 0) onPiece()
  }
  if (clientKind === "fetch") {
    const res = await fetch(url)
    for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) count(piece)
    return { status: res.status, bytes }
  }
  return new Promise((resolve, reject) => {
    NodeHttp.get(url, (res) => {
      res.on("data", count)
      res.on("end", () => resolve({ status: res.statusCode ?? 0, bytes }))
      res.on("error", reject)
    }).on("error", reject)
  })
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
    const clientBefore = process.cpuUsage()
    const started = performance.now()
    let peak = before
    const sample = () => (peak = Math.max(peak, rssMiB()))
    let status = 200
    let bytes = 0
    if (format === "flight") {
      let pieces = 0
      for await (const piece of flightPieces(strata.url, q)) {
        bytes += piece.byteLength
        if (++pieces % 64 === 0) sample()
      }
    } else {
      const url = `${strata.url}/api/v3/query_sql?${new URLSearchParams({ db: "bench", q, format })}`
      ;({ status, bytes } = await readAnswer(url, sample))
    }
    const seconds = (performance.now() - started) / 1000
    const client = process.cpuUsage(clientBefore)
    console.log(
      `${format.padEnd(8)} ${status} ${(bytes / 1048576).toFixed(1).padStart(8)} MiB in ${seconds.toFixed(1).padStart(6)} s` +
        `  (${Math.round((loaded.lines * copies) / seconds).toLocaleString()} rows/s)  server CPU ${(cpuSeconds() - cpuBefore).toFixed(1)} s` +
        ` (main thread ${(mainCpuSeconds() - mainBefore).toFixed(1)} s)` +
        `, ${clientKind} client CPU ${((client.user + client.system) / 1e6).toFixed(1)} s` +
        ` (system ${(client.system / 1e6).toFixed(1)} s)` +
        `  RSS before ${before} MiB, peak ${peak} MiB, after ${rssMiB()} MiB`
    )
  }
} finally {
  await stop(strata)
}
