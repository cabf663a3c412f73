import type { DuckDBConnection } from "@duckdb/node-api"
import { sqlIdentifier as quote, sqlString as literal } from "../query/literal.ts"
import { windowFileSql, type ImportPlan } from "./plan.ts"

/**
 * How an input's rows become one Parquet file per 24-hour window, sorted by series key then time, with as few passes
 * as the rows allow: one aggregate pass for the facts (windows, bad rows, duplicates), one for the series, then per
 * window one sort and write. Series are sorted by an integer rank (a hash join against the input's few distinct
 * series) rather than by every tag string, and the rank is turned back into tags after the sort: the sort then moves
 * only integers, a time and the fields. Most of what is left is the Parquet writer's own work.
 */

const DAY_NS = 86_400_000_000_000n
/** Most series × tags for which window files are sorted by series rank; beyond it, by the tag strings. */
export const RANKED_SERIES_MAX_VALUES = 200_000
const SERIES_TABLE = "import_series"
/** The schema of the enum types of an input's tags. */
const TAG_TYPES = "import_tags"
/** Most values of a tag written as an enum (its whole dictionary goes into every row group). */
const ENUM_MAX_VALUES = 4_096

/** The window (days since the epoch, floored) of `time`, as SQL. */
const windowExpr = () => {
  const e = "epoch_ns(time)"
  return `(${e} // ${DAY_NS} - CASE WHEN ${e} % ${DAY_NS} < 0 THEN 1 ELSE 0 END)`
}

/** One window's rows that can be imported. */
export interface WindowFacts {
  readonly day: bigint
  readonly rows: number
  readonly minTimeNs: bigint
  readonly maxTimeNs: bigint
}

/** What one pass over an input's rows tells: its windows, its bad rows, whether two rows share series and time. */
export interface InputFacts {
  readonly windows: ReadonlyArray<WindowFacts>
  /** Rows that can be imported. */
  readonly total: number
  /** Rows that cannot (`__err` set). */
  readonly errors: number
  readonly duplicates: boolean
}

/** Reads the facts of `rows` (a relation of planned rows: typed columns, `__row`, `__err`) in one aggregate pass. */
export const inputFacts = async (c: DuckDBConnection, plan: ImportPlan, rows: string): Promise<InputFacts> => {
  const ok = "FILTER (WHERE __err IS NULL)"
  // A hash per row: a collision only costs a merge that was not needed.
  const key = `hash(${[...plan.tags.map((t) => quote(t.name)), "time"].join(", ")})`
  const result = await c.runAndReadAll(
    `SELECT ${windowExpr()} AS __w, count(*) ${ok}, count(*) FILTER (WHERE __err IS NOT NULL), ` +
      `count(DISTINCT ${key}) ${ok}, epoch_ns(min(time) ${ok}), epoch_ns(max(time) ${ok}) ` +
      `FROM ${rows} GROUP BY __w ORDER BY __w`
  )
  let total = 0
  let errors = 0
  let duplicates = false
  const windows: Array<WindowFacts> = []
  for (const r of result.getRows()) {
    const valid = Number(r[1])
    errors += Number(r[2])
    if (valid === 0) continue
    total += valid
    if (Number(r[3]) < valid) duplicates = true
    const [minTimeNs, maxTimeNs] = [BigInt(r[4] as bigint), BigInt(r[5] as bigint)]
    windows.push({ day: BigInt(r[0] as bigint), rows: valid, minTimeNs, maxTimeNs })
  }
  return { windows, total, errors, duplicates }
}

/** How window files are sorted: by the rank of each row's series (with each tag's values by rank), or by the tags. */
export type SeriesOrder =
  | { readonly kind: "rank"; readonly lookups: ReadonlyArray<string> }
  | { readonly kind: "tags" }

/** The tags in sort order: the table's series key first, then the others. */
const sortedTags = (plan: ImportPlan, seriesKey: ReadonlyArray<string>) => {
  const tags = plan.tags.map((t) => t.name)
  return [...seriesKey.filter((n) => tags.includes(n)), ...tags.filter((n) => !seriesKey.includes(n))]
}

/**
 * Ranks the distinct series of `rows` by series key into a temp table (with each series' hash), and answers how
 * window files are to be sorted: by rank when the series are few enough to spell each tag's values as a list and no
 * two of them share a hash; by the tag strings otherwise.
 */
export const rankSeries = async (
  c: DuckDBConnection,
  plan: ImportPlan,
  rows: string,
  seriesKey: ReadonlyArray<string>,
  errors: boolean
): Promise<SeriesOrder> => {
  if (plan.tags.length === 0) return { kind: "rank", lookups: [] }
  const tags = plan.tags.map((t) => quote(t.name))
  const order = sortedTags(plan, seriesKey).map(quote)
  const where = errors ? "WHERE __err IS NULL" : ""
  await c.run(
    `CREATE OR REPLACE TEMP TABLE ${SERIES_TABLE} AS SELECT hash(${tags.join(", ")}) AS __h, ${tags.join(", ")}, ` +
      `row_number() OVER (ORDER BY ${order.join(", ")}) AS __rank FROM (SELECT DISTINCT ${tags.join(", ")} FROM ${rows} ${where})`
  )
  const [series, hashes] = (await c.runAndReadAll(`SELECT count(*), count(DISTINCT __h) FROM ${SERIES_TABLE}`)).getRows()[0]!
  if (Number(series) !== Number(hashes) || Number(series) * tags.length > RANKED_SERIES_MAX_VALUES) return { kind: "tags" }
  const lists = (
    await c.runAndReadAll(`SELECT ${tags.map((t) => `list(${t} ORDER BY __rank)`).join(", ")} FROM ${SERIES_TABLE}`)
  ).getRows()[0]!
  const lookups: Array<string> = []
  await c.run(`CREATE SCHEMA IF NOT EXISTS ${TAG_TYPES}`)
  for (const [i, t] of plan.tags.entries()) {
    const values = (lists[i] as { readonly items: ReadonlyArray<string | null> }).items
    const list = `[${values.map((v) => (v === null ? "NULL" : literal(v))).join(", ")}]`
    const distinct = [...new Set(values.filter((v): v is string => v !== null))]
    if (distinct.length > ENUM_MAX_VALUES) {
      lookups.push(`${list}[__rank] AS ${quote(t.name)}`)
      continue
    }
    // An enum's values are written as the column chunk's dictionary, without hashing each row's string.
    await c.run(`CREATE TYPE ${TAG_TYPES}.t${i} AS ENUM (${distinct.map(literal).join(", ")})`)
    lookups.push(`CAST(${list} AS ${TAG_TYPES}.t${i}[])[__rank] AS ${quote(t.name)}`)
  }
  return { kind: "rank", lookups }
}

/** Drops what `rankSeries` made. */
export const dropSeriesSql = [`DROP TABLE IF EXISTS temp.${SERIES_TABLE}`, `DROP SCHEMA IF EXISTS ${TAG_TYPES} CASCADE`]

/**
 * The SQL of one window's file from `rows`: its rows that can be imported, sorted by series key then time; with
 * `merge`, one row per series and time (field by field the later row's value wins, as queries merge).
 */
export const windowSql = (
  plan: ImportPlan,
  rows: string,
  order: SeriesOrder,
  day: bigint,
  options: { readonly merge: boolean; readonly errors: boolean; readonly seriesKey: ReadonlyArray<string> }
): string => {
  const [from, to] = [day * DAY_NS, (day + 1n) * DAY_NS]
  if (order.kind === "tags") {
    const valid = options.errors ? `(SELECT * FROM ${rows} WHERE __err IS NULL)` : rows
    return windowFileSql(plan, valid, from, to, options.seriesKey, options.merge)
  }
  const fields = plan.fields.map((f) => quote(f.name))
  const where =
    `WHERE s.time >= make_timestamp_ns(${from}) AND s.time < make_timestamp_ns(${to})` +
    (options.errors ? " AND s.__err IS NULL" : "")
  const joined =
    plan.tags.length === 0
      ? `${rows} AS s`
      : `${rows} AS s JOIN ${SERIES_TABLE} AS r ON hash(${plan.tags.map((t) => `s.${quote(t.name)}`).join(", ")}) = r.__h`
  const keys = plan.tags.length === 0 ? "s.time" : "r.__rank, s.time"
  const rank = plan.tags.length === 0 ? "" : "r.__rank, "
  const inner = options.merge
    ? `SELECT ${rank}s.time, ` +
      `${fields.map((f) => `arg_max(s.${f}, s.__row) FILTER (WHERE s.${f} IS NOT NULL) AS ${f}`).join(", ")} ` +
      `FROM ${joined} ${where} GROUP BY ${keys} ORDER BY ${keys}`
    : `SELECT ${rank}s.time, ${fields.map((f) => `s.${f}`).join(", ")} FROM ${joined} ${where} ORDER BY ${keys}`
  return `SELECT ${[...order.lookups, "time", ...fields].join(", ")} FROM (${inner}) AS o`
}

/** The rows a written file holds, from its footer. */
export const fileRowsSql = (path: string) => `SELECT coalesce(sum(num_rows), 0) FROM parquet_file_metadata(${literal(path)})`
