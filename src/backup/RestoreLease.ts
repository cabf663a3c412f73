import { Clock, Effect, Schedule } from "effect"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"

/** Who holds the restore lease, and until when (ms since the epoch). */
export interface LeaseHolder {
  readonly restoreId: string
  readonly node: string
  readonly expiresAtMs: number
}

/** How long a lease lasts unless renewed; renewed every third of it while its restore runs. */
export const LEASE_TTL_MS = 30_000

const LEASE_FILE = ".restore-lease.json"

const readHolder = (file: string): LeaseHolder | undefined => {
  try {
    return JSON.parse(NodeFs.readFileSync(file, "utf8")) as LeaseHolder
  } catch {
    return undefined
  }
}

/**
 * The restore lease: one restore at a time across every server sharing the backup directory. It is a file there
 * naming the restore that holds it and its expiry; a holder renews it while its restore runs and removes it when the
 * restore ends, and a lease past its expiry (its holder crashed) may be taken over.
 */
export const makeRestoreLease = (root: string, node: string, ttlMs = LEASE_TTL_MS) => {
  const file = NodePath.join(root, LEASE_FILE)
  const write = (restoreId: string, nowMs: number) => {
    const scratch = `${file}.tmp-${NodeCrypto.randomUUID()}`
    NodeFs.writeFileSync(scratch, JSON.stringify({ restoreId, node, expiresAtMs: nowMs + ttlMs } satisfies LeaseHolder))
    NodeFs.renameSync(scratch, file)
  }
  /** Takes (or keeps) the lease for `restoreId`; answers the other holder when it is held by another restore. */
  const acquire = (restoreId: string) =>
    Effect.map(Clock.currentTimeMillis, (nowMs): LeaseHolder | undefined => {
      const holder = readHolder(file)
      if (holder !== undefined && holder.restoreId !== restoreId && holder.expiresAtMs > nowMs) return holder
      write(restoreId, nowMs)
      // Two takers racing both rename; the one whose name is left holds it.
      const after = readHolder(file)
      return after?.restoreId === restoreId ? undefined : after
    })
  /** Extends the lease while `restoreId` holds it. */
  const renew = (restoreId: string) =>
    Effect.flatMap(Clock.currentTimeMillis, (nowMs) =>
      Effect.sync(() => void (readHolder(file)?.restoreId === restoreId && write(restoreId, nowMs)))
    )
  return {
    acquire,
    renew,
    /** Renews the lease every third of its ttl, for as long as the caller's scope lasts. */
    keepRenewed: (restoreId: string) =>
      renew(restoreId).pipe(
        Effect.repeat(Schedule.spaced(Math.max(10, Math.floor(ttlMs / 3)))),
        Effect.ignore,
        Effect.forkScoped
      ),
    /** Gives the lease up, if `restoreId` holds it. */
    release: (restoreId: string) =>
      Effect.sync(() => {
        if (readHolder(file)?.restoreId === restoreId) NodeFs.rmSync(file, { force: true })
      }),
    holder: Effect.sync(() => readHolder(file))
  } as const
}
