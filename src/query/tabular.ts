/**
 * Rendering of small rows already in memory (catalog listings) in InfluxDB 3's text formats, with the same cell
 * rules as query answers (`encode.ts`), which stream DuckDB chunks instead.
 */
import { csvField, prettyBorder, prettyRow, quoteJson } from "./encode.ts"

export type CellValue = string | number | bigint | boolean | null | undefined
export type Row = Readonly<Record<string, CellValue>>

export type TextFormat = "json" | "jsonl" | "csv" | "pretty"

const jsonValue = (v: Exclude<CellValue, null | undefined>) => (typeof v === "string" ? quoteJson(v) : String(v))

const text = (v: CellValue) => (v === null || v === undefined ? "" : String(v))

/** One row as a JSON object; null values are left out, as InfluxDB 3 does. */
const rowToJson = (row: Row, columns: ReadonlyArray<string>) => {
  const parts: Array<string> = []
  for (const c of columns) {
    const v = row[c]
    if (v === null || v === undefined) continue
    parts.push(`${quoteJson(c)}:${jsonValue(v)}`)
  }
  return `{${parts.join(",")}}`
}

/** Renders rows as an ASCII table with `+---+` borders and no trailing newline. */
const renderPretty = (rows: ReadonlyArray<Row>, columns: ReadonlyArray<string>) => {
  const cells = rows.map((r) => columns.map((c) => text(r[c])))
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)))
  const border = prettyBorder(widths)
  return [border, prettyRow(columns, widths), border, ...cells.map((row) => prettyRow(row, widths)), border].join("\n")
}

/** Renders rows in a text format. */
export const renderRows = (rows: ReadonlyArray<Row>, columns: ReadonlyArray<string>, format: TextFormat): string => {
  switch (format) {
    case "json":
      return `[${rows.map((r) => rowToJson(r, columns)).join(",")}]`
    case "jsonl":
      return rows.map((r) => rowToJson(r, columns) + "\n").join("")
    case "csv":
      return rows.length === 0 ? "" : [columns.map(csvField).join(","), ...rows.map((r) => columns.map((c) => csvField(text(r[c]))).join(","))].join("\n") + "\n"
    case "pretty":
      return renderPretty(rows, columns)
  }
}
