import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { runCli, startServer, tempDir, type InProcessServer } from "../support/server.ts"
import { persistNow, points } from "./support.ts"

let server: InProcessServer
let backupDir: string
beforeAll(async () => {
  backupDir = tempDir("strata-backups-")
  server = await startServer({ withoutAuth: true, persistIntervalMs: 3_600_000, backupDir })
  expect((await server.request("POST", "/api/v3/write_lp?db=d", { body: points(0, 20) })).status).toBe(204)
  await persistNow(server)
}, 60_000)
afterAll(() => server?.stop())

describe("strata backup and strata restore", () => {
  it("create, list, show, verify (and a damaged file found), restore create/list, delete; --json everywhere", async () => {
    const host = ["--host", server.url]
    const created = await runCli(["backup", "create", "--name", "cli-1", "--json", ...host])
    expect(created.code, created.stderr).toBe(0)
    expect(JSON.parse(created.stdout)).toMatchObject({ name: "cli-1", type: "full", status: "completed" })
    const list = await runCli(["backup", "list", "--json", ...host])
    expect(JSON.parse(list.stdout).backups.map((b: any) => b.name)).toEqual(["cli-1"])
    const show = await runCli(["backup", "show", "--name", "cli-1", ...host])
    expect(show.stdout).toMatch(/^cli-1\s+full\s+completed/)

    const verified = await runCli(["backup", "verify", "--name", "cli-1", "--backup-dir", backupDir, "--json"])
    expect(verified.code, verified.stderr).toBe(0)
    expect(JSON.parse(verified.stdout)).toMatchObject({ name: "cli-1", ok: true, problems: [] })

    const restored = await runCli(["restore", "create", "--backup-name", "cli-1", "--json", ...host])
    expect(restored.code, restored.stderr).toBe(0)
    expect(JSON.parse(restored.stdout)).toMatchObject({ backup_name: "cli-1", status: "completed" })
    const restores = await runCli(["restore", "list", "--json", ...host])
    expect(JSON.parse(restores.stdout).restores).toHaveLength(1)

    // A flipped byte in a file: verify names it and exits 1.
    const m = JSON.parse(NodeFs.readFileSync(NodePath.join(backupDir, "cli-1", "manifest.json"), "utf8"))
    const victim = NodePath.join(backupDir, "cli-1", "files", m.files[0].path)
    const bytes = NodeFs.readFileSync(victim)
    bytes[100] = bytes[100]! ^ 0xff
    NodeFs.rmSync(victim)
    NodeFs.writeFileSync(victim, bytes)
    const damaged = await runCli(["backup", "verify", "--name", "cli-1", "--backup-dir", backupDir])
    expect(damaged.code).toBe(1)
    expect(damaged.stdout).toContain(`${m.files[0].path}: does not match its SHA-256`)

    const cancel = await runCli(["backup", "cancel", "--name", "cli-1", ...host])
    expect(cancel.code).toBe(1)
    expect(cancel.stderr).toContain("404")
    const del = await runCli(["backup", "delete", "--name", "cli-1", "--json", ...host])
    expect(JSON.parse(del.stdout)).toEqual({ backup_name: "cli-1", type: "full" })
  })
})
