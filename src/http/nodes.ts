import { Effect, Schema } from "effect"
import { Catalog, decide } from "../catalog/Catalog.ts"
import { ServerConfig } from "../config.ts"
import { NodeRegistry } from "../nodes/NodeRegistry.ts"
import { stopNode } from "../nodes/view.ts"
import { readJsonBody } from "./body.ts"
import { okEmpty } from "./respond.ts"
import { admin, type RequestContext, type RouteDef } from "./route.ts"

const StopNodeBody = Schema.Struct({ node_id: Schema.String })

/**
 * Marks a node stopped in the catalog. It stops no process: the operator has stopped the instance first, as the
 * seed says; a node that starts again is running again.
 */
const stop = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const body = yield* readJsonBody(ctx.request, StopNodeBody, (yield* ServerConfig).maxHttpRequestSize)
    const registry = yield* NodeRegistry
    // Read the heartbeat records again: the node may have started since the last beat.
    yield* registry.refresh
    const records = registry.known()
    yield* (yield* Catalog).execute(decide((s) => stopNode(s, records, body.node_id)))
    return okEmpty
  })

/** Cluster node administration. */
export const nodeRoutes: ReadonlyArray<RouteDef> = [{ method: "POST", path: "/api/v3/enterprise/configure/node/stop", access: admin, handler: stop }]
