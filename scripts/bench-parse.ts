// Benchmarks the line-protocol parser (parseBatch, the columnar form the write path uses; parseLineProtocol, the
// object form, for comparison): lines/s and MB/s, best of 5, over one whole body and over 5000-line batches
// (the usual client batch size). Usage: npx tsx scripts/bench-parse.ts [file.lp]
// Without a file it generates the TSBS cpu-only set with shared/bench/gen-cpu.mjs (100 hosts x 2 h); shared/ sits
// beside the repository.
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { parseBatch, parseLineProtocol } from "../src/lineprotocol/index.ts"

const GENERATOR = fileURLToPath(new URL("../../shared/bench/gen-cpu.mjs", import.meta.url))
const RUNS = 5
const BATCH_LINES = 5000

const file = process.argv[2]
const body = file !== undefined
  ? readFileSync(file, "utf8")
  : execFileSync(process.execPath, [GENERATOR, "100", "2"], { encoding: "utf8", maxBuffer: 1 << 30 })
const bytes = Buffer.byteLength(body)

const batches: Array<string> = []
{
  let start = 0
  while (start < body.length) {
    let end = start
    for (let n = 0; n < BATCH_LINES && end !== -1; n++) end = body.indexOf("\n", end + 1)
    const stop = end === -1 ? body.length : end + 1
    batches.push(body.slice(start, stop))
    start = stop
  }
}

// Wall-clock time is what a client sees; CPU time is printed too because it is steadier on a shared machine.
const best = (label: string, run: () => { lines: number; errors: number }): void => {
  let bestMs = Infinity
  let bestCpuMs = Infinity
  let lines = 0
  let errors = 0
  for (let i = 0; i < RUNS; i++) {
    const cpu0 = process.cpuUsage()
    const t0 = process.hrtime.bigint()
    const r = run()
    const ms = Number(process.hrtime.bigint() - t0) / 1e6
    const cpu = process.cpuUsage(cpu0)
    lines = r.lines
    errors = r.errors
    bestMs = Math.min(bestMs, ms)
    bestCpuMs = Math.min(bestCpuMs, (cpu.user + cpu.system) / 1000)
  }
  const count = lines + errors
  const perSecond = (ms: number) => Math.round(count / (ms / 1000)).toLocaleString("en")
  console.log(
    `${label.padEnd(20)} ${count.toLocaleString("en")} lines (${errors} errors) in ${bestMs.toFixed(1)} ms: ` +
      `${perSecond(bestMs)} lines/s, ${(bytes / 1e6 / (bestMs / 1000)).toFixed(1)} MB/s ` +
      `(best of ${RUNS}; by CPU time ${perSecond(bestCpuMs)} lines/s)`
  )
}

console.log(`${file ?? "generated cpu-only 100 hosts x 2 h"}: ${(bytes / 1e6).toFixed(1)} MB`)
// Warm up the JIT before timing.
parseBatch(batches[0] ?? "")
best("whole body", () => {
  const r = parseBatch(body)
  return { lines: r.count, errors: r.errors.length }
})
best(`${BATCH_LINES}-line batches`, () => {
  let lines = 0
  let errors = 0
  for (const b of batches) {
    const r = parseBatch(b)
    lines += r.count
    errors += r.errors.length
  }
  return { lines, errors }
})
best(`objects, batches`, () => {
  let lines = 0
  let errors = 0
  for (const b of batches) {
    const r = parseLineProtocol(b)
    lines += r.lines.length
    errors += r.errors.length
  }
  return { lines, errors }
})
