import { afterAll, describe, expect, it } from "@effect/vitest"
import { liveDatabase, liveTable } from "../src/catalog/state.ts"
import { catalogSummary } from "../src/replay.ts"
import { expectError, expectOk } from "./support/expect.ts"
import { catalogOf, createOperatorToken, startServer, tempDir, type InProcessServer } from "./support/server.ts"

const running: Array<InProcessServer> = []
const start = async (dataDir: string) => {
  const server = await startServer({}, dataDir)
  running.push(server)
  return server
}
afterAll(() => Promise.all(running.map((s) => s.stop())))

const dbNames = async (server: InProcessServer, token: string, showDeleted = false) =>
  expectOk(await server.request("GET", `/api/v3/configure/database?format=json${showDeleted ? "&show_deleted=true" : ""}`, { token }))
    .json<Array<{ "iox::database": string; deleted?: boolean }>>()

describe("restart on the same data dir", () => {
  it("keeps databases, tables, retention, deletions, tokens and the cluster uuid", async () => {
    const dir = tempDir()
    const first = await start(dir)
    const admin = await createOperatorToken(first)
    const post = (path: string, body: unknown, token = admin) => first.request("POST", path, { token, body })
    expectOk(await post("/api/v3/configure/database", { db: "metrics", retention_period: "30d" }))
    expectOk(await post("/api/v3/configure/table", { db: "metrics", table: "cpu", tags: ["host", "region"], fields: [{ name: "usage", type: "float64" }], retention_period: "1h" }))
    expectOk(await post("/api/v3/configure/table", { db: "metrics", table: "scratch", tags: [], fields: [] }))
    expectOk(await first.request("DELETE", "/api/v3/configure/table?db=metrics&table=scratch", { token: admin }))
    expectOk(await post("/api/v3/configure/database", { db: "old" }))
    expectOk(await first.request("DELETE", "/api/v3/configure/database?db=old&hard_delete_at=2999-01-01T00:00:00Z", { token: admin }))
    const ci = (expectOk(await post("/api/v3/configure/token/named_admin", { token_name: "ci", expiry_secs: 86_400 }), 201)).json<{ token: string }>().token
    const reader = (
      expectOk(await post("/api/v3/enterprise/configure/token", { token_name: "reader", permissions: [{ resource_type: "system", resource_names: ["health"], actions: ["read"] }] }), 201)
    ).json<{ token: string }>().token
    const gone = (expectOk(await post("/api/v3/configure/token/named_admin", { token_name: "gone" }), 201)).json<{ token: string }>().token
    expectOk(await first.request("DELETE", "/api/v3/configure/token?token_name=gone", { token: admin }))

    const uuid = (await first.request("GET", "/health", { token: admin })).headers.get("cluster-uuid")
    const listedBefore = await dbNames(first, admin, true)
    const before = await catalogOf(first)
    await first.stop()

    const second = await start(dir)
    const after = await catalogOf(second)
    expect(catalogSummary(after)).toEqual(catalogSummary(before))
    expect(after.lastSeq).toBe(before.lastSeq)

    expect((await second.request("GET", "/health", { token: admin })).headers.get("cluster-uuid")).toBe(uuid)
    expect(await dbNames(second, admin, true)).toEqual(listedBefore)
    expect((await dbNames(second, admin)).map((r) => r["iox::database"])).toEqual(["_internal", "metrics"])

    const metrics = liveDatabase(after, "metrics")!
    expect(metrics.retentionPeriodNs).toBe(30n * 86_400_000_000_000n)
    const cpu = liveTable(metrics, "cpu")!
    expect(cpu.columns.map((c) => c.name)).toEqual(["host", "region", "usage", "time"])
    expect(cpu.seriesKey).toEqual(["host", "region"])
    expect(cpu.retentionPeriodNs).toBe(3_600_000_000_000n)
    expect(liveTable(metrics, "scratch")).toBeUndefined()

    expectOk(await second.request("GET", "/api/v3/configure/database?format=json", { token: ci }))
    expectOk(await second.request("GET", "/health", { token: reader }))
    expectError(await second.request("GET", "/metrics", { token: reader }), 403)
    expectError(await second.request("GET", "/health", { token: gone }), 401)
    expectError(await second.request("POST", "/api/v3/configure/token/admin"), 409, "token name already exists, _admin")
    expectError(
      await second.request("POST", "/api/v3/configure/table", { token: admin, body: { db: "metrics", table: "cpu", tags: [], fields: [] } }),
      409
    )
  })

  it("a restart appends nothing; later changes continue the log and get fresh ids", async () => {
    const dir = tempDir()
    const first = await start(dir)
    const admin = await createOperatorToken(first)
    expectOk(await first.request("POST", "/api/v3/configure/database", { token: admin, body: { db: "a" } }))
    const before = await catalogOf(first)
    await first.stop()

    const second = await start(dir)
    expect((await catalogOf(second)).lastSeq).toBe(before.lastSeq)
    expectOk(await second.request("POST", "/api/v3/configure/database", { token: admin, body: { db: "b" } }))
    const after = await catalogOf(second)
    expect(after.lastSeq).toBe(before.lastSeq + 1)
    expect(liveDatabase(after, "b")!.id).toBe(liveDatabase(before, "a")!.id + 1)
    await second.stop()

    const third = await start(dir)
    expect(catalogSummary(await catalogOf(third))).toEqual(catalogSummary(after))
  })

  it("a regenerated operator secret is the one that works after a restart", async () => {
    const dir = tempDir()
    const first = await start(dir)
    const original = await createOperatorToken(first)
    const regenerated = (expectOk(await first.request("POST", "/api/v3/configure/token/admin/regenerate", { token: original }), 201)).json<{ token: string }>().token
    await first.stop()

    const second = await start(dir)
    expectError(await second.request("GET", "/health", { token: original }), 401)
    expectOk(await second.request("GET", "/health", { token: regenerated }))
  })

  it("a server stopped before it was ever used restarts with the same identity and only _internal", async () => {
    const dir = tempDir()
    const first = await start(dir)
    const uuid = (await catalogOf(first)).clusterUuid
    await first.stop()
    const second = await start(dir)
    const state = await catalogOf(second)
    expect(state.clusterUuid).toBe(uuid)
    expect([...state.databases.values()].map((d) => d.name)).toEqual(["_internal"])
    expect(state.lastSeq).toBe(2)
  })
})
