import { formatRfc3339 } from "./time.ts"
import { UNIT_NS } from "./lexer.ts"
import { encodeMsgPack, type MsgValue } from "./msgpack.ts"

/**
 * The v1 `/query` answer: statement results made of series, rendered as InfluxDB 1.x renders them — JSON with Go's
 * number forms (whole floats as integers), RFC3339 times or epoch integers, chunks, pretty JSON and CSV.
 */

/** A time value, kept apart from integers so it can be rendered per `epoch`. */
export interface TimeCell {
  readonly timeNs: bigint
}

export type V1Cell = string | number | bigint | boolean | null | TimeCell

export interface V1Series {
  /** Absent for series without a name (SHOW SERIES). */
  readonly name?: string
  readonly tags?: Readonly<Record<string, string>>
  readonly columns: ReadonlyArray<string>
  readonly values: ReadonlyArray<ReadonlyArray<V1Cell>>
  readonly partial?: boolean
}

export interface V1Result {
  readonly statement_id: number
  readonly series?: ReadonlyArray<V1Series>
  readonly partial?: boolean
  readonly error?: string
}

/** How times are written: RFC3339 (optionally in a zone) or integers in a unit. */
export type TimeFormat = { readonly kind: "rfc3339"; readonly zone?: string } | { readonly kind: "epoch"; readonly divisor: bigint }

// `epoch` takes the duration units up to hours, and `n` for nanoseconds.
const EPOCH_UNITS = new Set(["ns", "n", "u", "us", "µ", "ms", "s", "m", "h"])

/** The divisor of an `epoch` parameter; undefined for an unknown unit. */
export const epochDivisor = (epoch: string): bigint | undefined => (!EPOCH_UNITS.has(epoch) ? undefined : epoch === "n" ? 1n : UNIT_NS[epoch])

const isTime = (v: V1Cell): v is TimeCell => typeof v === "object" && v !== null

class Unsupported {
  constructor(readonly message: string) {}
}

const quote = (s: string) => JSON.stringify(s)

/** A number as Go's encoding/json writes a float64: shortest form, whole numbers without `.0`, NaN as null. */
const goFloat = (n: number): string => {
  if (Number.isNaN(n)) return "null"
  if (!Number.isFinite(n)) throw new Unsupported(`json: unsupported value: ${n > 0 ? "+Inf" : "-Inf"}`)
  return String(n)
}

const cellJson = (v: V1Cell, time: TimeFormat, zone: string | undefined): string => {
  if (v === null) return "null"
  switch (typeof v) {
    case "string":
      return quote(v)
    case "number":
      return goFloat(v)
    case "bigint":
      return v.toString()
    case "boolean":
      return v ? "true" : "false"
  }
  if (time.kind === "epoch") return (v.timeNs / time.divisor).toString()
  return quote(formatRfc3339(v.timeNs, time.zone ?? zone))
}

type JsonValue = string | { readonly raw: string } | ReadonlyArray<JsonValue> | { readonly [k: string]: JsonValue }

/** JSON text with Go's MarshalIndent layout (4 spaces) when `indent`, compact otherwise; raw parts are pre-rendered. */
const render = (value: JsonValue, indent: boolean, depth = 0): string => {
  if (typeof value === "string") return value
  const nl = indent ? "\n" + "    ".repeat(depth + 1) : ""
  const end = indent ? "\n" + "    ".repeat(depth) : ""
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]"
    return "[" + value.map((v) => nl + render(v as JsonValue, indent, depth + 1)).join(",") + end + "]"
  }
  if ("raw" in value && typeof value.raw === "string") return value.raw
  const entries = Object.entries(value as Record<string, JsonValue>)
  if (entries.length === 0) return "{}"
  return "{" + entries.map(([k, v]) => nl + quote(k) + (indent ? ": " : ":") + render(v, indent, depth + 1)).join(",") + end + "}"
}

const raw = (s: string) => ({ raw: s })

/** How the pieces of an answer are written: the v1 structure is the same in JSON and in MessagePack. */
interface Encoding<T> {
  readonly string: (s: string) => T
  readonly cell: (c: V1Cell) => T
  readonly integer: (n: number) => T
  readonly flag: T
}

const seriesValue = <T>(s: V1Series, e: Encoding<T>): { [k: string]: T | ReadonlyArray<T> | ReadonlyArray<ReadonlyArray<T>> | { [k: string]: T } } => {
  const out: { [k: string]: T | ReadonlyArray<T> | ReadonlyArray<ReadonlyArray<T>> | { [k: string]: T } } = {}
  if (s.name !== undefined) out["name"] = e.string(s.name)
  if (s.tags !== undefined) {
    const tags: { [k: string]: T } = {}
    for (const k of Object.keys(s.tags).sort()) tags[k] = e.string(s.tags[k]!)
    out["tags"] = tags
  }
  out["columns"] = s.columns.map(e.string)
  if (s.values.length > 0) out["values"] = s.values.map((row) => row.map(e.cell))
  if (s.partial === true) out["partial"] = e.flag
  return out
}

const resultValue = <T>(r: V1Result, e: Encoding<T>) => {
  const out: { [k: string]: T | ReadonlyArray<ReturnType<typeof seriesValue<T>>> } = { statement_id: e.integer(r.statement_id) }
  if (r.series !== undefined && r.series.length > 0) out["series"] = r.series.map((s) => seriesValue(s, e))
  if (r.partial === true) out["partial"] = e.flag
  if (r.error !== undefined) out["error"] = e.string(r.error)
  return out
}

const jsonEncoding = (time: TimeFormat, zone: string | undefined): Encoding<JsonValue> => ({
  string: quote,
  cell: (c) => raw(cellJson(c, time, zone)),
  integer: (n) => raw(String(n)),
  flag: raw("true")
})

const resultJson = (r: V1Result, time: TimeFormat, zone: string | undefined): JsonValue => resultValue(r, jsonEncoding(time, zone)) as JsonValue

/** A cell as MessagePack holds it: times as the JSON answer writes them, integers as integers, NaN as nil. */
const cellMsg = (v: V1Cell, time: TimeFormat, zone: string | undefined): MsgValue => {
  if (v === null || typeof v === "string" || typeof v === "bigint" || typeof v === "boolean") return v
  if (typeof v === "number") {
    if (Number.isNaN(v)) return null
    if (!Number.isFinite(v)) throw new Unsupported(`json: unsupported value: ${v > 0 ? "+Inf" : "-Inf"}`)
    return v
  }
  if (time.kind === "epoch") return v.timeNs / time.divisor
  return formatRfc3339(v.timeNs, time.zone ?? zone)
}

/** The MessagePack body of results (one statement chunk or all); ±Inf gives the same error object as JSON. */
export const resultsMsgPack = (results: ReadonlyArray<V1Result>, time: TimeFormat, zones: ReadonlyArray<string | undefined>): Uint8Array => {
  try {
    return encodeMsgPack({
      results: results.map((r, i) =>
        resultValue<MsgValue>(r, { string: (s) => s, cell: (c) => cellMsg(c, time, zones[i]), integer: (n) => BigInt(n), flag: true }) as MsgValue
      )
    })
  } catch (e) {
    if (e instanceof Unsupported) return encodeMsgPack({ error: e.message })
    throw e
  }
}

/** The JSON body of whole results; a ±Inf anywhere makes the body InfluxDB's `{"error":"json: unsupported value: +Inf"}`. */
export const resultsJson = (results: ReadonlyArray<V1Result>, time: TimeFormat, zones: ReadonlyArray<string | undefined>, pretty: boolean): string => {
  try {
    return render({ results: results.map((r, i) => resultJson(r, time, zones[i])) }, pretty)
  } catch (e) {
    if (e instanceof Unsupported) return render({ error: quote(e.message) }, pretty)
    throw e
  }
}

/**
 * Chunked answers: a new chunk at each series and every `size` rows. Every chunk but a statement's last carries
 * `partial: true`, and a series cut by size carries `partial: true` too.
 */
export const chunkResults = (results: ReadonlyArray<V1Result>, size: number): Array<V1Result> => {
  const chunks: Array<V1Result> = []
  for (const r of results) {
    if (r.error !== undefined || r.series === undefined || r.series.length === 0) {
      chunks.push(r)
      continue
    }
    const pieces: Array<V1Series> = []
    for (const s of r.series) {
      if (s.values.length <= size) {
        pieces.push(s)
        continue
      }
      for (let i = 0; i < s.values.length; i += size) {
        const last = i + size >= s.values.length
        pieces.push({ ...s, values: s.values.slice(i, i + size), ...(last ? {} : { partial: true }) })
      }
    }
    pieces.forEach((p, i) => chunks.push({ statement_id: r.statement_id, series: [p], ...(i < pieces.length - 1 ? { partial: true } : {}) }))
  }
  return chunks
}

const csvField = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s)

const cellText = (v: V1Cell, time: TimeFormat): string => {
  if (v === null) return ""
  if (isTime(v)) return (v.timeNs / (time.kind === "epoch" ? time.divisor : 1n)).toString()
  if (typeof v === "number") return Number.isNaN(v) ? "" : String(v)
  return String(v)
}

/** The CSV body: `name,tags,<columns>` per series, integer times, a blank line between statements. */
export const resultsCsv = (results: ReadonlyArray<V1Result>, time: TimeFormat): string => {
  const blocks: Array<string> = []
  for (const r of results) {
    const lines: Array<string> = []
    if (r.error !== undefined) {
      lines.push("name,tags,error", `,,${csvField(r.error)}`)
    }
    let header: string | undefined
    for (const s of r.series ?? []) {
      const h = ["name", "tags", ...s.columns].map(csvField).join(",")
      if (h !== header) {
        lines.push(h)
        header = h
      }
      const tags = s.tags === undefined ? "" : Object.keys(s.tags).sort().map((k) => `${k}=${s.tags![k]}`).join(",")
      for (const row of s.values) lines.push([csvField(s.name ?? ""), csvField(tags), ...row.map((c) => csvField(cellText(c, time)))].join(","))
    }
    blocks.push(lines.length === 0 ? "" : lines.join("\n") + "\n")
  }
  return blocks.join("\n")
}
