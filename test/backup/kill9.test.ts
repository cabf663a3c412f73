import { afterAll, describe, expect, it } from "@effect/vitest"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { spawnServer, tempDir, type ChildServer } from "../support/server.ts"
import { points, waitForBackup } from "./support.ts"

const running: Array<ChildServer> = []
afterAll(() => Promise.all(running.map((s) => s.kill())))

const sha = (path: string) => NodeCrypto.createHash("sha256").update(NodeFs.readFileSync(path)).digest("hex")
const rows = async (server: ChildServer) => {
  const res = await server.request("GET", `/api/v3/query_sql?db=d&q=${encodeURIComponent("SELECT host, v, time FROM m ORDER BY time")}&format=json`)
  return res.json<Array<unknown>>()
}

describe("kill -9 during backup and restore", () => {
  it("a backup cut short by kill -9 completes after the restart; a restore cut short ends completed with the backup's answers, never in_progress", async () => {
    const dataDir = tempDir("strata-backup-kill9-")
    const args = ["--without-auth", "--persist-interval", "1s"]
    const first = await spawnServer(dataDir, args, 90_000)
    running.push(first)
    for (let i = 0; i < 10; i++) expect((await first.request("POST", "/api/v3/write_lp?db=d", { body: points(i * 5_000, 5_000) })).status).toBe(204)
    // Persisted and not: wait for a file, then write some more.
    const until = Date.now() + 30_000
    while (Date.now() < until && !(NodeFs.readdirSync(dataDir, { recursive: true }) as Array<string>).some((p) => p.endsWith(".parquet"))) await new Promise((r) => setTimeout(r, 100))
    expect((await first.request("POST", "/api/v3/write_lp?db=d", { body: points(50_000, 10) })).status).toBe(204)
    const expected = await rows(first)
    expect(expected).toHaveLength(50_010)
    expect((await first.request("POST", "/api/v3/enterprise/backup", { body: { type: "full", name: "k" } })).status).toBe(202)
    await first.kill()

    const second = await spawnServer(dataDir, args, 90_000)
    running.push(second)
    const done = await waitForBackup(second, "", "k", (b) => b.status !== "in_progress", 60_000)
    expect(done.status).toBe("completed")
    const backupDir = NodePath.join(dataDir, "backups")
    const m = JSON.parse(NodeFs.readFileSync(NodePath.join(backupDir, "k", "manifest.json"), "utf8"))
    for (const f of m.files) expect(sha(NodePath.join(backupDir, "k", "files", f.path))).toBe(f.sha256)
    expect(NodeFs.readdirSync(backupDir).filter((n) => n.startsWith(".partial-"))).toEqual([])

    // Changes, then a restore killed at once.
    expect((await second.request("POST", "/api/v3/write_lp?db=d", { body: points(60_000, 100) })).status).toBe(204)
    const res = await second.request("POST", "/api/v3/enterprise/restore", { body: { backup_name: "k" } })
    expect(res.status).toBe(202)
    const id = res.json().restore_id
    await second.kill()

    const third = await spawnServer(dataDir, args, 90_000)
    running.push(third)
    let restore: any
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline) {
      restore = (await third.request("GET", `/api/v3/enterprise/restore/${id}`)).json()
      if (restore.status !== "in_progress") break
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(restore.status).toBe("completed")
    expect(await rows(third)).toEqual(expected)
  })
})
