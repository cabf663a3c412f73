import * as NodeCrypto from "node:crypto"
import type { CatalogState } from "../catalog/state.ts"
import type { JobsState } from "../jobs/state.ts"
import type { FileIndexState } from "../storage/files.ts"

/** The projections a checkpoint holds, as of `seq`: every event up to it is applied, none after. */
export interface ProjectionsAt {
  readonly seq: number
  readonly catalog: CatalogState
  readonly files: FileIndexState
  /** The jobs projection (absent from older checkpoints and from backups' copies). */
  readonly jobs?: JobsState | undefined
}

const CHECKPOINT_VERSION = 1

// Projection states are plain values built of objects, arrays, Maps and bigints; JSON keeps the last two tagged.
const replacer = (_key: string, value: unknown): unknown => {
  if (typeof value === "bigint") return { $bigint: value.toString() }
  if (value instanceof Map) return { $map: [...value] }
  if (value instanceof Set) return { $set: [...value] }
  return value
}

const reviver = (_key: string, value: unknown): unknown => {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value
  const keys = Object.keys(value)
  if (keys.length !== 1) return value
  const v = value as Record<string, unknown>
  if (keys[0] === "$bigint" && typeof v.$bigint === "string") return BigInt(v.$bigint)
  if (keys[0] === "$map" && Array.isArray(v.$map)) return new Map(v.$map as Array<[unknown, unknown]>)
  if (keys[0] === "$set" && Array.isArray(v.$set)) return new Set(v.$set as Array<unknown>)
  return value
}

/**
 * The checkpoint file's bytes. Deterministic: equal projections give equal bytes (the projection hash relies on it).
 */
export const encodeCheckpoint = (at: ProjectionsAt): Uint8Array =>
  Buffer.from(
    JSON.stringify(
      {
        version: CHECKPOINT_VERSION,
        seq: at.seq,
        catalog: at.catalog,
        files: at.files,
        ...(at.jobs === undefined ? {} : { jobs: at.jobs })
      },
      replacer
    )
  )

/** Reads a checkpoint file's bytes back; throws on a file of another version or shape. */
export const decodeCheckpoint = (bytes: Uint8Array): ProjectionsAt => {
  const parsed = JSON.parse(Buffer.from(bytes).toString("utf8"), reviver) as { version?: unknown; seq?: unknown; catalog?: unknown; files?: unknown; jobs?: unknown }
  if (parsed.version !== CHECKPOINT_VERSION) throw new Error(`checkpoint version ${String(parsed.version)} is not ${CHECKPOINT_VERSION}`)
  if (typeof parsed.seq !== "number" || typeof parsed.catalog !== "object" || typeof parsed.files !== "object") throw new Error("checkpoint lacks seq, catalog or files")
  const jobs = typeof parsed.jobs === "object" && parsed.jobs !== null ? { jobs: parsed.jobs as JobsState } : {}
  return { seq: parsed.seq, catalog: parsed.catalog as CatalogState, files: parsed.files as FileIndexState, ...jobs }
}

export const sha256 = (bytes: Uint8Array) => NodeCrypto.createHash("sha256").update(bytes).digest("hex")

/** A hash of projection states (not their seq): equal exactly when the states are. */
export const projectionHash = (catalog: CatalogState, files: FileIndexState) =>
  sha256(Buffer.from(JSON.stringify({ catalog, files }, replacer)))
