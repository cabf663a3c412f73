import { Effect, Layer, Runtime } from "effect"
import type { Catalog } from "../catalog/Catalog.ts"
import type { ServerConfig } from "../config.ts"
import { engineFailed } from "../errors.ts"
import type { QueryEngine } from "../query/QueryEngine.ts"
import { makeHttp2Handoff, type Http2Handoff } from "./listener.ts"

type Services = QueryEngine | Catalog | ServerConfig

/**
 * The Flight service, loaded when the first HTTP/2 connection arrives. gRPC, the Flight protos, Arrow and
 * parquet-wasm took about 0.4 s of CPU to load and set up, a fifth of an empty start, and most servers never see a
 * Flight client. A connection that arrives while the service loads waits paused (its first bytes kept); should the
 * service fail to start, the connection is closed and the next one tries again.
 */
export const layerFlightOnDemand = (handoff: Http2Handoff): Layer.Layer<never, never, Services> =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const runtime = yield* Effect.runtime<Services>()
      const scope = yield* Effect.scope
      const flight = makeHttp2Handoff()
      let started: Promise<void> | undefined
      let stopped = false
      const start = () =>
        Runtime.runPromise(runtime)(
          Effect.gen(function* () {
            const { layerFlight } = yield* Effect.tryPromise({
              try: () => import("./FlightService.ts"),
              catch: engineFailed("the Arrow Flight service could not be loaded")
            })
            yield* Layer.buildWithScope(layerFlight(flight), scope)
          })
        )
      handoff.inject = (socket) => {
        started ??= start().catch((error: unknown) => {
          started = undefined
          return Runtime.runPromise(runtime)(Effect.logError("the Arrow Flight service could not start", error))
        })
        void started.then(() => {
          if (!stopped && flight.inject !== undefined) flight.inject(socket)
          else socket.destroy()
        })
      }
      handoff.drain = (graceMs) => flight.drain?.(graceMs)
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          stopped = true
          handoff.inject = undefined
          handoff.drain = undefined
        })
      )
    })
  )
