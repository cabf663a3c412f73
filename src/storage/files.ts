import type { PersistedFile } from "../events/index.ts"
import type { Envelope } from "../log/EventLog.ts"
import { decodeCheckpoint } from "../checkpoint/codec.ts"

/** A persisted file as the index holds it: what the persist recorded, and the seq of that persist's event. */
export interface IndexedFile extends PersistedFile {
  /**
   * Seq of the SnapshotPersisted event that recorded it: later files win over earlier ones for the same series and
   * time.
   */
  readonly persistEventSeq: number
  /** The last write seq the persist covered. */
  readonly coveredSeq: number
}

/** The persisted-file index: a projection of the log. */
export interface FileIndexState {
  /** Every write event up to this seq is in Parquet (or was deleted); a start re-applies only later writes. */
  readonly persistedSeq: number
  /** Each table's files, oldest persist first. */
  readonly tables: ReadonlyMap<number, ReadonlyArray<IndexedFile>>
  /** Seq of each table's and database's latest data deletion: files covering only writes before it are dropped. */
  readonly tableDataDeletedAt: ReadonlyMap<number, number>
  readonly dbDataDeletedAt: ReadonlyMap<number, number>
  /** Seq of the last RestoreApplied (absent before any): a persist captured before it records nothing. */
  readonly restoredSeq?: number
}

export const emptyFileIndex: FileIndexState = {
  persistedSeq: 0,
  tables: new Map(),
  tableDataDeletedAt: new Map(),
  dbDataDeletedAt: new Map()
}

const dropWhere = (tables: FileIndexState["tables"], drop: (f: IndexedFile) => boolean) => {
  const next = new Map<number, ReadonlyArray<IndexedFile>>()
  for (const [id, files] of tables) {
    const kept = files.filter((f) => !drop(f))
    if (kept.length > 0) next.set(id, kept)
  }
  return next
}

const byPersistOrder = (a: IndexedFile, b: IndexedFile) =>
  a.persistEventSeq - b.persistEventSeq || (a.minTimeNs < b.minTimeNs ? -1 : a.minTimeNs > b.minTimeNs ? 1 : 0)

/**
 * Applies one envelope. Idempotent and order-tolerant for the events it reads: a file is keyed by its path, and a
 * data deletion drops the files whose writes all came before it, whichever of the two is applied first.
 */
export const applyFileIndex = (state: FileIndexState, envelope: Envelope): FileIndexState => {
  const event = envelope.event
  switch (event._tag) {
    case "SnapshotPersisted": {
      // Rows captured before a restore are rows of the state the restore replaced.
      if (event.persistedSeq < (state.restoredSeq ?? 0)) return state
      const tables = new Map(state.tables)
      for (const file of event.files) {
        const deletedAt = Math.max(
          state.tableDataDeletedAt.get(file.tableId) ?? 0,
          state.dbDataDeletedAt.get(file.dbId) ?? 0
        )
        if (deletedAt > event.persistedSeq) continue
        const existing = tables.get(file.tableId) ?? []
        if (existing.some((f) => f.path === file.path)) continue
        const indexed: IndexedFile = { ...file, persistEventSeq: envelope.seq, coveredSeq: event.persistedSeq }
        tables.set(
          file.tableId,
          [...existing, indexed].sort(byPersistOrder)
        )
      }
      return { ...state, persistedSeq: Math.max(state.persistedSeq, event.persistedSeq), tables }
    }
    case "JobInputDone": {
      // An imported input's files rank as of this event: newer than every file persisted before it.
      if (event.added.length === 0) return state
      const tables = new Map(state.tables)
      for (const file of event.added) {
        const existing = tables.get(file.tableId) ?? []
        if (existing.some((f) => f.path === file.path)) continue
        tables.set(
          file.tableId,
          [...existing, { ...file, persistEventSeq: envelope.seq, coveredSeq: envelope.seq }].sort(byPersistOrder)
        )
      }
      return { ...state, tables }
    }
    case "FilesRemoved": {
      const gone = new Set(event.files.map((f) => f.path))
      const tables = new Map(state.tables)
      for (const id of new Set(event.files.map((f) => f.tableId))) {
        const kept = (tables.get(id) ?? []).filter((f) => !gone.has(f.path))
        if (kept.length > 0) tables.set(id, kept)
        else tables.delete(id)
      }
      return { ...state, tables }
    }
    case "TableDataDeleted":
    case "TableHardDeleted": {
      const seq = envelope.seq
      return {
        ...state,
        tables: dropWhere(state.tables, (f) => f.tableId === event.tableId && f.coveredSeq < seq),
        tableDataDeletedAt: new Map(state.tableDataDeletedAt).set(
          event.tableId,
          Math.max(seq, state.tableDataDeletedAt.get(event.tableId) ?? 0)
        )
      }
    }
    case "DatabaseDataDeleted":
    case "DatabaseHardDeleted": {
      const seq = envelope.seq
      return {
        ...state,
        tables: dropWhere(state.tables, (f) => f.dbId === event.dbId && f.coveredSeq < seq),
        dbDataDeletedAt: new Map(state.dbDataDeletedAt).set(
          event.dbId,
          Math.max(seq, state.dbDataDeletedAt.get(event.dbId) ?? 0)
        )
      }
    }
    case "WindowCompacted": {
      // All or nothing: when a removal or deletion took any replaced file out first, the compaction is void (its files
      // are named by no index and removed at start). The new files rank where the newest replaced file ranked.
      const existing = state.tables.get(event.tableId) ?? []
      const gone = new Set(event.removed)
      const replaced = existing.filter((f) => gone.has(f.path))
      if (replaced.length !== gone.size || replaced.length === 0) return state
      const persistEventSeq = Math.max(...replaced.map((f) => f.persistEventSeq))
      const coveredSeq = Math.max(...replaced.map((f) => f.coveredSeq))
      const added = event.added.map((file): IndexedFile => ({ ...file, persistEventSeq, coveredSeq }))
      const files = [...existing.filter((f) => !gone.has(f.path)), ...added].sort(byPersistOrder)
      return { ...state, tables: new Map(state.tables).set(event.tableId, files) }
    }
    case "RestoreApplied": {
      // The backup's index; every write up to this event is in its files or gone (the backup's tail follows it).
      const restored = decodeCheckpoint(Buffer.from(event.checkpoint, "utf8")).files
      return { ...restored, persistedSeq: envelope.seq, restoredSeq: envelope.seq }
    }
    default:
      return state
  }
}

/** A table's files, oldest persist first. */
export const filesOf = (state: FileIndexState, tableId: number): ReadonlyArray<IndexedFile> =>
  state.tables.get(tableId) ?? []

/** Every indexed file's path. */
export const indexedPaths = (state: FileIndexState): ReadonlySet<string> => {
  const out = new Set<string>()
  for (const files of state.tables.values()) for (const f of files) out.add(f.path)
  return out
}
