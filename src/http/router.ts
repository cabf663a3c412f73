import { HttpLayerRouter, HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Clock, Effect } from "effect"
import { Catalog } from "../catalog/Catalog.ts"
import { cacheRoutes } from "./caches.ts"
import { databaseRoutes } from "./databases.ts"
import { exportRoutes } from "./export.ts"
import { importRoutes } from "./import.ts"
import { backupRoutes, restoreRoutes } from "./backup.ts"
import { authenticateRequest } from "../auth/authenticate.ts"
import { ServerConfig } from "../config.ts"
import { errorResponse, failureResponse } from "./respond.ts"
import { runRoute, type RouteDef } from "./route.ts"
import { influxqlRoutes } from "./influxql.ts"
import { queryRoutes } from "./query.ts"
import { systemRoutes } from "./system.ts"
import { tableRoutes } from "./tables.ts"
import { tokenRoutes } from "./tokens.ts"
import { nodeRoutes } from "./nodes.ts"
import { rowDeleteRoutes } from "./rowDeletes.ts"
import { fileIndexRoutes } from "./fileIndex.ts"
import { engineRoutes } from "./engine.ts"
import { userRoutes } from "./users.ts"
import { writeRoutes } from "./write.ts"

/** Every endpoint the server answers. */
export const allRoutes: ReadonlyArray<RouteDef> = [
  ...systemRoutes,
  ...databaseRoutes,
  ...tableRoutes,
  ...cacheRoutes,
  ...tokenRoutes,
  ...userRoutes,
  ...nodeRoutes,
  ...rowDeleteRoutes,
  ...fileIndexRoutes,
  ...writeRoutes,
  ...queryRoutes,
  ...influxqlRoutes,
  ...exportRoutes,
  ...importRoutes,
  ...backupRoutes,
  ...restoreRoutes,
  ...engineRoutes
]

const matches = (pattern: string, path: string) => {
  const a = pattern.split("/")
  const b = path.split("/")
  if (pattern.endsWith("/*")) return b.length >= a.length - 1 && a.slice(0, -1).every((seg, i) => seg.startsWith(":") || seg === b[i])
  return a.length === b.length && a.every((seg, i) => seg.startsWith(":") || seg === b[i])
}

/** Unmatched requests: CORS preflight 204, a known path with another method 405, anything else 404. */
const fallback = (routes: ReadonlyArray<RouteDef>) =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const clusterUuid = yield* (yield* Catalog).clusterUuid
    const path = new URL(request.url, "http://localhost").pathname
    let response: HttpServerResponse.HttpServerResponse
    if (request.method === "OPTIONS") {
      response = HttpServerResponse.empty({
        status: 204,
        headers: {
          "access-control-allow-origin": "*",
          "access-control-allow-methods": "*",
          "access-control-allow-headers": "*",
          "access-control-max-age": "86400"
        }
      })
    } else {
      // InfluxDB 3 authenticates before routing: without a valid token an unknown path is a 401, not a 404.
      const config = yield* ServerConfig
      if (!config.withoutAuth) {
        const state = yield* (yield* Catalog).current
        const query = new URL(request.url, "http://localhost").searchParams
        const nowNs = BigInt(yield* Clock.currentTimeMillis) * 1_000_000n
        const refused = yield* Effect.flip(authenticateRequest(state, request, query, false, nowNs)).pipe(Effect.option)
        if (refused._tag === "Some") return HttpServerResponse.setHeader(failureResponse(refused.value), "cluster-uuid", clusterUuid)
      }
      // HEAD is routed nowhere, as in InfluxDB 3 (HEAD /ping is a 404).
      const allowed = request.method === "HEAD" ? [] : routes.filter((r) => matches(r.path, path)).map((r) => r.method)
      response =
        allowed.length > 0
          ? HttpServerResponse.setHeader(errorResponse(405, `method ${request.method} not allowed on ${path}; allowed: ${[...new Set(allowed)].join(", ")}`), "allow", [...new Set(allowed)].join(", "))
          : errorResponse(404, `not found: ${request.method} ${path}`)
    }
    return HttpServerResponse.setHeader(response, "cluster-uuid", clusterUuid)
  })

/** The router: every route plus the fallback, as one layer. */
export const makeRoutesLayer = (routes: ReadonlyArray<RouteDef>) =>
  HttpLayerRouter.use((router) =>
    Effect.gen(function* () {
      for (const def of routes) yield* router.add(def.method, def.path, runRoute(def))
      yield* router.add("*", "/*", fallback(routes))
      yield* router.add("*", "/", fallback(routes))
    })
  )

export const RoutesLive = makeRoutesLayer(allRoutes)

