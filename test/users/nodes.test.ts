import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { expectError, expectOk } from "../support/expect.ts"
import { catalogOf, createOperatorToken, createResourceToken, startServer, type InProcessServer } from "../support/server.ts"

let server: InProcessServer
let admin: string

interface NodeRow {
  node_id: string
  node_catalog_id: number
  instance_id: string | null
  mode: string
  core_count: number | null
  state: string
  started_at: string | null
  last_heartbeat: string | null
}

const nodes = async () =>
  expectOk(await server.request("GET", `/api/v3/query_sql?db=_internal&format=json&q=${encodeURIComponent("SELECT * FROM system.nodes ORDER BY node_id")}`, { token: admin }))
    .json<Array<NodeRow>>()
const stop = (body: unknown, token: string | null = admin) =>
  server.request("POST", "/api/v3/enterprise/configure/node/stop", { body, ...(token === null ? {} : { token }) })

/** Another node's heartbeat record, as that node would have written it `agoMs` ago. */
const writeHeartbeat = (nodeId: string, agoMs: number) => {
  const ns = BigInt(Date.now() - agoMs) * 1_000_000n
  const dir = NodePath.join(server.dataDir, "nodes")
  NodeFs.mkdirSync(dir, { recursive: true })
  NodeFs.writeFileSync(
    NodePath.join(dir, `${nodeId}.json`),
    JSON.stringify({ nodeId, instanceId: "i-other", mode: ["query"], coreCount: 4, startedAtNs: String(ns - 60_000_000_000n), lastHeartbeatNs: String(ns) })
  )
}

beforeAll(async () => {
  server = await startServer({ nodeId: "node-a", mode: ["ingest", "compact"] })
  admin = await createOperatorToken(server)
})
afterAll(() => server.stop())

describe("nodes", () => {
  it("system.nodes shows the running node with its --mode roles and a recent heartbeat", async () => {
    const [self] = await nodes()
    expect(self).toMatchObject({ node_id: "node-a", node_catalog_id: 0, mode: "ingest,compact", state: "running" })
    expect(self!.instance_id).toMatch(/^[0-9a-f-]{36}$/)
    expect(self!.core_count).toBeGreaterThan(0)
    expect(Date.now() - Date.parse(self!.last_heartbeat! + "Z")).toBeLessThan(60_000)
  })

  it("node stop: 200 marks a known node stopped, 404 for an unknown id, 400 for a bad body, 401 without a token, 403 for a non-admin", async () => {
    writeHeartbeat("node-b", 5 * 60_000)
    // The seed's order is: stop the process, then mark it; marking the live node itself is allowed too.
    expectOk(await stop({ node_id: "node-a" }))
    const before = (await nodes()).find((n) => n.node_id === "node-b")
    // Silent for minutes and never marked: not taken for running.
    expect(before).toMatchObject({ mode: "query", core_count: 4, instance_id: "i-other", state: "unresponsive" })

    expectOk(await stop({ node_id: "node-b" }))
    expect((await nodes()).find((n) => n.node_id === "node-b")!.state).toBe("stopped")
    expectError(await stop({ node_id: "ghost" }), 404, "node 'ghost' not found")
    expectError(await stop({ node: "node-b" }), 400)
    expectError(await stop({ node_id: "node-b" }, null), 401)
    const reader = await createResourceToken(server, admin, "reader", { resource_type: "db", resource_names: ["*"], actions: ["read"] })
    expectError(await stop({ node_id: "node-b" }, reader), 403)
  })

  it("a node marked stopped is running again once it restarts, and the restart appends nothing to the log", async () => {
    expect((await nodes()).find((n) => n.node_id === "node-a")!.state).toBe("stopped")
    const seq = (await catalogOf(server)).lastSeq
    const dir = server.dataDir
    await server.stop()
    server = await startServer({ nodeId: "node-a", mode: ["ingest", "compact"] }, dir)
    expect((await catalogOf(server)).lastSeq).toBe(seq)
    const after = await nodes()
    expect(after.map((n) => [n.node_id, n.state])).toEqual([
      ["node-a", "running"],
      ["node-b", "stopped"]
    ])
  })
})
