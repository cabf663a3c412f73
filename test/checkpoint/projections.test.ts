import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Catalog } from "../../src/catalog/Catalog.ts"
import { projectionHash } from "../../src/checkpoint/codec.ts"
import { Compactor } from "../../src/compactor/Compactor.ts"
import { DuckDb } from "../../src/query/DuckDb.ts"
import { FileIndex } from "../../src/storage/FileIndex.ts"
import { Ingester } from "../../src/write/Ingester.ts"
import { expectOk } from "../support/expect.ts"
import { createOperatorToken, spawnServer, startServer, tempDir, type ChildServer, type InProcessServer, type ServerHandle } from "../support/server.ts"

const running: Array<InProcessServer> = []
const children: Array<ChildServer> = []
const start = async (dataDir: string) => {
  // No timed persist or checkpoint: the test says when.
  const server = await startServer(
    { withoutAuth: false, gen1DurationMs: 60_000, persistIntervalMs: 3_600_000 },
    dataDir
  )
  running.push(server)
  return server
}
afterAll(async () => {
  await Promise.all(running.map((s) => s.stop()))
  for (const c of children) if (c.child.exitCode === null && c.child.signalCode === null) await c.kill()
})

const MIN = 60_000_000_000
/** The operator token every request carries (tokens are part of the history; the servers run with auth). */
let operator = ""
const authed = (server: ServerHandle): ServerHandle => ({
  ...server,
  request: (method, path, options = {}) => server.request(method, path, { token: operator, ...options })
})
const write = async (server: ServerHandle, db: string, lines: Array<string>) =>
  expectOk(await authed(server).request("POST", `/api/v3/write_lp?db=${db}&precision=nanosecond`, { body: lines.join("\n") }), 204)
const sql = async (server: ServerHandle, db: string, q: string) =>
  expectOk(await authed(server).request("GET", `/api/v3/query_sql?db=${db}&format=jsonl&q=${encodeURIComponent(q)}`)).text

/** The write buffer's rows, table by table, deduplicated and in a fixed order. */
const bufferDigest = (server: InProcessServer) =>
  server.runtime.runPromise(
    Effect.gen(function* () {
      const ingester = yield* Ingester
      const duck = yield* DuckDb
      yield* ingester.flush
      const conn = yield* Effect.promise(() => duck.instance.connect())
      const out: Array<string> = []
      const catalog = yield* Effect.flatMap(Catalog, (c) => c.current)
      for (const db of catalog.databases.values()) {
        for (const table of db.tables.values()) {
          const view = ingester.buffer.viewSql(table.id, true)
          if (view === undefined) continue
          const rows = (yield* Effect.promise(() => conn.runAndReadAll(`SELECT * FROM (${view}) ORDER BY ALL`))).getRowsJson()
          // A table whose rows were all deleted may keep its (empty) buffer tables until a restart: no rows either way.
          if (rows.length === 0) continue
          out.push(`${table.id}:${JSON.stringify(rows)}`)
        }
      }
      conn.closeSync()
      return out.join("\n")
    })
  )

/** A hash of every projection: the catalog with its tokens, the file index, and the write buffer's rows. */
const projections = async (server: InProcessServer) => {
  const states = await server.runtime.runPromise(
    Effect.all({
      catalog: Effect.flatMap(Catalog, (c) => c.current),
      files: Effect.flatMap(FileIndex, (f) => f.current)
    })
  )
  return { states: projectionHash(states.catalog, states.files), buffer: await bufferDigest(server) }
}

const metric = async (server: ServerHandle, name: string) => {
  const text = expectOk(await authed(server).request("GET", "/metrics")).text
  const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
  return line === undefined ? undefined : Number(line.split(" ").pop())
}

/** Writes, overwrites, deletes, a table created again under a deleted one's name, retention changes and tokens. */
const history = async (unauthed: ServerHandle, round: number) => {
  const server = authed(unauthed)
  const base = round * 10 * MIN
  await write(server, "d", [`m,host=a v=${round},w=1i ${base}`, `m,host=b v=2 ${base + 1}`, `n,host=a u=1 ${base}`])
  await write(server, "d", [`m,host=a w=${round + 7}i ${base}`, `m,host=a v=9 ${base - MIN}`])
  expectOk(await server.request("DELETE", "/api/v3/configure/table?db=d&table=m"))
  await write(server, "d", [`m,host=new v=${round + 100} ${base + 2}`])
  await write(server, `e${round}`, [`x,k=v f=1 ${base}`, `x,k=w g="s" ${base + 1}`])
  expectOk(await server.request("POST", "/api/v3/enterprise/configure/table/retention_period?db=d&table=n&duration=100000d"), 204)
  expectOk(await server.request("DELETE", `/api/v3/configure/table?db=e${round}&table=x&data_only=true`))
  await write(server, `e${round}`, [`x,k=z f=3 ${base + 5}`])
  expectOk(await server.request("POST", "/api/v3/enterprise/configure/token", { body: { token_name: `t${round}`, permissions: [{ resource_type: "db", resource_names: ["d"], actions: ["read"] }] } }), 201)
}

describe("one projection path, checkpoints", () => {
  it("after a restart from a checkpoint every projection hashes equal to the live one, and the start applied only the events after it", { timeout: 90_000 }, async () => {
    const dir = tempDir()
    const first = await start(dir)
    operator = await createOperatorToken(first)
    const compactor = <A, E>(f: (c: Compactor) => Effect.Effect<A, E>) =>
      first.runtime.runPromise(Effect.flatMap(Compactor, f))
    await history(first, 1)
    await compactor((c) => c.persistNow)
    await history(first, 2)
    await compactor((c) => c.persistNow)
    await compactor((c) => c.compactNow())
    const checkpoint = await compactor((c) => c.checkpointNow)
    expect(checkpoint?.seq).toBeGreaterThan(0)
    // After the checkpoint: more history, part of it persisted, part only in the buffer.
    await history(first, 3)
    await compactor((c) => c.persistNow)
    await history(first, 4)
    const live = await projections(first)
    const answers = await sql(first, "d", "SELECT * FROM m ORDER BY ALL")
    expect(answers).toContain('"host":"new"')
    expect(answers).not.toContain('"host":"a"')
    await first.stop()

    const second = await start(dir)
    const again = await projections(second)
    expect(again).toEqual(live)
    expect(await sql(second, "d", "SELECT * FROM m ORDER BY ALL")).toBe(answers)
    // The start read the events after the checkpoint only: rounds 3 and 4's, not those of rounds 1 and 2.
    const replayed = (await metric(second, "strata_start_events_replayed"))!
    expect(replayed).toBeGreaterThan(0)
    // What the second server itself appended (its start commits nothing, but its Compactor may) is part of its state.
    const settled = await projections(second)
    await second.stop()

    // The same history read without the checkpoint (its file gone) gives the same projections.
    const { rmSync, readdirSync } = await import("node:fs")
    for (const f of readdirSync(`${dir}/checkpoints`)) rmSync(`${dir}/checkpoints/${f}`)
    const third = await start(dir)
    expect(await projections(third)).toEqual(settled)
    expect(await metric(third, "strata_start_events_replayed")).toBeGreaterThan(replayed)
  })

  it("a table deleted and created again under its name never gets the old table's rows back, from the buffer or the files", { timeout: 60_000 }, async () => {
    const dir = tempDir()
    const first = await start(dir)
    operator = await createOperatorToken(first)
    await write(first, "d", ["m,h=old v=1 1700000000000000000"])
    expectOk(await authed(first).request("DELETE", "/api/v3/configure/table?db=d&table=m"))
    await write(first, "d", ["m,h=new v=2 1700000001000000000"])
    const before = await sql(first, "d", "SELECT h, v FROM m ORDER BY time")
    expect(before).toBe('{"h":"new","v":2.0}\n')
    await first.stop()
    const second = await start(dir)
    expect(await sql(second, "d", "SELECT h, v FROM m ORDER BY time")).toBe(before)
    // Once more with the new table's rows persisted and the old ones only in the log.
    await second.runtime.runPromise(Effect.flatMap(Compactor, (c) => c.persistNow))
    await write(second, "d", ["m,h=newer v=3 1700000002000000000"])
    await second.stop()
    const third = await start(dir)
    expect(await sql(third, "d", "SELECT h, v FROM m ORDER BY time")).toBe('{"h":"new","v":2.0}\n{"h":"newer","v":3.0}\n')
  })

  it("kill -9 during a scripted history: the restarted server answers every query as before the kill", { timeout: 90_000 }, async () => {
    const dir = tempDir()
    const args = ["--persist-interval", "1s", "--gen1-duration", "1m"]
    const first = await spawnServer(dir, args)
    children.push(first)
    operator = await createOperatorToken(first)
    for (let round = 1; round <= 4; round++) await history(first, round)
    const dump = async (server: ServerHandle) => [
      await sql(server, "d", "SELECT * FROM m ORDER BY ALL"),
      await sql(server, "d", "SELECT * FROM n ORDER BY ALL"),
      await sql(server, "e4", "SELECT * FROM x ORDER BY ALL"),
      await sql(server, "d", "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'iox' ORDER BY ALL"),
      expectOk(await authed(server).request("GET", "/api/v3/configure/database?format=json")).text
    ]
    const before = await dump(first)
    await first.kill()
    const second = await spawnServer(dir, args)
    children.push(second)
    expect(await dump(second)).toEqual(before)
  })
})
