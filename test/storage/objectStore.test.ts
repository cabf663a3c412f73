import { describe, expect, it } from "@effect/vitest"
import { DuckDBInstance } from "@duckdb/node-api"
import { Effect } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { makeLocalObjectStore } from "../../src/storage/ObjectStore.ts"
import { tempDir } from "../support/server.ts"

const withStoreDir = <A>(f: (dir: string) => Effect.Effect<A, unknown>) => Effect.suspend(() => f(tempDir("strata-store-")))

const exists = (dir: string, path: string) => NodeFs.existsSync(NodePath.join(dir, path))

describe("local object store", () => {
  it.effect("removing a window's last file removes the emptied directories below dbs/<db>/<table>", () =>
    withStoreDir((dir) =>
      Effect.gen(function* () {
        const store = makeLocalObjectStore(dir)
        yield* store.put("dbs/1/2/2024-01-01/10-00/1.parquet", new Uint8Array([1]))
        yield* store.put("dbs/1/2/2024-01-01/10-10/2.parquet", new Uint8Array([2]))
        yield* store.remove("dbs/1/2/2024-01-01/10-00/1.parquet")
        expect(exists(dir, "dbs/1/2/2024-01-01/10-00")).toBe(false)
        expect(exists(dir, "dbs/1/2/2024-01-01/10-10/2.parquet")).toBe(true)
        yield* store.remove("dbs/1/2/2024-01-01/10-10/2.parquet")
        expect(exists(dir, "dbs/1/2/2024-01-01")).toBe(false)
        expect(exists(dir, "dbs/1/2")).toBe(true)
      })
    )
  )

  it.effect("a directory a file is being produced in stays while a sibling is removed, and the file lands", () =>
    withStoreDir((dir) =>
      Effect.gen(function* () {
        const store = makeLocalObjectStore(dir)
        yield* store.put("dbs/1/2/2024-01-01/10-00/1.parquet", new Uint8Array([1]))
        const scratch = yield* store.scratchPath("dbs/1/2/2024-01-01/10-00/2.parquet")
        yield* store.remove("dbs/1/2/2024-01-01/10-00/1.parquet")
        expect(exists(dir, "dbs/1/2/2024-01-01/10-00")).toBe(true)
        NodeFs.writeFileSync(scratch, new Uint8Array([2]))
        yield* store.putFile("dbs/1/2/2024-01-01/10-00/2.parquet", scratch)
        expect([...(yield* store.get("dbs/1/2/2024-01-01/10-00/2.parquet"))]).toEqual([2])
        // A scratch given up removes the directory it leaves empty.
        const abandoned = yield* store.scratchPath("dbs/1/2/2024-01-02/00-00/3.parquet")
        yield* store.remove(abandoned)
        expect(exists(dir, "dbs/1/2/2024-01-02")).toBe(false)
      })
    )
  )

  const secondOf = (file: string) => Math.floor(NodeFs.statSync(file).mtimeMs / 1000)

  it.effect("content put over a file of the same or a later second gets a later one: DuckDB reads the new footer", () =>
    withStoreDir((dir) =>
      Effect.gen(function* () {
        const store = makeLocalObjectStore(dir)
        const instance = yield* Effect.promise(() => DuckDBInstance.create(":memory:"))
        const conn = yield* Effect.promise(() => instance.connect())
        yield* Effect.promise(() => conn.run("SET parquet_metadata_cache = true"))
        const path = "dbs/1/2/2024-01-01/compacted-1.parquet"
        const file = store.localPath(path)
        // Both contents carry one second well in the past: DuckDB trusts a cached footer of a file older than 10 s.
        const second = Math.floor(Date.now() / 1000) - 100
        const produce = (sql: string) =>
          Effect.gen(function* () {
            const scratch = yield* store.scratchPath(path)
            yield* Effect.promise(() => conn.run(`COPY (${sql}) TO '${scratch}' (FORMAT parquet)`))
            NodeFs.utimesSync(scratch, second, second)
            yield* store.putFile(path, scratch)
          })
        const read = Effect.promise(async () => (await conn.runAndReadAll(`SELECT count(*), max(v) FROM read_parquet('${file}')`)).getRows()[0]!.map(Number))
        yield* produce("SELECT range AS v FROM range(10)")
        expect(yield* read).toEqual([10, 9])
        yield* produce("SELECT range * 2 AS v FROM range(100000)")
        expect(secondOf(file)).toBe(second + 1)
        expect(yield* read).toEqual([100000, 199998])
        // Content of the first one's second again: not the second of any content before it.
        yield* produce("SELECT range * 3 AS v FROM range(20)")
        expect(secondOf(file)).toBe(second + 2)
        expect(yield* read).toEqual([20, 57])
        conn.closeSync()
        instance.closeSync()
      })
    )
  )

  it.effect("content put where a file of the same second was just removed gets a later second", () =>
    withStoreDir((dir) =>
      Effect.gen(function* () {
        const store = makeLocalObjectStore(dir)
        const path = "dbs/1/2/2024-01-01/compacted-2.parquet"
        yield* store.put(path, new Uint8Array([1]))
        const second = secondOf(store.localPath(path))
        yield* store.remove(path)
        const scratch = yield* store.scratchPath(path)
        NodeFs.writeFileSync(scratch, new Uint8Array([2]))
        NodeFs.utimesSync(scratch, second, second)
        yield* store.putFile(path, scratch)
        expect(secondOf(store.localPath(path))).toBe(second + 1)
        // A path with nothing before keeps its own time.
        const other = yield* store.scratchPath("dbs/1/2/2024-01-01/compacted-3.parquet")
        NodeFs.writeFileSync(other, new Uint8Array([3]))
        NodeFs.utimesSync(other, second, second)
        yield* store.putFile("dbs/1/2/2024-01-01/compacted-3.parquet", other)
        expect(secondOf(store.localPath("dbs/1/2/2024-01-01/compacted-3.parquet"))).toBe(second)
      })
    )
  )
})
