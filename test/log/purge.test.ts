import { afterAll, describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { Compactor } from "../../src/compactor/Compactor.ts"
import { blankLines } from "../../src/lineprotocol/index.ts"
import { logFile } from "../../src/log/store.ts"
import { replay } from "../../src/replay.ts"
import { expectOk } from "../support/expect.ts"
import { startServer, tempDir, type InProcessServer } from "../support/server.ts"

const running: Array<InProcessServer> = []
const start = async (dataDir: string) => {
  const server = await startServer({ withoutAuth: true, persistIntervalMs: 3_600_000 }, dataDir)
  running.push(server)
  return server
}
afterAll(() => Promise.all(running.map((s) => s.stop())))

const persistNow = (server: InProcessServer) =>
  server.runtime.runPromise(Effect.flatMap(Compactor, (c) => c.persistNow))
const sweepNow = (server: InProcessServer) => server.runtime.runPromise(Effect.flatMap(Compactor, (c) => c.sweepNow))
const write = async (server: InProcessServer, db: string, lines: ReadonlyArray<string>) =>
  expectOk(await server.request("POST", `/api/v3/write_lp?db=${db}&precision=nanosecond`, { body: lines.join("\n") }), 204)
const count = async (server: InProcessServer, db: string, table: string) =>
  expectOk(await server.request("GET", `/api/v3/query_sql?db=${db}&format=json&q=${encodeURIComponent(`SELECT count(*) AS n FROM ${table}`)}`)).json<Array<{ n: number }>>()[0]!.n

/** Every file under `dir` and its bytes. */
const files = (dir: string) =>
  (NodeFs.readdirSync(dir, { recursive: true }) as Array<string>)
    .map((p) => NodePath.join(dir, p))
    .filter((p) => NodeFs.statSync(p).isFile())
const dirBytes = (dir: string) => files(dir).reduce((n, f) => n + NodeFs.statSync(f).size, 0)
/** Bytes by part of the data dir: the log's SQLite file, its WAL, payload segments, the rest (Parquet). */
const parts = (dir: string) => {
  const out = { sqlite: 0, wal: 0, segments: 0, other: 0 }
  for (const f of files(dir)) {
    const n = NodeFs.statSync(f).size
    if (f.endsWith("log.sqlite")) out.sqlite += n
    else if (f.endsWith("log.sqlite-wal")) out.wal += n
    else if (f.endsWith(".seg")) out.segments += n
    else out.other += n
  }
  return JSON.stringify(out)
}
/** The log's files (SQLite file, WAL, payload segments) holding `text` anywhere in their bytes. */
const logFilesHolding = (dir: string, text: string) =>
  files(dir).filter((f) => (f.includes("log.sqlite") || f.endsWith(".seg")) && NodeFs.readFileSync(f).includes(text))

const T0 = 1_700_000_000_000_000_000n

describe("payload purge", () => {
  it("a hard-deleted table's lines and a data-only deleted database's writes leave the log's payloads; the data dir shrinks and the other table answers every row after a restart", async () => {
    const dir = tempDir()
    const first = await start(dir)
    let keptRows = 0
    let goneBytes = 0
    // Writes of two tables, line by line, in large (segment) and small (in-row) payloads; half persisted, half
    // buffered.
    const mixed = async (b: number, n: number) => {
      const lines: Array<string> = []
      for (let i = 0; i < n; i++) {
        const ts = T0 + BigInt(b * 1_000_000 + i)
        const gone = `gone,host=zzgonetag,i=i${i} v=${i},s="padding-padding-padding" ${ts}`
        goneBytes += gone.length + 1
        lines.push(gone, `kept,host=h${i % 10} v=${i} ${ts}`)
        keptRows++
      }
      await write(first, "p", lines)
    }
    await mixed(0, 3000)
    await mixed(1, 50)
    await mixed(2, 3000)
    await persistNow(first)
    await mixed(3, 3000)
    await mixed(4, 50)
    // A quoted value spanning lines: blanking keeps its newlines, so the lines after it keep their numbers.
    await write(first, "p", [`gone,host=zzgonetag s="line one\nline two" ${T0}`, `kept,host=after v=1 ${T0 + 1n}`])
    keptRows++
    const qLines = Array.from({ length: 4000 }, (_, i) => `qt,host=zzqtag,i=i${i} v=${i} ${T0 + BigInt(i)}`)
    await write(first, "q", qLines)
    const qBytes = qLines.join("\n").length

    expect(await count(first, "p", "kept")).toBe(keptRows)
    expect(logFilesHolding(dir, "zzgonetag").length).toBeGreaterThan(0)
    expect(logFilesHolding(dir, "zzqtag").length).toBeGreaterThan(0)
    // The WAL's frames go into the log file first, so that what shrinks is the log's content, not its WAL.
    const checkpoint = new Database(logFile(dir))
    checkpoint.pragma("wal_checkpoint(TRUNCATE)")
    checkpoint.close()
    const before = dirBytes(dir)
    const beforeParts = parts(dir)

    expectOk(await first.request("DELETE", "/api/v3/configure/table?db=p&table=gone&hard_delete_at=now"))
    expectOk(await first.request("DELETE", "/api/v3/configure/database?db=q&data_only=true"))
    await sweepNow(first)
    const after = dirBytes(dir)
    console.log(
      `data dir: ${before} bytes before the deletes ${beforeParts}, ${after} after ${parts(dir)} (gone lines ${goneBytes} bytes, q's ${qBytes})`
    )
    expect(before - after).toBeGreaterThan(0.8 * (goneBytes + qBytes))
    expect(logFilesHolding(dir, "zzgonetag")).toEqual([])
    expect(logFilesHolding(dir, "zzqtag")).toEqual([])
    expect(await count(first, "p", "kept")).toBe(keptRows)
    // A second sweep finds nothing left to purge.
    await sweepNow(first)
    expect(dirBytes(dir)).toBeLessThanOrEqual(after + 64 * 1024)
    await first.stop()

    const second = await start(dir)
    expect(await count(second, "p", "kept")).toBe(keptRows)
    expect(await count(second, "q", "qt")).toBe(0)
    const after2 = expectOk(
      await second.request(
        "GET",
        `/api/v3/query_sql?db=p&format=json&q=${encodeURIComponent("SELECT v FROM kept WHERE host = 'after'")}`
      )
    )
    expect(after2.json()).toEqual([{ v: 1 }])
    await second.stop()

    const printed: Array<string> = []
    await Effect.runPromise(replay(dir, undefined, false, (line) => void printed.push(line)))
    expect(
      printed.filter((l) =>
        /\tWriteBatch\t.*\tpayload purged: table \d+ of database \d+ hard-deleted \(seq \d+\)$/.test(l)
      ).length
    ).toBe(6)
    expect(
      printed.filter((l) => /\tWriteBatch\t.*\tpayload purged: database \d+ data deleted \(seq \d+\)$/.test(l)).length
    ).toBe(1)
  })

  it("blanking a table's lines keeps every other line's number, quoted newlines included, and counts what is left", () => {
    const text = `a v=1 1\n# comment\nb s="x\ny" 2\n\nb,t=1 v=2 3\nc v=3 4\n`
    const out = blankLines(Buffer.from(text), (m) => m === "b")
    expect(Buffer.from(out.payload).toString()).toBe(`a v=1 1\n# comment\n\n\n\n\nc v=3 4\n`)
    expect({ blanked: out.blanked, kept: out.kept }).toEqual({ blanked: 2, kept: 2 })
    expect(blankLines(Buffer.from("b\\ x v=1\nb v=2"), (m) => m === "b x")).toMatchObject({ blanked: 1, kept: 1 })
  })
})
