import { afterAll, describe, expect, it } from "@effect/vitest"
import { expectOk } from "../support/expect.ts"
import { createOperatorToken, spawnServer, tempDir, type ChildServer } from "../support/server.ts"

const children: Array<ChildServer> = []
const spawn = async (dataDir: string, args: ReadonlyArray<string> = []) => {
  const child = await spawnServer(dataDir, args)
  children.push(child)
  return child
}
afterAll(async () => {
  for (const child of children) if (child.child.exitCode === null && child.child.signalCode === null) await child.kill()
})

const exited = (server: ChildServer) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    const c = server.child
    if (c.exitCode !== null || c.signalCode !== null) resolve({ code: c.exitCode, signal: c.signalCode })
    else c.once("exit", (code, signal) => resolve({ code, signal }))
  })

describe("SIGTERM", () => {
  it("under write load, every acknowledged write (synced or no_sync) is there after a restart", async () => {
    const dir = tempDir()
    // A long group-commit window, so that SIGTERM finds accepted writes not yet committed.
    const first = await spawn(dir, ["--wal-flush-interval", "200ms"])
    const admin = await createOperatorToken(first)
    expectOk(await first.request("POST", "/api/v3/write_lp?db=load", { token: admin, body: "load,writer=w0 seq=0i 1" }), 204)

    const acknowledged: Array<string> = []
    let stopping = false
    const writer = async (w: number) => {
      for (let seq = 1; ; seq++) {
        // Every third write is answered before its commit (no_sync): the drain must still commit it.
        const noSync = seq % 3 === 0
        try {
          const res = await first.request("POST", `/api/v3/write_lp?db=load${noSync ? "&no_sync=true" : ""}`, {
            token: admin,
            body: `load,writer=w${w} seq=${seq}i ${1_000_000 + w * 100_000 + seq}`
          })
          if (res.status === 204) acknowledged.push(`w${w}:${seq}`)
          else if (!stopping) throw new Error(`write answered ${res.status}: ${res.text}`)
        } catch (e) {
          if (stopping) return
          throw e
        }
      }
    }
    const writers = Array.from({ length: 8 }, (_, w) => writer(w + 1))
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const before = acknowledged.length
    stopping = true
    first.child.kill("SIGTERM")
    const [exit] = await Promise.all([exited(first), Promise.all(writers)])
    expect(before).toBeGreaterThan(20)
    expect(exit).toEqual({ code: 0, signal: null })

    const second = await spawn(dir)
    const rows = expectOk(
      await second.request("GET", `/api/v3/query_sql?db=load&format=json&q=${encodeURIComponent("SELECT writer, seq FROM load WHERE writer <> 'w0'")}`, { token: admin })
    ).json<Array<{ writer: string; seq: number }>>()
    const present = new Set(rows.map((r) => `${r.writer}:${r.seq}`))
    const missing = acknowledged.filter((k) => !present.has(k))
    expect(missing).toEqual([])
    await second.stop()
  })
})
