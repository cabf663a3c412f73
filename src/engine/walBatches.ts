import { FieldKind, parseLineProtocol, toNanos, type Precision } from "../lineprotocol/index.ts"
import { decodeBody } from "../write/decode.ts"

/** A value as the plugin gets it: tags and strings `str`, ints `int`, floats `float`, bools `bool`. */
type RowValue = string | number | bigint | boolean | { readonly float: number }

/** One table's rows of a flush, as `process_writes` receives them. */
export interface TableBatch {
  readonly table_name: string
  readonly rows: Array<Map<string, RowValue>>
}

/** The logged write's fields that decide its rows. */
export interface LoggedWrite {
  readonly payload: Uint8Array
  readonly precision: string
  readonly defaultTimeNs: bigint
  readonly rejectedLines: ReadonlyArray<number>
}

/**
 * Adds a logged write's accepted lines to `batches` (by table, in line order), each row holding only the columns its
 * line has: tags, fields, then `time` in ns. `table` restricts them to one table.
 */
export const addWrite = (batches: Map<string, TableBatch>, write: LoggedWrite, table: string | undefined) => {
  const parsed = parseLineProtocol(decodeBody(write.payload))
  const rejected = new Set(write.rejectedLines)
  for (const line of parsed.lines) {
    if (rejected.has(line.lineNumber) || (table !== undefined && line.measurement !== table)) continue
    const time =
      line.timestamp === undefined ? write.defaultTimeNs : toNanos(line.timestamp, write.precision as Precision)
    if (time === undefined) continue
    const row = new Map<string, RowValue>()
    for (let i = 0; i < line.tagKeys.length; i++) row.set(line.tagKeys[i]!, line.tagValues[i]!)
    for (let i = 0; i < line.fieldKeys.length; i++) {
      const v = line.fieldValues[i]!
      row.set(line.fieldKeys[i]!, line.fieldKinds[i] === FieldKind.Float ? { float: v as number } : v)
    }
    row.set("time", time)
    let batch = batches.get(line.measurement)
    if (batch === undefined) batches.set(line.measurement, (batch = { table_name: line.measurement, rows: [] }))
    batch.rows.push(row)
  }
}

/**
 * JSON text that Python's `json` reads back with the right types: bigints as exact integers, floats always with a
 * fraction or exponent (so `1.0` stays a float), Maps as objects in insertion order.
 */
export const pythonJson = (value: unknown): string => {
  if (value === null || value === undefined) return "null"
  if (typeof value === "bigint") return value.toString()
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "null"
  if (typeof value === "string" || typeof value === "boolean") return JSON.stringify(value)
  if (value instanceof Map)
    return `{${[...value].map(([k, v]) => `${JSON.stringify(String(k))}:${pythonJson(v)}`).join(",")}}`
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(",")}]`
  if (typeof value === "object" && "float" in value && Object.keys(value).length === 1) {
    const f = (value as { float: number }).float
    if (!Number.isFinite(f)) return f > 0 ? "Infinity" : f < 0 ? "-Infinity" : "NaN"
    const text = String(f)
    return /[.eE]/.test(text) ? text : `${text}.0`
  }
  return `{${Object.entries(value as Record<string, unknown>)
    .map(([k, v]) => `${JSON.stringify(k)}:${pythonJson(v)}`)
    .join(",")}}`
}
