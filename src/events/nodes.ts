import { Schema } from "effect"

/**
 * An operator marked a node stopped, after stopping its process. Starts and heartbeats are not events: a restart
 * appends nothing to the log, and a heartbeat every few seconds would fill it.
 */
export class NodeStopped extends Schema.TaggedClass<NodeStopped>()("NodeStopped", {
  version: Schema.Literal(1),
  nodeId: Schema.String
}) {}

export const NodeEvent = NodeStopped
export type NodeEvent = typeof NodeEvent.Type
