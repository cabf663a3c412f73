import { Either } from "effect"
import { hashToken, OPERATOR_TOKEN_NAME } from "../auth/tokens.ts"
import { parseDurationMs } from "../config.ts"
import { AlreadyExists, InvalidRequest, LimitExceeded, NotAllowed, NotFound, type ApiFailure } from "../errors.ts"
import {
  ColumnsAdded,
  DatabaseCreated,
  DatabaseDataDeleted,
  DatabaseHardDeleted,
  DatabaseRetentionSet,
  DatabaseSoftDeleted,
  TableCreated,
  TableDataDeleted,
  TableHardDeleted,
  TableRetentionSet,
  TableSoftDeleted,
  TokenCreated,
  TokenDeleted,
  TokenRegenerated,
  type ColumnDef,
  type ColumnType,
  type Permission,
  type StrataEvent
} from "../events/index.ts"
import { columnCaseClash, columnNameProblem, databaseNameProblem, foldColumnName, softDeletedName, tableNameProblem } from "./names.ts"
import {
  countedColumns,
  countedDatabases,
  countedTables,
  INTERNAL_DB,
  liveDatabase,
  liveTable,
  tokenByName,
  type CatalogState,
  type DatabaseState,
  type TableState
} from "./state.ts"

/** The configured catalog limits and defaults a command is decided under. */
export interface CatalogLimits {
  readonly numDatabaseLimit: number
  readonly numTableLimit: number
  readonly numColumnsPerTableLimit: number
  readonly hardDeleteDefaultDurationMs: number
}

/** The context of one command: the limits and the time it is decided at. */
export interface CommandContext {
  readonly limits: CatalogLimits
  readonly nowNs: bigint
}

export type Decision = Either.Either<ReadonlyArray<StrataEvent>, ApiFailure>

export const ok = (...events: ReadonlyArray<StrataEvent>): Decision => Either.right(events)
export const fail = (error: ApiFailure): Decision => Either.left(error)

/** Parses a retention period such as `30d` or `72h` to nanoseconds. */
export const parseRetention = (field: string, text: string): Either.Either<bigint, InvalidRequest> => {
  const ms = parseDurationMs(text)
  if (ms === undefined || ms <= 0) {
    return Either.left(new InvalidRequest({ message: `invalid ${field} '${text}': expected a duration such as 30d, 72h or 1w` }))
  }
  // Kept in whole milliseconds; past i64 nanoseconds (~292 years) no cutoff time can be computed.
  if (Math.round(ms) < 1) return Either.left(new InvalidRequest({ message: `invalid ${field} '${text}': must be at least 1ms` }))
  if (ms > MAX_RETENTION_MS) return Either.left(new InvalidRequest({ message: `invalid ${field} '${text}': must be at most 292 years` }))
  return Either.right(BigInt(Math.round(ms)) * 1_000_000n)
}

/** The longest retention period: i64::MAX nanoseconds, in whole milliseconds. */
const MAX_RETENTION_MS = 9_223_372_036_854

/** Resolves `hard_delete_at` (`now`, `never`, `default` or an RFC3339 time) to a deadline; null means never. */
export const parseHardDeleteAt = (
  text: string | undefined,
  ctx: CommandContext
): Either.Either<bigint | null, InvalidRequest> => {
  if (text === undefined || text === "" || text === "never") return Either.right(null)
  if (text === "now") return Either.right(ctx.nowNs)
  if (text === "default") return Either.right(ctx.nowNs + BigInt(ctx.limits.hardDeleteDefaultDurationMs) * 1_000_000n)
  const ms = Date.parse(text)
  if (!/^\d{4}-\d{2}-\d{2}T/.test(text) || Number.isNaN(ms)) {
    return Either.left(new InvalidRequest({ message: `Cannot parse the timestamp in hard_delete_at: '${text}' (use now, never, default or an RFC3339 time)` }))
  }
  const at = BigInt(ms) * 1_000_000n
  return Either.right(at < ctx.nowNs ? ctx.nowNs : at)
}

const dbNotFound = (name: string) => new NotFound({ message: `database not found: ${name}` })
const tableNotFound = (db: string, table: string) => new NotFound({ message: `table not found: ${table} in database ${db}` })

export const findDb = (state: CatalogState, name: string) => {
  const db = liveDatabase(state, name)
  return db === undefined ? Either.left(dbNotFound(name)) : Either.right(db)
}

export const findTable = (db: DatabaseState, name: string) => {
  const table = liveTable(db, name)
  return table === undefined ? Either.left(tableNotFound(db.name, name)) : Either.right(table)
}

const guardInternal = (db: DatabaseState, action: string): Either.Either<DatabaseState, ApiFailure> =>
  db.name === INTERNAL_DB ? Either.left(new InvalidRequest({ message: `cannot ${action} internal db` })) : Either.right(db)

const newDatabase = (state: CatalogState, name: string, retentionPeriodNs: bigint | null, ctx: CommandContext) => {
  const problem = databaseNameProblem(name)
  if (problem !== undefined) return Either.left(new InvalidRequest({ message: problem }))
  if (countedDatabases(state) >= ctx.limits.numDatabaseLimit) {
    return Either.left(new LimitExceeded({ message: `Adding a new database would exceed limit of ${ctx.limits.numDatabaseLimit} databases` }))
  }
  return Either.right(new DatabaseCreated({ version: 1, dbId: state.nextDbId, name, retentionPeriodNs }))
}

/** `POST /api/v3/configure/database`. */
export const createDatabase = (
  state: CatalogState,
  ctx: CommandContext,
  name: string,
  retention: string | undefined
): Decision =>
  Either.gen(function* () {
    if (liveDatabase(state, name) !== undefined) {
      return yield* Either.left(
        new AlreadyExists({ message: `attempted to create a resource that already exists: database ${name}` })
      )
    }
    const retentionNs = retention === undefined ? null : yield* parseRetention("retention_period", retention)
    return [yield* newDatabase(state, name, retentionNs, ctx)]
  })

/** `PUT /api/v3/configure/database` and the retention_period pair: sets or (with undefined) clears the retention. */
export const setDatabaseRetention = (state: CatalogState, name: string, retention: string | undefined): Decision =>
  Either.gen(function* () {
    const db = yield* findDb(state, name)
    yield* guardInternal(db, "modify")
    const retentionNs = retention === undefined ? null : yield* parseRetention("retention_period", retention)
    return [new DatabaseRetentionSet({ version: 1, dbId: db.id, retentionPeriodNs: retentionNs })]
  })

export interface DeleteOptions {
  readonly dataOnly: boolean
  readonly removeTables: boolean
  readonly hardDeleteAt: string | undefined
}

/** `DELETE /api/v3/configure/database`: soft delete with rename, hard delete, or data only. */
export const deleteDatabase = (
  state: CatalogState,
  ctx: CommandContext,
  name: string,
  options: DeleteOptions
): Decision =>
  Either.gen(function* () {
    const db = yield* findDb(state, name)
    yield* guardInternal(db, "delete")
    if (options.dataOnly)
      return [new DatabaseDataDeleted({ version: 1, dbId: db.id, removeTables: options.removeTables })]
    const hardDeleteAt = yield* parseHardDeleteAt(options.hardDeleteAt, ctx)
    let newName = softDeletedName(db.name, ctx.nowNs)
    if (state.dbIdsByName.has(newName)) newName = `${newName}-${db.id}`
    const soft = new DatabaseSoftDeleted({ version: 1, dbId: db.id, newName, hardDeleteAtNs: hardDeleteAt })
    return hardDeleteAt === ctx.nowNs ? [soft, new DatabaseHardDeleted({ version: 1, dbId: db.id })] : [soft]
  })

export interface FieldSpec {
  readonly name: string
  readonly type: ColumnType
}

/** Maps the API's field type names (`utf8`, `int64`, …) to column types. */
export const fieldTypeFromApi = (name: string): ColumnType | undefined =>
  ({ utf8: "string", int64: "integer", uint64: "uinteger", float64: "float", bool: "boolean" } as const)[
    name as "utf8" | "int64" | "uint64" | "float64" | "bool"
  ]

/** `POST /api/v3/configure/table`: creates the table, and the database when it is missing. */
export const createTable = (
  state: CatalogState,
  ctx: CommandContext,
  dbName: string,
  tableName: string,
  tags: ReadonlyArray<string>,
  fields: ReadonlyArray<FieldSpec>,
  retention: string | undefined
): Decision =>
  Either.gen(function* () {
    const events: Array<StrataEvent> = []
    const db = liveDatabase(state, dbName)
    let dbId: number
    if (db === undefined) {
      const created = yield* newDatabase(state, dbName, null, ctx)
      events.push(created)
      dbId = created.dbId
    } else {
      yield* guardInternal(db, "create tables in")
      dbId = db.id
      if (liveTable(db, tableName) !== undefined) {
        return yield* Either.left(new AlreadyExists({ message: `attempted to create a resource that already exists: table ${tableName}` }))
      }
    }
    const tableProblem = tableNameProblem(tableName)
    if (tableProblem !== undefined) return yield* Either.left(new InvalidRequest({ message: tableProblem }))
    // Folded name -> name: DuckDB, which holds the buffer, takes names differing only in case for one column.
    const names = new Map<string, string>()
    for (const name of [...tags, ...fields.map((f) => f.name)]) {
      const problem = columnNameProblem(name)
      if (problem !== undefined) return yield* Either.left(new InvalidRequest({ message: problem }))
      const other = names.get(foldColumnName(name))
      if (other === name) return yield* Either.left(new InvalidRequest({ message: `duplicate column name '${name}'` }))
      if (other !== undefined) return yield* Either.left(new InvalidRequest({ message: columnCaseClash(name, other) }))
      names.set(foldColumnName(name), name)
    }
    if (names.size > ctx.limits.numColumnsPerTableLimit) {
      return yield* Either.left(new LimitExceeded({ message: `Update to schema would exceed number of columns per table limit of ${ctx.limits.numColumnsPerTableLimit} columns` }))
    }
    if (countedTables(state) >= ctx.limits.numTableLimit) {
      return yield* Either.left(new LimitExceeded({ message: `Update to schema would exceed number of tables limit: attempted to create table but already have ${countedTables(state)} table(s) (limit: ${ctx.limits.numTableLimit})` }))
    }
    const retentionNs = retention === undefined ? null : yield* parseRetention("retention_period", retention)
    let id = 0
    const columns: Array<ColumnDef> = [
      ...tags.map((name) => ({ id: id++, name, type: "tag" as const })),
      ...fields.map((f) => ({ id: id++, name: f.name, type: f.type })),
      { id: id++, name: "time", type: "time" as const }
    ]
    events.push(
      new TableCreated({
        version: 1,
        dbId,
        tableId: state.nextTableId,
        name: tableName,
        columns,
        retentionPeriodNs: retentionNs
      })
    )
    return events
  })

/**
 * `PUT /api/v3/configure/table` and the enterprise retention pair: sets or (with undefined) clears a table's retention.
 */
export const setTableRetention = (
  state: CatalogState,
  dbName: string,
  tableName: string,
  retention: string | undefined
): Decision =>
  Either.gen(function* () {
    const db = yield* findDb(state, dbName)
    const table = yield* findTable(db, tableName)
    const retentionNs = retention === undefined ? null : yield* parseRetention("retention_period", retention)
    return [new TableRetentionSet({ version: 1, dbId: db.id, tableId: table.id, retentionPeriodNs: retentionNs })]
  })

/** `DELETE /api/v3/configure/table`. */
export const deleteTable = (
  state: CatalogState,
  ctx: CommandContext,
  dbName: string,
  tableName: string,
  options: DeleteOptions
): Decision =>
  Either.gen(function* () {
    const db = yield* findDb(state, dbName)
    const table = yield* findTable(db, tableName)
    if (options.dataOnly) return [new TableDataDeleted({ version: 1, dbId: db.id, tableId: table.id })]
    const hardDeleteAt = yield* parseHardDeleteAt(options.hardDeleteAt, ctx)
    let newName = softDeletedName(table.name, ctx.nowNs)
    if (db.tableIdsByName.has(newName)) newName = `${newName}-${table.id}`
    const soft = new TableSoftDeleted({
      version: 1,
      dbId: db.id,
      tableId: table.id,
      newName,
      hardDeleteAtNs: hardDeleteAt
    })
    return hardDeleteAt === ctx.nowNs
      ? [soft, new TableHardDeleted({ version: 1, dbId: db.id, tableId: table.id })]
      : [soft]
  })

/** Hard deletes whose deadline has passed. */
export const dueHardDeletes = (state: CatalogState, nowNs: bigint): ReadonlyArray<StrataEvent> => {
  const events: Array<StrataEvent> = []
  for (const db of state.databases.values()) {
    if (db.deleted && db.hardDeleteAtNs !== null && db.hardDeleteAtNs <= nowNs) {
      events.push(new DatabaseHardDeleted({ version: 1, dbId: db.id }))
      continue
    }
    for (const t of db.tables.values()) {
      if (t.deleted && t.hardDeleteAtNs !== null && t.hardDeleteAtNs <= nowNs) {
        events.push(new TableHardDeleted({ version: 1, dbId: db.id, tableId: t.id }))
      }
    }
  }
  return events
}

/** Column additions a write needs in one table, or the table to create. */
export interface SchemaChange {
  readonly table: string
  readonly columns: ReadonlyArray<FieldSpec>
}

/**
 * Extends the schema for a write: creates the database if missing, then each table or its new columns.
 * Conflicts are decided per table, so one bad table does not block the others; `rejected` names them.
 */
export const extendSchema = (
  state: CatalogState,
  ctx: CommandContext,
  dbName: string,
  changes: ReadonlyArray<SchemaChange>
): Either.Either<
  { readonly events: ReadonlyArray<StrataEvent>; readonly rejected: ReadonlyMap<string, string> },
  ApiFailure
> =>
  Either.gen(function* () {
    const events: Array<StrataEvent> = []
    const rejected = new Map<string, string>()
    const db = liveDatabase(state, dbName)
    let dbId: number
    if (db === undefined) {
      const deleted = state.dbIdsByName.get(dbName)
      if (deleted !== undefined && state.databases.get(deleted)?.deleted) {
        return yield* Either.left(
          new InvalidRequest({
            message: `cannot write to soft-deleted database '${dbName}' - it is marked for deletion`
          })
        )
      }
      const created = yield* newDatabase(state, dbName, null, ctx)
      events.push(created)
      dbId = created.dbId
    } else {
      if (db.name === INTERNAL_DB)
        return yield* Either.left(new InvalidRequest({ message: "cannot write to internal db" }))
      dbId = db.id
    }
    let tablesNow = countedTables(state)
    let nextTableId = state.nextTableId
    for (const change of changes) {
      const table: TableState | undefined = db === undefined ? undefined : liveTable(db, change.table)
      if (table === undefined) {
        const problem = tableNameProblem(change.table)
        if (problem !== undefined) {
          rejected.set(change.table, problem)
          continue
        }
        if (tablesNow >= ctx.limits.numTableLimit) {
          rejected.set(
            change.table,
            `Update to schema would exceed number of tables limit: attempted to create table but already have ${tablesNow} table(s) (limit: ${ctx.limits.numTableLimit})`
          )
          continue
        }
        if (change.columns.length > ctx.limits.numColumnsPerTableLimit) {
          rejected.set(
            change.table,
            `Update to schema would exceed number of columns per table limit of ${ctx.limits.numColumnsPerTableLimit} columns`
          )
          continue
        }
        const badName = newColumnsProblem(undefined, change.columns)
        if (badName !== undefined) {
          rejected.set(change.table, badName)
          continue
        }
        let id = 0
        const columns: Array<ColumnDef> = change.columns.map((c) => ({ id: id++, name: c.name, type: c.type }))
        columns.push({ id: id++, name: "time", type: "time" })
        events.push(
          new TableCreated({
            version: 1,
            dbId,
            tableId: nextTableId++,
            name: change.table,
            columns,
            retentionPeriodNs: null
          })
        )
        tablesNow++
        continue
      }
      const added: Array<ColumnDef> = []
      let id = table.nextColumnId
      let problem: string | undefined
      for (const c of change.columns) {
        const existing = table.columnsByName.get(c.name)
        if (existing !== undefined) {
          if (existing.type !== c.type) problem = columnTypeConflict(c.name, existing.type, c.type)
          continue
        }
        added.push({ id: id++, name: c.name, type: c.type })
      }
      if (problem === undefined && countedColumns(table) + added.length > ctx.limits.numColumnsPerTableLimit) {
        problem = `Update to schema would exceed number of columns per table limit of ${ctx.limits.numColumnsPerTableLimit} columns`
      }
      problem ??= newColumnsProblem(table, added)
      if (problem !== undefined) rejected.set(change.table, problem)
      else if (added.length > 0) events.push(new ColumnsAdded({ version: 1, dbId, tableId: table.id, columns: added }))
    }
    return { events, rejected }
  })

/**
 * Why columns new to a table cannot be added (a reserved or malformed name, or two names the buffer would take for
 * one), or undefined. The write path checks this per line first; here it guards the log. Linear in the columns.
 */
const newColumnsProblem = (table: TableState | undefined, columns: ReadonlyArray<FieldSpec>): string | undefined => {
  const folded = new Map<string, string>()
  if (table !== undefined) for (const c of table.columns) folded.set(foldColumnName(c.name), c.name)
  for (const c of columns) {
    const problem = columnNameProblem(c.name)
    if (problem !== undefined) return problem
    const fold = foldColumnName(c.name)
    const other = folded.get(fold)
    if (other !== undefined) return other === c.name ? `duplicate column name '${c.name}'` : columnCaseClash(c.name, other)
    folded.set(fold, c.name)
  }
  return undefined
}

const ioxType = (type: ColumnType) =>
  type === "tag" ? "iox::column_type::tag" : type === "time" ? "iox::column_type::timestamp" : `iox::column_type::field::${type}`

/** InfluxDB's wording of a column type conflict; "expected" is the existing type. */
export const columnTypeConflict = (name: string, existing: ColumnType, attempted: ColumnType) =>
  `invalid column type for column '${name}', expected ${ioxType(existing)}, got ${ioxType(attempted)}`

const expiry = (ctx: CommandContext, expirySecs: number | null | undefined) =>
  expirySecs === undefined || expirySecs === null ? null : ctx.nowNs + BigInt(Math.round(expirySecs * 1e9))

/** The latest instant a JavaScript Date (and so a token's RFC3339 `expiry`) can show, in ns. */
const MAX_EXPIRY_NS = 8_640_000_000_000_000n * 1_000_000n

/** No expiry_secs past this can end before MAX_EXPIRY_NS; checked first, as `1e300 * 1e9` is Infinity for BigInt. */
const MAX_EXPIRY_SECS = 8_640_000_000_000

/** Why `expiry_secs` is unusable, or undefined; checked before any event so no token is created unanswerable. */
const expiryProblem = (ctx: CommandContext, expirySecs: number | null | undefined): string | undefined => {
  if (expirySecs === undefined || expirySecs === null) return undefined
  if (!Number.isFinite(expirySecs) || !(expirySecs > 0)) return "expiry_secs must be a positive number of seconds"
  // A whole number, as InfluxDB 3 reads it (u64).
  if (!Number.isInteger(expirySecs)) return `expiry_secs ${expirySecs} must be a whole number of seconds`
  if (expirySecs > MAX_EXPIRY_SECS || expiry(ctx, expirySecs)! > MAX_EXPIRY_NS) return `expiry_secs ${expirySecs} is too large: the token would outlive the latest representable time`
  return undefined
}


/** `POST /api/v3/configure/token/admin`: the operator token, once. */
export const createOperatorToken = (state: CatalogState, ctx: CommandContext, secret: string): Decision =>
  tokenByName(state, OPERATOR_TOKEN_NAME) !== undefined
    ? fail(new AlreadyExists({ message: `token name already exists, ${OPERATOR_TOKEN_NAME}` }))
    : ok(new TokenCreated({ version: 1, tokenId: state.nextTokenId, name: OPERATOR_TOKEN_NAME, hash: hashToken(secret), createdAtNs: ctx.nowNs, expiresAtNs: null, grant: { _tag: "admin" } }))

/** `POST /api/v3/configure/token/admin/regenerate`: a new secret for the operator token. */
export const regenerateOperatorToken = (state: CatalogState, secret: string): Decision => {
  const token = tokenByName(state, OPERATOR_TOKEN_NAME)
  return token === undefined
    ? fail(new NotFound({ message: "missing admin token, cannot update" }))
    : ok(new TokenRegenerated({ version: 1, tokenId: token.id, hash: hashToken(secret) }))
}

const tokenNameProblem = (name: string) =>
  name.trim() === "" ? "token_name cannot be empty" : name === OPERATOR_TOKEN_NAME ? `token name ${OPERATOR_TOKEN_NAME} is reserved` : undefined

/** `POST /api/v3/configure/token/named_admin`. */
export const createNamedAdminToken = (
  state: CatalogState,
  ctx: CommandContext,
  name: string,
  expirySecs: number | null | undefined,
  secret: string
): Decision => {
  const problem = tokenNameProblem(name)
  if (problem !== undefined) return fail(new InvalidRequest({ message: problem }))
  if (tokenByName(state, name) !== undefined)
    return fail(new AlreadyExists({ message: `token name already exists, ${name}` }))
  const badExpiry = expiryProblem(ctx, expirySecs)
  if (badExpiry !== undefined) return fail(new InvalidRequest({ message: badExpiry }))
  return ok(
    new TokenCreated({
      version: 1,
      tokenId: state.nextTokenId,
      name,
      hash: hashToken(secret),
      createdAtNs: ctx.nowNs,
      expiresAtNs: expiry(ctx, expirySecs),
      grant: { _tag: "admin" }
    })
  )
}

/** `POST /api/v3/enterprise/configure/token`: a token with db/system permissions. */
export const createResourceToken = (
  state: CatalogState,
  ctx: CommandContext,
  name: string,
  permissions: ReadonlyArray<Permission>,
  expirySecs: number | null | undefined,
  secret: string
): Decision => {
  const problem = tokenNameProblem(name)
  if (problem !== undefined) return fail(new InvalidRequest({ message: problem }))
  if (tokenByName(state, name) !== undefined) return fail(new AlreadyExists({ message: `token name already exists, ${name}` }))
  if (permissions.length === 0) return fail(new InvalidRequest({ message: "permissions cannot be empty" }))
  for (const p of permissions) {
    if (p.resourceNames.length === 0) return fail(new InvalidRequest({ message: "permissions[].resource_names cannot be empty" }))
    if (p.actions.length === 0) return fail(new InvalidRequest({ message: "permissions[].actions cannot be empty" }))
    if (p.resourceNames.includes("*") && p.resourceNames.length > 1) {
      return fail(new InvalidRequest({ message: "permissions[].resource_names: the wildcard '*' cannot be mixed with names" }))
    }
    if (p.resourceType === "system") {
      if (p.actions.includes("write")) return fail(new InvalidRequest({ message: "system resources only take the read action" }))
      const bad = p.resourceNames.find((n) => !["*", "health", "ping", "metrics"].includes(n))
      if (bad !== undefined) return fail(new InvalidRequest({ message: `unknown system resource '${bad}': expected health, ping, metrics or *` }))
    }
  }
  const badExpiry = expiryProblem(ctx, expirySecs)
  if (badExpiry !== undefined) return fail(new InvalidRequest({ message: badExpiry }))
  return ok(new TokenCreated({ version: 1, tokenId: state.nextTokenId, name, hash: hashToken(secret), createdAtNs: ctx.nowNs, expiresAtNs: expiry(ctx, expirySecs), grant: { _tag: "resource", permissions } }))
}

/** `DELETE /api/v3/configure/token`. The operator token cannot be deleted. */
export const deleteToken = (state: CatalogState, name: string): Decision => {
  if (name === OPERATOR_TOKEN_NAME) return fail(new NotAllowed({ message: "cannot delete operator token" }))
  const token = tokenByName(state, name)
  return token === undefined
    ? fail(new NotFound({ message: `the requested resource was not found: ${name}` }))
    : ok(new TokenDeleted({ version: 1, tokenId: token.id }))
}
