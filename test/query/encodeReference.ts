// The result encoder as it was before answers were written from column vectors (chunkBytes.ts), kept verbatim so
// encode.test.ts can prove the new bytes are the old bytes.
import {
  DuckDBDateValue,
  DuckDBDecimalValue,
  DuckDBListValue,
  DuckDBStructValue,
  DuckDBTimestampMillisecondsValue,
  DuckDBTimestampNanosecondsValue,
  DuckDBTimestampSecondsValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  DuckDBTypeId,
  type DuckDBDataChunk,
  type DuckDBType,
  type DuckDBValue
} from "@duckdb/node-api"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Readline from "node:readline"
import { formatDate, formatTimeMs, formatTimeNs, formatTimeS, formatTimeUs } from "../../src/query/time.ts"

/**
 * Result encoding for /api/v3/query_sql: DuckDB data chunks in, InfluxDB 3's json, jsonl, csv and pretty bytes
 * out, one piece per chunk so a large result never sits in memory whole.
 */

export type ResultFormat = "json" | "jsonl" | "csv" | "pretty" | "parquet"

/** The columns of a result and a source of its chunks (null when done). */
export interface ChunkSource {
  readonly columns: ReadonlyArray<string>
  readonly types: ReadonlyArray<DuckDBType>
  readonly next: () => Promise<DuckDBDataChunk | null>
}

const encoder = new TextEncoder()

// ---------------------------------------------------------------------------------------------------------------
// Values

/** A float as arrow-rs writes it: whole numbers keep `.0`. */
const formatFloat = (v: number) => (Number.isInteger(v) && Math.abs(v) < 1e16 ? v.toFixed(1) : String(v))

const formatFloatText = (v: number) => (Number.isNaN(v) ? "NaN" : v === Infinity ? "inf" : v === -Infinity ? "-inf" : formatFloat(v))

/** A value as JSON text; undefined for null (InfluxDB leaves nulls out of row objects). */
const jsonOf = (v: DuckDBValue, typeId: DuckDBTypeId): string | undefined => {
  if (v === null) return undefined
  switch (typeof v) {
    case "string":
      return quoteJson(v)
    case "number":
      if (!Number.isFinite(v)) return "null"
      return typeId === DuckDBTypeId.DOUBLE || typeId === DuckDBTypeId.FLOAT ? formatFloat(v) : String(v)
    case "bigint":
      return v.toString()
    case "boolean":
      return v ? "true" : "false"
  }
  if (v instanceof DuckDBStructValue) {
    const parts: Array<string> = []
    for (const [k, inner] of Object.entries(v.entries)) {
      const json = jsonOf(inner, typeIdOfValue(inner))
      if (json !== undefined) parts.push(`${JSON.stringify(k)}:${json}`)
    }
    return `{${parts.join(",")}}`
  }
  if (v instanceof DuckDBListValue) return `[${v.items.map((item) => jsonOf(item, typeIdOfValue(item)) ?? "null").join(",")}]`
  if (v instanceof DuckDBDecimalValue) return String(v.toDouble())
  const time = timeText(v)
  return JSON.stringify(time ?? String(v))
}

/** A value as text for csv and pretty; "" for null. */
const textOf = (v: DuckDBValue, typeId: DuckDBTypeId): string => {
  if (v === null) return ""
  switch (typeof v) {
    case "string":
      return v
    case "number":
      return typeId === DuckDBTypeId.DOUBLE || typeId === DuckDBTypeId.FLOAT ? formatFloatText(v) : String(v)
    case "bigint":
      return v.toString()
    case "boolean":
      return v ? "true" : "false"
  }
  if (v instanceof DuckDBStructValue) {
    return `{${Object.entries(v.entries)
      .map(([k, inner]) => `${k}: ${textOf(inner, typeIdOfValue(inner))}`)
      .join(", ")}}`
  }
  if (v instanceof DuckDBListValue) return `[${v.items.map((item) => textOf(item, typeIdOfValue(item))).join(", ")}]`
  if (v instanceof DuckDBDecimalValue) return String(v.toDouble())
  return timeText(v) ?? String(v)
}

const timeText = (v: DuckDBValue): string | undefined => {
  if (v instanceof DuckDBTimestampNanosecondsValue) return formatTimeNs(v.nanos)
  if (v instanceof DuckDBTimestampValue) return formatTimeUs(v.micros)
  if (v instanceof DuckDBTimestampTZValue) return formatTimeUs(v.micros)
  if (v instanceof DuckDBTimestampMillisecondsValue) return formatTimeMs(v.millis)
  if (v instanceof DuckDBTimestampSecondsValue) return formatTimeS(v.seconds)
  if (v instanceof DuckDBDateValue) return formatDate(v.days)
  return undefined
}

// Nested values carry no column type; numbers inside structs (selector values) are floats when not integral.
const typeIdOfValue = (v: DuckDBValue): DuckDBTypeId => (typeof v === "number" ? DuckDBTypeId.DOUBLE : DuckDBTypeId.VARCHAR)

/** A CSV field, quoted when it holds a comma, quote or line break. */
export const csvField = (s: string) => {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 44 || c === 34 || c === 10 || c === 13) return `"${s.replace(/"/g, '""')}"`
  }
  return s
}

// ---------------------------------------------------------------------------------------------------------------
// Formats

/** A string as a JSON string literal; the common case (nothing to escape) without JSON.stringify. */
export const quoteJson = (s: string) => {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || c === 34 || c === 92) return JSON.stringify(s)
  }
  return '"' + s + '"'
}

/** Raw access to a vector's typed items and validity (the fast path for fixed-width columns). */
interface RawVector {
  readonly items: Float64Array | Float32Array | BigInt64Array
  readonly validity: { itemValid(i: number): boolean }
}

const isRaw = (v: unknown): v is RawVector => {
  const items = (v as { items?: unknown }).items
  return items instanceof Float64Array || items instanceof Float32Array || items instanceof BigInt64Array
}

/** One column of a chunk as JSON value texts per row (undefined for null). */
const columnJson = (vector: ReturnType<DuckDBDataChunk["getColumnVector"]>, typeId: DuckDBTypeId, n: number): Array<string | undefined> => {
  const out: Array<string | undefined> = new Array(n)
  switch (typeId) {
    case DuckDBTypeId.DOUBLE:
    case DuckDBTypeId.FLOAT:
      if (isRaw(vector) && !(vector.items instanceof BigInt64Array)) {
        const items = vector.items
        for (let r = 0; r < n; r++) {
          if (!vector.validity.itemValid(r)) continue
          const v = items[r]!
          out[r] = Number.isFinite(v) ? formatFloat(v) : "null"
        }
        return out
      }
      break
    case DuckDBTypeId.TIMESTAMP_NS:
      if (isRaw(vector) && vector.items instanceof BigInt64Array) {
        const items = vector.items
        for (let r = 0; r < n; r++) if (vector.validity.itemValid(r)) out[r] = '"' + formatTimeNs(items[r]!) + '"'
        return out
      }
      break
    case DuckDBTypeId.VARCHAR:
      for (let r = 0; r < n; r++) {
        const v = vector.getItem(r)
        if (v !== null) out[r] = quoteJson(v as string)
      }
      return out
  }
  for (let r = 0; r < n; r++) out[r] = jsonOf(vector.getItem(r), typeId)
  return out
}

/** Row objects of one chunk as JSON texts (without braces). */
const chunkJsonRows = (
  chunk: DuckDBDataChunk,
  columns: ReadonlyArray<string>,
  types: ReadonlyArray<DuckDBType>
): Array<string> => {
  const n = chunk.rowCount
  const keys = columns.map((c) => quoteJson(c) + ":")
  const cells = columns.map((_, c) => columnJson(chunk.getColumnVector(c), types[c]!.typeId, n))
  const rows: Array<string> = new Array(n)
  for (let r = 0; r < n; r++) {
    let row = ""
    for (let c = 0; c < cells.length; c++) {
      const v = cells[c]![r]
      if (v !== undefined) row = row === "" ? keys[c]! + v : row + "," + keys[c]! + v
    }
    rows[r] = row
  }
  return rows
}

/** One column of a chunk as cell texts (csv, pretty). */
const columnText = (vector: ReturnType<DuckDBDataChunk["getColumnVector"]>, typeId: DuckDBTypeId, n: number): Array<string> => {
  const out: Array<string> = new Array(n)
  switch (typeId) {
    case DuckDBTypeId.DOUBLE:
    case DuckDBTypeId.FLOAT:
      if (isRaw(vector) && !(vector.items instanceof BigInt64Array)) {
        const items = vector.items
        for (let r = 0; r < n; r++) out[r] = vector.validity.itemValid(r) ? formatFloatText(items[r]!) : ""
        return out
      }
      break
    case DuckDBTypeId.TIMESTAMP_NS:
      if (isRaw(vector) && vector.items instanceof BigInt64Array) {
        const items = vector.items
        for (let r = 0; r < n; r++) out[r] = vector.validity.itemValid(r) ? formatTimeNs(items[r]!) : ""
        return out
      }
      break
    case DuckDBTypeId.VARCHAR:
      for (let r = 0; r < n; r++) out[r] = (vector.getItem(r) as string | null) ?? ""
      return out
  }
  for (let r = 0; r < n; r++) out[r] = textOf(vector.getItem(r), typeId)
  return out
}

/** Cell texts of one chunk, row-major. */
const chunkTextRows = (
  chunk: DuckDBDataChunk,
  types: ReadonlyArray<DuckDBType>,
  cell: (s: string) => string
): Array<Array<string>> => {
  const n = chunk.rowCount
  const columns = types.map((t, c) => columnText(chunk.getColumnVector(c), t.typeId, n))
  const rows: Array<Array<string>> = new Array(n)
  for (let r = 0; r < n; r++) {
    const row: Array<string> = new Array(types.length)
    for (let c = 0; c < types.length; c++) row[c] = cell(columns[c]![r]!)
    rows[r] = row
  }
  return rows
}

const identity = (s: string) => s

/** JSON: one array of row objects, nulls left out; `[]` when empty. */
async function* encodeJson(source: ChunkSource): AsyncGenerator<Uint8Array> {
  let first = true
  for (let chunk = await source.next(); chunk !== null; chunk = await source.next()) {
    if (chunk.rowCount === 0) continue
    const rows = chunkJsonRows(chunk, source.columns, source.types)
    yield encoder.encode((first ? "[{" : ",{") + rows.join("},{") + "}")
    first = false
  }
  yield encoder.encode(first ? "[]" : "]")
}

/** JSON lines: one object per line; empty body when empty. */
async function* encodeJsonLines(source: ChunkSource): AsyncGenerator<Uint8Array> {
  for (let chunk = await source.next(); chunk !== null; chunk = await source.next()) {
    if (chunk.rowCount === 0) continue
    const rows = chunkJsonRows(chunk, source.columns, source.types)
    yield encoder.encode("{" + rows.join("}\n{") + "}\n")
  }
}

/** CSV: a header from the first batch, `\n` line endings, null as an empty field; empty body when empty. */
async function* encodeCsv(source: ChunkSource): AsyncGenerator<Uint8Array> {
  let header = true
  for (let chunk = await source.next(); chunk !== null; chunk = await source.next()) {
    if (chunk.rowCount === 0) continue
    const rows = chunkTextRows(chunk, source.types, csvField)
    const text = rows.map((r) => r.join(",")).join("\n") + "\n"
    yield encoder.encode(header ? source.columns.map(csvField).join(",") + "\n" + text : text)
    header = false
  }
}

/** The `+---+---+` line of a pretty table with these column widths. */
export const prettyBorder = (widths: ReadonlyArray<number>) => "+" + widths.map((w) => "-".repeat(w + 2)).join("+") + "+"

/** One `| a | b |` line of a pretty table. */
export const prettyRow = (values: ReadonlyArray<string>, widths: ReadonlyArray<number>) =>
  "|" + values.map((v, i) => ` ${v.padEnd(widths[i]!)} `).join("|") + "|"

/** Rows a pretty table keeps in memory before it spools them to a temporary file. */
const PRETTY_MEMORY_ROWS = 50_000

/**
 * Pretty: an ASCII table with `+---+` borders and no trailing newline. Column widths need every row, so rows are
 * kept in memory up to a limit and spooled to a temporary file beyond it, keeping server memory bounded.
 */
async function* encodePretty(source: ChunkSource): AsyncGenerator<Uint8Array> {
  const widths = source.columns.map((c) => c.length)
  let held: Array<Array<string>> = []
  let spool: { path: string; fd: number } | undefined
  try {
    for (let chunk = await source.next(); chunk !== null; chunk = await source.next()) {
      const rows = chunkTextRows(chunk, source.types, identity)
      for (const row of rows)
        for (let c = 0; c < row.length; c++) if (row[c]!.length > widths[c]!) widths[c] = row[c]!.length
      held.push(...rows)
      if (held.length >= PRETTY_MEMORY_ROWS) {
        if (spool === undefined) {
          const path = Path.join(Fs.mkdtempSync(Path.join(Os.tmpdir(), "strata-pretty-")), "rows.jsonl")
          spool = { path, fd: Fs.openSync(path, "w") }
        }
        Fs.writeSync(spool.fd, held.map((r) => JSON.stringify(r)).join("\n") + "\n")
        held = []
      }
    }
    const border = prettyBorder(widths)
    const line = (values: ReadonlyArray<string>) => prettyRow(values, widths)
    yield encoder.encode([border, line(source.columns), border].join("\n"))
    if (spool !== undefined) {
      Fs.closeSync(spool.fd)
      const lines = Readline.createInterface({ input: Fs.createReadStream(spool.path), crlfDelay: Infinity })
      let batch: Array<string> = []
      for await (const text of lines) {
        batch.push(line(JSON.parse(text) as Array<string>))
        if (batch.length >= 2048) {
          yield encoder.encode("\n" + batch.join("\n"))
          batch = []
        }
      }
      if (batch.length > 0) yield encoder.encode("\n" + batch.join("\n"))
    }
    for (let i = 0; i < held.length; i += 2048) yield encoder.encode("\n" + held.slice(i, i + 2048).map(line).join("\n"))
    yield encoder.encode("\n" + border)
  } finally {
    if (spool !== undefined) {
      try {
        Fs.closeSync(spool.fd)
      } catch {
        // already closed
      }
      Fs.rmSync(Path.dirname(spool.path), { recursive: true, force: true })
    }
  }
}

/** Encodes a result in one of the text formats, chunk by chunk. */
export const encodeText = (source: ChunkSource, format: Exclude<ResultFormat, "parquet">): AsyncGenerator<Uint8Array> => {
  switch (format) {
    case "json":
      return encodeJson(source)
    case "jsonl":
      return encodeJsonLines(source)
    case "csv":
      return encodeCsv(source)
    case "pretty":
      return encodePretty(source)
  }
}

/** The response content type of each format. */
export const contentTypeOf: Record<ResultFormat, string> = {
  json: "application/json",
  jsonl: "application/jsonl",
  csv: "text/csv",
  pretty: "text/plain; charset=utf-8",
  parquet: "application/vnd.apache.parquet"
}
