import { describe, expect, it } from "@effect/vitest"
import { Chunk, Effect, Stream, TestClock } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Catalog, decide } from "../../src/catalog/Catalog.ts"
import { createDatabase, createTable } from "../../src/catalog/commands.ts"
import { Compactor } from "../../src/compactor/Compactor.ts"
import { testConfig } from "../../src/config.ts"
import { QueryEngine } from "../../src/query/QueryEngine.ts"
import { layerCore } from "../../src/server.ts"
import { Ingester } from "../../src/write/Ingester.ts"

/**
 * Retention read through the Clock: the core services are built inside the test, so they read the TestClock, and
 * moving it past a row's retention hides the row and lets the Compactor's sweep remove the files wholly outside it.
 */

/** 2024-01-01T00:10:00Z: the TestClock's start. */
const T0_MS = 1_704_067_800_000
const at = (minute: number, second: number) =>
  (BigInt(T0_MS) + BigInt((minute - 10) * 60 + second) * 1000n) * 1_000_000n

const withCore = <A, E>(use: (dir: string) => Effect.Effect<A, E, Catalog | Compactor | Ingester | QueryEngine>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "strata-retention-clock-"))),
    (dir) => {
      // No timed persist or compaction: both happen when the test says (the sweep still ticks every second).
      const config = testConfig(dir, {
        walFlushIntervalMs: 0,
        gen1DurationMs: 60_000,
        persistIntervalMs: 3_600_000,
        compactionDelayMs: 3_600_000
      })
      return Effect.zipRight(TestClock.setTime(T0_MS), Effect.provide(use(dir), layerCore(config)))
    },
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )

const write = (db: string, lines: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const bytes = new TextEncoder().encode(lines.join("\n"))
    const request = { db, body: [bytes], size: bytes.length, acceptPartial: false, noSync: false }
    yield* (yield* Ingester).write({ ...request, precision: "nanosecond" })
  })

const rows = <A>(db: string, sql: string) =>
  Effect.gen(function* () {
    const answer = yield* (yield* QueryEngine).sql({ db, sql, params: {}, format: "json" })
    const bytes = answer.whole ?? Buffer.concat(Chunk.toArray(yield* Stream.runCollect(answer.body)))
    return JSON.parse(Buffer.from(bytes).toString("utf8")) as Array<A>
  })

const hosts = (table: string) =>
  Effect.map(rows<{ host: string }>("d", `SELECT host FROM ${table} ORDER BY time`), (r) => r.map((x) => x.host))

const files = (dir: string) =>
  Effect.map(rows<{ table_name: string; path: string }>("d", "SELECT table_name, path FROM system.parquet_files"), (r) =>
    r
      .map((f) => ({ table: f.table_name, path: f.path, onDisk: Fs.existsSync(Path.join(dir, f.path)) }))
      .sort((a, b) => (a.table !== b.table ? (a.table < b.table ? -1 : 1) : a.path < b.path ? -1 : 1)))

const parquetOnDisk = (dir: string) => {
  const root = Path.join(dir, "dbs")
  if (!Fs.existsSync(root)) return []
  return (Fs.readdirSync(root, { recursive: true }) as Array<string>).filter((p) => p.endsWith(".parquet")).length
}

describe("retention with the Clock (TestClock)", () => {
  it.effect("rows leave answers once the Clock passes their retention, and the sweep removes their files", () =>
    withCore((dir) =>
      Effect.gen(function* () {
        const catalog = yield* Catalog
        // The database keeps 5 minutes; its table `short` keeps 2 (a table's retention overrides its database's).
        yield* catalog.execute(decide((s, ctx) => createDatabase(s, ctx, "d", "5m")))
        const field = [{ name: "v", type: "float" as const }]
        yield* catalog.execute(decide((s, ctx) => createTable(s, ctx, "d", "short", ["host"], field, "2m")))
        // Now is 00:10:00: m keeps rows from 00:05:00, short from 00:08:00.
        yield* write("d", [
          `m,host=a v=1 ${at(5, 30)}`,
          `m,host=b v=2 ${at(9, 30)}`,
          `short,host=c v=3 ${at(8, 30)}`,
          `short,host=d v=4 ${at(9, 30)}`
        ])
        expect(yield* hosts("m")).toEqual(["a", "b"])
        expect(yield* hosts("short")).toEqual(["c", "d"])

        // Persisted: one gen1 file per table and minute window, and the rows answered as before.
        yield* Effect.flatMap(Compactor, (c) => c.persistNow)
        expect(yield* hosts("m")).toEqual(["a", "b"])
        expect(yield* hosts("short")).toEqual(["c", "d"])
        // Every file holds a row inside retention: the sweep keeps them all.
        yield* Effect.flatMap(Compactor, (c) => c.sweepNow)
        const before = yield* files(dir)
        expect(before.map((f) => f.table)).toEqual(["m", "m", "short", "short"])
        expect(before.every((f) => f.onDisk)).toBe(true)
        expect(parquetOnDisk(dir)).toBe(4)

        // A minute later (00:11:00): m keeps rows from 00:06:00, short from 00:09:00.
        yield* TestClock.adjust("1 minute")
        expect(yield* hosts("m")).toEqual(["b"])
        expect(yield* hosts("short")).toEqual(["d"])
        yield* Effect.flatMap(Compactor, (c) => c.sweepNow)
        const after = yield* files(dir)
        expect(after.map((f) => f.table)).toEqual(["m", "short"])
        expect(after.every((f) => f.onDisk)).toBe(true)
        expect(parquetOnDisk(dir)).toBe(2)
        // The files left are those holding the rows still answered.
        expect(after.map((f) => f.path)).toEqual(
          before.filter((f) => after.some((a) => a.path === f.path)).map((f) => f.path)
        )
        expect(yield* hosts("m")).toEqual(["b"])
        expect(yield* hosts("short")).toEqual(["d"])
      })
    ), 60_000)
})
