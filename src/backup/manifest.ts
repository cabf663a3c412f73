import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"

/** Full: every file of the state. Incremental: only the files its parent chain lacks (the rest are named there). */
export type BackupType = "full" | "incremental"

/** One Parquet file of the backed-up state: its object path, size, checksum and the backup whose directory holds it. */
export interface BackupFile {
  readonly path: string
  readonly bytes: number
  readonly sha256: string
  readonly backup: string
}

/**
 * What a finished backup holds, written last (`manifest.json`): one consistent point of the log (`seq`), the
 * catalog + file index checkpoint at it, every file of that state and the writes after `persistedSeq` up to `seq`
 * (with deletes among them), exported with their payloads (`tail.ndjson`).
 */
export interface BackupManifest {
  readonly version: 1
  readonly name: string
  readonly type: BackupType
  readonly parent: string | null
  readonly jobId: string
  readonly seq: number
  readonly persistedSeq: number
  readonly createdAt: string
  readonly completedAt: string
  readonly checkpoint: { readonly path: string; readonly bytes: number; readonly sha256: string }
  readonly tail: { readonly path: string; readonly events: number; readonly bytes: number; readonly sha256: string }
  readonly files: ReadonlyArray<BackupFile>
  /** Files (and their bytes) this backup's directory holds itself: for an incremental one, only the new ones. */
  readonly totalFiles: number
  readonly totalSizeBytes: number
}

export const MANIFEST = "manifest.json"
export const CHECKPOINT = "checkpoint.json"
export const TAIL = "tail.ndjson"
export const FILES_DIR = "files"

/** A backup name: a path segment that cannot leave the backup directory. */
export const BACKUP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

/** The name a backup gets when none is given: `backup-` and the UTC time to the millisecond. */
export const generatedName = (nowMs: number) => `backup-${new Date(nowMs).toISOString().replace(/[-:]/g, "").replace(".", "")}`

/** Reads a backup's manifest, or undefined when it has none (unfinished, deleted, or not a backup). */
export const readManifest = (root: string, name: string): BackupManifest | undefined => {
  try {
    const parsed = JSON.parse(NodeFs.readFileSync(NodePath.join(root, name, MANIFEST), "utf8")) as BackupManifest
    return parsed.version === 1 && parsed.name === name ? parsed : undefined
  } catch {
    return undefined
  }
}

/** Every backup directory under `root` that holds a manifest. */
export const listManifests = (root: string): ReadonlyArray<BackupManifest> => {
  if (!NodeFs.existsSync(root)) return []
  const out: Array<BackupManifest> = []
  for (const name of NodeFs.readdirSync(root)) {
    if (!BACKUP_NAME.test(name)) continue
    const m = readManifest(root, name)
    if (m !== undefined) out.push(m)
  }
  return out
}

/** SHA-256 of a file, streamed. */
export const sha256File = (path: string): Promise<string> =>
  new Promise((resolve, reject) => {
    const hash = NodeCrypto.createHash("sha256")
    NodeFs.createReadStream(path)
      .on("data", (chunk) => hash.update(chunk))
      .on("error", reject)
      .on("end", () => resolve(hash.digest("hex")))
  })

/**
 * Links `from` to `to` (same filesystem: no bytes copied, and the file outlives its deletion from dbs/), else copies
 * it.
 */
export const linkOrCopy = (from: string, to: string): "linked" | "copied" => {
  NodeFs.mkdirSync(NodePath.dirname(to), { recursive: true })
  try {
    NodeFs.linkSync(from, to)
    return "linked"
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code !== "EXDEV" && code !== "EPERM" && code !== "ENOTSUP" && code !== "EMLINK" && code !== "EEXIST") throw e
    NodeFs.copyFileSync(from, to)
    return "copied"
  }
}

/** Writes a file and syncs it. */
export const writeDurably = (path: string, bytes: Uint8Array | string) => {
  const fd = NodeFs.openSync(path, "w")
  try {
    NodeFs.writeFileSync(fd, bytes)
    NodeFs.fsyncSync(fd)
  } finally {
    NodeFs.closeSync(fd)
  }
}

/** Syncs a directory (its entries survive a crash). */
export const syncDir = (path: string) => {
  const fd = NodeFs.openSync(path, "r")
  try {
    NodeFs.fsyncSync(fd)
  } finally {
    NodeFs.closeSync(fd)
  }
}
