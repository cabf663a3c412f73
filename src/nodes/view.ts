import { nodesOf, type CatalogState } from "../catalog/state.ts"
import { NodeStopped } from "../events/index.ts"
import type { Decision } from "../catalog/commands.ts"
import { Either } from "effect"
import { NotFound } from "../errors.ts"
import { HEARTBEAT_INTERVAL_MS, type NodeHeartbeatRecord } from "./NodeRegistry.ts"

/** One row of `system.nodes`. */
export interface NodeRow {
  readonly nodeId: string
  readonly catalogId: number
  readonly instanceId: string | null
  readonly mode: ReadonlyArray<string>
  readonly coreCount: number | null
  /** `stopped` once marked so after its last start; `running` with a recent heartbeat; else `unresponsive`. */
  readonly state: "running" | "stopped" | "unresponsive"
  readonly startedAtNs: bigint | null
  readonly lastHeartbeatNs: bigint | null
}

/** A node missing three heartbeats in a row is no longer taken for running. */
const STALE_AFTER_NS = BigInt(3 * HEARTBEAT_INTERVAL_MS) * 1_000_000n

/** Every node: those with a heartbeat record and those only the catalog knows (marked stopped), by node id. */
export const nodeRows = (
  state: CatalogState,
  records: ReadonlyArray<NodeHeartbeatRecord>,
  nowNs: bigint
): ReadonlyArray<NodeRow> => {
  const stopped = nodesOf(state)
  const ids = [...new Set([...records.map((r) => r.nodeId), ...stopped.keys()])].sort()
  return ids.map((nodeId, catalogId) => {
    const r = records.find((x) => x.nodeId === nodeId)
    const stoppedAt = stopped.get(nodeId)?.stoppedAtNs
    const isStopped = stoppedAt !== undefined && (r === undefined || stoppedAt >= r.startedAtNs)
    return {
      nodeId,
      catalogId,
      instanceId: r?.instanceId ?? null,
      mode: r?.mode ?? [],
      coreCount: r?.coreCount ?? null,
      state: isStopped
        ? "stopped"
        : r !== undefined && nowNs - r.lastHeartbeatNs <= STALE_AFTER_NS
          ? "running"
          : "unresponsive",
      startedAtNs: r?.startedAtNs ?? null,
      lastHeartbeatNs: r?.lastHeartbeatNs ?? null
    }
  })
}

/** Marks a known node stopped (404 for a node id never seen). */
export const stopNode = (state: CatalogState, records: ReadonlyArray<NodeHeartbeatRecord>, nodeId: string): Decision =>
  records.some((r) => r.nodeId === nodeId) || nodesOf(state).has(nodeId)
    ? Either.right([new NodeStopped({ version: 1, nodeId })])
    : Either.left(new NotFound({ message: `node '${nodeId}' not found` }))
