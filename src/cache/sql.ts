import {
  type DuckDBAppender,
  type DuckDBConnection,
  type DuckDBInstance,
  DuckDBTimestampNanosecondsValue
} from "@duckdb/node-api"
import type { ColumnType } from "../events/index.ts"
import { influxLastCacheQueryDuration } from "../metrics/prometheus.ts"
import { duckTypeName } from "../query/virtualTables.ts"
import type { CacheValue } from "./LastValueCache.ts"
import { sqlIdentifier as quote, sqlString } from "../query/literal.ts"

/** A column a cache answers with. */
export interface CacheColumn {
  readonly name: string
  readonly type: ColumnType
}

/** A group of a cache's rows: one key's rows, or one combination. */
export interface CacheGroup {
  readonly id: number
}

/** A cache as its DuckDB table is kept from it. */
export interface CacheTableSource<G extends CacheGroup = CacheGroup> {
  /** The table's name: one per cache definition. */
  readonly name: string
  readonly kind: "last" | "distinct"
  /** The cache's contents object: another one (after a restore) means the table is built again. */
  readonly owner: object
  readonly columns: ReadonlyArray<CacheColumn>
  /** How reads order the rows when the query does not (distinct caches answer sorted). */
  readonly orderBy: string
  /** The number of groups now. */
  readonly size: () => number
  /** At most how many rows the table has now. */
  readonly rows: () => number
  /** Evicts what expired as of now, then takes the changes since the last call (see ChangeLog). */
  readonly changes: () => ReadonlyMap<number, G | undefined> | "all"
  readonly groups: () => Iterable<G>
  /** A group's rows, cells in `columns` order (a method: a source of any group type is a CacheTableSource). */
  rowsOf(group: G): ReadonlyArray<ReadonlyArray<CacheValue>>
}

/** Where the caches' tables live in DuckDB's in-memory catalog: queries cannot name it (only `public` resolves). */
const SCHEMA = "cache"

/**
 * Changed rows up to this many go to DuckDB as literals in the one SQL script of the change (one round trip); more
 * go through an appender (VALUES bind row by row: 256 rows take longer than appending them).
 */
const LITERAL_ROWS = 16

/** Group ids up to this many are deleted by a list lookup per row; more by a join (which scales with the list). */
const LISTED_IDS = 64

/** Rows matching the group ids: `'[…]'::BIGINT[]` is one constant, where an IN list binds every id. */
const groupsSql = (ids: ReadonlyArray<number>) =>
  ids.length <= LISTED_IDS
    ? `list_contains('[${ids.join(",")}]'::BIGINT[], _g)`
    : `_g IN (SELECT unnest('[${ids.join(",")}]'::BIGINT[]))`

const cellSql = (v: CacheValue, type: ColumnType): string => {
  if (v === null) return "NULL"
  switch (type) {
    case "tag":
    case "string":
      return sqlString(String(v))
    case "float":
      // Text to DOUBLE is correctly rounded; a bare decimal literal would go through DECIMAL.
      return `'${String(v)}'::DOUBLE`
    case "integer":
      return `${String(v)}::BIGINT`
    case "uinteger":
      return `${String(v)}::UBIGINT`
    case "boolean":
      return v === true ? "true" : "false"
    case "time":
      return `make_timestamp_ns(${String(v)})`
  }
}

const appendCell = (appender: DuckDBAppender, v: CacheValue, type: ColumnType): void => {
  if (v === null) {
    appender.appendNull()
    return
  }
  switch (type) {
    case "tag":
    case "string":
      appender.appendVarchar(String(v))
      break
    case "float":
      appender.appendDouble(v as number)
      break
    case "integer":
      appender.appendBigInt(v as bigint)
      break
    case "uinteger":
      appender.appendUBigInt(v as bigint)
      break
    case "boolean":
      appender.appendBoolean(v as boolean)
      break
    case "time":
      appender.appendTimestampNanoseconds(new DuckDBTimestampNanosecondsValue(v as bigint))
      break
  }
}

/** A row of the table: its group's id and its cells in the source's column order. */
interface IdentifiedRow {
  readonly id: number
  readonly cells: ReadonlyArray<CacheValue>
}

const rowsOf = <G extends CacheGroup>(source: CacheTableSource<G>, groups: Iterable<G>): Array<IdentifiedRow> => {
  const out: Array<IdentifiedRow> = []
  for (const group of groups) for (const cells of source.rowsOf(group)) out.push({ id: group.id, cells })
  return out
}

interface Built {
  readonly owner: object
  readonly signature: string
  readonly select: string
  /** Rows deleted since the table was written whole: DuckDB keeps them (memory, and scans skip them). */
  readonly deleted: number
}

/**
 * The caches as DuckDB tables that `last_cache()` and `distinct_cache()` read: one table per cache, kept current
 * from the cache's changes when a query reads it (rows of the groups changed since the last read are deleted and
 * written again, in one transaction), so a query of an unchanged cache costs DuckDB nothing before the query itself.
 * Each table has a hidden `_g` column, the group's id. Syncs run one at a time on their own connection; queries read
 * the committed table from theirs. Deleted rows stay in a DuckDB table's memory until it is written again, so once
 * they outnumber the live rows the table is copied into a new one (amortised O(1) per changed row).
 */
export class CacheTables {
  private conn: DuckDBConnection | undefined
  private changes = 0
  private readonly built = new Map<string, Built>()
  private queue: Promise<unknown> = Promise.resolve()

  constructor(
    private readonly instance: DuckDBInstance,
    /** Whether a table name still belongs to a defined cache (others are dropped). */
    private readonly isLive: (name: string) => boolean
  ) {}

  /** Brings a cache's table up to date with the cache and returns the SELECT that reads it. */
  read<G extends CacheGroup>(source: CacheTableSource<G>): Promise<string> {
    const started = performance.now()
    const run = this.queue.then(() => this.sync(source))
    this.queue = run.catch(() => undefined)
    if (source.kind !== "last") return run
    return run.then((select) => {
      influxLastCacheQueryDuration.unsafeUpdate((performance.now() - started) / 1000, [])
      return select
    })
  }

  /** Counts the times a cache's table was changed: a prepared statement is reused only while it has not moved. */
  get version(): number {
    return this.changes
  }

  close(): void {
    this.conn?.closeSync()
    this.conn = undefined
  }

  private async sync<G extends CacheGroup>(source: CacheTableSource<G>): Promise<string> {
    const changes = source.changes()
    const signature = source.columns.map((c) => `${c.name}\u0000${c.type}`).join("\u0000")
    const built = this.built.get(source.name)
    const current = built !== undefined && built.owner === source.owner && built.signature === signature
    if (current && changes !== "all" && changes.size === 0) return built.select
    this.changes++
    const conn = (this.conn ??= await this.connect())
    await this.dropDead(conn)
    const table = `${SCHEMA}.${quote(source.name)}`
    const select =
      `SELECT ${source.columns.map((c) => quote(c.name)).join(", ")} FROM ${table}` +
      (source.orderBy === "" ? "" : ` ORDER BY ${source.orderBy}`)
    this.built.delete(source.name)
    let deleted = 0
    try {
      if (built === undefined || !current || changes === "all" || changes.size * 2 > source.size()) {
        const create = `CREATE OR REPLACE TABLE ${table} (_g BIGINT${source.columns.map((c) => `, ${quote(c.name)} ${duckTypeName[c.type]}`).join("")})`
        await conn.run(`BEGIN TRANSACTION; ${create}`)
        await this.append(conn, source, rowsOf(source, source.groups()))
        await conn.run("COMMIT")
      } else {
        const changed: Array<G> = []
        for (const group of changes.values()) if (group !== undefined) changed.push(group)
        const rows = rowsOf(source, changed)
        // About as many rows as were written over (a removed group had at least one).
        deleted = built.deleted + rows.length + (changes.size - changed.length)
        const compact = deleted > 2 * source.rows() + 1024
        if (compact) deleted = 0
        const script = [`BEGIN TRANSACTION`, `DELETE FROM ${table} WHERE ${groupsSql([...changes.keys()])}`]
        const literal = rows.length <= LITERAL_ROWS
        if (literal && rows.length > 0) {
          const values = rows.map(({ id, cells }) =>
            `(${id}${cells.map((v, i) => `, ${cellSql(v, source.columns[i]!.type)}`).join("")})`
          )
          script.push(`INSERT INTO ${table} VALUES ${values.join(", ")}`)
        }
        if (!literal) {
          await conn.run(script.join("; "))
          await this.append(conn, source, rows)
          script.length = 0
        }
        if (compact) script.push(`CREATE OR REPLACE TABLE ${table} AS SELECT * FROM ${table}`)
        script.push("COMMIT")
        await conn.run(script.join("; "))
      }
    } catch (error) {
      // The changes taken are lost to this table: the next read builds it again from the whole cache.
      await conn.run("ROLLBACK").catch(() => undefined)
      throw error
    } finally {
      // Counted before and after: a statement prepared while the change was under way is not kept past it.
      this.changes++
    }
    this.built.set(source.name, { owner: source.owner, signature, select, deleted })
    return select
  }

  /** Appends rows to a source's table, in the connection's open transaction. */
  private async append(
    conn: DuckDBConnection,
    { name, columns }: CacheTableSource<CacheGroup>,
    rows: ReadonlyArray<IdentifiedRow>
  ): Promise<void> {
    const appender = await conn.createAppender(name, SCHEMA)
    try {
      const types = columns.map((c) => c.type)
      for (const { id, cells } of rows) {
        appender.appendBigInt(BigInt(id))
        for (let i = 0; i < types.length; i++) appendCell(appender, cells[i] ?? null, types[i]!)
        appender.endRow()
      }
      appender.flushSync()
    } finally {
      appender.closeSync()
    }
  }

  private async connect(): Promise<DuckDBConnection> {
    const conn = await this.instance.connect()
    await conn.run(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA}`)
    return conn
  }

  /** Drops the tables of caches deleted since (their memory is the cache's size again). */
  private async dropDead(conn: DuckDBConnection): Promise<void> {
    for (const name of [...this.built.keys()]) {
      if (this.isLive(name)) continue
      this.built.delete(name)
      await conn.run(`DROP TABLE IF EXISTS ${SCHEMA}.${quote(name)}`)
    }
  }
}
