import { afterAll, describe, expect, it } from "@effect/vitest"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { createOperatorToken, startServer, tempDir, type InProcessServer } from "../support/server.ts"
import { persistNow, points, waitForBackup } from "./support.ts"

const BACKUP = "/api/v3/enterprise/backup"
const RESTORE = "/api/v3/enterprise/restore"
const servers: Array<InProcessServer> = []
afterAll(() => Promise.all(servers.map((s) => s.stop())))

const waitForRestore = async (server: InProcessServer, token: string, id: string, timeoutMs = 30_000) => {
  const until = Date.now() + timeoutMs
  let last: any
  while (Date.now() < until) {
    const res = await server.request("GET", `${RESTORE}/${id}`, { token })
    last = res.text
    if (res.status === 200 && res.json().status !== "in_progress") return res.json()
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`restore ${id} did not finish: ${last}`)
}

/** What the tests compare: the databases, and every row of the tables, in order. */
const answers = async (server: InProcessServer, token: string) => {
  const q = async (db: string, sql: string) => {
    const res = await server.request("GET", `/api/v3/query_sql?db=${db}&q=${encodeURIComponent(sql)}&format=json`, { token })
    return res.status === 200 ? res.json() : { status: res.status }
  }
  const dbs = await server.request("GET", "/api/v3/configure/database?format=json", { token })
  return {
    databases: dbs.json(),
    m: await q("d", "SELECT host, v, time FROM m ORDER BY time"),
    n: await q("d", "SELECT * FROM n ORDER BY time"),
    e: await q("e", "SELECT * FROM x ORDER BY time"),
    f: await q("f", "SELECT * FROM y ORDER BY time"),
    lvc: await q("d", "SELECT host, v FROM last_cache('c') ORDER BY host")
  }
}

describe("restore", () => {
  it("brings back exactly the backup's state live — later rows gone, a dropped database back, a new one gone — and it survives a restart", async () => {
    const dataDir = tempDir()
    const backupDir = tempDir("strata-backups-")
    let server = await startServer({ persistIntervalMs: 3_600_000, backupDir }, dataDir)
    servers.push(server)
    const token = await createOperatorToken(server)
    const write = async (db: string, body: string) => expect((await server.request("POST", `/api/v3/write_lp?db=${db}`, { token, body })).status).toBe(204)
    await write("d", points(0, 100))
    await write("e", "x,k=a v=1 1704067200000000000")
    // A last-value cache (rows of now, within its ttl): the restore must bring back its values too.
    await write("d", "c,host=a v=1\nc,host=b v=1")
    expect((await server.request("POST", "/api/v3/configure/last_cache", { token, body: { db: "d", table: "c" } })).status).toBe(201)
    await persistNow(server)
    await write("d", "c,host=b v=5")
    await write("d", points(100, 10))
    await write("d", "n,k=b v=2 1704067300000000000")
    const before = await answers(server, token)
    expect(before.m).toHaveLength(110)
    expect(before.lvc).toEqual([{ host: "a", v: 1 }, { host: "b", v: 5 }])

    expect((await server.request("POST", BACKUP, { token, body: { type: "full", name: "b1" } })).status).toBe(202)
    expect((await waitForBackup(server, token, "b1")).status).toBe("completed")

    // Changes after the backup, persisted and not.
    await write("d", points(110, 20))
    await persistNow(server)
    await write("d", points(130, 20))
    await write("f", "y,k=c v=3 1704067200000000000")
    await write("d", "c,host=a v=9")
    expect((await server.request("DELETE", "/api/v3/configure/database?db=e", { token })).status).toBe(200)
    const changed = await answers(server, token)
    expect(changed).not.toEqual(before)
    expect(changed.lvc).toEqual([{ host: "a", v: 9 }, { host: "b", v: 5 }])

    const res = await server.request("POST", RESTORE, { token, body: { backup_name: "b1" } })
    expect(res.status, res.text).toBe(202)
    expect(res.json().status).toBe("in_progress")
    const id = res.json().restore_id
    const done = await waitForRestore(server, token, id)
    expect(done).toMatchObject({ restore_id: id, backup_name: "b1", status: "completed" })
    expect(done.completed_at).not.toBeNull()
    expect(done.total_files).toBeGreaterThan(0)

    // The token that ran it still works; the answers are the backup's.
    expect(await answers(server, token)).toEqual(before)
    // Writes go on against the restored state, and the restored rows persist as they were.
    await persistNow(server)
    expect(await answers(server, token)).toEqual(before)
    await write("d", points(200, 1))
    const after = await answers(server, token)
    expect(after.m).toHaveLength(111)

    await server.stop()
    servers.splice(servers.indexOf(server), 1)
    server = await startServer({ persistIntervalMs: 3_600_000, backupDir }, dataDir)
    servers.push(server)
    expect(await answers(server, token)).toEqual(after)
    const again = await server.request("GET", `${RESTORE}/${id}`, { token })
    expect(again.json().status).toBe("completed")
  })

  it("answers 400 for an empty name, 404 for an unknown backup or restore, 409 while one runs; lists newest first; DELETE of a finished one 404", async () => {
    const backupDir = tempDir("strata-backups-")
    const server = await startServer({ persistIntervalMs: 3_600_000, backupDir })
    servers.push(server)
    const token = await createOperatorToken(server)
    expect((await server.request("POST", "/api/v3/write_lp?db=d", { token, body: points(0, 10) })).status).toBe(204)
    expect((await server.request("POST", BACKUP, { token, body: { type: "full", name: "b" } })).status).toBe(202)
    await waitForBackup(server, token, "b")
    expect((await server.request("POST", RESTORE, { body: { backup_name: "b" } })).status).toBe(401)
    expect((await server.request("POST", RESTORE, { token, body: { backup_name: "" } })).status).toBe(400)
    expect((await server.request("POST", RESTORE, { token, body: { backup_name: "nope" } })).status).toBe(404)
    const first = await server.request("POST", RESTORE, { token, body: { backup_name: "b" } })
    expect(first.status).toBe(202)
    expect((await server.request("POST", RESTORE, { token, body: { backup_name: "b" } })).status).toBe(409)
    await waitForRestore(server, token, first.json().restore_id)
    const second = await server.request("POST", RESTORE, { token, body: { backup_name: "b" } })
    expect(second.status).toBe(202)
    // Cancelled before it runs: 204, then it is done and a second cancel is 404.
    const cancel = await server.request("DELETE", `${RESTORE}/${second.json().restore_id}`, { token })
    expect([204, 404]).toContain(cancel.status)
    await waitForRestore(server, token, second.json().restore_id)
    expect((await server.request("DELETE", `${RESTORE}/${second.json().restore_id}`, { token })).status).toBe(404)
    expect((await server.request("DELETE", `${RESTORE}/${first.json().restore_id}`, { token })).status).toBe(404)
    expect((await server.request("DELETE", `${RESTORE}/nope`, { token })).status).toBe(404)
    expect((await server.request("GET", `${RESTORE}/nope`, { token })).status).toBe(404)
    const list = await server.request("GET", RESTORE, { token })
    expect(list.json().restores.map((r: any) => r.restore_id)).toEqual([
      second.json().restore_id,
      first.json().restore_id
    ])
    for (const r of list.json().restores) for (const k of ["restore_id", "backup_name", "status", "created_at", "total_files", "total_size_bytes"]) expect(r).toHaveProperty(k)
  })

  it("disaster recovery: a fresh server on another data dir with the same --backup-dir lists the backups and restores a full + incremental chain to identical answers", async () => {
    const backupDir = tempDir("strata-backups-")
    const original = await startServer({ persistIntervalMs: 3_600_000, backupDir })
    servers.push(original)
    const token = await createOperatorToken(original)
    const write = async (db: string, body: string) => expect((await original.request("POST", `/api/v3/write_lp?db=${db}`, { token, body })).status).toBe(204)
    await write("d", points(0, 50))
    await write("e", "x,k=a v=1 1704067200000000000")
    await persistNow(original)
    expect((await original.request("POST", BACKUP, { token, body: { type: "full", name: "full-1" } })).status).toBe(202)
    await waitForBackup(original, token, "full-1")
    await write("d", points(50, 30))
    await persistNow(original)
    await write("d", points(80, 5))
    await write("d", "n,k=b v=2 1704067300000000000")
    expect((await original.request("POST", BACKUP, { token, body: { type: "incremental", name: "inc-1" } })).status).toBe(202)
    const inc = await waitForBackup(original, token, "inc-1")
    expect(inc).toMatchObject({ status: "completed", parent: "full-1" })
    const expected = await answers(original, token)
    expect(expected.m).toHaveLength(85)
    await original.stop()
    servers.splice(servers.indexOf(original), 1)

    const fresh = await startServer({ persistIntervalMs: 3_600_000, backupDir })
    servers.push(fresh)
    const freshToken = await createOperatorToken(fresh)
    const listed = await fresh.request("GET", BACKUP, { token: freshToken })
    expect(listed.json().backups.map((b: any) => [b.name, b.type, b.status])).toEqual([
      ["full-1", "full", "completed"],
      ["inc-1", "incremental", "completed"]
    ])
    const res = await fresh.request("POST", RESTORE, { token: freshToken, body: { backup_name: "inc-1" } })
    expect(res.status, res.text).toBe(202)
    expect((await waitForRestore(fresh, freshToken, res.json().restore_id)).status).toBe("completed")
    expect(await answers(fresh, freshToken)).toEqual(expected)
  })
})

describe("the restore lease", () => {
  it("two servers sharing a backup directory: of two restores started at once one answers 202, the other 503; a lease past its expiry is taken over", async () => {
    const backupDir = tempDir("strata-backups-")
    const a = await startServer({ persistIntervalMs: 3_600_000, backupDir, nodeId: "node-a" })
    const b = await startServer({ persistIntervalMs: 3_600_000, backupDir, nodeId: "node-b" })
    servers.push(a, b)
    const ta = await createOperatorToken(a)
    const tb = await createOperatorToken(b)
    expect((await a.request("POST", "/api/v3/write_lp?db=d", { token: ta, body: points(0, 10) })).status).toBe(204)
    expect((await a.request("POST", BACKUP, { token: ta, body: { type: "full", name: "shared" } })).status).toBe(202)
    await waitForBackup(a, ta, "shared")
    const [ra, rb] = await Promise.all([
      a.request("POST", RESTORE, { token: ta, body: { backup_name: "shared" } }),
      b.request("POST", RESTORE, { token: tb, body: { backup_name: "shared" } })
    ])
    expect([ra.status, rb.status].sort()).toEqual([202, 503])
    const [winner, token] = ra.status === 202 ? [a, ta] : [b, tb]
    const loser = ra.status === 202 ? rb : ra
    expect(loser.json().error).toMatch(/restore lease is held by restore/)
    const id = (ra.status === 202 ? ra : rb).json().restore_id
    expect((await waitForRestore(winner, token, id)).status).toBe("completed")
    // Released at the end: the other server may restore now.
    const other = winner === a ? b : a
    const otherToken = winner === a ? tb : ta
    const next = await other.request("POST", RESTORE, { token: otherToken, body: { backup_name: "shared" } })
    expect(next.status, next.text).toBe(202)
    expect((await waitForRestore(other, otherToken, next.json().restore_id)).status).toBe("completed")
    // A crashed holder's lease (expired) is taken over.
    NodeFs.writeFileSync(NodePath.join(backupDir, ".restore-lease.json"), JSON.stringify({ restoreId: "crashed", node: "gone", expiresAtMs: Date.now() - 1 }))
    const after = await a.request("POST", RESTORE, { token: ta, body: { backup_name: "shared" } })
    expect(after.status, after.text).toBe(202)
    expect((await waitForRestore(a, ta, after.json().restore_id)).status).toBe("completed")
    // A live one is not.
    NodeFs.writeFileSync(NodePath.join(backupDir, ".restore-lease.json"), JSON.stringify({ restoreId: "elsewhere", node: "c", expiresAtMs: Date.now() + 60_000 }))
    expect((await a.request("POST", RESTORE, { token: ta, body: { backup_name: "shared" } })).status).toBe(503)
  })
})

describe("a backup taken while writes go on", () => {
  it("is one consistent point: restored, it holds whole write batches 0..k and nothing after, persisted or not", async () => {
    const server = await startServer({ persistIntervalMs: 3_600_000, backupDir: tempDir("strata-backups-") })
    servers.push(server)
    const token = await createOperatorToken(server)
    const BATCH = 200
    let next = 0
    let stop = false
    // Batch b: BATCH points of table w with field b = b, at times of its own.
    const writer = (async () => {
      while (!stop) {
        const b = next++
        const body = Array.from({ length: BATCH }, (_, i) => `w,s=s${i % 7} b=${b}i,i=${i}i ${1_704_067_200_000_000_000n + BigInt(b * BATCH + i) * 1_000_000n}`).join("\n")
        expect((await server.request("POST", "/api/v3/write_lp?db=d", { token, body })).status).toBe(204)
        if (b % 10 === 5) await persistNow(server)
      }
    })()
    while (next < 20) await new Promise((r) => setTimeout(r, 10))
    expect((await server.request("POST", BACKUP, { token, body: { type: "full", name: "busy" } })).status).toBe(202)
    await waitForBackup(server, token, "busy")
    while (next < 60) await new Promise((r) => setTimeout(r, 10))
    stop = true
    await writer
    const res = await server.request("POST", RESTORE, { token, body: { backup_name: "busy" } })
    expect(res.status).toBe(202)
    expect((await waitForRestore(server, token, res.json().restore_id)).status).toBe("completed")
    const q = await server.request("GET", `/api/v3/query_sql?db=d&q=${encodeURIComponent("SELECT b, count(*) AS n FROM w GROUP BY b ORDER BY b")}&format=json`, { token })
    const batches = q.json<Array<{ b: number; n: number }>>()
    expect(batches.length).toBeGreaterThanOrEqual(20)
    expect(batches.length).toBeLessThan(next)
    expect(batches).toEqual(batches.map((_, b) => ({ b, n: BATCH })))
  })
})
