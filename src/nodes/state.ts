import type { NodeEvent } from "../events/index.ts"

/** When each node was last marked stopped, by node id: the catalog's part of a node's state. */
export type NodesState = ReadonlyMap<string, { readonly stoppedAtNs: bigint }>

export const emptyNodes: NodesState = new Map()

/** Applies one node event that happened at `atNs`. */
export const applyNodeEvent = (nodes: NodesState, event: NodeEvent, atNs: bigint): NodesState =>
  new Map(nodes).set(event.nodeId, { stoppedAtNs: atNs })
