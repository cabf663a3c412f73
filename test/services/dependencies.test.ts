import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Catalog, decide } from "../../src/catalog/Catalog.ts"
import { createDatabase } from "../../src/catalog/commands.ts"
import { liveDatabase } from "../../src/catalog/state.ts"
import { layerServerConfig, testConfig } from "../../src/config.ts"
import { Compactor } from "../../src/compactor/Compactor.ts"
import { Jobs } from "../../src/jobs/Jobs.ts"
import { layerWritableStore } from "../../src/log/store.ts"
import { FileIndex } from "../../src/storage/FileIndex.ts"
import { ImportJobs } from "../../src/import/ImportJobs.ts"
import { QueryEngine } from "../../src/query/QueryEngine.ts"
import { ObjectStoreLocal } from "../../src/storage/ObjectStore.ts"

/**
 * Each service's `Default` layer brings the services it needs (its `dependencies`), so a test builds one from its own
 * module and the data dir's stores alone. The type checker holds the rest: a missing dependency fails to compile.
 */
const withDataDir = <A, E>(use: (dir: string) => Effect.Effect<A, E>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "strata-deps-"))),
    use,
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )

const stores = (dir: string) =>
  ObjectStoreLocal.pipe(
    Layer.provideMerge(layerWritableStore(dir)),
    Layer.provideMerge(layerServerConfig(testConfig(dir, { walFlushIntervalMs: 0 })))
  )

describe("services declare their dependencies", () => {
  it.effect("the Catalog builds from its own layer and commits a database", () =>
    withDataDir((dir) =>
      Effect.gen(function* () {
        const catalog = yield* Catalog
        yield* catalog.execute(decide((s, ctx) => createDatabase(s, ctx, "deps", undefined)))
        expect(liveDatabase(yield* catalog.current, "deps")?.name).toBe("deps")
      }).pipe(Effect.provide(Catalog.Default.pipe(Layer.provide(stores(dir)))), Effect.scoped)
    ))

  it.effect("Jobs and the FileIndex build from their own layers on an empty data dir", () =>
    withDataDir((dir) =>
      Effect.gen(function* () {
        expect(yield* (yield* Jobs).list).toEqual([])
        yield* FileIndex
      }).pipe(
        Effect.provide(Layer.merge(Jobs.Default, FileIndex.Default).pipe(Layer.provide(stores(dir)))),
        Effect.scoped
      )
    ))

  it.effect("the Compactor and the QueryEngine build from their own layers", () =>
    withDataDir((dir) =>
      Effect.gen(function* () {
        // An empty buffer: nothing to persist.
        expect(yield* (yield* Compactor).persistNow).toBeUndefined()
        yield* QueryEngine
      }).pipe(
        Effect.provide(Layer.merge(Compactor.Default, QueryEngine.Default).pipe(Layer.provide(stores(dir)))),
        Effect.scoped
      )
    ))

  it.effect("ImportJobs builds from its own layer and lists no job", () =>
    withDataDir((dir) =>
      Effect.gen(function* () {
        yield* ImportJobs
        expect(yield* (yield* Jobs).list).toEqual([])
      }).pipe(
        Effect.provide(ImportJobs.Default.pipe(Layer.provideMerge(Jobs.Default), Layer.provide(stores(dir)))),
        Effect.scoped
      )
    ))
})
