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

/** Changed rows up to this many go to DuckDB as one SQL script (one round trip); more go through an appender. */
const LITERAL_ROWS = 256

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

interface Built {
  readonly owner: object
  readonly signature: string
  readonly select: string
}

/**
 * The caches as DuckDB tables that `last_cache()` and `distinct_cache()` read: one table per cache, kept current
 * from the cache's changes when a query reads it (rows of the groups changed since the last read are deleted and
 * written again, in one transaction), so a query of an unchanged cache costs DuckDB nothing before the query itself.
 * Each table has a hidden `_g` column, the group's id. Syncs run one at a time on their own connection; queries read
 * the committed table from theirs.
 */
export class CacheTables {
  private conn: DuckDBConnection | undefined
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
    const conn = (this.conn ??= await this.connect())
    await this.dropDead(conn)
    const table = `${SCHEMA}.${quote(source.name)}`
    const select =
      `SELECT ${source.columns.map((c) => quote(c.name)).join(", ")} FROM ${table}` +
      (source.orderBy === "" ? "" : ` ORDER BY ${source.orderBy}`)
    this.built.delete(source.name)
    try {
      if (!current || changes === "all" || changes.size * 2 > source.size()) {
        const create = current
          ? `DELETE FROM ${table}`
          : `CREATE OR REPLACE TABLE ${table} (_g BIGINT${source.columns.map((c) => `, ${quote(c.name)} ${duckTypeName[c.type]}`).join("")})`
        await conn.run(`BEGIN TRANSACTION; ${create}`)
        await this.append(conn, source, source.groups())
      } else {
        const changed = [...changes.values()].filter((g): g is G => g !== undefined)
        const deleted = `DELETE FROM ${table} WHERE _g IN (${[...changes.keys()].join(", ")})`
        const rows: Array<string> = []
        for (const group of changed) {
          for (const row of source.rowsOf(group))
            rows.push(`(${group.id}${row.map((v, i) => `, ${cellSql(v, source.columns[i]!.type)}`).join("")})`)
          if (rows.length > LITERAL_ROWS) break
        }
        if (rows.length <= LITERAL_ROWS) {
          const inserted = rows.length === 0 ? "" : `; INSERT INTO ${table} VALUES ${rows.join(", ")}`
          await conn.run(`BEGIN TRANSACTION; ${deleted}${inserted}`)
        } else {
          await conn.run(`BEGIN TRANSACTION; ${deleted}`)
          await this.append(conn, source, changed)
        }
      }
      await conn.run("COMMIT")
    } catch (error) {
      // The changes taken are lost to this table: the next read builds it again from the whole cache.
      await conn.run("ROLLBACK").catch(() => undefined)
      throw error
    }
    this.built.set(source.name, { owner: source.owner, signature, select })
    return select
  }

  private async append<G extends CacheGroup>(
    conn: DuckDBConnection,
    source: CacheTableSource<G>,
    groups: Iterable<G>
  ): Promise<void> {
    const appender = await conn.createAppender(source.name, SCHEMA)
    try {
      const types = source.columns.map((c) => c.type)
      for (const group of groups) {
        const id = BigInt(group.id)
        for (const row of source.rowsOf(group)) {
          appender.appendBigInt(id)
          for (let i = 0; i < types.length; i++) appendCell(appender, row[i] ?? null, types[i]!)
          appender.endRow()
        }
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
