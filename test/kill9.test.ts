import { afterAll, describe, expect, it } from "@effect/vitest"
import { expectError, expectOk } from "./support/expect.ts"
import { createOperatorToken, runCli, spawnServer, tempDir, type ChildServer } from "./support/server.ts"

const children: Array<ChildServer> = []
const spawn = async (dataDir: string, args: ReadonlyArray<string> = []) => {
  const child = await spawnServer(dataDir, args)
  children.push(child)
  return child
}
afterAll(async () => {
  for (const child of children) if (child.child.exitCode === null && child.child.signalCode === null) await child.kill()
})

describe("kill -9", () => {
  it("every acknowledged catalog change survives SIGKILL of the server process", async () => {
    const dir = tempDir()
    // A 50 ms group-commit window: an answer sent before its commit would be lost by the kill below.
    const first = await spawn(dir, ["--wal-flush-interval", "50ms"])
    const admin = await createOperatorToken(first)
    const post = (path: string, body: unknown) => first.request("POST", path, { token: admin, body })
    expectOk(await post("/api/v3/configure/database", { db: "alpha", retention_period: "7d" }))
    expectOk(await post("/api/v3/configure/table", { db: "alpha", table: "cpu", tags: ["host"], fields: [{ name: "usage", type: "float64" }] }))
    expectOk(await post("/api/v3/configure/database", { db: "beta" }))
    expectOk(await first.request("DELETE", "/api/v3/configure/database?db=beta", { token: admin }))
    const ci = expectOk(await post("/api/v3/configure/token/named_admin", { token_name: "ci" }), 201).json<{ token: string }>().token
    const prober = expectOk(
      await post("/api/v3/enterprise/configure/token", { token_name: "prober", permissions: [{ resource_type: "system", resource_names: ["health"], actions: ["read"] }] }),
      201
    ).json<{ token: string }>().token
    const before = await first.request("GET", "/ping", { token: admin })
    const uuid = before.headers.get("cluster-uuid")

    // A burst of creates; the process dies as soon as some have been answered, with others still in flight.
    const acknowledged: Array<string> = []
    const burst = Array.from({ length: 40 }, (_, i) => `burst-${i}`).map((db) =>
      post("/api/v3/configure/database", { db }).then((res) => {
        if (res.status === 200) acknowledged.push(db)
        if (acknowledged.length === 10) first.child.kill("SIGKILL")
      })
    )
    await Promise.allSettled(burst)
    await first.kill()
    expect(first.child.signalCode).toBe("SIGKILL")
    expect(acknowledged.length).toBeGreaterThanOrEqual(10)

    // The replay CLI reads the crashed log (with its un-checkpointed WAL) while the server restarts beside it.
    const [second, replayed] = await Promise.all([spawn(dir), runCli(["replay", "--data-dir", dir, "--json"])])
    expect(replayed.code).toBe(0)
    const replayedCatalog = JSON.parse(replayed.stdout.trimEnd().split("\n").at(-1)!) as { catalog: { databases: Array<{ name: string; deleted: boolean }> } }
    expect(replayedCatalog.catalog.databases.filter((d) => !d.deleted).map((d) => d.name)).toEqual(expect.arrayContaining(["alpha", ...acknowledged]))

    const ping = expectOk(await second.request("GET", "/ping", { token: admin }))
    expect(ping.headers.get("cluster-uuid")).toBe(uuid)
    expect(ping.json<{ process_id: string }>().process_id).not.toBe(before.json<{ process_id: string }>().process_id)

    const listed = expectOk(await second.request("GET", "/api/v3/configure/database?format=json&show_deleted=true", { token: ci }))
      .json<Array<{ "iox::database": string; deleted: boolean }>>()
    const live = listed.filter((r) => !r.deleted).map((r) => r["iox::database"])
    expect(live).toEqual(expect.arrayContaining(["_internal", "alpha", ...acknowledged]))
    expect(live).not.toContain("beta")
    expect(listed.filter((r) => r.deleted).map((r) => r["iox::database"])).toEqual([expect.stringMatching(/^beta-\d{8}T\d{6}$/)])

    expectError(
      await second.request("POST", "/api/v3/configure/table", { token: admin, body: { db: "alpha", table: "cpu", tags: [], fields: [] } }),
      409,
      "attempted to create a resource that already exists: table cpu"
    )
    expectOk(await second.request("GET", "/health", { token: prober }))
    expectError(await second.request("GET", "/metrics", { token: prober }), 403)
    expectError(await second.request("POST", "/api/v3/configure/token/admin"), 409)
    expectError(await second.request("POST", "/api/v3/configure/token/named_admin", { token: admin, body: { token_name: "ci" } }), 409)

    // The log takes new changes after the crash, and they too survive a second SIGKILL.
    expectOk(await second.request("POST", "/api/v3/configure/database", { token: admin, body: { db: "after-crash" } }))
    await second.kill()
    const third = await spawn(dir)
    const names = expectOk(await third.request("GET", "/api/v3/configure/database?format=json", { token: admin }))
      .json<Array<{ "iox::database": string }>>()
      .map((r) => r["iox::database"])
    expect(names).toEqual(expect.arrayContaining(["alpha", "after-crash", ...acknowledged]))
    await third.stop()
  }, 90_000)
})
