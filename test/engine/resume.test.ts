import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import {
  createOperatorToken,
  spawnServer,
  startServer,
  tempDir,
  type ChildServer,
  type ServerHandle
} from "../support/server.ts"

// Each input row gives one output row stamped with the time it was processed (no explicit timestamp), so a batch
// processed twice would show as two rows of its id.
const PLUGIN = `import time
def process_writes(influxdb3_local, table_batches, args=None):
    for batch in table_batches:
        for row in batch["rows"]:
            influxdb3_local.write_to_db("out", LineBuilder("seen").tag("id", row["id"]).int64_field("n", 1))
    time.sleep(1)
`

let server: ChildServer | undefined
afterAll(async () => {
  await server?.kill()
})

const counts = async (s: ServerHandle, token: string): Promise<Map<string, number>> => {
  const q = encodeURIComponent("SELECT id, count(*) AS c FROM seen GROUP BY id")
  const res = await s.request("GET", `/api/v3/query_sql?db=out&q=${q}`, { token })
  const out = new Map<string, number>()
  if (res.status !== 200) return out
  for (const r of res.json<Array<{ id: string; c: number }>>()) out.set(r.id, r.c)
  return out
}

/** Waits until the output holds `id` (the runner processes in log order, so every earlier input is done too). */
const processedThrough = async (s: ServerHandle, token: string, id: string) => {
  for (let i = 0; i < 300; i++) {
    const c = await counts(s, token)
    if (c.has(id)) return c
    await new Promise((r) => setTimeout(r, 100))
  }
  return counts(s, token)
}

const write = async (s: ServerHandle, token: string, id: string) => {
  const res = await s.request("POST", "/api/v3/write_lp?db=src", { token, body: `in,id=${id} v=1` })
  expect(res.status, res.text).toBe(204)
}

describe("WAL trigger progress across restarts", () => {
  it("after a clean restart and after kill -9 every write is processed exactly once", async () => {
    const dataDir = tempDir()
    NodeFs.mkdirSync(NodePath.join(dataDir, "plugins"), { recursive: true })
    NodeFs.writeFileSync(NodePath.join(dataDir, "plugins", "count.py"), PLUGIN)
    // Set up in-process (faster to start), then stop cleanly: the child servers below restart from its log.
    const first = await startServer({}, dataDir)
    const token = await createOperatorToken(first)
    const res = await first.request("POST", "/api/v3/configure/processing_engine_trigger", {
      token,
      body: {
        db: "src",
        plugin_filename: "count.py",
        trigger_name: "count",
        trigger_specification: "table:in",
        trigger_settings: { run_async: false, error_behavior: "log" },
        disabled: false
      }
    })
    expect(res.status, res.text).toBe(404)
    await write(first, token, "seed")
    const created = await first.request("POST", "/api/v3/configure/processing_engine_trigger", {
      token,
      body: {
        db: "src",
        plugin_filename: "count.py",
        trigger_name: "count",
        trigger_specification: "table:in",
        trigger_settings: { run_async: false, error_behavior: "log" },
        disabled: false
      }
    })
    expect(created.status, created.text).toBe(200)
    for (let i = 0; i < 5; i++) await write(first, token, `a${i}`)
    await processedThrough(first, token, "a4")
    await first.stop()

    server = await spawnServer(dataDir, [], 60_000)
    await write(server, token, "b0")
    await processedThrough(server, token, "b0")
    // Each call takes a second: killed while b1..b19 are committed but (all or some) not yet processed.
    for (let i = 1; i < 20; i++) await write(server, token, `b${i}`)
    const atKill = await counts(server, token)
    await server.kill()
    // b19's call cannot have finished (a call takes a second): the restart has work left to resume.
    expect(atKill.has("b19")).toBe(false)

    // The check runs in-process again: one child start is the slow part of this test.
    const last = await startServer({}, dataDir)
    await write(last, token, "last")
    const seen = await processedThrough(last, token, "last")
    const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`)
    const expected = ["last", ...ids("a", 5), ...ids("b", 20)]
    expect([...seen.keys()].sort()).toEqual(expected.sort())
    expect([...seen.values()].every((c) => c === 1)).toBe(true)
    await last.stop()
    server = undefined
  }, 120_000)
})
