import { describe, expect, it } from "@effect/vitest"
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
})
