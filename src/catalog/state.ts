import type { ColumnDef, StrataEvent, TokenGrant } from "../events/index.ts"
import type { Envelope } from "../log/EventLog.ts"
import { decodeCheckpoint } from "../checkpoint/codec.ts"
import { foldColumnName, unappliableColumn } from "./names.ts"
import { applyNodeEvent, emptyNodes, type NodesState } from "../nodes/state.ts"
import { applyDeleteEvent, deletesOf, emptyDeletes, type DeletesState } from "../deletes/state.ts"
import { applyUserEvent, emptyUsers, type UsersState } from "../users/state.ts"
import { applyEngineEvent, emptyEngine, engineOf, type EngineState } from "../engine/state.ts"

/** One table of a database: its columns in creation order and its series key (tag names, first-seen order). */
export interface TableState {
  readonly id: number
  readonly name: string
  readonly columns: ReadonlyArray<ColumnDef>
  readonly columnsByName: ReadonlyMap<string, ColumnDef>
  readonly seriesKey: ReadonlyArray<string>
  readonly nextColumnId: number
  readonly retentionPeriodNs: bigint | null
  readonly createdAtNs: bigint
  readonly deleted: boolean
  readonly hardDeleteAtNs: bigint | null
  /** Last-value and distinct-value caches by name; a deleted table has none. */
  readonly lastCaches: ReadonlyMap<string, LastCacheDef>
  readonly distinctCaches: ReadonlyMap<string, DistinctCacheDef>
}

/**
 * A last-value cache's definition. `createdSeq` is the seq that created it or last emptied it (a data delete): it tells
 * a re-created or emptied cache's contents from the old ones.
 */
export interface LastCacheDef {
  readonly id: number
  readonly name: string
  readonly keyColumnIds: ReadonlyArray<number>
  /** Null: every non-key column, including those added later. */
  readonly valueColumnIds: ReadonlyArray<number> | null
  readonly count: number
  readonly ttlSeconds: number
  readonly nodeSpec: unknown
  readonly createdSeq: number
}

/** A distinct-value cache's definition. */
export interface DistinctCacheDef {
  readonly id: number
  readonly name: string
  readonly columnIds: ReadonlyArray<number>
  readonly maxCardinality: number
  readonly maxAgeSeconds: number
  readonly nodeSpec: unknown
  readonly createdSeq: number
}

const noCaches = new Map<string, never>()

/**
 * A data delete empties the caches of a table (or of every table of the database): their definitions get the
 * delete's seq, so their contents start anew. A state without such caches is returned as it is.
 */
const withCachesEmptied = (
  state: CatalogState,
  dbId: number,
  tableId: number | undefined,
  seq: number
): CatalogState => {
  const db = state.databases.get(dbId)
  if (db === undefined) return state
  let tables: Map<number, TableState> | undefined
  for (const t of db.tables.values()) {
    if ((tableId !== undefined && t.id !== tableId) || (t.lastCaches.size === 0 && t.distinctCaches.size === 0))
      continue
    tables ??= new Map(db.tables)
    tables.set(t.id, {
      ...t,
      lastCaches: new Map([...t.lastCaches].map(([name, def]) => [name, { ...def, createdSeq: seq }])),
      distinctCaches: new Map([...t.distinctCaches].map(([name, def]) => [name, { ...def, createdSeq: seq }]))
    })
  }
  return tables === undefined ? state : { ...state, databases: withEntry(state.databases, dbId, { ...db, tables }) }
}

export interface DatabaseState {
  readonly id: number
  readonly name: string
  readonly retentionPeriodNs: bigint | null
  readonly createdAtNs: bigint
  readonly deleted: boolean
  readonly hardDeleteAtNs: bigint | null
  readonly tables: ReadonlyMap<number, TableState>
  readonly tableIdsByName: ReadonlyMap<string, number>
  /**
   * Which table each name meant, and from when to when (log seqs): a write in the log is resolved by the name as it
   * was at its seq, so a table deleted and created again under the same name never receives the old table's rows.
   */
  readonly nameHistory: ReadonlyMap<string, ReadonlyArray<TableBinding>>
}

/** A table name bound to a table from `fromSeq` (its creation) until `toSeq` (its deletion or renaming), if ended. */
export interface TableBinding {
  readonly tableId: number
  readonly fromSeq: number
  readonly toSeq: number | null
}

export interface TokenState {
  readonly id: number
  readonly name: string
  readonly hash: string
  readonly createdAtNs: bigint
  readonly expiresAtNs: bigint | null
  readonly grant: TokenGrant
  readonly updatedAtNs: bigint | null
}

/** A column a committed event added that the catalog left out, because the write buffer could never hold it. */
export interface QuarantinedColumn {
  readonly seq: number
  readonly dbId: number
  readonly tableId: number
  readonly name: string
  readonly reason: string
}

/** The catalog projection: databases, tables, columns and tokens, as of `lastSeq`. */
export interface CatalogState {
  readonly lastSeq: number
  readonly clusterUuid: string | null
  readonly databases: ReadonlyMap<number, DatabaseState>
  readonly dbIdsByName: ReadonlyMap<string, number>
  readonly nextDbId: number
  readonly nextTableId: number
  readonly tokens: ReadonlyMap<number, TokenState>
  readonly tokenIdsByHash: ReadonlyMap<string, number>
  readonly nextTokenId: number
  /** Columns left out of their tables (written by servers that did not check names as the buffer sees them). */
  readonly quarantinedColumns: ReadonlyArray<QuarantinedColumn>
  /** Users, custom roles and login sessions (absent in checkpoints of older servers: read through `usersOf`). */
  readonly users: UsersState
  /** Nodes marked stopped, by id (absent in checkpoints of older servers: read through `nodesOf`). */
  readonly nodes: NodesState
  /** Row-delete requests and file indexes (absent in checkpoints of older servers: read through `deletesOf`). */
  readonly deletes: DeletesState
  /** Processing-engine triggers (absent in checkpoints of older servers: read through `engineOf`). */
  readonly engine: EngineState
}

export const INTERNAL_DB = "_internal"

export const emptyCatalog: CatalogState = {
  lastSeq: 0,
  clusterUuid: null,
  databases: new Map(),
  dbIdsByName: new Map(),
  nextDbId: 0,
  nextTableId: 0,
  tokens: new Map(),
  tokenIdsByHash: new Map(),
  nextTokenId: 0,
  quarantinedColumns: [],
  users: emptyUsers,
  nodes: emptyNodes,
  deletes: emptyDeletes,
  engine: emptyEngine
}

/** The users part of a catalog, also of one restored from an older checkpoint. */
export const usersOf = (state: CatalogState): UsersState => (state.users as UsersState | undefined) ?? emptyUsers

/** The nodes part of a catalog, also of one restored from an older checkpoint. */
export const nodesOf = (state: CatalogState): NodesState => (state.nodes as NodesState | undefined) ?? emptyNodes

const withEntry = <K, V>(map: ReadonlyMap<K, V>, key: K, value: V): ReadonlyMap<K, V> => new Map(map).set(key, value)
const withoutEntry = <K, V>(map: ReadonlyMap<K, V>, key: K): ReadonlyMap<K, V> => {
  const next = new Map(map)
  next.delete(key)
  return next
}

const bind = (history: DatabaseState["nameHistory"], name: string, tableId: number, seq: number) =>
  withEntry(history, name, [...(history.get(name) ?? []), { tableId, fromSeq: seq, toSeq: null }])

/** Ends the open bindings of `tableId` (under `name`, or under every name when not given) at `seq`. */
const unbind = (history: DatabaseState["nameHistory"], tableId: number | null, seq: number, name?: string) => {
  let next: Map<string, ReadonlyArray<TableBinding>> | undefined
  for (const [n, bindings] of history) {
    if (name !== undefined && n !== name) continue
    if (!bindings.some((b) => b.toSeq === null && (tableId === null || b.tableId === tableId))) continue
    next ??= new Map(history)
    next.set(
      n,
      bindings.map((b) => (b.toSeq === null && (tableId === null || b.tableId === tableId) ? { ...b, toSeq: seq } : b))
    )
  }
  return next ?? history
}

const indexColumns = (columns: ReadonlyArray<ColumnDef>) => new Map(columns.map((c) => [c.name, c] as const))

const updateDb = (state: CatalogState, dbId: number, f: (db: DatabaseState) => DatabaseState): CatalogState => {
  const db = state.databases.get(dbId)
  return db === undefined ? state : { ...state, databases: withEntry(state.databases, dbId, f(db)) }
}

const updateTable = (state: CatalogState, dbId: number, tableId: number, f: (t: TableState) => TableState) =>
  updateDb(state, dbId, (db) => {
    const table = db.tables.get(tableId)
    return table === undefined ? db : { ...db, tables: withEntry(db.tables, tableId, f(table)) }
  })

/**
 * The columns of `added` that the write buffer can hold beside `existing` (the same array when all of them), and
 * why the others cannot: a NUL, `time` or `_sid` in any case, or a name differing only in case from an earlier one.
 */
const appliableColumns = (
  existing: ReadonlyArray<ColumnDef>,
  added: ReadonlyArray<ColumnDef>
): {
  readonly kept: ReadonlyArray<ColumnDef>
  readonly dropped: ReadonlyArray<{ readonly name: string; readonly reason: string }>
} => {
  const folded = new Set<string>()
  for (const c of existing) folded.add(foldColumnName(c.name))
  let kept: Array<ColumnDef> | undefined
  const dropped: Array<{ name: string; reason: string }> = []
  for (let i = 0; i < added.length; i++) {
    const c = added[i]!
    const reason = unappliableColumn(c.name, c.type, folded)
    if (reason === undefined) {
      folded.add(foldColumnName(c.name))
      kept?.push(c)
      continue
    }
    kept ??= added.slice(0, i)
    dropped.push({ name: c.name, reason })
  }
  return { kept: kept ?? added, dropped }
}

const quarantine = (
  state: CatalogState,
  seq: number,
  dbId: number,
  tableId: number,
  dropped: ReadonlyArray<{ readonly name: string; readonly reason: string }>
): CatalogState =>
  dropped.length === 0
    ? state
    : {
        ...state,
        quarantinedColumns: [...state.quarantinedColumns, ...dropped.map((d) => ({ seq, dbId, tableId, ...d }))]
      }

/**
 * Applies one event, which happened at `atNs` (at `seq` in the log), to the catalog. Events of other projections leave
 * it unchanged.
 */
export const applyEvent = (state: CatalogState, event: StrataEvent, atNs: bigint, seq = 0): CatalogState => {
  switch (event._tag) {
    case "ClusterInitialized":
      return { ...state, clusterUuid: event.clusterUuid }
    case "DatabaseCreated":
      return {
        ...state,
        databases: withEntry(state.databases, event.dbId, {
          id: event.dbId,
          name: event.name,
          retentionPeriodNs: event.retentionPeriodNs,
          createdAtNs: atNs,
          deleted: false,
          hardDeleteAtNs: null,
          tables: new Map(),
          tableIdsByName: new Map(),
          nameHistory: new Map()
        }),
        dbIdsByName: withEntry(state.dbIdsByName, event.name, event.dbId),
        nextDbId: Math.max(state.nextDbId, event.dbId + 1)
      }
    case "DatabaseRetentionSet":
      return updateDb(state, event.dbId, (db) => ({ ...db, retentionPeriodNs: event.retentionPeriodNs }))
    case "DatabaseSoftDeleted": {
      const db = state.databases.get(event.dbId)
      if (db === undefined) return state
      const tables = new Map<number, TableState>()
      const tableIdsByName = new Map<string, number>()
      for (const t of db.tables.values()) {
        tables.set(t.id, { ...t, deleted: true, lastCaches: noCaches, distinctCaches: noCaches })
        tableIdsByName.set(t.name, t.id)
      }
      const names = withoutEntry(state.dbIdsByName, db.name)
      return {
        ...state,
        databases: withEntry(state.databases, db.id, {
          ...db,
          name: event.newName,
          deleted: true,
          hardDeleteAtNs: event.hardDeleteAtNs,
          tables,
          tableIdsByName
        }),
        dbIdsByName: withEntry(names, event.newName, db.id)
      }
    }
    case "DatabaseHardDeleted": {
      const db = state.databases.get(event.dbId)
      if (db === undefined) return state
      return {
        ...state,
        databases: withoutEntry(state.databases, db.id),
        dbIdsByName:
          state.dbIdsByName.get(db.name) === db.id ? withoutEntry(state.dbIdsByName, db.name) : state.dbIdsByName
      }
    }
    case "DatabaseDataDeleted":
      return event.removeTables
        ? updateDb(state, event.dbId, (db) => ({
            ...db,
            tables: new Map(),
            tableIdsByName: new Map(),
            nameHistory: unbind(db.nameHistory, null, seq)
          }))
        : withCachesEmptied(state, event.dbId, undefined, seq)
    case "TableCreated": {
      const { kept, dropped } = appliableColumns([], event.columns)
      const tags = kept.filter((c) => c.type === "tag").map((c) => c.name)
      const table: TableState = {
        id: event.tableId,
        name: event.name,
        columns: kept,
        columnsByName: indexColumns(kept),
        seriesKey: tags,
        nextColumnId: event.columns.reduce((m, c) => Math.max(m, c.id + 1), 0),
        retentionPeriodNs: event.retentionPeriodNs,
        createdAtNs: atNs,
        deleted: false,
        hardDeleteAtNs: null,
        lastCaches: noCaches,
        distinctCaches: noCaches
      }
      const next = updateDb(state, event.dbId, (db) => ({
        ...db,
        tables: withEntry(db.tables, table.id, table),
        tableIdsByName: withEntry(db.tableIdsByName, table.name, table.id),
        nameHistory: bind(db.nameHistory, table.name, table.id, seq)
      }))
      return quarantine(
        { ...next, nextTableId: Math.max(state.nextTableId, event.tableId + 1) },
        seq,
        event.dbId,
        event.tableId,
        dropped
      )
    }
    case "ColumnsAdded": {
      const table = state.databases.get(event.dbId)?.tables.get(event.tableId)
      if (table === undefined) return state
      const { kept, dropped } = appliableColumns(table.columns, event.columns)
      const next = updateTable(state, event.dbId, event.tableId, (t) => {
        const columns = [...t.columns, ...kept]
        return {
          ...t,
          columns,
          columnsByName: indexColumns(columns),
          seriesKey: [...t.seriesKey, ...kept.filter((c) => c.type === "tag").map((c) => c.name)],
          nextColumnId: event.columns.reduce((m, c) => Math.max(m, c.id + 1), t.nextColumnId)
        }
      })
      return quarantine(next, seq, event.dbId, event.tableId, dropped)
    }
    case "TableRetentionSet":
      return updateTable(state, event.dbId, event.tableId, (t) => ({
        ...t,
        retentionPeriodNs: event.retentionPeriodNs
      }))
    case "TableSoftDeleted":
      return updateDb(state, event.dbId, (db) => {
        const t = db.tables.get(event.tableId)
        if (t === undefined) return db
        return {
          ...db,
          tables: withEntry(db.tables, t.id, {
            ...t,
            name: event.newName,
            deleted: true,
            hardDeleteAtNs: event.hardDeleteAtNs,
            lastCaches: noCaches,
            distinctCaches: noCaches
          }),
          tableIdsByName: withEntry(withoutEntry(db.tableIdsByName, t.name), event.newName, t.id),
          nameHistory: unbind(db.nameHistory, t.id, seq, t.name)
        }
      })
    case "TableHardDeleted":
      return updateDb(state, event.dbId, (db) => {
        const t = db.tables.get(event.tableId)
        if (t === undefined) return db
        return {
          ...db,
          tables: withoutEntry(db.tables, t.id),
          tableIdsByName:
            db.tableIdsByName.get(t.name) === t.id ? withoutEntry(db.tableIdsByName, t.name) : db.tableIdsByName,
          nameHistory: unbind(db.nameHistory, t.id, seq)
        }
      })
    case "TableDataDeleted":
      return withCachesEmptied(state, event.dbId, event.tableId, seq)
    case "LastCacheCreated": {
      const { _tag, version, dbId, tableId, cacheId, ...def } = event
      return updateTable(state, dbId, tableId, (t) => ({
        ...t,
        lastCaches: withEntry(t.lastCaches, def.name, { ...def, id: cacheId, createdSeq: seq })
      }))
    }
    case "LastCacheDeleted":
      return updateTable(state, event.dbId, event.tableId, (t) => ({
        ...t,
        lastCaches: withoutEntry(t.lastCaches, event.name)
      }))
    case "DistinctCacheCreated": {
      const { _tag, version, dbId, tableId, cacheId, ...def } = event
      return updateTable(state, dbId, tableId, (t) => ({
        ...t,
        distinctCaches: withEntry(t.distinctCaches, def.name, { ...def, id: cacheId, createdSeq: seq })
      }))
    }
    case "DistinctCacheDeleted":
      return updateTable(state, event.dbId, event.tableId, (t) => ({
        ...t,
        distinctCaches: withoutEntry(t.distinctCaches, event.name)
      }))
    case "TokenCreated":
      return {
        ...state,
        tokens: withEntry(state.tokens, event.tokenId, {
          id: event.tokenId,
          name: event.name,
          hash: event.hash,
          createdAtNs: event.createdAtNs,
          expiresAtNs: event.expiresAtNs,
          grant: event.grant,
          updatedAtNs: null
        }),
        tokenIdsByHash: withEntry(state.tokenIdsByHash, event.hash, event.tokenId),
        nextTokenId: Math.max(state.nextTokenId, event.tokenId + 1)
      }
    case "TokenRegenerated": {
      const token = state.tokens.get(event.tokenId)
      if (token === undefined) return state
      return {
        ...state,
        tokens: withEntry(state.tokens, token.id, { ...token, hash: event.hash, updatedAtNs: atNs }),
        tokenIdsByHash: withEntry(withoutEntry(state.tokenIdsByHash, token.hash), event.hash, token.id)
      }
    }
    case "TokenDeleted": {
      const token = state.tokens.get(event.tokenId)
      if (token === undefined) return state
      return {
        ...state,
        tokens: withoutEntry(state.tokens, token.id),
        tokenIdsByHash: withoutEntry(state.tokenIdsByHash, token.hash)
      }
    }
    case "UserCreated":
    case "UserUpdated":
    case "UserPasswordChanged":
    case "UserPasswordResetRequired":
    case "UserRolesSet":
    case "UserDeleted":
    case "RoleCreated":
    case "UserSessionStarted":
    case "UserSessionRefreshed":
      return { ...state, users: applyUserEvent(usersOf(state), event, atNs) }
    case "NodeStopped":
      return { ...state, nodes: applyNodeEvent(nodesOf(state), event, atNs) }
    case "RowDeleteRequested":
    case "RowDeleteAborted":
    case "RowDeleteCompleted":
    case "FileIndexCreated":
    case "FileIndexDeleted":
      return { ...state, deletes: applyDeleteEvent(deletesOf(state), event, atNs, seq) }
    case "TriggerCreated":
    case "TriggerEnabled":
    case "TriggerDisabled":
    case "TriggerDeleted":
    case "TriggerBatchProcessed":
      return { ...state, engine: applyEngineEvent(engineOf(state), event, seq) }
    case "WriteBatch":
    case "SnapshotPersisted":
    case "FilesRemoved":
    case "WindowCompacted":
    case "CheckpointWritten":
    case "LogTruncated":
    case "JobCreated":
    case "JobDispatched":
    case "JobInputStarted":
    case "JobInputDone":
    case "JobProgress":
    case "JobFailed":
    case "JobCancelled":
    case "JobCompleted":
    case "JobDeleted":
      return state
    case "RestoreApplied": {
      // The backup's catalog; tokens, users and nodes stay as they are now (a restore never locks its caller out),
      // and ids are never handed out twice.
      const restored = decodeCheckpoint(Buffer.from(event.checkpoint, "utf8")).catalog
      return {
        ...restored,
        clusterUuid: state.clusterUuid ?? restored.clusterUuid,
        nextDbId: Math.max(state.nextDbId, restored.nextDbId),
        nextTableId: Math.max(state.nextTableId, restored.nextTableId),
        tokens: state.tokens,
        tokenIdsByHash: state.tokenIdsByHash,
        nextTokenId: state.nextTokenId,
        users: state.users,
        nodes: state.nodes
      }
    }
  }
}

/** Applies one envelope: the catalog reducer over the log. */
export const applyEnvelope = (state: CatalogState, envelope: Envelope): CatalogState => {
  const next = applyEvent(state, envelope.event, envelope.at, envelope.seq)
  return next === state ? { ...state, lastSeq: envelope.seq } : { ...next, lastSeq: envelope.seq }
}

/**
 * The database as a write committed at `seq` saw its table names: each name resolves to the table it meant then
 * (tables hold their final columns). A name whose table is gone resolves to nothing.
 */
export const databaseAt = (db: DatabaseState, seq: number): DatabaseState => {
  let names: Map<string, number> | undefined
  for (const [name, bindings] of db.nameHistory) {
    const current = db.tableIdsByName.get(name)
    let meant: number | undefined
    for (const b of bindings) if (b.fromSeq < seq && (b.toSeq === null || b.toSeq > seq)) meant = b.tableId
    if (
      meant === current ||
      (meant === undefined && (current === undefined || db.tables.get(current)?.deleted === true))
    )
      continue
    names ??= new Map(db.tableIdsByName)
    if (meant === undefined) names.delete(name)
    else names.set(name, meant)
  }
  return names === undefined ? db : { ...db, tableIdsByName: names }
}

/** The live (not deleted) database of that name. */
export const liveDatabase = (state: CatalogState, name: string): DatabaseState | undefined => {
  const id = state.dbIdsByName.get(name)
  const db = id === undefined ? undefined : state.databases.get(id)
  return db !== undefined && !db.deleted ? db : undefined
}

/** The live table of that name in a database. */
export const liveTable = (db: DatabaseState, name: string): TableState | undefined => {
  const id = db.tableIdsByName.get(name)
  const table = id === undefined ? undefined : db.tables.get(id)
  return table !== undefined && !table.deleted ? table : undefined
}

/** Databases that count against the limit: live and not `_internal`. */
export const countedDatabases = (state: CatalogState) =>
  [...state.databases.values()].filter((d) => !d.deleted && d.name !== INTERNAL_DB).length

/** Tables that count against the limit: live tables of live databases. */
export const countedTables = (state: CatalogState) => {
  let n = 0
  for (const db of state.databases.values()) {
    if (db.deleted || db.name === INTERNAL_DB) continue
    for (const t of db.tables.values()) if (!t.deleted) n++
  }
  return n
}

/** Columns that count against the per-table limit: tags and fields, not `time`. */
export const countedColumns = (table: TableState) => table.columns.filter((c) => c.type !== "time").length

/** The token of that name, if any. */
export const tokenByName = (state: CatalogState, name: string): TokenState | undefined =>
  [...state.tokens.values()].find((t) => t.name === name)
