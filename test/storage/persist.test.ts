import { afterAll, describe, expect, it } from "@effect/vitest"
import { tableFromIPC, TimeUnit, type Timestamp } from "apache-arrow"
import { Effect } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { readParquet } from "parquet-wasm/node"
import { Compactor } from "../../src/compactor/Compactor.ts"
import { expectOk } from "../support/expect.ts"
import { startServer, tempDir, type InProcessServer } from "../support/server.ts"

const running: Array<InProcessServer> = []
const start = async (dataDir: string) => {
  // gen1 windows of a minute, and no timed persist during the test: persists happen when the test says.
  const server = await startServer({ withoutAuth: true, gen1DurationMs: 60_000, persistIntervalMs: 3_600_000 }, dataDir)
  running.push(server)
  return server
}
afterAll(() => Promise.all(running.map((s) => s.stop())))

const MIN = 60_000_000_000
const write = async (server: InProcessServer, lines: Array<string>) =>
  expectOk(await server.request("POST", "/api/v3/write_lp?db=d&precision=nanosecond", { body: lines.join("\n") }), 204)
const persistNow = (server: InProcessServer) =>
  server.runtime.runPromise(Effect.flatMap(Compactor, (c) => c.persistNow))

/** Every answer a client could compare: SQL in two formats, an aggregate, and InfluxQL over v1 and v3. */
const answers = async (server: InProcessServer) => {
  const sql = (q: string, format = "json") => server.request("GET", `/api/v3/query_sql?db=d&format=${format}&q=${encodeURIComponent(q)}`)
  const out: Array<string> = []
  for (const [q, format] of [
    ["SELECT * FROM m ORDER BY host, region, time", "json"],
    ["SELECT * FROM m ORDER BY host, region, time", "csv"],
    ["SELECT host, count(*) AS n, sum(v) AS v, max(w) AS w FROM m GROUP BY host ORDER BY host", "jsonl"]
  ] as const) out.push(expectOk(await sql(q, format)).text)
  out.push(expectOk(await server.request("GET", `/query?db=d&q=${encodeURIComponent("SELECT * FROM m GROUP BY host")}`)).text)
  out.push(expectOk(await server.request("GET", `/api/v3/query_influxql?db=d&format=json&q=${encodeURIComponent("SELECT mean(v), last(w) FROM m GROUP BY host, region")}`)).text)
  return out
}

const metric = async (server: InProcessServer, name: string) => {
  const text = expectOk(await server.request("GET", "/metrics")).text
  const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
  return line === undefined ? 0 : Number(line.split(" ").pop())
}

const parquetFilesUnder = (dir: string) =>
  NodeFs.existsSync(NodePath.join(dir, "dbs"))
    ? (NodeFs.readdirSync(NodePath.join(dir, "dbs"), { recursive: true }) as Array<string>).filter((p) => p.endsWith(".parquet")).sort()
    : []

describe("persisting the write buffer to Parquet", () => {
  it("SQL and InfluxQL answer the same before and after persists and after a restart, with overwrites and out-of-order rows", async () => {
    const dir = tempDir()
    const first = await start(dir)
    // Overwrites (same series and time, other fields), out-of-order rows, a series without a tag, three gen1 windows.
    await write(first, [
      `m,host=a,region=us v=1,w=10i ${10 * MIN}`,
      `m,host=b v=2 ${10 * MIN}`,
      `m,host=a,region=us v=3 ${11 * MIN + 5}`,
      `m,host=a,region=us w=11i ${10 * MIN}`,
      `m,host=b v=5 ${9 * MIN}`
    ])
    await write(first, [`m,host=a,region=us v=7 ${10 * MIN}`, `m,host=c,region=eu v=9,s="x" ${12 * MIN}`])
    const before = await answers(first)

    const persisted = await persistNow(first)
    expect(persisted?.files.length).toBe(4)
    expect(await metric(first, "strata_write_buffer_rows")).toBe(0)
    expect(await metric(first, "strata_write_buffer_bytes")).toBe(0)
    expect(await answers(first)).toEqual(before)

    // More writes over persisted rows (overlapping time ranges: merged) and past them; then persist again.
    await write(first, [`m,host=a,region=us w=20i ${10 * MIN}`, `m,host=b v=6 ${13 * MIN}`, `m,host=d v=1 ${9 * MIN}`])
    const mixed = await answers(first)
    expect(mixed[0]).not.toEqual(before[0])
    expect(mixed[0]).toContain('"w":20')
    expect(await persistNow(first)).toBeDefined()
    expect(await answers(first)).toEqual(mixed)

    // A tail not yet persisted: the restart replays only it.
    await write(first, [`m,host=e v=4 ${14 * MIN}`])
    const final = await answers(first)
    const files = expectOk(
      await first.request(
        "GET",
        `/api/v3/query_sql?db=d&format=json&q=${encodeURIComponent("SELECT * FROM system.parquet_files ORDER BY path")}`
      )
    ).json<
      Array<{
        table_name: string
        path: string
        size_bytes: number
        row_count: number
        min_time: number
        max_time: number
      }>
    >()
    expect(files.map((f) => f.path)).toEqual(parquetFilesUnder(dir).map((p) => `dbs/${p}`))
    expect(files.every((f) => f.table_name === "m" && f.size_bytes > 0 && f.row_count > 0 && f.min_time <= f.max_time)).toBe(true)
    expect(files.reduce((n, f) => n + f.row_count, 0)).toBe(5 + 3)
    await first.stop()

    const replayedBefore = await (async () => 0)()
    const second = await start(dir)
    const replayedAfter = await metric(second, "strata_replay_write_events_total")
    expect(await answers(second)).toEqual(final)
    // Metrics are process-wide: the first server replayed nothing, so the total is what the second one replayed.
    expect(replayedAfter - replayedBefore).toBe(1)
    await second.stop()
  })

  it("writes files an independent reader reads back: TIMESTAMP(NANOS) time, tags, typed fields, sorted by series key then time", async () => {
    const dir = tempDir()
    const server = await start(dir)
    await write(server, [`m,host=b,region=us v=1,n=3i ${2 * MIN + 2}`, `m,host=a,region=us v=2 ${2 * MIN + 1}`, `m,host=a v=3,ok=true ${2 * MIN}`, `m,host=a,region=us v=4 ${2 * MIN}`])
    await persistNow(server)
    const [file] = parquetFilesUnder(dir)
    expect(file).toMatch(/^\d+\/\d+\/1970-01-01\/00-02\/\d+\.parquet$/)
    const table = tableFromIPC(readParquet(new Uint8Array(NodeFs.readFileSync(NodePath.join(dir, "dbs", file!)))).intoIPCStream())
    const time = table.schema.fields.find((f) => f.name === "time")!
    expect((time.type as Timestamp).unit).toBe(TimeUnit.NANOSECOND)
    expect(table.schema.fields.map((f) => f.name)).toEqual(["host", "region", "time", "v", "n", "ok"])
    // Read as the stored 64-bit nanoseconds (Arrow's row view rounds timestamps to milliseconds).
    const times = table.getChild("time")!.data.flatMap((d) => [...(d.values as BigInt64Array)])
    const rows = table
      .toArray()
      .map((r, i) => [r.host, r.region, times[i], r.v, r.n === null ? null : BigInt(r.n), r.ok])
    expect(rows).toEqual([
      ["a", "us", BigInt(2 * MIN), 4, null, null],
      ["a", "us", BigInt(2 * MIN + 1), 2, null, null],
      ["a", null, BigInt(2 * MIN), 3, null, true],
      ["b", "us", BigInt(2 * MIN + 2), 1, 3n, null]
    ])
  })

  it("a backfill over many windows writes one file per window, each sorted by series key then time, and leaves no scratch behind", async () => {
    const dir = tempDir()
    const server = await start(dir)
    // Eight one-minute windows, hosts and times shuffled, one overwrite.
    const lines: Array<string> = []
    for (let w = 7; w >= 0; w--) for (const host of ["c", "a", "b"]) for (const t of [3, 1, 2]) lines.push(`m,host=${host} v=${w * 10 + t} ${w * MIN + t}`)
    lines.push(`m,host=a v=999 ${5 * MIN + 1}`)
    await write(server, lines)
    await persistNow(server)
    const files = parquetFilesUnder(dir)
    expect(files.length).toBe(8)
    expect(files.every((f) => !f.includes(".tmp-"))).toBe(true)
    for (const file of files) {
      const table = tableFromIPC(readParquet(new Uint8Array(NodeFs.readFileSync(NodePath.join(dir, "dbs", file)))).intoIPCStream())
      expect(table.schema.fields.map((f) => f.name)).toEqual(["host", "time", "v"])
      const times = table.getChild("time")!.data.flatMap((d) => [...(d.values as BigInt64Array)])
      const rows = table.toArray().map((r, i) => [r.host as string, times[i]!] as const)
      const sorted = [...rows].sort((x, y) =>
        x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] < y[1] ? -1 : x[1] > y[1] ? 1 : 0
      )
      expect(rows).toEqual(sorted)
      expect(rows.length).toBe(9)
    }
    const answer = expectOk(await server.request("GET", `/api/v3/query_sql?db=d&format=json&q=${encodeURIComponent("SELECT v FROM m WHERE host = 'a' AND v > 900")}`))
    expect(answer.json()).toEqual([{ v: 999 }])
  })

  it("removes files under dbs/ that no persist recorded, and scratch files, at start", async () => {
    const dir = tempDir()
    const server = await start(dir)
    await write(server, [`m,host=a v=1 ${MIN}`])
    await persistNow(server)
    await server.stop()
    const [kept] = parquetFilesUnder(dir)
    const orphan = NodePath.join(dir, "dbs", NodePath.dirname(kept!), "999999.parquet")
    NodeFs.copyFileSync(NodePath.join(dir, "dbs", kept!), orphan)
    NodeFs.writeFileSync(`${orphan}.tmp-abc`, "half")
    const again = await start(dir)
    expect(parquetFilesUnder(dir)).toEqual([kept])
    expect(NodeFs.existsSync(`${orphan}.tmp-abc`)).toBe(false)
    const res = expectOk(await again.request("GET", `/api/v3/query_sql?db=d&format=json&q=${encodeURIComponent("SELECT count(*) AS n FROM m")}`))
    expect(res.json()).toEqual([{ n: 1 }])
  })

  it("a persisted file cannot be read through SQL", async () => {
    const dir = tempDir()
    const server = await start(dir)
    await write(server, [`m,host=a v=1 ${MIN}`])
    await persistNow(server)
    const [file] = parquetFilesUnder(dir)
    const path = NodePath.join(dir, "dbs", file!)
    for (const q of [`SELECT * FROM '${path}'`, `SELECT * FROM read_parquet('${path}')`, `SELECT * FROM parquet_scan('${path}')`, `SELECT * FROM parquet_metadata('${path}')`]) {
      const res = await server.request("GET", `/api/v3/query_sql?db=d&format=json&q=${encodeURIComponent(q)}`)
      expect(res.status, q).toBeGreaterThanOrEqual(400)
      expect(res.text).not.toContain('"v":1')
    }
  })
})
