import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { Compactor } from "../../src/compactor/Compactor.ts"
import { expectOk } from "../support/expect.ts"
import { createOperatorToken, createResourceToken, startServer, tempDir, type InProcessServer } from "../support/server.ts"

const running: Array<InProcessServer> = []
const start = async (dataDir: string, rowDeleteMinAgeMs = 86_400_000) => {
  // Persists and compactions only when a test says.
  const server = await startServer(
    { withoutAuth: true, persistIntervalMs: 3_600_000, compactionDelayMs: 3_600_000, rowDeleteMinAgeMs },
    dataDir
  )
  running.push(server)
  return server
}
afterAll(() => Promise.all(running.map((s) => s.stop())))

const T0 = 1_700_000_000_000_000_000n
const SEC = 1_000_000_000n
const compactor = <A, E>(server: InProcessServer, f: (c: Compactor) => Effect.Effect<A, E>) =>
  server.runtime.runPromise(Effect.flatMap(Compactor, f) as Effect.Effect<A, E, never>)

const write = async (server: InProcessServer, lines: ReadonlyArray<string>) =>
  expectOk(await server.request("POST", "/api/v3/write_lp?db=d&precision=nanosecond", { body: lines.join("\n") }), 204)
const sql = async (server: InProcessServer, q: string) => {
  const res = await server.request("GET", `/api/v3/query_sql?db=d&format=json&q=${encodeURIComponent(q)}`)
  if (res.status !== 200) throw new Error(`${q}: ${res.status} ${res.text}`)
  return res.json<Array<Record<string, unknown>>>()
}
const hosts = async (server: InProcessServer) =>
  (await sql(server, "SELECT host, count(*) AS n FROM cpu GROUP BY host ORDER BY host")).map((r) => `${r.host}:${r.n}`)
const influxqlCount = async (server: InProcessServer) => {
  const res = expectOk(await server.request("GET", `/query?db=d&q=${encodeURIComponent("SELECT count(usage) FROM cpu WHERE host = 'a'")}`)).json<any>()
  return res.results[0].series?.[0]?.values?.[0]?.[1] ?? 0
}
/** 10 rows per host a and b, one a second from T0 (day 1), plus 5 rows of host a on the next day. */
const seed = (server: InProcessServer) =>
  write(server, [
    ...Array.from({ length: 10 }, (_, i) => `cpu,host=a,region=r1 usage=${i} ${T0 + BigInt(i) * SEC}`),
    ...Array.from({ length: 10 }, (_, i) => `cpu,host=b,region=r1 usage=${i} ${T0 + BigInt(i) * SEC}`),
    ...Array.from({ length: 5 }, (_, i) => `cpu,host=a,region=r2 usage=${i} ${T0 + 86_400n * SEC + BigInt(i) * SEC}`)
  ])
const requestDelete = (server: InProcessServer, body: Record<string, unknown>) => server.request("POST", "/api/v3/row_delete_requests", { body })

describe("row-delete requests", () => {
  it("POST answers the request with its sequence; 400 names what is wrong, 404 for an unknown database or table", async () => {
    const server = await start(tempDir())
    await seed(server)
    const ok = await server.request("POST", "/api/v3/row_delete_requests", {
      body: `{"db":"d","table":"cpu","delete_predicate":"host = 'a'","min_time":${T0},"max_time":${T0 + 5n * SEC}}`,
      headers: { "content-type": "application/json" }
    })
    expect(ok.status).toBe(200)
    const made = ok.json()
    expect(made.sequence).toBeGreaterThan(0)
    expect(made).toMatchObject({ db_name: "d", table_name: "cpu", delete_predicate: "host = 'a'", disposition: "pending", db_name_stale: false, table_name_stale: false })
    // ns times are answered exactly.
    expect(ok.text).toContain(`"min_time":${T0}`)
    expect(typeof made.created_at).toBe("number")
    expect(made.created_at).toBeLessThan(10_000_000_000)

    // int64 extremes as bare JSON numbers: kept exact, and no bound at all (queries still answer).
    const wide = await server.request("POST", "/api/v3/row_delete_requests", {
      body: `{"db":"d","table":"cpu","delete_predicate":"host = 'zz'","min_time":-9223372036854775808,"max_time":9223372036854775807}`,
      headers: { "content-type": "application/json" }
    })
    expect(wide.status, wide.text).toBe(200)
    expect(wide.text).toContain(`"min_time":-9223372036854775808,"max_time":9223372036854775807`)
    expect(await hosts(server)).toEqual(["a:10", "b:10"])

    const bad = async (body: Record<string, unknown>, status: number, says: RegExp) => {
      const res = await requestDelete(server, body)
      expect(res.status, res.text).toBe(status)
      expect(res.json().error).toMatch(says)
    }
    const base = { db: "d", table: "cpu", min_time: 0, max_time: 10 }
    await bad({ ...base, delete_predicate: "host = 'a' OR host = 'b'" }, 400, /OR is not supported/)
    await bad({ ...base, delete_predicate: "usage = '1'" }, 400, /'usage' is a field column/)
    await bad({ ...base, delete_predicate: "nope = 'x'" }, 400, /column 'nope' is not in table 'cpu'/)
    await bad({ ...base, delete_predicate: "host != 'a'" }, 400, /expected '='/)
    await bad({ ...base, delete_predicate: "NOT host = 'a'" }, 400, /NOT is not supported/)
    await bad({ ...base, delete_predicate: "host IN ('a')" }, 400, /expected '='/)
    await bad({ db: "d", table: "cpu" }, 400, /min_time and\/or max_time/)
    await bad({ ...base, min_time: 10, max_time: 10 }, 400, /min_time .* before max_time/)
    await bad({ ...base, min_time: "x" }, 400, /min_time: expected an integer/)
    await bad({ table: "cpu", min_time: 0 }, 400, /db: is required/)
    await bad({ ...base, db: "nope" }, 404, /database not found: nope/)
    await bad({ ...base, table: "nope" }, 404, /table not found: nope/)
  })

  it("GET lists requests with the reference's filters; abort needs a reason, 404 for an unknown seq, 400 once not pending", async () => {
    const server = await start(tempDir())
    await seed(server)
    await write(server, ["mem,host=a free=1 1"])
    const one = expectOk(await requestDelete(server, { db: "d", table: "cpu", delete_predicate: "host = 'a'", all_time: true })).json().sequence as number
    const two = expectOk(await requestDelete(server, { db: "d", table: "mem", min_time: 0 })).json().sequence as number
    const list = async (query: string) => expectOk(await server.request("GET", `/api/v3/row_delete_requests${query}`)).json<Array<any>>()
    expect((await list("")).map((r) => r.sequence)).toEqual([one, two])
    expect((await list("?table=mem")).map((r) => r.sequence)).toEqual([two])
    expect((await list(`?min_sequence=${two}`)).map((r) => r.sequence)).toEqual([two])
    expect((await list(`?max_sequence=${one}`)).map((r) => r.sequence)).toEqual([one])
    expect(await list("?db=other")).toEqual([])
    expect((await list(""))[0].progress).toBeUndefined()
    expect((await list("?include_progress=true"))[0].progress).toMatchObject({ sequence_id: one, in_range: { l1: { processed: 0 } }, out_of_range: { total: 0, processed: 0 } })
    expect((await server.request("GET", "/api/v3/row_delete_requests?disposition=done")).status).toBe(400)
    expect((await server.request("GET", "/api/v3/row_delete_requests?min_sequence=-1")).status).toBe(400)

    expect((await server.request("POST", `/api/v3/row_delete_requests/${two}/abort`, { body: {} })).status).toBe(400)
    expect((await server.request("POST", `/api/v3/row_delete_requests/${two}/abort`, { body: { reason: " " } })).status).toBe(400)
    expect((await server.request("POST", "/api/v3/row_delete_requests/99999/abort", { body: { reason: "x" } })).status).toBe(404)
    const aborted = expectOk(await server.request("POST", `/api/v3/row_delete_requests/${two}/abort`, { body: { reason: "too broad" } })).json()
    expect(aborted).toMatchObject({ sequence: two, disposition: "aborted", abort_reason: "too broad" })
    expect(typeof aborted.aborted_at).toBe("number")
    expect((await server.request("POST", `/api/v3/row_delete_requests/${two}/abort`, { body: { reason: "again" } })).status).toBe(400)
    expect((await list("?disposition=aborted")).map((r) => r.sequence)).toEqual([two])
    expect((await list("?disposition=pending")).map((r) => r.sequence)).toEqual([one])
  })

  it("hides matching rows at once (SQL and InfluxQL) and through persist, compaction and restart; rows written after the request stay", async () => {
    const dir = tempDir()
    const server = await start(dir)
    await seed(server)
    await compactor(server, (c) => c.persistNow) // some rows in files, some in the buffer
    await write(server, [`cpu,host=a,region=r1 usage=100 ${T0 + 3n * SEC}`]) // overwrites one row, still in the buffer
    expect(await hosts(server)).toEqual(["a:15", "b:10"])
    const seq = expectOk(await requestDelete(server, { db: "d", table: "cpu", delete_predicate: "host = 'a' AND region = 'r1'", min_time: `${T0}`, max_time: `${T0 + 5n * SEC}` })).json().sequence
    // Rows of a at seconds 0..4 of day 1 are gone; b and a's day 2 untouched.
    expect(await hosts(server)).toEqual(["a:10", "b:10"])
    expect(await influxqlCount(server)).toBe(10)
    // Written after the request, with matching tags and time: visible.
    await write(server, [`cpu,host=a,region=r1 usage=7 ${T0 + 1n * SEC}`])
    expect(await hosts(server)).toEqual(["a:11", "b:10"])
    await compactor(server, (c) => c.persistNow)
    expect(await hosts(server)).toEqual(["a:11", "b:10"])
    await compactor(server, (c) => c.compactNow())
    expect(await hosts(server)).toEqual(["a:11", "b:10"])
    const after = await sql(server, "SELECT usage FROM cpu WHERE host = 'a' AND time < TIMESTAMP '2023-11-14 22:13:25'")
    expect(after).toEqual([{ usage: 7 }])
    const system = await sql(server, "SELECT sequence, table_name, disposition FROM system.row_deletes")
    expect(system).toEqual([{ sequence: seq, table_name: "cpu", disposition: "pending" }])
    await server.stop()

    const again = await start(dir)
    expect(await hosts(again)).toEqual(["a:11", "b:10"])
    await write(again, [`cpu,host=b,region=r1 usage=1 ${T0 + 100n * SEC}`])
    await compactor(again, (c) => c.persistNow)
    await compactor(again, (c) => c.compactNow())
    expect(await hosts(again)).toEqual(["a:11", "b:11"])
  })

  it("abort makes hidden rows visible again while no rewrite removed them", async () => {
    const server = await start(tempDir())
    await seed(server)
    const seq = expectOk(await requestDelete(server, { db: "d", table: "cpu", delete_predicate: "host = 'b'", min_time: 0 })).json().sequence
    expect(await hosts(server)).toEqual(["a:15"])
    expectOk(await server.request("POST", `/api/v3/row_delete_requests/${seq}/abort`, { body: { reason: "wrong host" } }))
    expect(await hosts(server)).toEqual(["a:15", "b:10"])
  })

  it("after --row-delete-min-age the Compactor rewrites the files and completes the request; the rows stay gone after a restart", async () => {
    const dir = tempDir()
    const server = await start(dir, 0)
    await seed(server)
    await compactor(server, (c) => c.persistNow)
    await compactor(server, (c) => c.compactNow())
    const seq = expectOk(await requestDelete(server, { db: "d", table: "cpu", delete_predicate: "host = 'a'", all_time: true })).json().sequence
    expect(await compactor(server, (c) => c.applyRowDeletes)).toEqual([seq])
    const listed = expectOk(await server.request("GET", "/api/v3/row_delete_requests?include_progress=true")).json<Array<any>>()
    expect(listed[0]).toMatchObject({ sequence: seq, disposition: "completed" })
    expect(listed[0].progress.in_range.l1.total).toBe(2)
    expect(listed[0].progress.in_range.l1.processed).toBe(2)
    expect(typeof listed[0].completed_at).toBe("number")
    expect(await hosts(server)).toEqual(["b:10"])
    expect((await server.request("POST", `/api/v3/row_delete_requests/${seq}/abort`, { body: { reason: "late" } })).status).toBe(400)
    // Day 2 held only rows of a: its rewrite wrote no file.
    const files = await sql(server, "SELECT count(*) AS n FROM system.parquet_files WHERE table_name = 'cpu'")
    expect(files[0]!.n).toBe(1)
    const system = await sql(server, "SELECT disposition, files_rewritten FROM system.row_deletes")
    expect(system).toEqual([{ disposition: "completed", files_rewritten: 2 }])
    const metrics = expectOk(await server.request("GET", "/metrics")).text
    expect(metrics).toMatch(/^strata_row_deletes_completed_total 1$/m)
    expect(metrics).toMatch(/^strata_row_delete_files_rewritten_total 2$/m)
    await server.stop()
    const again = await start(dir, 0)
    expect(await hosts(again)).toEqual(["b:10"])
  })

  it("refuses a token without write on the database (403) and accepts one with it", async () => {
    const server = await startServer({ persistIntervalMs: 3_600_000 })
    running.push(server)
    const admin = await createOperatorToken(server)
    expectOk(await server.request("POST", "/api/v3/write_lp?db=d", { body: "cpu,host=a usage=1 1", token: admin }), 204)
    const reader = await createResourceToken(server, admin, "reader", { resource_type: "db", resource_names: ["d"], actions: ["read"] })
    const writer = await createResourceToken(server, admin, "writer", { resource_type: "db", resource_names: ["d"], actions: ["write"] })
    const body = { db: "d", table: "cpu", min_time: 0 }
    expect((await server.request("POST", "/api/v3/row_delete_requests", { body })).status).toBe(401)
    expect((await server.request("POST", "/api/v3/row_delete_requests", { body, token: reader })).status).toBe(403)
    const seq = expectOk(await server.request("POST", "/api/v3/row_delete_requests", { body, token: writer })).json().sequence
    expect(expectOk(await server.request("GET", "/api/v3/row_delete_requests", { token: reader })).json()).toEqual([])
    expect((await server.request("POST", `/api/v3/row_delete_requests/${seq}/abort`, { body: { reason: "r" }, token: reader })).status).toBe(403)
    expectOk(await server.request("POST", `/api/v3/row_delete_requests/${seq}/abort`, { body: { reason: "r" }, token: admin }))
  })
})
