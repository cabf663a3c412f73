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
  for (let i = 0; i < name.length; i++) {
    if (name.charCodeAt(i) < 32) return "table name cannot contain control characters"
  }
  return undefined
}

/** Returns why a column name is invalid, or undefined when it is valid. */
export const columnNameProblem = (name: string): string | undefined => {
  if (name.length === 0) return "column name cannot be empty"
  if (name === "time" || name === "__chunk_order") return `'${name}' is a reserved column`
  return undefined
}

const isAsciiAlphanumeric = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)

/** The name a soft-deleted object takes: `<name>-<YYYYMMDDTHHMMSS>` of the UTC deletion time. */
export const softDeletedName = (name: string, atNs: bigint): string => {
  const iso = new Date(Number(atNs / 1_000_000n)).toISOString()
  const stamp = iso.slice(0, 19).replace(/[-:]/g, "")
  return `${name}-${stamp}`
}
