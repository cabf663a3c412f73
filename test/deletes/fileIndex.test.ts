import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Compactor } from "../../src/compactor/Compactor.ts"
import { expectOk } from "../support/expect.ts"
import { createOperatorToken, startServer, tempDir, type InProcessServer } from "../support/server.ts"

const running: Array<InProcessServer> = []
const start = async (dataDir: string) => {
  const server = await startServer(
    { withoutAuth: true, persistIntervalMs: 3_600_000, compactionDelayMs: 3_600_000 },
    dataDir
  )
  running.push(server)
  return server
}
afterAll(() => Promise.all(running.map((s) => s.stop())))

const T0 = 1_700_000_000_000_000_000n
const DAY = 86_400_000_000_000n
const run = <A, E>(server: InProcessServer, f: (c: Compactor) => Effect.Effect<A, E>) =>
  server.runtime.runPromise(Effect.flatMap(Compactor, f) as Effect.Effect<A, E, never>)
const sql = async (server: InProcessServer, q: string) => {
  const res = await server.request("GET", `/api/v3/query_sql?db=d&format=json&q=${encodeURIComponent(q)}`)
  if (res.status !== 200) throw new Error(`${q}: ${res.status} ${res.text}`)
  return res.json<Array<Record<string, unknown>>>()
}
/** Runs a query and answers its rows and the files its telemetry says it scanned. */
const scanned = async (server: InProcessServer, q: string) => {
  const rows = await sql(server, q)
  const telemetry = expectOk(await server.request("GET", "/api/v3/query_sql_telemetry")).json<{ chunks: Array<{ files_scanned: number }> }>()
  return { rows, files: telemetry.chunks[0]!.files_scanned }
}
const configure = (server: InProcessServer, method: "POST" | "DELETE", body: Record<string, unknown>) => server.request(method, "/api/v3/enterprise/configure/file_index", { body })

/** Host h<i> writes only on day i (i = 0..3), 10 rows each: every day's compacted file holds one host. */
const seed = async (server: InProcessServer) => {
  const lines = []
  for (let d = 0; d < 4; d++) for (let i = 0; i < 10; i++) lines.push(`cpu,host=h${d},region=r usage=${i},note="n${d}" ${T0 + BigInt(d) * DAY + BigInt(i) * 1_000_000_000n}`)
  expectOk(await server.request("POST", "/api/v3/write_lp?db=d&precision=nanosecond", { body: lines.join("\n") }), 204)
  await run(server, (c) => c.persistNow)
}

describe("file indexes", () => {
  it("POST and DELETE answer 200, 400 naming the bad column, 404 for an unknown database, table or index", async () => {
    const server = await start(tempDir())
    await seed(server)
    expect((await configure(server, "POST", { db: "d", table: "cpu", columns: ["host", "note"] })).status).toBe(200)
    expect((await configure(server, "POST", { db: "d", columns: ["host"] })).status).toBe(200)
    const bad = async (method: "POST" | "DELETE", body: Record<string, unknown>, status: number, says: RegExp) => {
      const res = await configure(server, method, body)
      expect(res.status, res.text).toBe(status)
      expect(res.json().error).toMatch(says)
    }
    await bad("POST", { db: "d", table: "cpu", columns: [] }, 400, /columns: at least one/)
    await bad("POST", { db: "d", table: "cpu", columns: ["usage"] }, 400, /'usage' is a float column/)
    await bad("POST", { db: "d", table: "cpu", columns: ["nope"] }, 400, /'nope' is not in table 'cpu'/)
    await bad("POST", { db: "d", table: "cpu" }, 400, /columns/)
    await bad("POST", { db: "nope", columns: ["host"] }, 404, /database not found: nope/)
    await bad("POST", { db: "d", table: "nope", columns: ["host"] }, 404, /table not found: nope/)
    expect((await configure(server, "DELETE", { db: "d", table: "cpu" })).status).toBe(200)
    await bad("DELETE", { db: "d", table: "cpu" }, 404, /file index not found/)
    await bad("DELETE", { db: "nope" }, 404, /database not found/)
    expect((await configure(server, "DELETE", { db: "d" })).status).toBe(200)
    await bad("DELETE", { db: "d" }, 404, /file index not found for database d/)
  })

  it("needs an admin token", async () => {
    const server = await startServer({ persistIntervalMs: 3_600_000 })
    running.push(server)
    const admin = await createOperatorToken(server)
    expectOk(await server.request("POST", "/api/v3/write_lp?db=d", { body: "cpu,host=a usage=1 1", token: admin }), 204)
    expect((await server.request("POST", "/api/v3/enterprise/configure/file_index", { body: { db: "d", columns: ["host"] } })).status).toBe(401)
    expect((await server.request("POST", "/api/v3/enterprise/configure/file_index", { body: { db: "d", columns: ["host"] }, token: admin })).status).toBe(200)
  })

  it("compaction indexes the columns; equality queries on them scan fewer files (telemetry), with the same answers, also after a restart", async () => {
    const dir = tempDir()
    const server = await start(dir)
    await seed(server)
    expectOk(await configure(server, "POST", { db: "d", table: "cpu", columns: ["host"] }))
    // gen1 files are not indexed: every file is read.
    expect((await scanned(server, "SELECT count(*) AS n FROM cpu WHERE host = 'h2'")).files).toBe(4)
    await run(server, (c) => c.compactNow())
    const all = await scanned(server, "SELECT count(*) AS n FROM cpu")
    expect(all).toEqual({ rows: [{ n: 10 * 4 }], files: 4 })
    expect(await scanned(server, "SELECT count(*) AS n FROM cpu WHERE host = 'h2'")).toEqual({ rows: [{ n: 10 }], files: 1 })
    expect(await scanned(server, "SELECT count(*) AS n FROM cpu WHERE region = 'r' AND host IN ('h1', 'h3')")).toEqual({ rows: [{ n: 20 }], files: 2 })
    expect(await scanned(server, "SELECT count(*) AS n FROM cpu WHERE host = 'zz'")).toEqual({ rows: [{ n: 0 }], files: 0 })
    // Not a plain conjunction of equalities: every file.
    expect(await scanned(server, "SELECT count(*) AS n FROM cpu WHERE host = 'h2' OR usage > 8")).toEqual({ rows: [{ n: 13 }], files: 4 })
    // Not indexed: every file.
    expect((await scanned(server, "SELECT count(*) AS n FROM cpu WHERE note = 'n2'")).files).toBe(4)
    // A subquery reading the table again sees every file.
    expect(await scanned(server, "SELECT count(*) AS n FROM cpu WHERE host = 'h2' AND usage < (SELECT max(usage) + 1 FROM cpu)")).toEqual({ rows: [{ n: 10 }], files: 4 })
    await server.stop()

    const again = await start(dir)
    expect(await scanned(again, "SELECT count(*) AS n FROM cpu WHERE host = 'h1'")).toEqual({ rows: [{ n: 10 }], files: 1 })
  })

  it("a database-wide index applies to its tables; a table's own index takes precedence", async () => {
    const server = await start(tempDir())
    await seed(server)
    expectOk(await configure(server, "POST", { db: "d", columns: ["note"] }))
    await run(server, (c) => c.compactNow())
    expect(await scanned(server, "SELECT count(*) AS n FROM cpu WHERE note = 'n3'")).toEqual({ rows: [{ n: 10 }], files: 1 })
    expect((await scanned(server, "SELECT count(*) AS n FROM cpu WHERE host = 'h3'")).files).toBe(4)
  })
})
