/**
 * Encoder benchmark, in process: the answer shape of bench-stream (time, hostname, usage_user; 864,000 rows x
 * --copies) streamed from an in-memory DuckDB and encoded in each text format, printing seconds and this process's
 * CPU for fetching alone and for fetching and encoding (the difference is the encoder). Run under `node --cpu-prof`
 * to see where the encoder's time goes.
 * `--held N` encodes instead the first N chunks (2048 rows each), fetched once and held in memory, `--repeat` times,
 * printing the fastest and median pass: the encoder alone, steadier on a shared machine than a streamed pass.
 * usage: npx tsx scripts/bench-encode.ts [--formats fetch,jsonl,json,csv] [--copies N] [--columns "a, b"]
 *   [--encoder path/to/encode.ts] [--held CHUNKS --repeat N]
 */
import { type DuckDBDataChunk, DuckDBInstance } from "@duckdb/node-api"
import type { ChunkSource } from "../src/query/encode.ts"

const args = process.argv.slice(2)
const option = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback)
const formats = option("--formats", "fetch,jsonl,json,csv").split(",")
const copies = Number(option("--copies", "12"))
// Another encoder module (e.g. a copy of the previous encode.ts) to compare with.
const { encodeText } = (await import(option("--encoder", "../src/query/encode.ts"))) as typeof import("../src/query/encode.ts")

const instance = await DuckDBInstance.create(":memory:", { threads: "2" })
const conn = await instance.connect()
// 100 hosts every 10 s for 24 h, values with two decimals, as scripts/gen-cpu.mjs writes them.
await conn.run(`CREATE TABLE cpu AS SELECT
  make_timestamp_ns(1704067200000000000 + (i // 100) * 10000000000) AS time,
  'host_' || (i % 100) AS hostname,
  round(((i * 7919) % 10001) / 100.0, 2)::DOUBLE AS usage_user
  FROM range(864000) t(i)`)
const values = Array.from({ length: copies }, (_, i) => `(${i})`).join(", ")
const q = `SELECT ${option("--columns", "time, hostname, usage_user")} FROM cpu CROSS JOIN (VALUES ${values}) AS v(k)`

const sourceOf = async (): Promise<ChunkSource> => {
  const result = await (await conn.prepare(q)).stream()
  return {
    columns: result.columnNames(),
    types: result.columnTypes(),
    next: async () => {
      const chunk = await result.fetchChunk()
      return chunk === null || chunk.rowCount === 0 ? null : chunk
    }
  }
}

const held = Number(option("--held", "0"))
if (held > 0) {
  const streamed = await sourceOf()
  const chunks: Array<DuckDBDataChunk> = []
  for (let chunk = await streamed.next(); chunk !== null && chunks.length < held; chunk = await streamed.next())
    chunks.push(chunk)
  const rows = chunks.reduce((n, chunk) => n + chunk.rowCount, 0)
  const repeat = Number(option("--repeat", "7"))
  for (const format of formats.filter((f) => f !== "fetch")) {
    const passes: Array<number> = []
    let bytes = 0
    for (let i = 0; i < repeat; i++) {
      let next = 0
      const source: ChunkSource = {
        columns: streamed.columns,
        types: streamed.types,
        next: () => Promise.resolve(next < chunks.length ? chunks[next++]! : null)
      }
      bytes = 0
      const cpu = process.cpuUsage()
      for await (const piece of encodeText(source, format as "json" | "jsonl" | "csv")) bytes += piece.byteLength
      const used = process.cpuUsage(cpu)
      passes.push((used.user + used.system) / 1e6)
    }
    passes.sort((a, b) => a - b)
    console.log(
      `${format.padEnd(6)} ${rows} rows held, ${(bytes / 1048576).toFixed(1)} MiB: ` +
        `CPU fastest ${passes[0]!.toFixed(3)} s, ` +
        `median ${passes[passes.length >> 1]!.toFixed(3)} s (${((passes[0]! / rows) * 1e9).toFixed(0)} ns a row)`
    )
  }
  process.exit(0)
}

for (const format of formats) {
  const cpu = process.cpuUsage()
  const started = performance.now()
  let bytes = 0
  let rows = 0
  const source = await sourceOf()
  if (format === "fetch") {
    for (let chunk = await source.next(); chunk !== null; chunk = await source.next()) rows += chunk.rowCount
  } else {
    for await (const piece of encodeText(source, format as "json" | "jsonl" | "csv")) bytes += piece.byteLength
  }
  const seconds = (performance.now() - started) / 1000
  const used = process.cpuUsage(cpu)
  console.log(
    `${format.padEnd(6)} ${(bytes / 1048576).toFixed(1).padStart(7)} MiB ${rows > 0 ? `${rows} rows ` : ""}in ` +
      `${seconds.toFixed(2)} s, CPU ${((used.user + used.system) / 1e6).toFixed(2)} s`
  )
}
conn.closeSync()
instance.closeSync()
