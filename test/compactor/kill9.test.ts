import { afterAll, describe, expect, it } from "@effect/vitest"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { expectOk } from "../support/expect.ts"
import { spawnServer, tempDir, type ChildServer } from "../support/server.ts"

const children: Array<ChildServer> = []
const spawn = async (dataDir: string, args: ReadonlyArray<string> = []) => {
  const child = await spawnServer(dataDir, args)
  children.push(child)
  return child
}
afterAll(async () => {
  for (const child of children) if (child.child.exitCode === null && child.child.signalCode === null) await child.kill()
})

const MIN = 60_000_000_000
const count = async (server: ChildServer) =>
  expectOk(await server.request("GET", `/api/v3/query_sql?db=d&format=json&q=${encodeURIComponent("SELECT count(*) AS n, count(DISTINCT host) AS h FROM m")}`)).json<
    Array<{ n: number; h: number }>
  >()[0]!

describe("kill -9 while persisting", () => {
  it("loses and doubles no row: every acknowledged row is answered exactly once after the restart", { timeout: 60_000 }, async () => {
    const dir = tempDir()
    // Persists every second and whenever the buffer passes 64 KiB: several run while the writes below go on.
    const args = ["--without-auth", "--persist-interval", "1s", "--force-snapshot-mem-threshold", "64KiB", "--gen1-duration", "1m"]
    const first = await spawn(dir, args)
    let acknowledged = 0
    let batch = 0
    const deadline = Date.now() + 4_000
    // Each line its own series and time; every third batch also rewrites earlier rows (same series and time).
    while (Date.now() < deadline) {
      const lines: Array<string> = []
      for (let i = 0; i < 500; i++) lines.push(`m,host=h${batch} v=${i} ${(batch % 7) * MIN + i}`)
      if (batch > 0 && batch % 3 === 0) for (let i = 0; i < 50; i++) lines.push(`m,host=h${batch - 1} w=${i} ${((batch - 1) % 7) * MIN + i}`)
      expectOk(await first.request("POST", "/api/v3/write_lp?db=d&precision=nanosecond", { body: lines.join("\n") }), 204)
      acknowledged += 500
      batch++
    }
    const persisted = NodeFs.existsSync(NodePath.join(dir, "dbs")) ? (NodeFs.readdirSync(NodePath.join(dir, "dbs"), { recursive: true }) as Array<string>).filter((p) => p.endsWith(".parquet")) : []
    expect(persisted.length).toBeGreaterThan(0)
    // A write in flight at the kill: acknowledged or not, it is in whole or not at all.
    const inFlight = first.request("POST", "/api/v3/write_lp?db=d&precision=nanosecond", { body: Array.from({ length: 500 }, (_, i) => `m,host=last v=${i} ${i}`).join("\n") }).catch(() => undefined)
    await first.kill()
    await inFlight
    const second = await spawn(dir, args)
    const { n, h } = await count(second)
    expect([acknowledged, acknowledged + 500]).toContain(n)
    expect([batch, batch + 1]).toContain(h)
    await second.stop()
  })
})
