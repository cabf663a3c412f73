import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { createOperatorToken, createResourceToken, startServer, tempDir, type InProcessServer } from "../support/server.ts"
import { persistNow, points, waitForBackup } from "./support.ts"

const BACKUP = "/api/v3/enterprise/backup"
let server: InProcessServer
let token: string
let backupDir: string

const sha = (path: string) => NodeCrypto.createHash("sha256").update(NodeFs.readFileSync(path)).digest("hex")
const manifestOf = (name: string) => JSON.parse(NodeFs.readFileSync(NodePath.join(backupDir, name, "manifest.json"), "utf8"))

beforeAll(async () => {
  backupDir = tempDir("strata-backups-")
  server = await startServer({ persistIntervalMs: 3_600_000, backupDir })
  token = await createOperatorToken(server)
  expect((await server.request("POST", "/api/v3/write_lp?db=d", { token, body: points(0, 100) })).status).toBe(204)
  await persistNow(server)
  // Written after the persist: only the log holds these, so the backup's log tail must.
  expect((await server.request("POST", "/api/v3/write_lp?db=d", { token, body: points(100, 10) })).status).toBe(204)
}, 60_000)
afterAll(() => server?.stop())

describe("backups", () => {
  it("are for admin tokens only: 401 without a token, 403 with a database token", async () => {
    expect((await server.request("POST", BACKUP, { body: { type: "full" } })).status).toBe(401)
    const reader = await createResourceToken(server, token, "reader", { resource_type: "db", resource_names: ["d"], actions: ["read", "write"] })
    expect((await server.request("GET", BACKUP, { token: reader })).status).toBe(403)
    expect((await server.request("POST", BACKUP, { token: reader, body: { type: "full" } })).status).toBe(403)
  })

  it("a full backup answers 202 in_progress, completes, and holds the files with their checksums, the checkpoint and the unpersisted writes", async () => {
    const res = await server.request("POST", BACKUP, { token, body: { type: "full", name: "b1" } })
    expect(res.status, res.text).toBe(202)
    expect(res.json()).toEqual({ backup_name: "b1", status: "in_progress" })
    const done = await waitForBackup(server, token, "b1")
    expect(done).toMatchObject({ name: "b1", type: "full", status: "completed", parent: null })
    expect(typeof done.created_at).toBe("string")
    expect(Date.parse(done.completed_at)).toBeGreaterThanOrEqual(Date.parse(done.created_at))
    expect(done.total_files).toBeGreaterThan(0)
    const m = manifestOf("b1")
    expect(m.files).toHaveLength(done.total_files)
    expect(done.total_size_bytes).toBe(m.files.reduce((n: number, f: any) => n + f.bytes, 0))
    for (const f of m.files) {
      const copy = NodePath.join(backupDir, "b1", "files", f.path)
      expect(NodeFs.statSync(copy).size).toBe(f.bytes)
      expect(sha(copy)).toBe(f.sha256)
      expect(f.backup).toBe("b1")
    }
    expect(sha(NodePath.join(backupDir, "b1", "checkpoint.json"))).toBe(m.checkpoint.sha256)
    expect(m.seq).toBeGreaterThan(m.persistedSeq)
    // The ten points written after the persist, with their line protocol.
    const tail = NodeFs.readFileSync(NodePath.join(backupDir, "b1", "tail.ndjson"), "utf8").trim().split("\n").map((l) => JSON.parse(l))
    expect(tail).toHaveLength(1)
    expect(m.tail.events).toBe(1)
    expect(JSON.parse(tail[0].event)._tag).toBe("WriteBatch")
    expect(Buffer.from(tail[0].payload, "base64").toString("utf8")).toBe(points(100, 10))
  })

  it("POST answers 409 for an existing name without force, 202 with it; 400 for a bad type or parent", async () => {
    expect((await server.request("POST", BACKUP, { token, body: { type: "full", name: "b1" } })).status).toBe(409)
    const forced = await server.request("POST", BACKUP, { token, body: { type: "full", name: "b1", force: true } })
    expect(forced.status, forced.text).toBe(202)
    expect((await waitForBackup(server, token, "b1")).status).toBe("completed")
    expect((await server.request("POST", BACKUP, { token, body: { type: "weekly" } })).status).toBe(400)
    expect((await server.request("POST", BACKUP, { token, body: { type: "incremental", parent: "nope" } })).status).toBe(400)
    expect((await server.request("POST", BACKUP, { token, body: { type: "full", name: "../x" } })).status).toBe(400)
    expect((await server.request("POST", BACKUP, { token, body: {} })).status).toBe(400)
  })

  it("a backup without a name gets a generated one", async () => {
    const res = await server.request("POST", BACKUP, { token, body: { type: "full" } })
    expect(res.status).toBe(202)
    const name = res.json().backup_name
    expect(name).toMatch(/^backup-\d{8}T\d{9}Z$/)
    expect((await waitForBackup(server, token, name)).status).toBe("completed")
    expect((await server.request("DELETE", `${BACKUP}/${name}`, { token })).status).toBe(200)
  })

  it("an incremental backup holds only the files its parent lacks, far fewer bytes, and names the parent's for the rest", async () => {
    expect((await server.request("POST", "/api/v3/write_lp?db=d", { token, body: points(110, 3) })).status).toBe(204)
    await persistNow(server)
    const res = await server.request("POST", BACKUP, { token, body: { type: "incremental", name: "i1" } })
    expect(res.status, res.text).toBe(202)
    const inc = await waitForBackup(server, token, "i1")
    const full = await waitForBackup(server, token, "b1")
    expect(inc).toMatchObject({ status: "completed", type: "incremental", parent: "b1" })
    expect(inc.total_files).toBeGreaterThan(0)
    expect(inc.total_size_bytes).toBeLessThan(full.total_size_bytes)
    expect(inc.state_files).toBe(full.state_files + inc.total_files)
    const m = manifestOf("i1")
    expect(m.files.filter((f: any) => f.backup === "b1")).toHaveLength(full.total_files)
    for (const f of m.files.filter((f: any) => f.backup === "i1")) expect(sha(NodePath.join(backupDir, "i1", "files", f.path))).toBe(f.sha256)
    // Every written point is in files now: the tail is empty.
    expect(m.tail.events).toBe(0)
  })

  it("GET lists every backup as the seed's FullBackupListItem; GET of an unknown name answers 404", async () => {
    const res = await server.request("GET", BACKUP, { token })
    expect(res.status).toBe(200)
    const names = res.json().backups.map((b: any) => b.name)
    expect(names).toEqual(expect.arrayContaining(["b1", "i1"]))
    for (const b of res.json().backups) {
      for (const k of ["name", "type", "status", "created_at", "total_files", "total_size_bytes"]) expect(b).toHaveProperty(k)
    }
    expect((await server.request("GET", `${BACKUP}/nope`, { token })).status).toBe(404)
  })

  it("DELETE answers 409 for a backup another depends on, 200 {backup_name, type} otherwise, then 404", async () => {
    expect((await server.request("DELETE", `${BACKUP}/b1`, { token })).status).toBe(409)
    const del = await server.request("DELETE", `${BACKUP}/i1`, { token })
    expect(del.status, del.text).toBe(200)
    expect(del.json()).toEqual({ backup_name: "i1", type: "incremental" })
    expect((await server.request("GET", `${BACKUP}/i1`, { token })).status).toBe(404)
    expect((await server.request("DELETE", `${BACKUP}/i1`, { token })).status).toBe(404)
    expect(NodeFs.existsSync(NodePath.join(backupDir, "i1"))).toBe(false)
    expect((await server.request("DELETE", `${BACKUP}/b1`, { token })).json()).toEqual({ backup_name: "b1", type: "full" })
  })

  it("a backup in flight: POST of its name 409 even with force, DELETE 409, cancel 200 and it ends failed; cancel of none running 404", async () => {
    expect((await server.request("POST", BACKUP, { token, body: { type: "full", name: "c1" } })).status).toBe(202)
    expect((await server.request("POST", BACKUP, { token, body: { type: "full", name: "c1", force: true } })).status).toBe(409)
    expect((await server.request("DELETE", `${BACKUP}/c1`, { token })).status).toBe(409)
    const cancel = await server.request("DELETE", BACKUP, { token, body: { name: "c1" } })
    expect(cancel.status, cancel.text).toBe(200)
    expect(cancel.json()).toEqual({ backup_name: "c1" })
    const after = await waitForBackup(server, token, "c1")
    expect(after).toMatchObject({ status: "failed", job_status: "cancelled" })
    expect(NodeFs.existsSync(NodePath.join(backupDir, "c1"))).toBe(false)
    expect((await server.request("DELETE", BACKUP, { token, body: { name: "c1" } })).status).toBe(404)
    // A failed backup can be deleted, and its name used again.
    expect((await server.request("DELETE", `${BACKUP}/c1`, { token })).status).toBe(200)
    expect((await server.request("POST", BACKUP, { token, body: { type: "full", name: "c1" } })).status).toBe(202)
    expect((await waitForBackup(server, token, "c1")).status).toBe("completed")
  })
})

describe("on a node without the compactor", () => {
  it("every backup and restore operation answers 503", async () => {
    const node = await startServer({ withoutAuth: true, mode: ["ingest", "query"], backupDir: tempDir("strata-backups-") })
    try {
      const calls: Array<[string, string, unknown?]> = [
        ["POST", BACKUP, { type: "full" }],
        ["GET", BACKUP],
        ["DELETE", BACKUP, { name: "x" }],
        ["GET", `${BACKUP}/x`],
        ["DELETE", `${BACKUP}/x`],
        ["POST", "/api/v3/enterprise/restore", { backup_name: "x" }],
        ["GET", "/api/v3/enterprise/restore"],
        ["GET", "/api/v3/enterprise/restore/x"],
        ["DELETE", "/api/v3/enterprise/restore/x"]
      ]
      for (const [method, path, body] of calls) {
        const res = await node.request(method, path, body === undefined ? {} : { body })
        expect(res.status, `${method} ${path}: ${res.text}`).toBe(503)
      }
    } finally {
      await node.stop()
    }
  })
})
