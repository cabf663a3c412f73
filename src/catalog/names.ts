/** Validation of database and table names, and the soft-delete rename, as InfluxDB 3 does them. */

/** Returns why a database name is invalid, or undefined when it is valid. */
export const databaseNameProblem = (name: string): string | undefined => {
  if (name.length === 0) return "db name cannot be empty"
  if (Buffer.byteLength(name) > 511) return "db name too long: max 511"
  const first = name.charCodeAt(0)
  if (!isAsciiAlphanumeric(first)) return "db name did not start with a number or letter"
  let slashes = 0
  for (let i = 1; i < name.length; i++) {
    const c = name.charCodeAt(i)
    if (c === 47) {
      slashes++
      continue
    }
    if (!isAsciiAlphanumeric(c) && c !== 95 && c !== 45) {
      return "invalid character in database or rp name: must be ASCII, containing only letters, numbers, underscores, or hyphens"
    }
  }
  if (slashes > 1 || name.endsWith("/")) {
    return "db name with invalid retention policy, if providing a retention policy name, must be of form '<db_name>/<rp_name>'"
  }
  return undefined
}

/** Returns why a table name is invalid, or undefined when it is valid. */
export const tableNameProblem = (name: string): string | undefined => {
  if (name.length === 0) return "table name cannot be empty"
  if (Buffer.byteLength(name) > 511) return "table name too long: max 511"
  if (hasControlCharacter(name)) return "table name cannot contain control characters"
  return undefined
}

/**
 * A column name as the write buffer's DuckDB tables compare it: DuckDB identifiers are case-insensitive for ASCII
 * letters only (`F` and `f` are one column, `É` and `é` two), so two names with one fold cannot both be columns.
 */
export const foldColumnName = (name: string): string => {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i)
    if (c >= 65 && c <= 90) return name.replace(/[A-Z]+/g, (s) => s.toLowerCase())
  }
  return name
}

/**
 * Folded names no tag or field may take: InfluxDB's `time` and `__chunk_order`, `time` in any case (the buffer's
 * time column), and what the buffer's tables use themselves (`_sid`; `_row`, the buffer's stable row number; `rowid`,
 * DuckDB's row number, which a column of that name would hide).
 */
const RESERVED_FOLDED = new Set(["time", "__chunk_order", "_sid", "_row", "rowid"])

/** Returns why a new tag or field name is invalid, or undefined when it is valid. */
export const columnNameProblem = (name: string): string | undefined => {
  if (name.length === 0) return "column name cannot be empty"
  if (RESERVED_FOLDED.has(foldColumnName(name))) return `'${name}' is a reserved column`
  if (hasControlCharacter(name)) return `column name ${JSON.stringify(name)} cannot contain control characters`
  return undefined
}

/** The message for a new column whose name differs only in letter case from another column's. */
export const columnCaseClash = (name: string, other: string) =>
  `column name '${name}' clashes with column '${other}': names that differ only in letter case are the same column here`

/**
 * Why a column that a committed event added cannot exist in the write buffer (older servers let such names into
 * the log), or undefined. `folded` holds the folded names of the table's columns before it.
 */
export const unappliableColumn = (name: string, type: string, folded: ReadonlySet<string>): string | undefined => {
  const fold = foldColumnName(name)
  if (type !== "time" && (fold === "time" || fold === "_sid" || fold === "_row")) return `'${name}' is a reserved column`
  if (name.includes("\u0000")) return `column name ${JSON.stringify(name)} contains a NUL character`
  if (folded.has(fold)) return `column name '${name}' differs only in letter case from an earlier column of the table`
  return undefined
}

const hasControlCharacter = (name: string): boolean => {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i)
    if (c < 32 || c === 127) return true
  }
  return false
}

const isAsciiAlphanumeric = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)

/** The name a soft-deleted object takes: `<name>-<YYYYMMDDTHHMMSS>` of the UTC deletion time. */
export const softDeletedName = (name: string, atNs: bigint): string => {
  const iso = new Date(Number(atNs / 1_000_000n)).toISOString()
  const stamp = iso.slice(0, 19).replace(/[-:]/g, "")
  return `${name}-${stamp}`
}
