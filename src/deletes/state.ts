import { Either } from "effect"
import type { CatalogState, DatabaseState, TableState } from "../catalog/state.ts"
import { InvalidRequest, LimitExceeded, NotFound } from "../errors.ts"
import { FileIndexCreated, FileIndexDeleted, RowDeleteAborted, RowDeleteRequested, type DeleteEvent, type TagEquality } from "../events/index.ts"
import { sqlIdentifier as quote, sqlString as literal } from "../query/literal.ts"

/** A row-delete request as the catalog holds it. */
export interface RowDeleteRequest {
  readonly sequence: number
  readonly requestId: string
  readonly dbId: number
  readonly tableId: number
  readonly dbName: string
  readonly tableName: string
  readonly predicateText: string
  readonly predicate: ReadonlyArray<TagEquality>
  readonly minTimeNs: bigint | null
  readonly maxTimeNs: bigint | null
  readonly createdAtNs: bigint
  readonly disposition: "pending" | "completed" | "aborted"
  readonly completedAtNs: bigint | null
  readonly abortedAtNs: bigint | null
  readonly abortReason: string | null
  /** Files the completing rewrite replaced (0 until completed). */
  readonly rewrittenFiles: number
}

/** A file index's columns, for a table or (tableId null) a whole database. */
export interface FileIndexConfig {
  readonly dbId: number
  readonly tableId: number | null
  readonly columns: ReadonlyArray<string>
}

/** Row-delete requests by sequence and file indexes by `dbId/tableId` (or `dbId/*`). */
export interface DeletesState {
  readonly requests: ReadonlyMap<number, RowDeleteRequest>
  readonly fileIndexes: ReadonlyMap<string, FileIndexConfig>
}

export const emptyDeletes: DeletesState = { requests: new Map(), fileIndexes: new Map() }

/** The deletes part of a catalog, also of one restored from an older checkpoint. */
export const deletesOf = (state: CatalogState): DeletesState =>
  (state as { readonly deletes?: DeletesState }).deletes ?? emptyDeletes

/** Most pending requests at once, as InfluxDB 3 Enterprise limits them. */
export const MAX_PENDING_ROW_DELETES = 1000

const indexKey = (dbId: number, tableId: number | null) => `${dbId}/${tableId ?? "*"}`

/** Applies one delete event committed at `seq`, at `atNs`. */
export const applyDeleteEvent = (state: DeletesState, event: DeleteEvent, atNs: bigint, seq: number): DeletesState => {
  switch (event._tag) {
    case "RowDeleteRequested": {
      const request: RowDeleteRequest = {
        sequence: seq,
        requestId: event.requestId,
        dbId: event.dbId,
        tableId: event.tableId,
        dbName: event.dbName,
        tableName: event.tableName,
        predicateText: event.predicateText,
        predicate: event.predicate,
        minTimeNs: event.minTimeNs,
        maxTimeNs: event.maxTimeNs,
        createdAtNs: atNs,
        disposition: "pending",
        completedAtNs: null,
        abortedAtNs: null,
        abortReason: null,
        rewrittenFiles: 0
      }
      return { ...state, requests: new Map(state.requests).set(seq, request) }
    }
    case "RowDeleteAborted": {
      const r = state.requests.get(event.sequence)
      if (r === undefined || r.disposition !== "pending") return state
      return { ...state, requests: new Map(state.requests).set(r.sequence, { ...r, disposition: "aborted", abortedAtNs: atNs, abortReason: event.reason }) }
    }
    case "RowDeleteCompleted": {
      const r = state.requests.get(event.sequence)
      if (r === undefined || r.disposition !== "pending") return state
      return { ...state, requests: new Map(state.requests).set(r.sequence, { ...r, disposition: "completed", completedAtNs: atNs, rewrittenFiles: event.files }) }
    }
    case "FileIndexCreated":
      return {
        ...state,
        fileIndexes: new Map(state.fileIndexes).set(indexKey(event.dbId, event.tableId), {
          dbId: event.dbId,
          tableId: event.tableId,
          columns: event.columns
        })
      }
    case "FileIndexDeleted": {
      const next = new Map(state.fileIndexes)
      next.delete(indexKey(event.dbId, event.tableId))
      return { ...state, fileIndexes: next }
    }
  }
}

/**
 * The requests that hide rows of a table: the pending ones. A completed request has nothing left to hide: every file
 * it applied to was rewritten without its rows, and every file made since covers later writes or was made from those.
 */
export const activeRowDeletes = (state: CatalogState, tableId: number): ReadonlyArray<RowDeleteRequest> => {
  const out: Array<RowDeleteRequest> = []
  for (const r of deletesOf(state).requests.values()) if (r.tableId === tableId && r.disposition === "pending") out.push(r)
  return out
}

/** The columns a table's compacted files index: its own file index, else its database's, else none. */
export const indexedColumns = (state: CatalogState, dbId: number, tableId: number): ReadonlyArray<string> => {
  const indexes = deletesOf(state).fileIndexes
  return (indexes.get(indexKey(dbId, tableId)) ?? indexes.get(indexKey(dbId, null)))?.columns ?? []
}

/** A stored file as far as row deletes care: which table, which times, which columns, which writes it covers. */
export interface DeletableFile {
  readonly tableId: number
  readonly minTimeNs: bigint
  readonly maxTimeNs: bigint
  readonly columns: ReadonlyArray<string>
  readonly coveredSeq: number
}

/**
 * Whether a request may hide rows of a file: the file covers only writes before the request (a file persisted before
 * it was accepted), overlaps its time range and holds every predicate column (rows without the tag cannot match).
 */
export const requestApplies = (r: RowDeleteRequest, f: DeletableFile): boolean =>
  r.disposition !== "aborted" &&
  r.tableId === f.tableId &&
  f.coveredSeq < r.sequence &&
  (r.minTimeNs === null || f.maxTimeNs >= r.minTimeNs) &&
  (r.maxTimeNs === null || f.minTimeNs < r.maxTimeNs) &&
  r.predicate.every((t) => f.columns.includes(t.column))

/** The SQL condition matching a request's rows (NULL never matches: COALESCE to false). */
export const matchSql = (r: RowDeleteRequest): string => {
  const terms = [
    ...(r.minTimeNs === null ? [] : [`time >= make_timestamp_ns(${r.minTimeNs})`]),
    ...(r.maxTimeNs === null ? [] : [`time < make_timestamp_ns(${r.maxTimeNs})`]),
    ...r.predicate.map((t) => `${quote(t.column)} = ${literal(t.value)}`)
  ]
  return terms.length === 0 ? "true" : `COALESCE(${terms.join(" AND ")}, false)`
}

/** The condition keeping a file's rows that no applicable request hides; undefined when none applies. */
export const keepSql = (requests: ReadonlyArray<RowDeleteRequest>, f: DeletableFile): string | undefined => {
  const applicable = requests.filter((r) => requestApplies(r, f))
  return applicable.length === 0 ? undefined : `NOT (${applicable.map(matchSql).join(" OR ")})`
}

const IDENT = /^(?:"((?:[^"]|"")+)"|([A-Za-z_][A-Za-z0-9_\-.]*))/
const STRING = /^(?:'((?:[^']|'')*)'|"((?:[^"]|"")*)")/

/**
 * Parses a predicate: `tag = 'value'` terms (value quoted with ' or ") joined by AND; empty for none. Says what is
 * wrong and where otherwise.
 */
export const parsePredicate = (text: string, table: TableState): Either.Either<ReadonlyArray<TagEquality>, string> => {
  const terms: Array<TagEquality> = []
  let rest = text.trim()
  if (rest === "") return Either.right(terms)
  for (;;) {
    const at = text.length - rest.length
    const ident = IDENT.exec(rest)
    if (ident === null) return Either.left(`delete_predicate: expected a tag name at character ${at + 1}`)
    const column = ident[1] !== undefined ? ident[1].replace(/""/g, '"') : ident[2]!
    if (ident[1] === undefined && /^(or|not|and|in)$/i.test(column)) return Either.left(`delete_predicate: ${column.toUpperCase()} is not supported (only tag = 'value' terms joined by AND)`)
    const def = table.columns.find((c) => c.name === column)
    if (def === undefined) return Either.left(`delete_predicate: column '${column}' is not in table '${table.name}'`)
    if (def.type !== "tag") return Either.left(`delete_predicate: column '${column}' is a ${def.type === "time" ? "time" : "field"} column; only tag equality is supported`)
    rest = rest.slice(ident[0].length).trimStart()
    if (!rest.startsWith("=") || rest.startsWith("==")) {
      const op = /^\S+/.exec(rest)?.[0] ?? "end of predicate"
      return Either.left(`delete_predicate: expected '=' after '${column}', found '${op}' (only tag equality is supported)`)
    }
    rest = rest.slice(1).trimStart()
    const value = STRING.exec(rest)
    if (value === null) return Either.left(`delete_predicate: expected a quoted string after '${column} =' at character ${text.length - rest.length + 1}`)
    terms.push({ column, value: value[1] !== undefined ? value[1].replace(/''/g, "'") : value[2]!.replace(/""/g, '"') })
    rest = rest.slice(value[0].length).trim()
    if (rest === "") return Either.right(terms)
    const joiner = /^(\S+)\s+/.exec(rest)
    if (joiner === null || joiner[1]!.toUpperCase() !== "AND") {
      const found = /^\S+/.exec(rest)?.[0] ?? rest
      return Either.left(`delete_predicate: ${/^(or|not|in)$/i.test(found) ? `${found.toUpperCase()} is not supported` : `unexpected '${found}'`} at character ${text.length - rest.length + 1} (only tag = 'value' terms joined by AND)`)
    }
    rest = rest.slice(joiner[0].length)
  }
}

const liveDb = (state: CatalogState, name: string): DatabaseState | undefined => {
  const id = state.dbIdsByName.get(name)
  const db = id === undefined ? undefined : state.databases.get(id)
  return db !== undefined && !db.deleted ? db : undefined
}
const liveTableOf = (db: DatabaseState, name: string): TableState | undefined => {
  const id = db.tableIdsByName.get(name)
  const t = id === undefined ? undefined : db.tables.get(id)
  return t !== undefined && !t.deleted ? t : undefined
}

/** What a row-delete request asks for, as the HTTP body gave it (times already read as ns). */
export interface RowDeleteInput {
  readonly db: string
  readonly table: string
  readonly predicate: string
  readonly minTimeNs: bigint | null
  readonly maxTimeNs: bigint | null
  readonly requestId: string
}

/** The times a stored row can have (DuckDB's TIMESTAMP_NS range): bounds beyond them are no bounds. */
export const MIN_ROW_TIME_NS = -9_223_286_400_000_000_000n
export const MAX_ROW_TIME_NS = 9_223_372_036_854_775_806n

/**
 * Decides a row-delete request: 404 for an unknown database or table, 400 for a bad predicate or range, 422 past the
 * pending limit.
 */
export const requestRowDelete = (
  state: CatalogState,
  input: RowDeleteInput
): Either.Either<ReadonlyArray<RowDeleteRequested>, NotFound | InvalidRequest | LimitExceeded> => {
  const db = liveDb(state, input.db)
  if (db === undefined) return Either.left(new NotFound({ message: `database not found: ${input.db}` }))
  const table = liveTableOf(db, input.table)
  if (table === undefined)
    return Either.left(new NotFound({ message: `table not found: ${input.table} in database ${input.db}` }))
  if (input.minTimeNs !== null && input.maxTimeNs !== null && input.minTimeNs >= input.maxTimeNs) {
    return Either.left(
      new InvalidRequest({
        message: `min_time (${input.minTimeNs}) must be before max_time (${input.maxTimeNs}): min_time is inclusive, max_time exclusive`
      })
    )
  }
  // No row is earlier than the first storable time or later than the last: such bounds bound nothing.
  const minTimeNs = input.minTimeNs === null || input.minTimeNs <= MIN_ROW_TIME_NS ? null : input.minTimeNs
  const maxTimeNs = input.maxTimeNs === null || input.maxTimeNs > MAX_ROW_TIME_NS ? null : input.maxTimeNs
  if (minTimeNs !== null && minTimeNs > MAX_ROW_TIME_NS)
    return Either.left(
      new InvalidRequest({ message: `min_time (${minTimeNs}) is after the last storable time (${MAX_ROW_TIME_NS})` })
    )
  if (maxTimeNs !== null && maxTimeNs <= MIN_ROW_TIME_NS)
    return Either.left(
      new InvalidRequest({ message: `max_time (${maxTimeNs}) is before the first storable time (${MIN_ROW_TIME_NS})` })
    )
  const predicate = parsePredicate(input.predicate, table)
  if (Either.isLeft(predicate)) return Either.left(new InvalidRequest({ message: predicate.left }))
  let pending = 0
  for (const r of deletesOf(state).requests.values()) if (r.disposition === "pending") pending++
  if (pending >= MAX_PENDING_ROW_DELETES)
    return Either.left(
      new LimitExceeded({ message: `too many pending row-delete requests (at most ${MAX_PENDING_ROW_DELETES})` })
    )
  return Either.right([
    new RowDeleteRequested({
      version: 1,
      requestId: input.requestId,
      dbId: db.id,
      tableId: table.id,
      dbName: db.name,
      tableName: table.name,
      predicateText: input.predicate.trim(),
      predicate: predicate.right,
      minTimeNs,
      maxTimeNs
    })
  ])
}

/** Decides an abort: 404 for an unknown sequence, 400 for an empty reason or a request no longer pending. */
export const abortRowDelete = (
  state: CatalogState,
  sequence: number,
  reason: string
): Either.Either<ReadonlyArray<RowDeleteAborted>, NotFound | InvalidRequest> => {
  const r = deletesOf(state).requests.get(sequence)
  if (r === undefined) return Either.left(new NotFound({ message: `row-delete request not found: ${sequence}` }))
  if (reason.trim() === "") return Either.left(new InvalidRequest({ message: "reason: must not be empty" }))
  if (r.disposition !== "pending")
    return Either.left(
      new InvalidRequest({
        message: `row-delete request ${sequence} is ${r.disposition}; only a pending request can be aborted`
      })
    )
  return Either.right([new RowDeleteAborted({ version: 1, sequence, reason })])
}

/**
 * Decides a file index: 404 for an unknown database or table, 400 for no columns or a column that is not a string
 * column.
 */
export const createFileIndex = (
  state: CatalogState,
  dbName: string,
  tableName: string | null,
  columns: ReadonlyArray<string>
): Either.Either<ReadonlyArray<FileIndexCreated>, NotFound | InvalidRequest> => {
  const db = liveDb(state, dbName)
  if (db === undefined) return Either.left(new NotFound({ message: `database not found: ${dbName}` }))
  const table = tableName === null ? null : liveTableOf(db, tableName)
  if (table === undefined)
    return Either.left(new NotFound({ message: `table not found: ${tableName} in database ${dbName}` }))
  if (columns.length === 0)
    return Either.left(new InvalidRequest({ message: "columns: at least one column is required" }))
  const unique = [...new Set(columns)]
  for (const name of unique) {
    if (name.trim() === "") return Either.left(new InvalidRequest({ message: "columns: a column name is empty" }))
    if (table === null) continue
    const def = table.columns.find((c) => c.name === name)
    if (def === undefined)
      return Either.left(new InvalidRequest({ message: `columns: column '${name}' is not in table '${table.name}'` }))
    if (def.type !== "tag" && def.type !== "string")
      return Either.left(
        new InvalidRequest({
          message: `columns: column '${name}' is a ${def.type} column; a file index takes tags and string fields`
        })
      )
  }
  return Either.right([
    new FileIndexCreated({ version: 1, dbId: db.id, tableId: table === null ? null : table.id, columns: unique })
  ])
}

/** Decides deleting a file index: 404 for an unknown database, table or index. */
export const deleteFileIndex = (
  state: CatalogState,
  dbName: string,
  tableName: string | null
): Either.Either<ReadonlyArray<FileIndexDeleted>, NotFound> => {
  const db = liveDb(state, dbName)
  if (db === undefined) return Either.left(new NotFound({ message: `database not found: ${dbName}` }))
  const table = tableName === null ? null : liveTableOf(db, tableName)
  if (table === undefined)
    return Either.left(new NotFound({ message: `table not found: ${tableName} in database ${dbName}` }))
  const tableId = table === null ? null : table.id
  if (!deletesOf(state).fileIndexes.has(indexKey(db.id, tableId))) {
    return Either.left(
      new NotFound({
        message: `file index not found for ${tableName === null ? `database ${dbName}` : `table ${tableName} in database ${dbName}`}`
      })
    )
  }
  return Either.right([new FileIndexDeleted({ version: 1, dbId: db.id, tableId })])
}

/** A request as the API answers it (`DeleteRequestResponse`): times of day in seconds, range in ns. */
export const requestView = (
  state: CatalogState,
  r: RowDeleteRequest,
  progress: { readonly applicableFiles: number } | undefined
) => {
  const db = state.databases.get(r.dbId)
  const table = db?.tables.get(r.tableId)
  const seconds = (ns: bigint) => Number(ns / 1_000_000_000n)
  const files = r.disposition === "completed" ? r.rewrittenFiles : (progress?.applicableFiles ?? 0)
  const processed = r.disposition === "completed" ? files : 0
  const zero = { total: 0, processed: 0 }
  return {
    sequence: r.sequence,
    db_id: r.dbId,
    table_id: r.tableId,
    db_name: db?.name ?? r.dbName,
    table_name: table?.name ?? r.tableName,
    db_name_stale: db === undefined || db.deleted || db.name !== r.dbName,
    table_name_stale: table === undefined || table.deleted || table.name !== r.tableName,
    min_time: r.minTimeNs ?? -9223372036854775808n,
    max_time: r.maxTimeNs ?? 9223372036854775807n,
    delete_predicate: r.predicateText,
    created_at: seconds(r.createdAtNs),
    disposition: r.disposition,
    ...(r.completedAtNs === null ? {} : { completed_at: seconds(r.completedAtNs) }),
    ...(r.abortedAtNs === null ? {} : { aborted_at: seconds(r.abortedAtNs) }),
    ...(r.abortReason === null ? {} : { abort_reason: r.abortReason }),
    ...(progress === undefined
      ? {}
      : {
          progress: {
            sequence_id: r.sequence,
            in_range: { l1: { total: files, processed }, l2: zero, l3: zero, l4: zero },
            out_of_range: zero
          }
        })
  }
}
