import { afterAll, describe, expect, it } from "@effect/vitest"
import { tableFromIPC, TimeUnit, type Timestamp } from "apache-arrow"
import { Effect } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { readParquet } from "parquet-wasm/node"
import { Compactor } from "../../src/compactor/Compactor.ts"
import { SnapshotPersisted, TableDataDeleted, WindowCompacted, type PersistedFile, type StrataEvent } from "../../src/events/index.ts"
import type { Envelope } from "../../src/log/EventLog.ts"
import { applyFileIndex, emptyFileIndex, filesOf, type FileIndexState } from "../../src/storage/files.ts"
import { expectOk } from "../support/expect.ts"
import { startServer, tempDir, type InProcessServer } from "../support/server.ts"

const running: Array<InProcessServer> = []
const start = async (dataDir: string) => {
  // gen1 windows of a minute; no timed persist or compaction during the test: both happen when the test says.
  const server = await startServer(
    { withoutAuth: true, gen1DurationMs: 60_000, persistIntervalMs: 3_600_000, compactionDelayMs: 3_600_000 },
    dataDir
  )
  running.push(server)
  return server
}
afterAll(() => Promise.all(running.map((s) => s.stop())))

const MIN = 60_000_000_000
const DAY = 24 * 60 * MIN
const write = async (server: InProcessServer, lines: Array<string>) =>
  expectOk(await server.request("POST", "/api/v3/write_lp?db=d&precision=nanosecond", { body: lines.join("\n") }), 204)
const persistNow = (server: InProcessServer) =>
  server.runtime.runPromise(Effect.flatMap(Compactor, (c) => c.persistNow))
const compactNow = (server: InProcessServer, targetRows?: number) =>
  server.runtime.runPromise(
    Effect.flatMap(Compactor, (c) => c.compactNow(targetRows === undefined ? {} : { targetRows }))
  )

/** Every answer a client could compare: SQL in two formats, an aggregate, and InfluxQL over v1 and v3. */
const answers = async (server: InProcessServer) => {
  const sql = (q: string, format = "json") => server.request("GET", `/api/v3/query_sql?db=d&format=${format}&q=${encodeURIComponent(q)}`)
  const out: Array<string> = []
  for (const [q, format] of [
    ["SELECT * FROM m ORDER BY host, region, time", "json"],
    ["SELECT * FROM m ORDER BY host, region, time", "csv"],
    ["SELECT host, count(*) AS n, sum(v) AS v, max(w) AS w, count(s) AS s FROM m GROUP BY host ORDER BY host", "jsonl"]
  ] as const) out.push(expectOk(await sql(q, format)).text)
  out.push(expectOk(await server.request("GET", `/query?db=d&q=${encodeURIComponent("SELECT * FROM m GROUP BY host")}`)).text)
  out.push(expectOk(await server.request("GET", `/api/v3/query_influxql?db=d&format=json&q=${encodeURIComponent("SELECT mean(v), last(w) FROM m GROUP BY host, region")}`)).text)
  return out
}

interface FileRow {
  readonly path: string
  readonly row_count: number
  readonly min_time: number
  readonly max_time: number
}
const parquetFiles = async (server: InProcessServer) =>
  expectOk(await server.request("GET", `/api/v3/query_sql?db=d&format=json&q=${encodeURIComponent("SELECT * FROM system.parquet_files ORDER BY path")}`)).json<Array<FileRow>>()

const onDisk = (dir: string) =>
  NodeFs.existsSync(NodePath.join(dir, "dbs"))
    ? (NodeFs.readdirSync(NodePath.join(dir, "dbs"), { recursive: true }) as Array<string>)
        .filter((p) => NodeFs.statSync(NodePath.join(dir, "dbs", p)).isFile())
        .map((p) => `dbs/${p.split(NodePath.sep).join("/")}`)
        .sort()
    : []

/** The directories under dbs/ that hold nothing (a compaction's emptied window directories, unless removed). */
const emptyDirs = (dir: string) =>
  (NodeFs.readdirSync(NodePath.join(dir, "dbs"), { recursive: true }) as Array<string>).filter((p) => {
    const path = NodePath.join(dir, "dbs", p)
    return NodeFs.statSync(path).isDirectory() && NodeFs.readdirSync(path).length === 0
  })

describe("compacting 24-hour windows", () => {
  it("answers the same after compaction, after a late write compacted again, and after a restart; old files are gone", async () => {
    const dir = tempDir()
    const first = await start(dir)
    // Three persists into day 0 with overwrites (field by field), out-of-order rows and a column added later; one row
    // in day 1.
    await write(first, [`m,host=a,region=us v=1,w=10i ${10 * MIN}`, `m,host=b v=2 ${10 * MIN}`, `m,host=a,region=us v=3 ${30 * MIN + 5}`, `m,host=c v=8 ${DAY + MIN}`])
    await persistNow(first)
    await write(first, [`m,host=a,region=us w=11i ${10 * MIN}`, `m,host=b v=5 ${9 * MIN}`, `m,host=a,region=us v=4 ${5 * MIN}`])
    await persistNow(first)
    await write(first, [`m,host=a,region=us v=7 ${10 * MIN}`, `m,host=b v=6,s="x" ${9 * MIN}`, `m,host=d v=1 ${2 * 60 * MIN}`])
    await persistNow(first)
    const before = await answers(first)
    const gen1 = await parquetFiles(first)
    expect(gen1.length).toBeGreaterThan(4)

    const outcomes = await compactNow(first)
    expect(outcomes.map((o) => o.window).sort()).toEqual(["1970-01-01", "1970-01-02"])
    expect(await answers(first)).toEqual(before)
    let files = await parquetFiles(first)
    const day0 = files.filter((f) => f.path.includes("/1970-01-01/"))
    expect(day0.length).toBeLessThanOrEqual(4)
    expect(day0.every((f) => /\/1970-01-01\/compacted-1(-\d)?\.parquet$/.test(f.path))).toBe(true)
    // Deduplicated: a, us at 5, 10, 30; b at 9, 10; d at 120 minutes.
    expect(day0.reduce((n, f) => n + f.row_count, 0)).toBe(6)
    expect(onDisk(dir)).toEqual(files.map((f) => f.path))
    expect(emptyDirs(dir)).toEqual([])

    // The compacted file is sorted by series key then time, time TIMESTAMP(NANOS).
    const table = tableFromIPC(
      readParquet(new Uint8Array(NodeFs.readFileSync(NodePath.join(dir, day0[0]!.path)))).intoIPCStream()
    )
    expect((table.schema.fields.find((f) => f.name === "time")!.type as Timestamp).unit).toBe(TimeUnit.NANOSECOND)
    const times = table.getChild("time")!.data.flatMap((d) => [...(d.values as BigInt64Array)])
    expect(table.toArray().map((r, i) => [r.host, r.region, times[i]])).toEqual([
      ["a", "us", BigInt(5 * MIN)],
      ["a", "us", BigInt(10 * MIN)],
      ["a", "us", BigInt(30 * MIN + 5)],
      ["b", null, BigInt(9 * MIN)],
      ["b", null, BigInt(10 * MIN)],
      ["d", null, BigInt(120 * MIN)]
    ])

    // Late writes into the compacted window: overwrites of compacted rows and new rows, persisted, compacted again.
    await write(first, [`m,host=a,region=us w=99i ${10 * MIN}`, `m,host=b v=0.5 ${11 * MIN}`])
    await persistNow(first)
    const late = await answers(first)
    expect(late[0]).toContain('"w":99')
    expect(await compactNow(first)).toHaveLength(1)
    expect(await answers(first)).toEqual(late)
    files = await parquetFiles(first)
    expect(files.filter((f) => f.path.includes("/1970-01-01/")).every((f) => /compacted-2(-\d)?\.parquet$/.test(f.path))).toBe(true)
    expect(onDisk(dir)).toEqual(files.map((f) => f.path))
    expect(emptyDirs(dir)).toEqual([])
    // Nothing left to compact.
    expect(await compactNow(first)).toEqual([])

    // A gen1 file persisted after a compaction ranks newer than the compacted file.
    await write(first, [`m,host=a,region=us v=42 ${10 * MIN}`])
    await persistNow(first)
    const newest = await answers(first)
    expect(newest[0]).toContain('"v":42')
    await first.stop()

    const second = await start(dir)
    expect(await answers(second)).toEqual(newest)
    await compactNow(second)
    expect(await answers(second)).toEqual(newest)
    await second.stop()
    const third = await start(dir)
    expect(await answers(third)).toEqual(newest)
    expect(onDisk(dir)).toEqual((await parquetFiles(third)).map((f) => f.path))
  }, 60_000)

  it("a large window is split by time into at most 4 files with disjoint time ranges, answering the same", async () => {
    const dir = tempDir()
    const server = await start(dir)
    for (let p = 0; p < 3; p++) {
      await write(server, Array.from({ length: 40 }, (_, i) => `m,host=h${i % 3},region=r${i % 2} v=${p * 100 + i},w=${i}i,s="${p}" ${(i * 7 + p) * MIN}`))
      await persistNow(server)
    }
    const before = await answers(server)
    // 120 rows at 10 a file would be 12 files: capped at 4.
    const [outcome] = await compactNow(server, 10)
    expect(outcome!.added.length).toBe(4)
    expect(outcome!.added.map((f) => f.path.split("/").pop())).toEqual(["compacted-1-1.parquet", "compacted-1-2.parquet", "compacted-1-3.parquet", "compacted-1-4.parquet"])
    for (let i = 1; i < outcome!.added.length; i++)
      expect(outcome!.added[i]!.minTimeNs > outcome!.added[i - 1]!.maxTimeNs).toBe(true)
    expect(outcome!.added.reduce((n, f) => n + f.rows, 0)).toBe(120)
    expect(await answers(server)).toEqual(before)
    expect(onDisk(dir)).toEqual((await parquetFiles(server)).map((f) => f.path))
  }, 60_000)
})

const envelope = (seq: number, event: StrataEvent): Envelope => ({ seq, at: 0n, node: "n", event, payload: null })
const file = (path: string, minTimeNs = 0n, maxTimeNs = 10n): PersistedFile => ({ path, dbId: 1, tableId: 2, rows: 1, minTimeNs, maxTimeNs, bytes: 100, columns: ["h", "v"] })
const persisted = (persistedSeq: number, files: Array<PersistedFile>) =>
  new SnapshotPersisted({ version: 1, persistedSeq, files })
const compacted = (removed: Array<string>, added: Array<PersistedFile>) =>
  new WindowCompacted({ version: 1, dbId: 1, tableId: 2, window: "1970-01-01", generation: 1, removed, added })
const fold = (envelopes: Array<Envelope>): FileIndexState => envelopes.reduce(applyFileIndex, emptyFileIndex)

describe("the file index and compactions", () => {
  it("a compacted file replaces its files and ranks as the newest of them, older than files persisted later", () => {
    const state = fold([
      envelope(10, persisted(9, [file("a.parquet")])),
      envelope(20, persisted(19, [file("b.parquet")])),
      envelope(30, persisted(29, [file("c.parquet")])),
      envelope(40, compacted(["a.parquet", "b.parquet"], [file("compacted-1.parquet")]))
    ])
    expect(filesOf(state, 2).map((f) => [f.path, f.persistEventSeq, f.coveredSeq])).toEqual([
      ["compacted-1.parquet", 20, 19],
      ["c.parquet", 30, 29]
    ])
  })

  it("applying a compaction twice changes nothing", () => {
    const events = [envelope(10, persisted(9, [file("a.parquet")])), envelope(20, compacted(["a.parquet"], [file("compacted-1.parquet")]))]
    expect(fold([...events, events[1]!])).toEqual(fold(events))
  })

  it("a compaction whose files a deletion took out first is void", () => {
    const state = fold([
      envelope(10, persisted(9, [file("a.parquet")])),
      envelope(12, new TableDataDeleted({ version: 1, dbId: 1, tableId: 2 })),
      envelope(20, compacted(["a.parquet"], [file("compacted-1.parquet")]))
    ])
    expect(filesOf(state, 2)).toEqual([])
  })
})
