// Processing engine: what a python3 plugin process costs to start and per call (the measured basis of ADR 0012's
// process-per-trigger choice). Prints figures; `npx tsx scripts/bench-engine.ts`.
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { PluginProcess } from "../src/engine/PluginProcess.ts"
import { pythonJson } from "../src/engine/walBatches.ts"

const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "strata-bench-engine-"))
const plugin = NodePath.join(dir, "p.py")
NodeFs.writeFileSync(
  plugin,
  `def process_writes(influxdb3_local, table_batches, args=None):
    for b in table_batches:
        for r in b["rows"]:
            influxdb3_local.write(LineBuilder("out").float64_field("v", r["v"] * 2).time_ns(r["time"]))
`
)
const hooks = { rpc: async () => null, log: () => {} }
const message = (rows: number) =>
  pythonJson({
    t: "run",
    kind: "wal",
    plugin,
    db: "d",
    args: null,
    batches: [
      {
        table_name: "t",
        rows: Array.from(
          { length: rows },
          (_, i) =>
            new Map<string, unknown>([
              ["v", { float: i }],
              ["time", BigInt(i)]
            ])
        )
      }
    ]
  })
const ms = (since: bigint) => Number(process.hrtime.bigint() - since) / 1e6

const median = (xs: Array<number>) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const starts: Array<number> = []
for (let i = 0; i < 5; i++) {
  const p = new PluginProcess("python3", dir, {}, () => {})
  const t = process.hrtime.bigint()
  await p.call(message(1), hooks, 10_000)
  starts.push(ms(t))
  p.close()
}
console.log(
  `first call on a new process (python3 start + shim + plugin import): median ${median(starts).toFixed(1)} ms`
)
const p = new PluginProcess("python3", dir, {}, () => {})
await p.call(message(1), hooks, 10_000)
for (const rows of [1, 1000, 10_000]) {
  const text = message(rows)
  const times: Array<number> = []
  for (let i = 0; i < 20; i++) {
    const t = process.hrtime.bigint()
    await p.call(text, hooks, 10_000)
    times.push(ms(t))
  }
  console.log(`warm call, ${rows} row(s) in, ${rows} line(s) out: median ${median(times).toFixed(2)} ms`)
}
p.close()
NodeFs.rmSync(dir, { recursive: true, force: true })
