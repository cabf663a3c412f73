import { HttpServerRequest } from "@effect/platform"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Stream, TestClock } from "effect"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { Catalog, decide } from "../../src/catalog/Catalog.ts"
import { createDatabase, createNamedAdminToken, deleteDatabase } from "../../src/catalog/commands.ts"
import { liveDatabase } from "../../src/catalog/state.ts"
import { Checkpoints } from "../../src/checkpoint/Checkpoints.ts"
import { layerServerConfig, type ServerConfig, testConfig } from "../../src/config.ts"
import { admin, runRoute } from "../../src/http/route.ts"
import { okEmpty } from "../../src/http/respond.ts"
import { EventLog } from "../../src/log/EventLog.ts"
import { layerWritableStore } from "../../src/log/store.ts"
import { ObjectStoreLocal } from "../../src/storage/ObjectStore.ts"

/** The catalog actor on a real event log in a temp dir; built inside the test, so it reads the TestClock. */
const withCatalog = <A, E>(use: (dataDir: string) => Effect.Effect<A, E, Catalog | ServerConfig>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "strata-clock-"))),
    (dir) =>
      Effect.scoped(
        use(dir).pipe(
          Effect.provide(
            Catalog.Default.pipe(
              Layer.provideMerge(Checkpoints.Default),
              Layer.provideMerge(EventLog.Default),
              Layer.provideMerge(ObjectStoreLocal),
              Layer.provideMerge(layerWritableStore(dir)),
              Layer.provideMerge(
                layerServerConfig(testConfig(dir, { walFlushIntervalMs: 0, hardDeleteDefaultDurationMs: 60_000 }))
              )
            )
          )
        )
      ),
    (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
  )

/** A GET of an admin route with a bearer token, run through the route pipeline (auth reads the Clock). */
const getWithToken = (secret: string) => {
  const route = runRoute({ method: "GET", path: "/probe", access: admin, handler: () => Effect.succeed(okEmpty) })
  const request = HttpServerRequest.fromWeb(new Request("http://localhost/probe", { headers: { authorization: `Bearer ${secret}` } }))
  // The probe's handler uses none of the handler services; only the catalog, config and request are needed.
  const needs = route as Effect.Effect<
    Effect.Effect.Success<typeof route>,
    never,
    Catalog | ServerConfig | HttpServerRequest.HttpServerRequest
  >
  return Effect.provideService(needs, HttpServerRequest.HttpServerRequest, request)
}

describe("time from the Clock (TestClock)", () => {
  it.effect("a soft-deleted database leaves the catalog once its hard-delete time has passed", () =>
    withCatalog(() =>
      Effect.gen(function* () {
        const catalog = yield* Catalog
        yield* catalog.execute(decide((s, ctx) => createDatabase(s, ctx, "doomed", undefined)))
        const id = liveDatabase(yield* catalog.current, "doomed")!.id
        const options = { dataOnly: false, removeTables: false, hardDeleteAt: "default" }
        yield* catalog.execute(decide((s, ctx) => deleteDatabase(s, ctx, "doomed", options)))
        expect((yield* catalog.current).databases.get(id)?.deleted).toBe(true)
        // Not yet due: a sweep runs every 10 s and leaves it.
        yield* TestClock.adjust("50 seconds")
        expect((yield* catalog.current).databases.has(id)).toBe(true)
        // Due after the default hard-delete delay (one minute here): the next sweep removes it.
        yield* TestClock.adjust("20 seconds")
        yield* catalog.changes.pipe(Stream.filter((s) => !s.databases.has(id)), Stream.take(1), Stream.runDrain)
        expect((yield* catalog.current).databases.has(id)).toBe(false)
      })
    ))

  it.effect("a token with an expiry is refused (401) once the Clock passes it", () =>
    withCatalog(() =>
      Effect.gen(function* () {
        const catalog = yield* Catalog
        const secret = "apiv3_clock-test-secret"
        yield* catalog.execute(decide((s, ctx) => createNamedAdminToken(s, ctx, "hourly", 3600, secret)))
        expect((yield* getWithToken(secret)).status).toBe(200)
        yield* TestClock.adjust("59 minutes")
        expect((yield* getWithToken(secret)).status).toBe(200)
        yield* TestClock.adjust("2 minutes")
        expect((yield* getWithToken(secret)).status).toBe(401)
      })
    ))
})
