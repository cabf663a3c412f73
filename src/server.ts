import { HttpLayerRouter } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer, Logger, LogLevel } from "effect"
import * as NodeHttp from "node:http"
import type * as NodeStream from "node:stream"
import { CacheLoader } from "./cache/CacheLoader.ts"
import { Caches } from "./cache/Caches.ts"
import { Catalog } from "./catalog/Catalog.ts"
import { Checkpoints } from "./checkpoint/Checkpoints.ts"
import { Compactor } from "./compactor/Compactor.ts"
import { EngineLogs } from "./engine/EngineLogs.ts"
import { ProcessingEngine } from "./engine/ProcessingEngine.ts"
import { Scheduler } from "./engine/Scheduler.ts"
import { ImportJobs } from "./import/ImportJobs.ts"
import { BackupJobs } from "./backup/BackupJobs.ts"
import { RestoreJobs } from "./backup/RestoreJobs.ts"
import { Jobs } from "./jobs/Jobs.ts"
import { layerServerConfig, type ServerConfig, type ServerConfigShape } from "./config.ts"
import { makeHttp2Handoff, shareWithHttp2 } from "./flight/listener.ts"
import { layerFlightOnDemand } from "./flight/onDemand.ts"
import { RoutesLive } from "./http/router.ts"
import { EventLog } from "./log/EventLog.ts"
import { DuckDb } from "./query/DuckDb.ts"
import { Ingester } from "./write/Ingester.ts"
import { NodeRegistry } from "./nodes/NodeRegistry.ts"
import { QueryEngine } from "./query/QueryEngine.ts"
import { layerWritableStore } from "./log/store.ts"
import { FileIndex } from "./storage/FileIndex.ts"
import { type ObjectStore, ObjectStoreLocal } from "./storage/ObjectStore.ts"
import { ParquetMemCache } from "./storage/ParquetMemCache.ts"
import { TableSources } from "./storage/TableSource.ts"

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

/** How long a refused connection may take to read its error answer before it is cut. */
const CLIENT_ERROR_GRACE_MS = 1_000

const durationText = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`)

const rawJsonResponse = (status: number, reason: string, message: string) => {
  const body = JSON.stringify({ error: message, data: null })
  return `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`
}

/**
 * Requests Node refuses before any route runs — not arrived within `--http-request-timeout` (408), headers too large
 * (431), unparseable (400) — answered with the JSON error body every other failure carries, then the connection is
 * closed. Node's own answers have no body. As Node does, nothing is written once a response has begun.
 */
const onClientError =
  (requestTimeoutMs: number) => (error: Error & { readonly code?: string }, socket: NodeStream.Duplex) => {
    const inFlight = (socket as { _httpMessage?: NodeHttp.ServerResponse | null })._httpMessage
    if (!socket.writable || inFlight?.headersSent === true || error.code === "ECONNRESET") {
      socket.destroy()
      return
    }
    const response =
      error.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? rawJsonResponse(
            408,
            "Request Timeout",
            `request timeout: the request did not arrive completely within ${durationText(requestTimeoutMs)} (--http-request-timeout)`
          )
        : error.code === "HPE_HEADER_OVERFLOW"
          ? rawJsonResponse(431, "Request Header Fields Too Large", "request header fields too large")
          : rawJsonResponse(400, "Bad Request", `malformed HTTP request: ${error.message}`)
    const cut = setTimeout(() => socket.destroy(), CLIENT_ERROR_GRACE_MS).unref()
    socket.end(response, () => {
      clearTimeout(cut)
      socket.destroy()
    })
  }

/**
 * The Node HTTP server. Headers and body must arrive within `requestTimeoutMs` (slow senders, slowloris), checked
 * often enough for short timeouts. Its `close` also cuts lingering keep-alive connections: Node leaves some of them
 * open after a client aborted a streamed answer, which would hold shutdown for the whole keep-alive timeout.
 */
const createHttpServer = (requestTimeoutMs: number) => {
  const timeout = Math.ceil(requestTimeoutMs)
  const server = NodeHttp.createServer({
    keepAliveTimeout: 65_000,
    requestTimeout: timeout,
    // 0 turns the request deadline off; headers then keep Node's own 60 s deadline.
    headersTimeout: timeout === 0 ? 60_000 : timeout,
    connectionsCheckingInterval: timeout === 0 ? 30_000 : Math.min(1_000, Math.max(50, Math.floor(timeout / 4)))
  })
  server.on("clientError", onClientError(timeout))
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
export const layerCore = (
  config: ServerConfigShape,
  objectStore: Layer.Layer<ObjectStore, never, ServerConfig> = ObjectStoreLocal
) =>
  // Once every projection is built, events a --recover start skipped leave the log (kept in its quarantine table).
  Layer.effectDiscard(Effect.flatMap(EventLog, (log) => log.quarantineDamaged)).pipe(
    Layer.provideMerge(ProcessingEngine.Default.pipe(Layer.provideMerge(Scheduler.Default))),
    Layer.provideMerge(RestoreJobs.Default),
    Layer.provideMerge(CacheLoader.Default),
    Layer.provideMerge(BackupJobs.Default),
    Layer.provideMerge(ImportJobs.Default),
    Layer.provideMerge(Jobs.Default),
    Layer.provideMerge(
      QueryEngine.Default.pipe(Layer.provideMerge(EngineLogs.Default), Layer.provideMerge(ParquetMemCache.Default))
    ),
    Layer.provideMerge(Compactor.Default),
    Layer.provideMerge(TableSources.Default),
    Layer.provideMerge(Ingester.Default),
    Layer.provideMerge(Caches.Default),
    Layer.provideMerge(FileIndex.Default),
    Layer.provideMerge(DuckDb.Default),
    Layer.provideMerge(NodeRegistry.Default),
    Layer.provideMerge(Catalog.Default),
    Layer.provideMerge(Checkpoints.Default),
    Layer.provideMerge(EventLog.Default),
    Layer.provideMerge(objectStore),
    Layer.provideMerge(layerWritableStore(config.dataDir)),
    Layer.provideMerge(layerServerConfig(config))
  )

/**
 * The whole server as one Layer: core services plus HTTP on the configured address. It exposes the HttpServer. The
 * object store is the local data dir unless another is given.
 */
export const layerServer = (config: ServerConfigShape, objectStore?: Layer.Layer<ObjectStore, never, ServerConfig>) => {
  // gRPC (Arrow Flight) shares the HTTP port: HTTP/2 prior-knowledge connections are handed to the Flight service.
  const http2 = makeHttp2Handoff()
  const listener = () => shareWithHttp2(createHttpServer(config.httpRequestTimeoutMs), http2)
  return HttpLayerRouter.serve(RoutesLive, {
    disableLogger: true,
    disableListenLog: true,
    routerConfig: { ignoreTrailingSlash: false }
  }).pipe(
    Layer.provideMerge(NodeHttpServer.layer(listener, { port: config.httpBind.port, host: config.httpBind.host })),
    Layer.provideMerge(layerFlightOnDemand(http2)),
    Layer.provideMerge(layerCore(config, objectStore)),
    Layer.provide(Logger.minimumLogLevel(logLevels[config.logFilter] ?? LogLevel.Info))
  )
}

