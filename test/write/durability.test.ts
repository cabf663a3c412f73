import { describe, expect, it } from "@effect/vitest"
import { bufferedRows } from "../support/rows.ts"
import { spawnServer, startServer, tempDir } from "../support/server.ts"

describe("write durability", () => {
  it("buffered rows are rebuilt from the log after a clean restart", async () => {
    const dir = tempDir()
    const first = await startServer({ withoutAuth: true }, dir)
    expect((await first.request("POST", "/api/v3/write_lp?db=r1", { body: "m,t=a v=1 1\nm,t=b v=2 2" })).status).toBe(204)
    expect((await first.request("POST", "/api/v3/write_lp?db=r1", { body: "m,t=a v=9 1\nm,t=a w=5i 3" })).status).toBe(204)
    expect((await first.request("POST", "/api/v3/write_lp?db=r1&no_sync=true", { body: "n v=1 1" })).status).toBe(204)
    await first.stop()
    const second = await startServer({ withoutAuth: true }, dir)
    try {
      const rows = (await bufferedRows(second, "r1", "m")).map(({ time: _, ...r }) => r)
      expect(rows).toEqual([
        { t: "a", v: 9, w: null },
        { t: "a", v: null, w: 5n },
        { t: "b", v: 2, w: null }
      ])
      expect((await bufferedRows(second, "r1", "n")).length).toBe(1)
    } finally {
      await second.stop()
    }
  }, 30_000)

  it("a table deleted and written again restarts with the new table's rows only (each write replays into its own table)", async () => {
    const dir = tempDir()
    const first = await startServer({ withoutAuth: true }, dir)
    expect((await first.request("POST", "/api/v3/write_lp?db=r2", { body: "m v=1 1\nm v=2 2" })).status).toBe(204)
    expect((await first.request("DELETE", "/api/v3/configure/table?db=r2&table=m")).status).toBe(200)
    await new Promise((r) => setTimeout(r, 100))
    expect((await first.request("POST", "/api/v3/write_lp?db=r2", { body: "m v=3 3" })).status).toBe(204)
    expect((await bufferedRows(first, "r2", "m")).map((r) => r["v"])).toEqual([3])
    await first.stop()
    const second = await startServer({ withoutAuth: true }, dir)
    try {
      expect((await bufferedRows(second, "r2", "m")).map((r) => r["v"])).toEqual([3])
    } finally {
      await second.stop()
    }
  }, 30_000)

  it("kill -9 under write load loses no batch that was answered 204", async () => {
    const linesOf = (id: number) => (id % 3 === 0 ? 2000 : 200)
    const dir = tempDir()
    const child = await spawnServer(dir, ["--without-auth"])
    const acknowledged = new Set<number>()
    let batch = 0
    let stop = false
    const writer = async () => {
      while (!stop) {
        const id = batch++
        // Small bodies are parsed on the main thread and kept in the log's rows; large ones (over 64 KiB) are parsed
        // on a worker and kept in payload segments.
        const body = Array.from({ length: linesOf(id) }, (_, i) => `load,writer=w${id % 4} batch=${id}i,i=${i}i ${id * 10_000 + i}`).join("\n")
        try {
          const res = await child.request("POST", "/api/v3/write_lp?db=crash&precision=ns", { body })
          if (res.status === 204) acknowledged.add(id)
        } catch {
          return
        }
      }
    }
    const writers = Array.from({ length: 4 }, writer)
    await new Promise((r) => setTimeout(r, 1500))
    await child.kill()
    stop = true
    await Promise.all(writers)
    expect(acknowledged.size).toBeGreaterThan(5)

    const restarted = await startServer({ withoutAuth: true }, dir)
    try {
      const rows = await bufferedRows(restarted, "crash", "load")
      const perBatch = new Map<number, number>()
      for (const r of rows) perBatch.set(Number(r["batch"]), (perBatch.get(Number(r["batch"])) ?? 0) + 1)
      for (const id of acknowledged) expect(perBatch.get(id), `batch ${id}`).toBe(linesOf(id))
      for (const [id, n] of perBatch) expect(n).toBe(linesOf(id))
      expect([...acknowledged].filter((id) => linesOf(id) === 2000).length).toBeGreaterThan(2)
    } finally {
      await restarted.stop()
    }
  }, 60_000)
})
