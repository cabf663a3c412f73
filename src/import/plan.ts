import type { TableState } from "../catalog/state.ts"
import type { ColumnType } from "../events/index.ts"
import { duckTypeName } from "../query/virtualTables.ts"
import { sqlIdentifier as quote, sqlString as literal } from "../query/literal.ts"

/** The column types a column mapping names, as the seed's `BulkImportColumnType`. */
export const IMPORT_TYPES = ["i64", "u64", "f64", "bool", "string", "time", "tag"] as const
export type ImportColumnType = (typeof IMPORT_TYPES)[number]

const columnTypeOf: Record<ImportColumnType, ColumnType> = { i64: "integer", u64: "uinteger", f64: "float", bool: "boolean", string: "string", time: "time", tag: "tag" }
const importTypeOf: Record<ColumnType, ImportColumnType> = { integer: "i64", uinteger: "u64", float: "f64", boolean: "bool", string: "string", time: "time", tag: "tag" }

/** The formats a job reads. */
export type ImportFormat = "parquet" | "csv" | "ndjson" | "lp"
export const IMPORT_FORMATS: ReadonlyArray<ImportFormat> = ["parquet", "csv", "ndjson", "lp"]

/** The format a file name's extension implies, or undefined. */
export const formatOfName = (name: string): ImportFormat | undefined => {
  const n = name.toLowerCase().replace(/\.gz$/, "")
  if (n.endsWith(".parquet")) return "parquet"
  if (n.endsWith(".csv")) return "csv"
  if (n.endsWith(".ndjson") || n.endsWith(".jsonl") || n.endsWith(".json")) return "ndjson"
  if (n.endsWith(".lp") || n.endsWith(".txt")) return "lp"
  return undefined
}

/**
 * Reads `column_metadata`: `{"column_mapping": {...}}` (the key also spelled `schema` or `column_metadata`), or the
 * map itself. Answers the mapping or a message naming what is wrong.
 */
export const parseColumnMetadata = (
  value: unknown
): { readonly mapping: Readonly<Record<string, ImportColumnType>> } | { readonly error: string } => {
  let parsed = value
  if (typeof value === "string") {
    if (value.trim() === "") return { mapping: {} }
    try {
      parsed = JSON.parse(value)
    } catch (e) {
      return { error: `malformed column_metadata: ${(e as Error).message}` }
    }
  }
  if (parsed === null || parsed === undefined) return { mapping: {} }
  if (typeof parsed !== "object" || Array.isArray(parsed))
    return { error: "malformed column_metadata: expected a JSON object with column_mapping" }
  const obj = parsed as Record<string, unknown>
  const keys = ["column_mapping", "schema", "column_metadata"].filter((k) => k in obj)
  if (keys.length > 1) return { error: `malformed column_metadata: give one of ${keys.join(", ")}, not several` }
  const map = keys.length === 1 ? obj[keys[0]!] : obj
  if (map === null || typeof map !== "object" || Array.isArray(map))
    return { error: "malformed column_metadata: column_mapping must be an object of column name to type" }
  const mapping: Record<string, ImportColumnType> = {}
  for (const [name, type] of Object.entries(map as Record<string, unknown>)) {
    if (typeof type !== "string" || !(IMPORT_TYPES as ReadonlyArray<string>).includes(type)) {
      return {
        error: `malformed column_metadata: column '${name}' has type ${JSON.stringify(type)}; expected one of ${IMPORT_TYPES.join(", ")}`
      }
    }
    if (name === "") return { error: "malformed column_metadata: a column name is empty" }
    mapping[name] = type as ImportColumnType
  }
  return { mapping }
}

/** One column of the source: its name and DuckDB type (VARCHAR for every column of text formats). */
export interface SourceColumn {
  readonly name: string
  readonly type: string
  /** For text values: the type a sample of them reads as (unmapped columns take it). */
  readonly inferred?: ColumnType | undefined
}

/** How one source column lands in the table. */
export interface PlannedColumn {
  readonly source: string
  /** The table column (`time` for the time column). */
  readonly name: string
  readonly type: ColumnType
  readonly sourceType: string
}

/** Where every source column goes: the time column, then tags and fields. */
export interface ImportPlan {
  readonly time: PlannedColumn
  readonly tags: ReadonlyArray<PlannedColumn>
  readonly fields: ReadonlyArray<PlannedColumn>
}

const INTS = ["TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"]
const UINTS = ["UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"]
const isInt = (t: string) => INTS.includes(t)
const isUint = (t: string) => UINTS.includes(t)
const isFloat = (t: string) => t === "DOUBLE" || t === "FLOAT" || t === "REAL" || t.startsWith("DECIMAL")
const isTime = (t: string) => t.startsWith("TIMESTAMP") || t === "DATE"
const isText = (t: string) => t === "VARCHAR"

/** The column type a source type imports as when unmapped, or undefined when it has none. */
export const inferredType = (sourceType: string): ColumnType | undefined =>
  isInt(sourceType) ? "integer" : isUint(sourceType) ? "uinteger" : isFloat(sourceType) ? "float" : sourceType === "BOOLEAN" ? "boolean" : isText(sourceType) ? "string" : undefined

/** Whether a source column of `sourceType` can be read as `type` (text reads as anything, row by row). */
const readableAs = (sourceType: string, type: ColumnType): boolean => {
  if (isText(sourceType)) return true
  switch (type) {
    case "tag":
    case "string":
      return true
    case "float":
      return isInt(sourceType) || isUint(sourceType) || isFloat(sourceType)
    case "integer":
    case "uinteger":
      return isInt(sourceType) || isUint(sourceType)
    case "boolean":
      return sourceType === "BOOLEAN"
    case "time":
      return isTime(sourceType) || isInt(sourceType) || isUint(sourceType)
  }
}

/**
 * Decides where each source column goes, against the table (undefined when it is to be created): the mapping's
 * types, else the table's type of that column, else one inferred from the source type. Answers the plan or a
 * message naming the column at fault.
 */
export const planImport = (
  columns: ReadonlyArray<SourceColumn>,
  mapping: Readonly<Record<string, ImportColumnType>>,
  table: TableState | undefined
): { readonly plan: ImportPlan } | { readonly error: string } => {
  const byName = new Map(columns.map((c) => [c.name, c]))
  for (const name of Object.keys(mapping)) {
    if (!byName.has(name)) return { error: `column_metadata maps column '${name}', which the file does not have (its columns: ${columns.map((c) => c.name).join(", ")})` }
  }
  const timeMapped = Object.entries(mapping).filter(([, t]) => t === "time").map(([n]) => n)
  if (timeMapped.length > 1) return { error: `column_metadata maps several columns as time: ${timeMapped.join(", ")}` }
  const timeName = timeMapped[0] ?? (byName.has("time") ? "time" : undefined)
  if (timeName === undefined) return { error: `no time column: the file has no column named 'time' and column_metadata maps none as time (its columns: ${columns.map((c) => c.name).join(", ")})` }
  const timeSource = byName.get(timeName)!
  if (!readableAs(timeSource.type, "time")) return { error: `type mismatch: time column '${timeName}' is ${timeSource.type}, expected a timestamp or integer column` }
  const time: PlannedColumn = { source: timeName, name: "time", type: "time", sourceType: timeSource.type }
  const tags: Array<PlannedColumn> = []
  const fields: Array<PlannedColumn> = []
  for (const c of columns) {
    if (c.name === timeName) continue
    if (c.name === "time") return { error: `column 'time' of the file is not the time column ('${timeName}' is); map it to another name or leave it out` }
    const mapped = mapping[c.name]
    const existing = table?.columnsByName.get(c.name)
    let type: ColumnType | undefined = mapped === undefined ? undefined : columnTypeOf[mapped]
    if (existing !== undefined) {
      if (type !== undefined && type !== existing.type) {
        return { error: `type mismatch: column '${c.name}' is ${importTypeOf[existing.type]} in table '${table!.name}', but column_metadata maps it as ${mapped}` }
      }
      type = existing.type
    }
    type ??= c.inferred ?? inferredType(c.type)
    if (type === undefined) return { error: `type mismatch: column '${c.name}' is ${c.type}, which no column type holds; map it as one of ${IMPORT_TYPES.filter((t) => t !== "time").join(", ")}` }
    if (!readableAs(c.type, type)) {
      return { error: `type mismatch: column '${c.name}' is ${c.type} in the file, which cannot be read as ${importTypeOf[type]}${existing !== undefined ? ` (its type in table '${table!.name}')` : ""}` }
    }
    ;(type === "tag" ? tags : fields).push({ source: c.name, name: c.name, type, sourceType: c.type })
  }
  if (fields.length === 0) return { error: "the file has no field column: every column but time is a tag" }
  return { plan: { time, tags, fields } }
}

/** Nanoseconds per unit of an integer timestamp, by `precision`. */
export const PRECISIONS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  nanosecond: 1n,
  us: 1_000n,
  microsecond: 1_000n,
  ms: 1_000_000n,
  millisecond: 1_000_000n,
  s: 1_000_000_000n,
  second: 1_000_000_000n
}

/** The expression reading one planned column, typed; NULL where a value cannot be read. */
const typedExpr = (c: PlannedColumn, precisionNs: bigint): string => {
  const s = quote(c.source)
  if (c.type === "time") {
    if (c.sourceType === "TIMESTAMP_NS") return s
    if (isTime(c.sourceType)) return `CAST(${s} AS TIMESTAMP_NS)`
    const ints = `make_timestamp_ns(TRY_CAST(${s} AS BIGINT) * ${precisionNs})`
    if (!isText(c.sourceType)) return ints
    return `CASE WHEN regexp_full_match(trim(${s}), '[+-]?[0-9]+') THEN make_timestamp_ns(TRY_CAST(trim(${s}) AS BIGINT) * ${precisionNs}) ELSE TRY_CAST(trim(${s}) AS TIMESTAMP_NS) END`
  }
  const target = duckTypeName[c.type]
  if (c.type === "tag" || c.type === "string") return `CAST(${s} AS VARCHAR)`
  if (isText(c.sourceType) && (c.type === "integer" || c.type === "uinteger")) {
    return `CASE WHEN regexp_full_match(trim(${s}), '[+-]?[0-9]+') THEN TRY_CAST(trim(${s}) AS ${target}) END`
  }
  if (isText(c.sourceType) && c.type === "boolean") {
    return `CASE lower(trim(${s})) WHEN 'true' THEN true WHEN 't' THEN true WHEN 'false' THEN false WHEN 'f' THEN false END`
  }
  return `TRY_CAST(${isText(c.sourceType) ? `trim(${s})` : s} AS ${target})`
}

/**
 * The SQL of the planned rows over `source` (a relation with the source columns and `__row`, its 1-based row number):
 * the typed columns, `__row`, and `__err`, why the row cannot be imported (NULL when it can). With `raw`, only the
 * rows that cannot be imported, each with `__raw`, the source row as JSON (computed for those rows only).
 */
export const plannedRowsSql = (plan: ImportPlan, source: string, precisionNs: bigint, raw = false): string => {
  const all = [plan.time, ...plan.tags, ...plan.fields]
  const typed = all.map((c) => `${typedExpr(c, precisionNs)} AS ${quote(`__t_${c.name}`)}`)
  const checks = all.map((c) =>
    c.type === "time"
      ? `WHEN ${quote("__t_time")} IS NULL THEN ${literal(`time column '${c.source}': `)} || coalesce('cannot read ' || to_json(${quote(c.source)}::VARCHAR) || ' as a time', 'missing')`
      : `WHEN ${quote(c.source)} IS NOT NULL AND ${quote(`__t_${c.name}`)} IS NULL THEN ${literal(`column '${c.source}': cannot read `)} || to_json(${quote(c.source)}::VARCHAR) || ${literal(` as ${importTypeOf[c.type]}`)}`
  )
  const checked = `SELECT *, CASE ${checks.join(" ")} END AS __err FROM (SELECT *, ${typed.join(", ")} FROM ${source}) AS s`
  if (raw) {
    const json = `to_json(struct_pack(${all.map((c) => `${quote(c.source)} := ${quote(c.source)}`).join(", ")}))::VARCHAR`
    return `SELECT __row, __err, ${json} AS __raw FROM (${checked}) AS c WHERE __err IS NOT NULL`
  }
  return `SELECT ${all.map((c) => `${quote(`__t_${c.name}`)} AS ${quote(c.name)}`).join(", ")}, __row, __err FROM (${checked}) AS c`
}

/**
 * The SQL of one output file: the rows of one 24-hour window, sorted by series then time; `merge` keeps one per series
 * and time (the later row wins).
 */
export const windowFileSql = (
  plan: ImportPlan,
  rows: string,
  fromNs: bigint,
  toNs: bigint,
  seriesKey: ReadonlyArray<string>,
  merge = true
): string => {
  const tags = plan.tags.map((t) => t.name)
  const keys = [...tags.map(quote), "time"]
  const order = [...seriesKey.filter((n) => tags.includes(n)), ...tags.filter((n) => !seriesKey.includes(n))]
  const where = `WHERE time >= make_timestamp_ns(${fromNs}) AND time < make_timestamp_ns(${toNs})`
  const orderBy = `ORDER BY ${[...order.map(quote), "time"].join(", ")}`
  if (!merge)
    return `SELECT ${[...keys, ...plan.fields.map((f) => quote(f.name))].join(", ")} FROM ${rows} ${where} ${orderBy}`
  const fields = plan.fields.map(
    (f) => `arg_max(${quote(f.name)}, __row) FILTER (WHERE ${quote(f.name)} IS NOT NULL) AS ${quote(f.name)}`
  )
  return `SELECT ${[...keys, ...fields].join(", ")} FROM ${rows} ${where} GROUP BY ${keys.join(", ")} ${orderBy}`
}
/** Rows of a text source sampled to infer the types of unmapped columns; later rows that do not fit are row errors. */
export const INFERENCE_SAMPLE_ROWS = 10_000

/**
 * The SQL inferring each text column's type from a sample of `relation`: one row of flags per column, in order
 * (every non-empty value an integer, a number, a boolean).
 */
export const inferenceSql = (relation: string, columns: ReadonlyArray<string>): string => {
  const flags = columns.flatMap((c) => {
    const v = `trim(${quote(c)})`
    return [
      `bool_and(${quote(c)} IS NULL OR regexp_full_match(${v}, '[+-]?[0-9]+'))`,
      `bool_and(${quote(c)} IS NULL OR TRY_CAST(${v} AS DOUBLE) IS NOT NULL)`,
      `bool_and(${quote(c)} IS NULL OR lower(${v}) IN ('true', 'false'))`,
      `count(${quote(c)})`
    ]
  })
  return `SELECT ${flags.join(", ")} FROM (SELECT * FROM ${relation} LIMIT ${INFERENCE_SAMPLE_ROWS})`
}

/** Reads `inferenceSql`'s row: the inferred type of each column (string when nothing narrower fits, or no values). */
export const inferredTypes = (row: ReadonlyArray<unknown>, count: number): ReadonlyArray<ColumnType> =>
  Array.from({ length: count }, (_, i) => {
    const [int, num, bool, n] = row.slice(i * 4, i * 4 + 4)
    if (Number(n) === 0) return "string"
    return int === true ? "integer" : num === true ? "float" : bool === true ? "boolean" : "string"
  })
