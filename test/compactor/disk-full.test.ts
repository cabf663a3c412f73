import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { Compactor } from "../../src/compactor/Compactor.ts"
import { ServerConfig } from "../../src/config.ts"
import { makeLocalObjectStore, ObjectStore, StorageError } from "../../src/storage/ObjectStore.ts"
import { expectOk } from "../support/expect.ts"
import { startServer, tempDir, type InProcessServer } from "../support/server.ts"

const running: Array<InProcessServer> = []
afterAll(() => Promise.all(running.map((s) => s.stop())))

/** The local store, except that storing objects fails with ENOSPC while `full.on` is set (a disk full, injected). */
const full = { on: false }
const enospc = (path: string) => Effect.fail(new StorageError({ message: `storing ${path}: ENOSPC: no space left on device, write` }))
const layerFillingStore = Layer.effect(
  ObjectStore,
  Effect.map(ServerConfig, (config) => {
    const local = makeLocalObjectStore(NodePath.resolve(config.dataDir))
    return {
      ...local,
      putFile: (path: string, file: string) => (full.on && path.startsWith("dbs/") ? enospc(path) : local.putFile(path, file)),
      putFiles: (entries: ReadonlyArray<{ readonly path: string; readonly localFile: string }>) =>
        full.on && entries.some((e) => e.path.startsWith("dbs/")) ? enospc(entries[0]!.path) : local.putFiles(entries),
      put: (path: string, bytes: Uint8Array) => (full.on && path.startsWith("dbs/") ? enospc(path) : local.put(path, bytes))
    }
  })
)

const MIN = 60_000_000_000
const filesUnder = (dir: string) =>
  NodeFs.existsSync(NodePath.join(dir, "dbs")) ? (NodeFs.readdirSync(NodePath.join(dir, "dbs"), { recursive: true, withFileTypes: true }) as Array<NodeFs.Dirent>).filter((e) => e.isFile()).map((e) => e.name) : []

const metric = async (server: InProcessServer, name: string) => {
  const text = expectOk(await server.request("GET", "/metrics")).text
  const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
  return line === undefined ? 0 : Number(line.split(" ").pop())
}
const sql = async (server: InProcessServer, q: string) =>
  expectOk(await server.request("GET", `/api/v3/query_sql?db=d&format=jsonl&q=${encodeURIComponent(q)}`)).text
const waitFor = async (what: string, check: () => Promise<boolean>, ms = 20_000) => {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

describe("disk full under the Compactor", () => {
  it("a persist that hits a full disk records nothing, leaves no file, keeps the rows answered, counts the failure and succeeds once space returns", { timeout: 90_000 }, async () => {
    const dir = tempDir()
    full.on = true
    const server = await startServer(
      { withoutAuth: true, gen1DurationMs: 60_000, persistIntervalMs: 1_000, compactionDelayMs: 3_600_000 },
      dir,
      layerFillingStore
    )
    running.push(server)
    const lines = Array.from({ length: 300 }, (_, i) => `m,host=h${i % 7} v=${i} ${(i % 5) * MIN + i}`)
    expectOk(await server.request("POST", "/api/v3/write_lp?db=d&precision=nanosecond", { body: lines.join("\n") }), 204)
    const answer = await sql(server, "SELECT host, count(*) AS n, sum(v) AS v FROM m GROUP BY host ORDER BY host")

    await waitFor("two failed persists", async () => (await metric(server, "strata_persist_failures_total")) >= 2)
    expect(await sql(server, "SELECT count(*) AS n FROM system.parquet_files")).toBe('{"n":0}\n')
    expect(filesUnder(dir)).toEqual([])
    expect(await metric(server, "strata_write_buffer_rows")).toBe(300)
    expect(await sql(server, "SELECT host, count(*) AS n, sum(v) AS v FROM m GROUP BY host ORDER BY host")).toBe(answer)

    full.on = false
    await waitFor("a persist", async () => (await metric(server, "strata_write_buffer_rows")) === 0)
    expect(await sql(server, "SELECT count(*) > 0 AS some FROM system.parquet_files")).toBe('{"some":true}\n')
    expect(filesUnder(dir).every((f) => f.endsWith(".parquet"))).toBe(true)
    expect(await sql(server, "SELECT host, count(*) AS n, sum(v) AS v FROM m GROUP BY host ORDER BY host")).toBe(answer)

    // A compaction that hits a full disk keeps the window's files as they were; later it goes through.
    const before = await sql(server, "SELECT path, row_count FROM system.parquet_files ORDER BY path")
    full.on = true
    const failed = await server.runtime.runPromise(Effect.either(Effect.flatMap(Compactor, (c) => c.compactNow())))
    expect(failed._tag).toBe("Left")
    expect(String((failed as { left: { message: string } }).left.message)).toContain("no space left on device")
    expect(await sql(server, "SELECT path, row_count FROM system.parquet_files ORDER BY path")).toBe(before)
    expect(filesUnder(dir).length).toBe(before.trim().split("\n").length)
    full.on = false
    await server.runtime.runPromise(Effect.flatMap(Compactor, (c) => c.compactNow()))
    expect(await sql(server, "SELECT path, row_count FROM system.parquet_files ORDER BY path")).not.toBe(before)
    expect(await sql(server, "SELECT host, count(*) AS n, sum(v) AS v FROM m GROUP BY host ORDER BY host")).toBe(answer)
    await server.stop()

    const again = await startServer({ withoutAuth: true, gen1DurationMs: 60_000, persistIntervalMs: 3_600_000 }, dir)
    running.push(again)
    expect(await sql(again, "SELECT host, count(*) AS n, sum(v) AS v FROM m GROUP BY host ORDER BY host")).toBe(answer)
  })
})
