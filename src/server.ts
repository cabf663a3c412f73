import { HttpLayerRouter } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Layer, Logger, LogLevel } from "effect"
import * as NodeHttp from "node:http"
import { Catalog } from "./catalog/Catalog.ts"
import { layerServerConfig, type ServerConfigShape } from "./config.ts"
import { RoutesLive } from "./http/router.ts"
import { EventLog } from "./log/EventLog.ts"
import { DuckDb } from "./query/DuckDb.ts"
import { Ingester } from "./write/Ingester.ts"
import { QueryEngine } from "./query/QueryEngine.ts"
import { layerWritableStore } from "./log/store.ts"

const logLevels: Record<string, LogLevel.LogLevel> = {
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  error: LogLevel.Error,
  off: LogLevel.None
}

/** Time in-flight responses get to finish when the server stops, before their connections are cut. */
const SHUTDOWN_GRACE_MS = 2_000

/**
 * The Node HTTP server. Its `close` also cuts lingering keep-alive connections: Node leaves some of them open
 * after a client aborted a streamed answer, which would hold shutdown for the whole keep-alive timeout.
 */
const createHttpServer = () => {
  const server = NodeHttp.createServer({ keepAliveTimeout: 65_000 })
  const close = server.close.bind(server)
  server.close = ((callback?: (error?: Error) => void) => {
    close(callback)
    server.closeIdleConnections()
    setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS).unref()
    return server
  }) as typeof server.close
  return server
}

/** The server's state and actors on a data directory, without HTTP: the event log, catalog and their stores. */
export const layerCore = (config: ServerConfigShape) =>
  QueryEngine.Default.pipe(
    Layer.provideMerge(Ingester.Default),
    Layer.provideMerge(DuckDb.Default),
    Layer.provideMerge(Catalog.Default),
    Layer.provideMerge(EventLog.Default),
    Layer.provideMerge(layerWritableStore(config.dataDir)),
    Layer.provideMerge(layerServerConfig(config))
  )

/** The whole server as one Layer: core services plus HTTP on the configured address. It exposes the HttpServer. */
export const layerServer = (config: ServerConfigShape) =>
  HttpLayerRouter.serve(RoutesLive, { disableLogger: true, disableListenLog: true, routerConfig: { ignoreTrailingSlash: false } }).pipe(
    Layer.provideMerge(NodeHttpServer.layer(createHttpServer, { port: config.httpBind.port, host: config.httpBind.host })),
    Layer.provideMerge(layerCore(config)),
    Layer.provide(Logger.minimumLogLevel(logLevels[config.logFilter] ?? LogLevel.Info))
  )

