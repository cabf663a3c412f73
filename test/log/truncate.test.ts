import { afterAll, describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect } from "effect"
import * as NodeFs from "node:fs"
import { Compactor } from "../../src/compactor/Compactor.ts"
import { logBytesOnDisk } from "../../src/log/reclaim.ts"
import { listSegments } from "../../src/log/segments.ts"
import { logFile } from "../../src/log/store.ts"
import { replay } from "../../src/replay.ts"
import { expectOk } from "../support/expect.ts"
import { startServer, tempDir, type InProcessServer } from "../support/server.ts"

const running: Array<InProcessServer> = []
const start = async (dataDir: string, snapshottedLogKeepBytes = 1024 * 1024) => {
  // Persists only when the test says; the log keeps 1 MiB of persisted writes' payloads.
  const server = await startServer(
    { withoutAuth: true, persistIntervalMs: 3_600_000, snapshottedLogKeepBytes },
    dataDir
  )
  running.push(server)
  return server
}
afterAll(() => Promise.all(running.map((s) => s.stop())))

const LINES = 10_000
/** One write of ~850 KB (a payload segment's, not a row's): `LINES` lines of table m, batch `b`. */
const writeBatch = async (server: InProcessServer, b: number) => {
  const base = 1_700_000_000_000_000_000n + BigInt(b) * 1_000_000_000_000n
  const lines = Array.from({ length: LINES }, (_, i) => `m,host=h${i % 50},batch=b${b} value=${i}.5,text="padding-padding-${i}" ${base + BigInt(i)}`)
  expectOk(await server.request("POST", "/api/v3/write_lp?db=d&precision=nanosecond", { body: lines.join("\n") }), 204)
}
const persistNow = (server: InProcessServer) =>
  server.runtime.runPromise(Effect.flatMap(Compactor, (c) => c.persistNow))
const count = async (server: InProcessServer) =>
  expectOk(await server.request("GET", `/api/v3/query_sql?db=d&format=json&q=${encodeURIComponent("SELECT count(*) AS n FROM m")}`)).json<Array<{ n: number }>>()[0]!.n

describe("event log truncation", () => {
  it("persisted write payloads past --snapshotted-log-keep leave the log (rows and segments); SQL still answers every row after a restart and replay says where the payloads were truncated", async () => {
    const dir = tempDir()
    const first = await start(dir)
    for (let b = 0; b < 6; b++) await writeBatch(first, b)
    const written = logBytesOnDisk(dir)
    expect(written).toBeGreaterThan(6 * 600_000)
    // All but the newest batch (1 MiB keeps one ~850 KB payload) are truncated; their segment is still the newest's.
    await persistNow(first)
    for (let b = 6; b < 9; b++) await writeBatch(first, b)
    const beforeSecond = logBytesOnDisk(dir)
    await persistNow(first)
    const after = logBytesOnDisk(dir)
    console.log(`log + segments: ${written} bytes after 6 writes, ${beforeSecond} before the second persist, ${after} after it`)
    expect(after).toBeLessThan(beforeSecond / 2)
    // Left: the newest segment (the last three ~850 KB writes: the newest is kept, so it cannot go yet) and SQLite.
    expect(after).toBeLessThan(3_500_000)
    expect(listSegments(dir)).not.toContain(1)
    expect(await count(first)).toBe(9 * LINES)

    const metrics = expectOk(await first.request("GET", "/metrics")).text
    expect(metrics).toMatch(/^strata_eventlog_truncated_events_total 8$/m)
    expect(metrics).toMatch(/^strata_eventlog_truncated_bytes_total \d{7}$/m)
    expect(metrics).toMatch(/^strata_eventlog_bytes \d+$/m)
    await first.stop()

    const second = await start(dir)
    expect(await count(second)).toBe(9 * LINES)
    await second.stop()

    const printed: Array<string> = []
    await Effect.runPromise(replay(dir, undefined, false, (line) => void printed.push(line)))
    const told = printed.filter((l) => /^seq \d+\.\.\d+: \d+ write events' payloads truncated after persist \(in Parquet\), \d+ bytes$/.test(l))
    expect(told.map((l) => Number(/: (\d+) write events/.exec(l)![1]))).toEqual([5, 3])
    // Only the newest write event is left, printed after both notices.
    const writes = printed.filter((l) => l.includes("\tWriteBatch\t"))
    expect(writes.length).toBe(1)
    expect(printed.indexOf(told[1]!)).toBeLessThan(printed.indexOf(writes[0]!))
  })

  it("small write payloads (kept in the log's rows) give their pages back to the file system once truncated", async () => {
    const dir = tempDir()
    const server = await start(dir, 0)
    for (let b = 0; b < 60; b++) {
      const lines = Array.from({ length: 600 }, (_, i) => `m,host=h${i % 50} value=${i}.5,text="padding-padding-${b}" ${1_700_000_000_000_000_000n + BigInt(b * 1000 + i)}`)
      expectOk(await server.request("POST", "/api/v3/write_lp?db=d&precision=nanosecond", { body: lines.join("\n") }), 204)
    }
    expect(listSegments(dir)).toEqual([])
    // The WAL's frames go into the log file first, so that what is measured is the file's own size.
    const checkpoint = new Database(logFile(dir))
    checkpoint.pragma("wal_checkpoint(TRUNCATE)")
    expect(checkpoint.pragma("auto_vacuum")).toEqual([{ auto_vacuum: 2 }])
    checkpoint.close()
    const before = NodeFs.statSync(logFile(dir)).size
    await persistNow(server)
    const after = NodeFs.statSync(logFile(dir)).size
    console.log(`log.sqlite: ${before} bytes before truncating 60 in-row payloads, ${after} after`)
    expect(after).toBeLessThan(before / 3)
    expect(await count(server)).toBe(60 * 600)
  })
})
