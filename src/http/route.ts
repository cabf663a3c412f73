import { HttpServerRequest, HttpServerResponse } from "@effect/platform"
import { Cause, Clock, Effect, Exit, Metric, MetricLabel, Option } from "effect"
import { authenticateRequest, authorize } from "../auth/authenticate.ts"
import type { Requirement } from "../auth/tokens.ts"
import type { Caches } from "../cache/Caches.ts"
import type { CacheLoader } from "../cache/CacheLoader.ts"
import { Catalog } from "../catalog/Catalog.ts"
import type { TokenState } from "../catalog/state.ts"
import { ServerConfig, type AuthzExemption } from "../config.ts"
import type { ApiFailure, Forbidden, ServerFailure } from "../errors.ts"
import type { EventLog } from "../log/EventLog.ts"
import type { DuckDb } from "../query/DuckDb.ts"
import type { QueryEngine } from "../query/QueryEngine.ts"
import type { Ingester } from "../write/Ingester.ts"
import type { NodeRegistry } from "../nodes/NodeRegistry.ts"
import type { ImportJobs } from "../import/ImportJobs.ts"
import type { BackupJobs } from "../backup/BackupJobs.ts"
import type { RestoreJobs } from "../backup/RestoreJobs.ts"
import type { Compactor } from "../compactor/Compactor.ts"
import type { FileIndex } from "../storage/FileIndex.ts"
import type { ObjectStore } from "../storage/ObjectStore.ts"
import type { TableSources } from "../storage/TableSource.ts"
import { httpRequestDuration, httpRequestsTotal } from "../metrics/prometheus.ts"
import { errorResponse, failureResponse } from "./respond.ts"

/** What a handler knows about its request. */
export interface RequestContext {
  readonly request: HttpServerRequest.HttpServerRequest
  readonly query: URLSearchParams
  /** The authenticated token; null when auth is off or the route is open. */
  readonly token: TokenState | null
  /** Checks a further requirement (e.g. write on the db named in the request): 403 when not met. */
  readonly authorize: (requirement: Requirement) => Effect.Effect<void, Forbidden>
}

/**
 * Who may call a route. `token` means any valid token; the handler then authorizes what it touches. `bootstrap` is
 * open to everyone (creating the operator token, which succeeds only once).
 */
export type Access =
  | { readonly _tag: "admin" }
  | { readonly _tag: "token" }
  | { readonly _tag: "system"; readonly resource: AuthzExemption }
  | { readonly _tag: "bootstrap" }

/** The services a handler may use. */
export type HandlerServices =
  | NodeRegistry
  | Catalog
  | ServerConfig
  | EventLog
  | Ingester
  | DuckDb
  | QueryEngine
  | FileIndex
  | ObjectStore
  | TableSources
  | Caches
  | CacheLoader
  | ImportJobs
  | Compactor
  | BackupJobs
  | RestoreJobs

export type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE"

/** One endpoint: method, path, access rule and handler. */
export interface RouteDef {
  readonly method: Method
  readonly path: `/${string}`
  readonly access: Access
  /** Whether `?p=<token>` is accepted (the v1 and v2 compatibility endpoints). */
  readonly queryToken?: boolean
  readonly handler: (
    ctx: RequestContext
  ) => Effect.Effect<HttpServerResponse.HttpServerResponse, ServerFailure, HandlerServices>
}

export const admin: Access = { _tag: "admin" }
export const anyToken: Access = { _tag: "token" }

/** Authenticates, authorizes and runs a route, mapping failures to the JSON error body, with headers and metrics. */
export const runRoute = (def: RouteDef) =>
  Effect.gen(function* () {
    const request = yield* HttpServerRequest.HttpServerRequest
    const started = performance.now()
    const config = yield* ServerConfig
    const catalog = yield* Catalog
    const state = yield* catalog.current
    const query = new URL(request.url, "http://localhost").searchParams
    const nowNs = BigInt(yield* Clock.currentTimeMillis) * 1_000_000n

    const resolveToken: Effect.Effect<TokenState | null, ApiFailure> = Effect.gen(function* () {
      if (config.withoutAuth) return null
      const access = def.access
      if (access._tag === "system" && config.disableAuthz.includes(access.resource)) return null
      // Creating the operator token is always open, as in InfluxDB 3: once `_admin` exists the command answers 409.
      if (access._tag === "bootstrap") return null
      const token = yield* authenticateRequest(state, request, query, def.queryToken === true, nowNs)
      if (access._tag === "admin") yield* authorize(token, { _tag: "admin" })
      if (access._tag === "system") yield* authorize(token, { _tag: "system", resource: access.resource })
      return token
    })

    const exit = yield* Effect.exit(
      Effect.flatMap(resolveToken, (token) =>
        def.handler({ request, query, token, authorize: (requirement) => authorize(token, requirement) })
      )
    )
    let response: HttpServerResponse.HttpServerResponse
    if (Exit.isSuccess(exit)) {
      response = exit.value.status < 400 ? HttpServerResponse.setHeader(exit.value, "access-control-allow-origin", "*") : exit.value
    } else {
      const failure = Cause.failureOption(exit.cause)
      if (Option.isSome(failure)) {
        response = failureResponse(failure.value)
      } else {
        yield* Effect.logError(`unexpected failure in ${def.method} ${def.path}`, exit.cause)
        response = errorResponse(500, "internal error")
      }
    }
    response = HttpServerResponse.setHeader(response, "cluster-uuid", state.clusterUuid ?? "")
    const metrics = routeMetrics(def, response.status)
    yield* Metric.increment(metrics.requests)
    yield* Metric.update(metrics.duration, (performance.now() - started) / 1000)
    return response
  })

/** A route's request counter and duration histogram for one status, tagged once (tagging per request costs). */
const taggedMetrics = new Map<string, {
  readonly requests: typeof httpRequestsTotal
  readonly duration: typeof httpRequestDuration
}>()

const routeMetrics = (def: RouteDef, status: number) => {
  const key = `${def.method} ${def.path} ${status}`
  let metrics = taggedMetrics.get(key)
  if (metrics === undefined) {
    const labels = [
      MetricLabel.make("method", def.method),
      MetricLabel.make("path", def.path),
      MetricLabel.make("status", String(status))
    ]
    metrics = {
      requests: Metric.taggedWithLabels(httpRequestsTotal, labels),
      duration: Metric.taggedWithLabels(httpRequestDuration, labels)
    }
    taggedMetrics.set(key, metrics)
  }
  return metrics
}
