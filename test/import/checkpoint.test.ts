import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"
import { decodeCheckpoint } from "../../src/checkpoint/codec.ts"
import { Compactor } from "../../src/compactor/Compactor.ts"
import { startServer, tempDir, type InProcessServer } from "../support/server.ts"
import { countRows, parquetFrom, waitForJob } from "./support.ts"

const running: Array<InProcessServer> = []
afterAll(() => Promise.all(running.map((s) => s.stop())))

const importDir = tempDir("strata-import-ckpt-src-")
const dataDir = tempDir("strata-import-ckpt-")
const start = async () => {
  const server = await startServer({ withoutAuth: true, importDir, persistIntervalMs: 3_600_000 }, dataDir)
  running.push(server)
  return server
}
const replayedAtStart = async (server: InProcessServer) => {
  const line = (await server.request("GET", "/metrics")).text
    .split("\n")
    .find((l) => l.startsWith("strata_start_events_replayed"))
  return Number(line?.split(" ").pop())
}

describe("the jobs projection in checkpoints", () => {
  it("a restart after a checkpoint shows the same jobs, taken from the checkpoint", async () => {
    await parquetFrom(
      NodePath.join(importDir, "a.parquet"),
      "SELECT 'h' || (i % 3) AS host, i AS v, " +
        "make_timestamp_ns(1704067200000000000 + i * 1000000000) AS time FROM range(100) t(i)"
    )
    NodeFs.writeFileSync(
      NodePath.join(importDir, "b.csv"),
      "host,v,time\nx,1,2024-01-01T00:00:00Z\ny,oops,2024-01-01T00:00:01Z\n"
    )
    const first = await start()
    expect((await first.request("POST", "/api/v3/configure/database", { body: { db: "d" } })).status).toBe(200)
    const ids: Array<string> = []
    for (const [file, onError] of [
      ["a.parquet", "abort"],
      ["b.csv", "skip_row"],
      ["b.csv", "abort"]
    ] as const) {
      const res = await first.request("POST", "/api/v3/enterprise/import", {
        body: {
          database: "d",
          table: "m",
          create_table: true,
          on_error: onError,
          source: { uri: NodeUrl.pathToFileURL(NodePath.join(importDir, file)).href },
          column_metadata: { column_mapping: { host: "tag", v: "i64" } }
        },
        headers: { "idempotency-key": `key-${ids.length}` }
      })
      expect(res.status, res.text).toBe(200)
      ids.push(res.json().upload_uuid)
      await waitForJob(first, undefined, ids.at(-1)!, (j) => ["imported", "terminal_failed"].includes(j.status))
    }
    const written = await first.runtime.runPromise(Effect.flatMap(Compactor, (c) => c.checkpointNow))
    expect(written).toBeDefined()
    const saved = decodeCheckpoint(NodeFs.readFileSync(NodePath.join(dataDir, written!.path)))
    expect([...saved.jobs!.jobs.keys()]).toEqual(ids)
    const before = (await first.request("GET", "/api/v3/enterprise/import")).json()
    expect(before.map((j: { status: string }) => j.status)).toEqual(["imported", "imported", "terminal_failed"])
    await first.stop()

    const second = await start()
    // Only the events after the checkpoint were applied at start (the job events before it were not read again).
    expect(await replayedAtStart(second)).toBeLessThan(5)
    expect((await second.request("GET", "/api/v3/enterprise/import")).json()).toEqual(before)
    // Idempotency keys came back with the jobs: a repeated request answers the same job.
    const again = await second.request("POST", "/api/v3/enterprise/import", {
      body: {
        database: "d",
        table: "m",
        source: { uri: NodeUrl.pathToFileURL(NodePath.join(importDir, "a.parquet")).href }
      },
      headers: { "idempotency-key": "key-0" }
    })
    expect(again.json().upload_uuid).toBe(ids[0])
    expect(await countRows(second, undefined, "d", "SELECT count(*) AS n FROM m")).toEqual([{ n: 101 }])
  }, 60_000)
})
