import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { liveDatabase, liveTable } from "../../src/catalog/state.ts"
import { ColumnsAdded, WriteBatch } from "../../src/events/index.ts"
import { EventLog } from "../../src/log/EventLog.ts"
import { expectError, expectOk } from "../support/expect.ts"
import { catalogOf, startServer, tempDir, type InProcessServer } from "../support/server.ts"

/**
 * Names the write buffer (DuckDB) cannot hold as columns: keys differing only in case, `time` in any case, the
 * buffer's own `_sid` and `rowid`, control characters. Each is refused before anything reaches the log, with a
 * per-line message; the table keeps answering, and the server restarts with its data. A data dir in which an older
 * server left such events still starts, with those events quarantined.
 */

const clash = (name: string, other: string) =>
  `column name '${name}' clashes with column '${other}': names that differ only in letter case are the same column here`

const partial = (line: number, original: string, message: string) => [
  { error_message: message, line_number: line, original_line: original }
]

describe("writes whose names the buffer cannot hold", () => {
  const dir = tempDir()
  let server: InProcessServer
  const write = (db: string, body: string) => server.request("POST", `/api/v3/write_lp?db=${db}&precision=ns`, { body })
  const sql = async (db: string, q: string) => expectOk(await server.request("POST", "/api/v3/query_sql", { body: { db, q, format: "json" } })).json<Array<Record<string, unknown>>>()

  beforeAll(async () => {
    server = await startServer({ withoutAuth: true }, dir)
  }, 30_000)
  afterAll(() => server.stop())

  it("keys that differ only in case, in one line, are refused (400) and the table keeps answering", async () => {
    expectError(await write("p", "cs f=1,F=2 1"), 400, "partial write of line protocol occurred", partial(1, "cs f=1,F=2 1", clash("F", "f")))
    expectOk(await write("p", "cs f=3 3"), 204)
    expectError(await write("p", "cs,a=x A=1 4"), 400, "partial write of line protocol occurred", partial(1, "cs,a=x A=1 4", clash("A", "a")))
    expectError(await write("p", "cs,Host=a,host=b f=1 5"), 400, "partial write of line protocol occurred", partial(1, "cs,Host=a,host=b f=1 5", clash("host", "Host")))
    expect(await sql("p", "SELECT f FROM cs ORDER BY time")).toEqual([{ f: 3 }])
  })

  it("a key differing only in case from an earlier line of the batch, or from a column of the table, is refused", async () => {
    const body = "cb f=1 1\ncb F=2 2\ncb g=3 3"
    expectError(await write("p", body), 400, "partial write of line protocol occurred", partial(2, "cb F=2 2", clash("F", "f")))
    expectError(await write("p", "cb G=4 4"), 400, "partial write of line protocol occurred", partial(1, "cb G=4 4", clash("G", "g")))
    expectError(await write("p", "cb,F=x g=5 5"), 400, "partial write of line protocol occurred", partial(1, "cb,F=x g=5 5", clash("F", "f")))
    expect(await sql("p", "SELECT f, g FROM cb ORDER BY time")).toEqual([{ f: 1 }, { g: 3 }])
  })

  it("time in any case, _sid and rowid are reserved for tags and fields; the time column stays in answers", async () => {
    for (const [line, name] of [
      ["rs TIME=1 1", "TIME"],
      ["rs,TIME=x f=1 1", "TIME"],
      ["rs,Time=x f=1 1", "Time"],
      ["rs,time=x f=1 1", "time"],
      ["rs _sid=1 1", "_sid"],
      ["rs,_SID=x f=1 1", "_SID"],
      ["rs rowid=1 1", "rowid"],
      ["rs __chunk_order=1 1", "__chunk_order"]
    ] as const) {
      expectError(await write("p", line), 400, "partial write of line protocol occurred", partial(1, line, `'${name}' is a reserved column`))
    }
    expectOk(await write("p", "rs,host=a f=1 1000000000"), 204)
    expect(await sql("p", "SELECT * FROM rs")).toEqual([{ f: 1, host: "a", time: "1970-01-01T00:00:01" }])
  })

  it("a NUL or another control character in a tag key, field key or measurement is refused", async () => {
    const nulField = "cc a\u0000b=1 1"
    expectError(await write("p", nulField), 400, "partial write of line protocol occurred", partial(1, nulField, 'column name "a\\u0000b" cannot contain control characters'))
    const nulTag = "cc,k\u0000=v f=1 1"
    expectError(await write("p", nulTag), 400, "partial write of line protocol occurred", partial(1, nulTag, 'column name "k\\u0000" cannot contain control characters'))
    const bell = "cc,k\u0007=v f=1 1"
    expectError(await write("p", bell), 400, "partial write of line protocol occurred", partial(1, bell, 'column name "k\\u0007" cannot contain control characters'))
    const table = "c\u0001c f=1 1"
    expectError(await write("p", table), 400, "partial write of line protocol occurred", partial(1, table, "table name cannot contain control characters"))
    expectOk(await write("p", "cc,k=v\u0000w f=1 1"), 204) // values may hold any character
    expect(await sql("p", "SELECT k FROM cc")).toEqual([{ k: "v\u0000w" }])
  })

  it("with accept_partial=false a poison line rejects the whole batch, and nothing reaches the log", async () => {
    const seqBefore = await server.runtime.runPromise(Effect.flatMap(EventLog, (l) => l.committedSeq))
    const res = await server.request("POST", "/api/v3/write_lp?db=p&precision=ns&accept_partial=false", { body: "ap f=1 1\nap F=2 2" })
    expectError(res, 400, /nothing was written/, { error_message: clash("F", "f"), line_number: 2, original_line: "ap F=2 2" })
    const log = await server.runtime.runPromise(Effect.flatMap(EventLog, (l) => l.read(seqBefore, 100)))
    expect(log.map((e) => e.event._tag)).toEqual([])
  })

  it("the server restarts on the same data dir with every table answering", async () => {
    await server.stop()
    server = await startServer({ withoutAuth: true }, dir)
    expect(await sql("p", "SELECT f FROM cs ORDER BY time")).toEqual([{ f: 3 }])
    expect(await sql("p", "SELECT f, g FROM cb ORDER BY time")).toEqual([{ f: 1 }, { g: 3 }])
    expect(await sql("p", "SELECT * FROM rs")).toEqual([{ f: 1, host: "a", time: "1970-01-01T00:00:01" }])
  }, 30_000)
})

describe("a data dir in which an older server logged poison events", () => {
  it("starts, quarantines the columns and lines it cannot apply, and answers with the rest", async () => {
    const dir = tempDir()
    const first = await startServer({ withoutAuth: true }, dir)
    expectOk(await first.request("POST", "/api/v3/write_lp?db=old&precision=ns", { body: "cs,host=a f=0 1" }), 204)
    const state = await catalogOf(first)
    const db = liveDatabase(state, "old")!
    const table = liveTable(db, "cs")!
    const write = (body: string, rejectedLines: Array<number> = []) => ({
      event: new WriteBatch({ version: 1, db: "old", dbId: db.id, precision: "nanosecond", defaultTimeNs: 0n, rejectedLines }),
      payload: [new TextEncoder().encode(body)]
    })
    // What servers before the name checks appended: the columns first (committed by the catalog), then the write.
    await first.runtime.runPromise(
      Effect.flatMap(EventLog, (log) =>
        log.append([
          {
            event: new ColumnsAdded({
              version: 1,
              dbId: db.id,
              tableId: table.id,
              columns: [
                { id: table.nextColumnId, name: "F", type: "float" },
                { id: table.nextColumnId + 1, name: "TIME", type: "tag" },
                { id: table.nextColumnId + 2, name: "a\u0000b", type: "float" },
                { id: table.nextColumnId + 3, name: "g", type: "integer" }
              ]
            })
          },
          write("cs,host=a f=1,F=2 2\ncs,TIME=x f=3 3\ncs a\u0000b=1,f=4 4\ncs,host=b f=5,g=6i 5\nnot line protocol\ncs f=6 6", [5]),
          write("cs f=1e400 7\ncs f=8 8"),
          { event: new WriteBatch({ version: 1, db: "old", dbId: db.id, precision: "nanosecond", defaultTimeNs: 0n, rejectedLines: [] }), payload: [new Uint8Array([0x63, 0x73, 0x20, 0xff, 0xfe])] },
          write("cs f=9 9")
        ])
      )
    )
    await first.stop()

    const second = await startServer({ withoutAuth: true }, dir)
    try {
      const sql = async (q: string) =>
        expectOk(await second.request("POST", "/api/v3/query_sql", { body: { db: "old", q, format: "json" } })).json<Array<Record<string, unknown>>>()
      expect(await sql("SELECT host, f, g FROM cs ORDER BY time")).toEqual([
        { host: "a", f: 0 },
        { host: "b", f: 5, g: 6 },
        { f: 6 },
        { f: 8 },
        { f: 9 }
      ])
      const restarted = liveTable(liveDatabase(await catalogOf(second), "old")!, "cs")!
      expect(restarted.columns.map((c) => c.name)).toEqual(["host", "f", "time", "g"])
      expect((await catalogOf(second)).quarantinedColumns.map((q) => q.name)).toEqual(["F", "TIME", "a\u0000b"])
      // The table takes new writes, and refuses the quarantined names with the write-time messages.
      expectOk(await second.request("POST", "/api/v3/write_lp?db=old&precision=ns", { body: "cs f=10 10" }), 204)
      expectError(await second.request("POST", "/api/v3/write_lp?db=old&precision=ns", { body: "cs F=11 11" }), 400, "partial write of line protocol occurred", partial(1, "cs F=11 11", clash("F", "f")))
      const metrics = (await second.request("GET", "/metrics")).text
      expect(Number(/strata_replay_quarantined_total(?:\{[^}]*\})? (\d+)/.exec(metrics)?.[1])).toBeGreaterThanOrEqual(5)
    } finally {
      await second.stop()
    }
  }, 60_000)
})
