import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { Compactor } from "../../src/compactor/Compactor.ts"
import { expectOk } from "../support/expect.ts"
import { startServer, tempDir, type InProcessServer } from "../support/server.ts"

const running: Array<InProcessServer> = []
const start = async (dataDir: string) => {
  // No timed persist during the test: persists happen when the test says (the sweep still runs every second).
  const server = await startServer({ withoutAuth: true, gen1DurationMs: 60_000, persistIntervalMs: 3_600_000 }, dataDir)
  running.push(server)
  return server
}
afterAll(() => Promise.all(running.map((s) => s.stop())))

const HOUR = 3_600_000_000_000n
const nowNs = () => BigInt(Date.now()) * 1_000_000n
const write = async (server: InProcessServer, db: string, lines: Array<string>) =>
  expectOk(await server.request("POST", `/api/v3/write_lp?db=${db}&precision=nanosecond`, { body: lines.join("\n") }), 204)
const persistNow = (server: InProcessServer) =>
  server.runtime.runPromise(Effect.flatMap(Compactor, (c) => c.persistNow))
const sweepNow = (server: InProcessServer) => server.runtime.runPromise(Effect.flatMap(Compactor, (c) => c.sweepNow))
const sql = async <A>(server: InProcessServer, db: string, q: string) =>
  expectOk(await server.request("GET", `/api/v3/query_sql?db=${db}&format=json&q=${encodeURIComponent(q)}`)).json<Array<A>>()
const influxql = async (server: InProcessServer, db: string, q: string) =>
  expectOk(await server.request("GET", `/query?db=${db}&q=${encodeURIComponent(q)}`)).json<{ results: Array<{ series?: Array<{ values: Array<Array<unknown>> }> }> }>()
const parquetFiles = (server: InProcessServer, db: string) => sql<{ table_name: string; path: string; max_time: number }>(server, db, "SELECT * FROM system.parquet_files ORDER BY path")

/** Files under the data dir's `dbs/` and their bytes. */
const onDisk = (dir: string) => {
  const root = NodePath.join(dir, "dbs")
  if (!NodeFs.existsSync(root)) return { files: [] as Array<string>, bytes: 0 }
  const files = (NodeFs.readdirSync(root, { recursive: true }) as Array<string>).filter((p) => p.endsWith(".parquet")).map((p) => `dbs/${p}`).sort()
  return { files, bytes: files.reduce((n, f) => n + NodeFs.statSync(NodePath.join(dir, f)).size, 0) }
}

describe("retention", () => {
  it("rows older than a 1-day retention are not answered by SQL nor InfluxQL, before and after persisting and after a restart; their files leave disk and system.parquet_files", async () => {
    const dir = tempDir()
    const first = await start(dir)
    expectOk(await first.request("POST", "/api/v3/configure/database", { body: { db: "d", retention_period: "1d" } }))
    const now = nowNs()
    await write(first, "d", [`m,host=old v=1 ${now - 72n * HOUR}`, `m,host=older v=2 ${now - 100n * HOUR}`, `m,host=new v=3 ${now - HOUR}`])
    const expectRecentOnly = async (server: InProcessServer) => {
      expect(await sql(server, "d", "SELECT host, v FROM m ORDER BY host")).toEqual([{ host: "new", v: 3 }])
      expect(await sql(server, "d", "SELECT count(*) AS n, min(v) AS lo FROM m")).toEqual([{ n: 1, lo: 3 }])
      const answer = await influxql(server, "d", "SELECT count(v) FROM m")
      expect(answer.results[0]!.series![0]!.values[0]![1]).toBe(1)
      const byHost = await influxql(server, "d", "SELECT v FROM m GROUP BY host")
      expect(byHost.results[0]!.series!.length).toBe(1)
    }
    await expectRecentOnly(first)

    // Persisted: the old rows are in files of their own gen1 windows, still not answered.
    await persistNow(first)
    await expectRecentOnly(first)
    // A write into a persisted old window: files and buffer overlap in time, and the old rows still are not answered.
    await write(first, "d", [`m,host=old v=9 ${now - 72n * HOUR}`])
    await expectRecentOnly(first)

    // The sweep removes the files wholly outside retention, from the index and then from disk.
    await sweepNow(first)
    const files = await parquetFiles(first, "d")
    expect(files.length).toBe(1)
    expect(onDisk(dir).files).toEqual(files.map((f) => f.path))
    await expectRecentOnly(first)
    await first.stop()

    const second = await start(dir)
    await expectRecentOnly(second)
    expect((await parquetFiles(second, "d")).map((f) => f.path)).toEqual(files.map((f) => f.path))
    // The buffered old row persists to a file of its own, which the next sweep removes.
    await persistNow(second)
    await expectRecentOnly(second)
    await sweepNow(second)
    expect((await parquetFiles(second, "d")).map((f) => f.path)).toEqual(files.map((f) => f.path))
    expect(onDisk(dir).files).toEqual(files.map((f) => f.path))
  }, 30_000)

  it("a table's retention overrides its database's, longer or shorter, and clearing it falls back to the database's", async () => {
    const dir = tempDir()
    const server = await start(dir)
    expectOk(await server.request("POST", "/api/v3/configure/database", { body: { db: "t", retention_period: "1d" } }))
    const now = nowNs()
    await write(server, "t", [`long v=1 ${now - 72n * HOUR}`, `long v=2 ${now - HOUR}`, `short v=1 ${now - 3n * HOUR}`, `short v=2 ${now - 1_000_000_000n}`])
    expectOk(await server.request("POST", "/api/v3/enterprise/configure/table/retention_period?db=t&table=long&duration=30d"), 204)
    expectOk(await server.request("POST", "/api/v3/enterprise/configure/table/retention_period?db=t&table=short&duration=2h"), 204)
    for (const round of ["buffer", "files"]) {
      if (round === "files") await persistNow(server), await sweepNow(server)
      expect(await sql(server, "t", "SELECT v FROM long ORDER BY v"), round).toEqual([{ v: 1 }, { v: 2 }])
      expect(await sql(server, "t", "SELECT v FROM short ORDER BY v"), round).toEqual([{ v: 2 }])
    }
    expectOk(await server.request("DELETE", "/api/v3/enterprise/configure/table/retention_period?db=t&table=long"), 204)
    expect(await sql(server, "t", "SELECT v FROM long ORDER BY v")).toEqual([{ v: 2 }])
    await sweepNow(server)
    expect((await parquetFiles(server, "t")).filter((f) => f.table_name === "long").length).toBe(1)
  }, 30_000)
})

describe("deleting data", () => {
  it("hard and data-only deletes remove the files from disk without a restart, and a restart keeps them gone", async () => {
    const dir = tempDir()
    const server = await start(dir)
    const now = nowNs()
    const lines = (table: string) => Array.from({ length: 2000 }, (_, i) => `${table},host=h${i % 50} v=${i},s="${"x".repeat(40)}${i}" ${now - BigInt(i) * 100_000_000n}`)
    await write(server, "x", [...lines("a"), ...lines("b"), ...lines("c")])
    await persistNow(server)
    const full = onDisk(dir)
    const byTable = async () => {
      const out: Record<string, Array<{ path: string }>> = {}
      for (const f of await parquetFiles(server, "x")) (out[f.table_name] ??= []).push(f)
      return out
    }
    const initial = await byTable()
    expect(initial.a!.length).toBeGreaterThan(1)

    expectOk(await server.request("DELETE", "/api/v3/configure/table?db=x&table=a&hard_delete_at=now"))
    // The Compactor's sweep (every second) deletes the files once the index has dropped them.
    const until = async (done: () => boolean) => {
      for (let i = 0; i < 100 && !done(); i++) await new Promise((r) => setTimeout(r, 50))
      expect(done()).toBe(true)
    }
    await until(() => onDisk(dir).files.every((f) => !initial.a!.some((a) => a.path === f)))
    const afterHard = onDisk(dir)
    expect(afterHard.bytes).toBeLessThan(full.bytes)
    expect(Object.keys(await byTable()).sort()).toEqual(["b", "c"])

    expectOk(await server.request("DELETE", "/api/v3/configure/table?db=x&table=b&data_only=true"))
    await until(() => onDisk(dir).files.every((f) => !initial.b!.some((b) => b.path === f)))
    expect(onDisk(dir).bytes).toBeLessThan(afterHard.bytes)
    expect(onDisk(dir).files).toEqual(initial.c!.map((f) => f.path))
    expect(await sql(server, "x", "SELECT count(*) AS n FROM b")).toEqual([{ n: 0 }])
    await server.stop()

    const again = await start(dir)
    expect(onDisk(dir).files).toEqual(initial.c!.map((f) => f.path))
    expect(await sql(again, "x", "SELECT count(*) AS n FROM b")).toEqual([{ n: 0 }])
    expect(await sql(again, "x", "SELECT count(*) AS n FROM c")).toEqual([{ n: 2000 }])

    // A hard-deleted database takes its files with it.
    expectOk(await again.request("DELETE", "/api/v3/configure/database?db=x&hard_delete_at=now"))
    await until(() => onDisk(dir).files.length === 0)
  }, 30_000)
})
