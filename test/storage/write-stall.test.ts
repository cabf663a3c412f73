import { afterAll, describe, expect, it } from "@effect/vitest"
import { expectOk } from "../support/expect.ts"
import { startServer, tempDir, type InProcessServer } from "../support/server.ts"

/**
 * Line protocol piling up unpersisted starts a persist (`--persist-log-threshold`), and past
 * `--write-stall-threshold` writes wait for the Compactor instead of being refused: every write is answered 204,
 * nothing is lost, the rows are in Parquet files, and a restart answers the same.
 */
const running: Array<InProcessServer> = []
afterAll(() => Promise.all(running.map((s) => s.stop())))

const start = async (dir: string) => {
  const server = await startServer(
    { withoutAuth: true, persistIntervalMs: 3_600_000, persistLogThresholdBytes: 4_000, writeStallBytes: 8_000 },
    dir
  )
  running.push(server)
  return server
}

const count = async (server: InProcessServer) =>
  expectOk(await server.request("POST", "/api/v3/query_sql", { body: { db: "d", q: "SELECT count(*) AS n FROM m", format: "json" } }))
    .json() as Array<{ n: number }>

describe("persists by unpersisted line protocol, and the write stall", () => {
  it("answers every write 204 while writes outrun the persist threshold; the rows reach Parquet and survive a restart", async () => {
    const dir = tempDir()
    const server = await start(dir)
    // 40 writes of 50 lines (~2 KiB each) sent 8 at a time: the backlog passes both thresholds again and again.
    const batches = Array.from({ length: 40 }, (_, b) =>
      Array.from({ length: 50 }, (_, i) => `m,host=h${i % 7},batch=b${b} v=${b * 50 + i},w=${i}i ${1_700_000_000_000_000_000 + (b * 50 + i) * 1_000_000_000}`).join("\n")
    )
    for (let i = 0; i < batches.length; i += 8) {
      const answers = await Promise.all(
        batches.slice(i, i + 8).map((body) => server.request("POST", "/api/v3/write_lp?db=d&precision=ns", { body }))
      )
      expect(answers.map((a) => a.status)).toEqual(Array(answers.length).fill(204))
    }
    expect(await count(server)).toEqual([{ n: 2000 }])
    const files = expectOk(
      await server.request("POST", "/api/v3/query_sql", {
        body: { db: "d", q: "SELECT count(*) AS files, sum(row_count) AS rows FROM system.parquet_files", format: "json" }
      })
    ).json() as Array<{ files: number; rows: number }>
    expect(files[0]!.files).toBeGreaterThan(1)
    expect(files[0]!.rows).toBeGreaterThan(1000)
    await server.stop()
    running.splice(running.indexOf(server), 1)

    const restarted = await start(dir)
    expect(await count(restarted)).toEqual([{ n: 2000 }])
  }, 120_000)
})
