import { Clock, Effect, Schedule } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs/promises"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { ServerConfig } from "../config.ts"
import { forkSupervised } from "../supervision.ts"

/** How often a running node writes its heartbeat. */
export const HEARTBEAT_INTERVAL_MS = 10_000

/** A node's own record of itself, rewritten at every heartbeat: `<data-dir>/nodes/<node-id>.json`. */
export interface NodeHeartbeatRecord {
  readonly nodeId: string
  /** Per process start, so a restart is told from a long run. */
  readonly instanceId: string
  readonly mode: ReadonlyArray<string>
  readonly coreCount: number
  readonly startedAtNs: bigint
  readonly lastHeartbeatNs: bigint
}

const encode = (r: NodeHeartbeatRecord) =>
  JSON.stringify({ ...r, startedAtNs: String(r.startedAtNs), lastHeartbeatNs: String(r.lastHeartbeatNs) })

const decode = (text: string): NodeHeartbeatRecord | undefined => {
  try {
    const r = JSON.parse(text) as Record<string, unknown>
    if (typeof r["nodeId"] !== "string" || typeof r["instanceId"] !== "string" || !Array.isArray(r["mode"])) return undefined
    return {
      nodeId: r["nodeId"],
      instanceId: r["instanceId"],
      mode: r["mode"].map(String),
      coreCount: Number(r["coreCount"]),
      startedAtNs: BigInt(String(r["startedAtNs"])),
      lastHeartbeatNs: BigInt(String(r["lastHeartbeatNs"]))
    }
  } catch {
    return undefined
  }
}

/**
 * The nodes that have run on this data dir. Each running node writes a heartbeat file (beside, not in, the event log:
 * a restart appends nothing to the log, and beats every few seconds would fill it) and reads everyone's; stopping a
 * node is the catalog's `NodeStopped`.
 */
export class NodeRegistry extends Effect.Service<NodeRegistry>()("strata/NodeRegistry", {
  scoped: Effect.gen(function* () {
    const config = yield* ServerConfig
    // Absolute from the start: were the working directory removed under a relative data dir, Node's recursive mkdir
    // of a relative path would retry forever on the thread pool (a core spun, nothing logged).
    const dir = NodePath.resolve(config.dataDir, "nodes")
    const startedAtNs = BigInt(yield* Clock.currentTimeMillis) * 1_000_000n
    const self = {
      nodeId: config.nodeId,
      instanceId: NodeCrypto.randomUUID(),
      mode: [...config.mode],
      coreCount: NodeOs.availableParallelism(),
      startedAtNs
    } as const
    let known: ReadonlyArray<NodeHeartbeatRecord> = []

    const beat = Effect.gen(function* () {
      const nowNs = BigInt(yield* Clock.currentTimeMillis) * 1_000_000n
      const file = NodePath.join(dir, `${encodeURIComponent(self.nodeId)}.json`)
      yield* Effect.tryPromise(async () => {
        await NodeFs.mkdir(dir, { recursive: true })
        // Written whole, then renamed: a reader never sees half a record.
        await NodeFs.writeFile(`${file}.tmp`, encode({ ...self, lastHeartbeatNs: nowNs }))
        await NodeFs.rename(`${file}.tmp`, file)
      })
      const names = yield* Effect.tryPromise(() => NodeFs.readdir(dir))
      const records: Array<NodeHeartbeatRecord> = []
      for (const name of names.filter((n) => n.endsWith(".json"))) {
        const text = yield* Effect.tryPromise(() => NodeFs.readFile(NodePath.join(dir, name), "utf8")).pipe(Effect.orElseSucceed(() => ""))
        const record = decode(text)
        if (record !== undefined) records.push(record)
      }
      known = records.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0))
    })

    yield* beat.pipe(Effect.catchAllCause((cause) => Effect.logWarning("node heartbeat failed", cause)))
    yield* forkSupervised(
      "node-heartbeat",
      beat.pipe(
        Effect.catchAll((e) => Effect.logWarning("node heartbeat failed", e)),
        Effect.repeat(Schedule.spaced(`${HEARTBEAT_INTERVAL_MS} millis`)),
        Effect.delay(`${HEARTBEAT_INTERVAL_MS} millis`)
      )
    )

    return {
      /** This process: its node id, instance, modes and start time. */
      self,
      /** Beats now and reads every node's record again. */
      refresh: beat.pipe(Effect.catchAllCause((cause) => Effect.logWarning("node heartbeat failed", cause))),
      /** Every node's heartbeat record as last read, by node id. */
      known: (): ReadonlyArray<NodeHeartbeatRecord> => known
    } as const
  })
}) {}
