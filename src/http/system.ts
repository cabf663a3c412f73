import { HttpServerResponse } from "@effect/platform"
import { Effect } from "effect"
import * as NodeCrypto from "node:crypto"
import { renderPrometheus } from "../metrics/prometheus.ts"
import type { RouteDef } from "./route.ts"

export const VERSION = "3.9.0"
const REVISION = "strata"
const processId = NodeCrypto.randomUUID()

const health = Effect.succeed(HttpServerResponse.text("OK", { contentType: "text/plain; charset=utf-8" }))

const ping = Effect.sync(() => {
  const requestId = NodeCrypto.randomUUID()
  return HttpServerResponse.unsafeJson(
    { product_name: "InfluxDB 3 Enterprise", version: VERSION, revision: REVISION, process_id: processId },
    {
      headers: {
        "x-influxdb-build": "Enterprise",
        "x-influxdb-version": VERSION,
        "request-id": requestId,
        "x-request-id": requestId
      }
    }
  )
})

const metrics = Effect.map(renderPrometheus, (text) =>
  HttpServerResponse.text(text, { contentType: "text/plain; version=0.0.4; charset=utf-8" })
)

/** `/health`, `/api/v1/health`, `/ping` and `/metrics`. */
export const systemRoutes: ReadonlyArray<RouteDef> = [
  { method: "GET", path: "/health", access: { _tag: "system", resource: "health" }, handler: () => health },
  { method: "GET", path: "/api/v1/health", access: { _tag: "system", resource: "health" }, handler: () => health },
  { method: "GET", path: "/ping", access: { _tag: "system", resource: "ping" }, queryToken: true, handler: () => ping },
  { method: "POST", path: "/ping", access: { _tag: "system", resource: "ping" }, queryToken: true, handler: () => ping },
  { method: "GET", path: "/metrics", access: { _tag: "system", resource: "metrics" }, handler: () => metrics }
]
