import { describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { logFile } from "../../src/log/store.ts"
import { bufferedRows } from "../support/rows.ts"
import { startServer, tempDir, type InProcessServer } from "../support/server.ts"

/**
 * A write whose log commit fails (as when the disk is full) answers 500, and its rows are never visible: not after
 * the answer, not after a restart. The failure is made real by a trigger in the log's own SQLite file that aborts
 * every insert of a WriteBatch, so the commit thread's transaction fails as a full disk would fail it.
 */

const failWriteCommits = (dir: string, on: boolean) => {
  const db = new Database(logFile(dir))
  try {
    db.exec(
      on
        ? "CREATE TRIGGER test_fail_writes BEFORE INSERT ON events WHEN NEW.kind = 'WriteBatch' BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        : "DROP TRIGGER test_fail_writes"
    )
  } finally {
    db.close()
  }
}

const values = async (server: InProcessServer) => (await bufferedRows(server, "fc", "m")).map((r) => r["v"])

/** Polls until `f` holds (the retraction of a no_sync write runs after its answer), for at most a few seconds. */
const eventually = async (f: () => Promise<boolean>) => {
  for (let i = 0; i < 100 && !(await f()); i++) await new Promise((r) => setTimeout(r, 50))
}

describe("a write whose log commit fails", () => {
  it("answers 500 and its rows are never visible, nor after a restart; a no_sync write's rows are taken back too", async () => {
    const dir = tempDir()
    const server = await startServer({ withoutAuth: true }, dir)
    let restarted: InProcessServer | undefined
    try {
      const write = (body: string, query = "") => server.request("POST", `/api/v3/write_lp?db=fc&precision=ns${query}`, { body })
      expect((await write("m,t=a v=1 1")).status).toBe(204)

      failWriteCommits(dir, true)
      const failed = await write("m,t=a v=2 2\nm,t=new v=3 3\nn v=1 1")
      expect(failed.status).toBe(500)
      expect(await values(server)).toEqual([1])
      expect(await bufferedRows(server, "fc", "n")).toEqual([])

      // no_sync answers before the commit, so its rows are seen at once; when the commit fails they are taken back.
      expect((await write("m,t=a v=4 4", "&no_sync=true")).status).toBe(204)
      await eventually(async () => (await values(server)).length === 1)
      expect(await values(server)).toEqual([1])
      failWriteCommits(dir, false)

      expect((await write("m,t=a v=5 5")).status).toBe(204)
      expect(await values(server)).toEqual([1, 5])
      const sql = await server.request("POST", "/api/v3/query_sql", { body: { db: "fc", q: "SELECT v FROM m ORDER BY time", format: "json" } })
      expect(sql.json()).toEqual([{ v: 1 }, { v: 5 }])
      await server.stop()

      restarted = await startServer({ withoutAuth: true }, dir)
      expect(await values(restarted)).toEqual([1, 5])
      expect(await bufferedRows(restarted, "fc", "n")).toEqual([])
    } finally {
      await server.stop()
      await restarted?.stop()
    }
  }, 60_000)

  it("never shows in the last-value or distinct-value cache, synced or no_sync", async () => {
    const dir = tempDir()
    const server = await startServer({ withoutAuth: true }, dir)
    try {
      // Rows of now: the caches keep only rows younger than their ttl and max age.
      const now = Math.floor(Date.now() / 1000)
      const write = (body: string, query = "") =>
        server.request("POST", `/api/v3/write_lp?db=fc&precision=s${query}`, { body: body.replace(/ (\d+)$/gm, (_, n) => ` ${now - 10 + Number(n)}`) })
      const sql = async (q: string) => (await server.request("POST", "/api/v3/query_sql", { body: { db: "fc", q, format: "json" } })).json()
      expect((await write("m,t=a v=1 1")).status).toBe(204)
      const create = (kind: string, body: Record<string, unknown>) =>
        server.request("POST", `/api/v3/configure/${kind}`, { body: { db: "fc", table: "m", ...body } })
      expect((await create("last_cache", { name: "last_v" })).status).toBe(201)
      expect((await create("distinct_cache", { name: "hosts", columns: ["t"] })).status).toBe(201)
      const cached = async () => ({
        last: await sql("SELECT t, v FROM last_cache('m', 'last_v') ORDER BY t"),
        distinct: await sql("SELECT t FROM distinct_cache('m', 'hosts') ORDER BY t")
      })
      expect(await cached()).toEqual({ last: [{ t: "a", v: 1 }], distinct: [{ t: "a" }] })

      failWriteCommits(dir, true)
      expect((await write("m,t=a v=2 2\nm,t=b v=3 3")).status).toBe(500)
      expect(await cached()).toEqual({ last: [{ t: "a", v: 1 }], distinct: [{ t: "a" }] })
      expect((await write("m,t=c v=4 4", "&no_sync=true")).status).toBe(204)
      await eventually(async () => (await values(server)).length === 1)
      expect(await cached()).toEqual({ last: [{ t: "a", v: 1 }], distinct: [{ t: "a" }] })
      failWriteCommits(dir, false)

      // A write that commits shows at once, synced or (once committed) no_sync.
      expect((await write("m,t=a v=5 5")).status).toBe(204)
      expect(await cached()).toEqual({ last: [{ t: "a", v: 5 }], distinct: [{ t: "a" }] })
      expect((await write("m,t=d v=6 6", "&no_sync=true")).status).toBe(204)
      await eventually(async () => ((await cached()).distinct as Array<unknown>).length === 2)
      expect(await cached()).toEqual({ last: [{ t: "a", v: 5 }, { t: "d", v: 6 }], distinct: [{ t: "a" }, { t: "d" }] })
    } finally {
      await server.stop()
    }
  }, 60_000)
})
