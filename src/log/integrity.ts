// What a start verifies before it trusts a data directory: every row and payload it reads matches the checksums the
// commit thread wrote, and a log is not missing beside the data it describes.
import { Data } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { payloadChecksum, rowChecksum, type RowFields } from "./checksum.ts"
import { segmentDir } from "./segments.ts"

/** One event a read could not trust, and what was lost with it. */
export interface EventDamage {
  readonly seq: number
  /** The event's kind as its row says (itself possibly damaged). */
  readonly kind: string
  /** The file holding the damaged bytes. */
  readonly file: string
  /** Bytes lost with the event: its body and its payload. */
  readonly bytes: number
  readonly reason: string
}

/** How a damage is told: the seq, the file and what is wrong. */
export const describeDamage = (d: EventDamage) => `event seq ${d.seq} (${d.kind}, ${d.bytes} bytes) in ${d.file}: ${d.reason}`

/** An event of the log does not verify; a start stops here unless `--recover` was given. */
export class LogDamaged extends Data.TaggedError("LogDamaged")<{ readonly message: string; readonly damage: EventDamage }> {
  constructor(damage: EventDamage) {
    super({
      damage,
      message: `the event log is damaged: ${describeDamage(damage)}. Nothing was changed; start with --recover to skip damaged events and report what is lost`
    })
  }
}

/** The log is missing or empty while the data directory holds data only a log can describe. */
export class LogMissing extends Data.TaggedError("LogMissing")<{ readonly message: string }> {}

/** Which checksum failed, if any, for a row as stored (`rowCrc` null: a row written before checksums, not verified). */
export const rowProblem = (row: RowFields, rowCrc: number | bigint | null): string | undefined => {
  if (rowCrc === null) return undefined
  const actual = rowChecksum(row)
  return actual === Number(rowCrc) ? undefined : `row checksum mismatch (stored crc32 ${rowCrc}, computed ${actual})`
}

/** Whether a payload's bytes match their stored checksum (`expected` null: not checksummed, not verified). */
export const payloadProblem = (bytes: Uint8Array, expected: number | bigint | null): string | undefined => {
  if (expected === null) return undefined
  const actual = payloadChecksum([bytes])
  return actual === Number(expected) ? undefined : `payload checksum mismatch (stored crc32 ${expected}, computed ${actual})`
}

/** The first file under `dir` (depth first), or undefined: enough to know there is data there. */
const firstFile = (dir: string, depth = 8): string | undefined => {
  let entries: Array<NodeFs.Dirent>
  try {
    entries = NodeFs.readdirSync(dir, { withFileTypes: true })
  } catch {
    return undefined
  }
  for (const entry of entries) {
    const path = NodePath.join(dir, entry.name)
    if (entry.isFile()) return path
    if (entry.isDirectory() && depth > 0) {
      const found = firstFile(path, depth - 1)
      if (found !== undefined) return found
    }
  }
  return undefined
}

/** Files a data directory holds that only its log can explain: payload segments, Parquet files under `dbs/`. */
export const dataWithoutLog = (dataDir: string): ReadonlyArray<string> => {
  const found: Array<string> = []
  const segment = firstFile(segmentDir(dataDir), 0)
  if (segment !== undefined) found.push(segment)
  const persisted = firstFile(NodePath.join(dataDir, "dbs"))
  if (persisted !== undefined) found.push(persisted)
  return found
}

/** The refusal to start an empty log over data it should describe. */
export const logMissing = (logFile: string, state: "missing" | "empty (0 bytes)" | "without events", found: ReadonlyArray<string>) =>
  new LogMissing({
    message: `the event log ${logFile} is ${state}, but the data directory holds data it describes (${found.join(", ")}): ` +
      "refusing to start an empty server over it (every token, database and unpersisted write would be gone). " +
      "Restore the log from a backup, or move the data directory aside to start afresh"
  })

/** What a `--recover` start skipped: every damaged event and the bytes lost, in one line. */
export const damageSummary = (damages: ReadonlyArray<EventDamage>): string => {
  if (damages.length === 0) return "--recover: every event of the log verified; nothing was skipped"
  const bytes = damages.reduce((n, d) => n + d.bytes, 0)
  const list = damages.map((d) => `seq ${d.seq} (${d.kind}, ${d.bytes} bytes, ${d.file})`).join(", ")
  return `--recover: started without ${damages.length} damaged event(s) of the log, ${bytes} bytes lost: ${list}. ` +
    "They stay in the log: a start without --recover stops at them again"
}
