import { Data } from "effect"
import type { CatalogState, DatabaseState, TableState } from "../catalog/state.ts"
import type { KeyFilter, ShowStatement, Source } from "./ast.ts"
import { sqlIdentifier, sqlString } from "../query/literal.ts"
import { resolveSources, whereSql } from "./planner.ts"
import { Fail } from "./select/failure.ts"
import { compileRegex, isRegexError } from "./regex.ts"

/**
 * SHOW statements. Each is planned to SQL whose rows are the v3 endpoint's flat rows (first column
 * `iox::measurement` or `iox::database`); the v1 endpoint groups the same rows into series. Catalog listings become
 * SQL over literal rows, so both endpoints share one path.
 */

export interface ShowPlan {
  readonly _tag: "show"
  /** The flat rows' SQL; its first column names the series (measurement) unless `seriesName` is fixed. */
  readonly sql: string
  /**
   * v1: a fixed series name (`databases`, `measurements`); `null` for a series without a name; else the first column.
   */
  readonly seriesName?: string | null
  /** v1: the columns of each series, taken from the flat rows by name. */
  readonly v1Columns: ReadonlyArray<string>
  /** v1: the flat columns those come from, when they differ (by position with v1Columns). */
  readonly v1From?: ReadonlyArray<string>
}

export class ShowFailure extends Data.TaggedError("ShowFailure")<{ readonly message: string }> {}

const q = sqlIdentifier
const lit = (v: string | boolean | number) => (typeof v === "string" ? sqlString(v) : String(v))

/** Literal rows as SQL with named columns (typed VARCHAR unless given), empty-safe. */
const valuesSql = (
  columns: ReadonlyArray<readonly [string, string]>,
  rows: ReadonlyArray<ReadonlyArray<string | boolean | number>>
) => {
  if (rows.length === 0)
    return `SELECT ${columns.map(([n, t]) => `CAST(NULL AS ${t}) AS ${q(n)}`).join(", ")} WHERE false`
  return `SELECT ${columns.map(([n, t]) => `CAST(${q(n)} AS ${t}) AS ${q(n)}`).join(", ")} FROM (VALUES ${rows.map((r) => `(${r.map(lit).join(", ")})`).join(", ")}) AS v(${columns.map(([n]) => q(n)).join(", ")})`
}

const VARCHAR = "VARCHAR"

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)

/** Go's duration text (`0s`, `168h0m0s`) for a retention period. */
const goDuration = (ns: bigint | null) => {
  if (ns === null || ns === 0n) return "0s"
  const totalSeconds = ns / 1_000_000_000n
  const h = totalSeconds / 3600n
  const m = (totalSeconds % 3600n) / 60n
  const s = totalSeconds % 60n
  return h > 0n ? `${h}h${m}m${s}s` : m > 0n ? `${m}m${s}s` : `${s}s`
}

/** A `WITH KEY` / `WITH MEASUREMENT` filter as a predicate; a pattern is compiled once, with RE2 (linear time). */
const keyFilter = (filter: KeyFilter | undefined): ((value: string) => boolean) => {
  if (filter === undefined) return () => true
  switch (filter.op) {
    case "=":
      return (value) => value === filter.value
    case "!=":
      return (value) => value !== filter.value
    case "in":
      return (value) => filter.values.includes(value)
    case "=~":
    case "!~": {
      const re = compileRegex(filter.pattern)
      if (isRegexError(re)) throw planFailure(re.message)
      return filter.op === "=~" ? re.test : (value) => !re.test(value)
    }
  }
}

const planFailure = (message: string) => new Fail(message)

const tablesOf = (db: DatabaseState, from: ReadonlyArray<Source>): Array<TableState> =>
  from.length === 0 ? [...db.tables.values()].filter((t) => !t.deleted).sort(byName) : resolveSources(from, db)

const tagsOf = (t: TableState) => t.columns.filter((c) => c.type === "tag").map((c) => c.name).sort()

const fieldTypeName = { float: "float", integer: "integer", uinteger: "unsigned", string: "string", boolean: "boolean" } as const

const window = (rows: Array<Array<string | boolean | number>>, limit?: number, offset?: number) =>
  rows.slice(offset ?? 0, limit === undefined || limit <= 0 ? undefined : (offset ?? 0) + limit)

/**
 * Plans SHOW DATABASES over the databases `visible` admits: v3 sorted with deleted last; v1 in creation order, live
 * only.
 */
export const planShowDatabases = (state: CatalogState, v1: boolean, visible: (db: string) => boolean): ShowPlan => {
  const all = [...state.databases.values()].filter((d) => visible(d.name))
  if (v1) {
    const live = all.filter((d) => !d.deleted).sort((a, b) => a.id - b.id)
    return { _tag: "show", sql: valuesSql([["name", VARCHAR]], live.map((d) => [d.name])), seriesName: "databases", v1Columns: ["name"] }
  }
  const sorted = all.sort((a, b) =>
    a.deleted !== b.deleted ? (a.deleted ? 1 : -1) : a.name < b.name ? -1 : a.name > b.name ? 1 : 0
  )
  return {
    _tag: "show",
    sql: valuesSql([["iox::database", VARCHAR], ["deleted", "BOOLEAN"]], sorted.map((d) => [d.name, d.deleted])),
    seriesName: "databases",
    v1Columns: ["name"],
    v1From: ["iox::database"]
  }
}

/**
 * Plans SHOW RETENTION POLICIES for one database (v1: name is the database, as InfluxDB 3 answers) or all `visible`
 * (v3).
 */
export const planShowRetentionPolicies = (
  state: CatalogState,
  db: DatabaseState | undefined,
  v1: boolean,
  visible: (db: string) => boolean
): ShowPlan => {
  if (v1 && db !== undefined) {
    return {
      _tag: "show",
      sql: valuesSql(
        [
          ["name", VARCHAR],
          ["duration", VARCHAR],
          ["default", "BOOLEAN"]
        ],
        [[db.name, goDuration(db.retentionPeriodNs), true]]
      ),
      seriesName: "retention_policies",
      v1Columns: ["name", "duration", "default"]
    }
  }
  const dbs =
    db !== undefined ? [db] : [...state.databases.values()].filter((d) => !d.deleted && visible(d.name)).sort(byName)
  return {
    _tag: "show",
    sql: valuesSql(
      [
        ["iox::database", VARCHAR],
        ["name", VARCHAR],
        ["duration", VARCHAR]
      ],
      dbs.map((d) => [d.name, "autogen", goDuration(d.retentionPeriodNs)])
    ),
    seriesName: "retention_policies",
    v1Columns: ["name", "duration"]
  }
}

/** Plans the SHOW statements that read one database. */
export const planShow = (stmt: ShowStatement, db: DatabaseState): ShowPlan | ShowFailure => {
  const conditionSql = (table: TableState): string | undefined => {
    if (!("where" in stmt) || stmt.where === undefined) return undefined
    const sql = whereSql(stmt.where, table)
    if (typeof sql !== "string") throw planFailure(sql.message)
    return sql
  }
  try {
    return planShowIn(stmt, db, conditionSql)
  } catch (e) {
    if (e instanceof Error && e.name === "PlanFailure") return new ShowFailure({ message: e.message })
    throw e
  }
}

const planShowIn = (
  stmt: ShowStatement,
  db: DatabaseState,
  conditionSql: (table: TableState) => string | undefined
): ShowPlan => {
  switch (stmt._tag) {
    case "showMeasurements": {
      const measurement = keyFilter(stmt.measurement)
      const tables = [...db.tables.values()].filter((t) => !t.deleted && measurement(t.name)).sort(byName)
      if (stmt.where !== undefined) {
        // Only measurements with a point matching the condition.
        const parts = tables.map(
          (t) =>
            `SELECT 'measurements' AS "iox::measurement", ${lit(t.name)} AS "name" WHERE EXISTS (SELECT 1 FROM ${q(t.name)} WHERE ${conditionSql(t) ?? "TRUE"})`
        )
        const sql =
          parts.length === 0
            ? valuesSql(
                [
                  ["iox::measurement", VARCHAR],
                  ["name", VARCHAR]
                ],
                []
              )
            : `SELECT * FROM (${parts.join(" UNION ALL ")}) ORDER BY "name"${limitSql(stmt.limit, stmt.offset)}`
        return { _tag: "show", sql, seriesName: "measurements", v1Columns: ["name"] }
      }
      const rows = window(
        tables.map((t) => ["measurements", t.name]),
        stmt.limit,
        stmt.offset
      )
      return {
        _tag: "show",
        sql: valuesSql(
          [
            ["iox::measurement", VARCHAR],
            ["name", VARCHAR]
          ],
          rows
        ),
        seriesName: "measurements",
        v1Columns: ["name"]
      }
    }
    case "showTagKeys": {
      const rows = tablesOf(db, stmt.from).flatMap((t) =>
        window(
          tagsOf(t).map((k) => [t.name, k]),
          stmt.limit,
          stmt.offset
        )
      )
      return {
        _tag: "show",
        sql: valuesSql(
          [
            ["iox::measurement", VARCHAR],
            ["tagKey", VARCHAR]
          ],
          rows
        ),
        v1Columns: ["tagKey"]
      }
    }
    case "showFieldKeys": {
      const rows = tablesOf(db, stmt.from).flatMap((t) =>
        window(
          t.columns
            .filter((c) => c.type !== "tag" && c.type !== "time")
            .sort(byName)
            .map((c) => [t.name, c.name, fieldTypeName[c.type as keyof typeof fieldTypeName]]),
          stmt.limit,
          stmt.offset
        )
      )
      return {
        _tag: "show",
        sql: valuesSql(
          [
            ["iox::measurement", VARCHAR],
            ["fieldKey", VARCHAR],
            ["fieldType", VARCHAR]
          ],
          rows
        ),
        v1Columns: ["fieldKey", "fieldType"]
      }
    }
    case "showTagValues": {
      const parts: Array<string> = []
      const key = keyFilter(stmt.key)
      for (const t of tablesOf(db, stmt.from)) {
        const cond = conditionSql(t)
        const keys = tagsOf(t).filter(key)
        if (keys.length === 0) continue
        const perKey = keys.map(
          (k) =>
            `SELECT DISTINCT ${lit(t.name)} AS "iox::measurement", ${lit(k)} AS "key", ${q(k)} AS "value" FROM ${q(t.name)} WHERE ${q(k)} IS NOT NULL${cond === undefined ? "" : ` AND ${cond}`}`
        )
        parts.push(
          `SELECT * FROM (SELECT * FROM (${perKey.join(" UNION ALL ")}) QUALIFY row_number() OVER (ORDER BY "key", "value") > ${stmt.offset ?? 0}${stmt.limit !== undefined && stmt.limit > 0 ? ` AND row_number() OVER (ORDER BY "key", "value") <= ${(stmt.offset ?? 0) + stmt.limit}` : ""})`
        )
      }
      const sql =
        parts.length === 0
          ? valuesSql(
              [
                ["iox::measurement", VARCHAR],
                ["key", VARCHAR],
                ["value", VARCHAR]
              ],
              []
            )
          : `SELECT * FROM (${parts.join(" UNION ALL ")}) ORDER BY "iox::measurement", "key", "value"`
      return { _tag: "show", sql, v1Columns: ["key", "value"] }
    }
    case "showSeries": {
      const parts: Array<string> = []
      for (const t of tablesOf(db, stmt.from)) {
        const cond = conditionSql(t)
        const escape = (s: string) => `replace(replace(replace(${s}, ',', '\\,'), '=', '\\='), ' ', '\\ ')`
        const key = [
          lit(t.name.replace(/[, ]/g, (c) => "\\" + c)),
          ...tagsOf(t).map((k) => `coalesce(${lit(`,${k}=`)} || ${escape(q(k))}, '')`)
        ].join(" || ")
        parts.push(
          `SELECT DISTINCT ${lit(t.name)} AS "iox::measurement", ${key} AS "key" FROM ${q(t.name)}${cond === undefined ? "" : ` WHERE ${cond}`}`
        )
      }
      const sql =
        parts.length === 0
          ? valuesSql(
              [
                ["iox::measurement", VARCHAR],
                ["key", VARCHAR]
              ],
              []
            )
          : `SELECT * FROM (${parts.join(" UNION ALL ")}) ORDER BY "key"${limitSql(stmt.limit, stmt.offset)}`
      return { _tag: "show", sql, seriesName: null, v1Columns: ["key"] }
    }
    default:
      throw new Error(`not a database SHOW statement: ${stmt._tag}`)
  }
}

const limitSql = (limit?: number, offset?: number) => `${limit !== undefined && limit > 0 ? ` LIMIT ${limit}` : ""}${offset !== undefined && offset > 0 ? ` OFFSET ${offset}` : ""}`

/** The database a SHOW statement names (`ON db`, or `FROM db.rp.m`). */
export const showDatabase = (stmt: ShowStatement): string | undefined => {
  if ("on" in stmt && stmt.on !== undefined) return stmt.on
  if ("from" in stmt) return stmt.from.find((s) => s.db !== undefined)?.db
  return undefined
}
