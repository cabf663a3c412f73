/** Rendering of small, already-materialised result rows (catalog listings) in InfluxDB 3's text formats. */

export type CellValue = string | number | bigint | boolean | null | undefined
export type Row = Readonly<Record<string, CellValue>>

export type TextFormat = "json" | "jsonl" | "csv" | "pretty"

const jsonValue = (v: CellValue) => (typeof v === "bigint" ? v.toString() : JSON.stringify(v))

/** One row as a JSON object; null values are left out, as InfluxDB 3 does. */
export const rowToJson = (row: Row, columns: ReadonlyArray<string>) => {
  const parts: Array<string> = []
  for (const c of columns) {
    const v = row[c]
    if (v === null || v === undefined) continue
    parts.push(`${JSON.stringify(c)}:${jsonValue(v)}`)
  }
  return `{${parts.join(",")}}`
}

const csvCell = (v: CellValue) => {
  if (v === null || v === undefined) return ""
  const s = String(v)
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

const prettyCell = (v: CellValue) => (v === null || v === undefined ? "" : typeof v === "number" && Number.isInteger(v) && !Number.isSafeInteger(v) ? String(v) : String(v))

/** Renders rows as an ASCII table with `+---+` borders and no trailing newline. */
export const renderPretty = (rows: ReadonlyArray<Row>, columns: ReadonlyArray<string>) => {
  const cells = rows.map((r) => columns.map((c) => prettyCell(r[c])))
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)))
  const border = "+" + widths.map((w) => "-".repeat(w + 2)).join("+") + "+"
  const line = (values: ReadonlyArray<string>) => "|" + values.map((v, i) => ` ${v.padEnd(widths[i]!)} `).join("|") + "|"
  return [border, line(columns), border, ...cells.map(line), border].join("\n")
}

/** Renders rows in a text format; returns the body and its content type. */
export const renderRows = (rows: ReadonlyArray<Row>, columns: ReadonlyArray<string>, format: TextFormat) => {
  switch (format) {
    case "json":
      return { body: `[${rows.map((r) => rowToJson(r, columns)).join(",")}]`, contentType: "application/json" }
    case "jsonl":
      return { body: rows.map((r) => rowToJson(r, columns) + "\n").join(""), contentType: "application/jsonl" }
    case "csv":
      return {
        body: rows.length === 0 ? "" : [columns.join(","), ...rows.map((r) => columns.map((c) => csvCell(r[c])).join(","))].join("\n") + "\n",
        contentType: "text/csv"
      }
    case "pretty":
      return { body: renderPretty(rows, columns), contentType: "text/plain; charset=utf-8" }
  }
}

/** Reads a `format` value; undefined when it is not one of the text formats. */
export const parseTextFormat = (value: string | null): TextFormat | undefined => {
  switch (value) {
    case "json":
      return "json"
    case "jsonl":
    case "json_lines":
      return "jsonl"
    case "csv":
      return "csv"
    case "pretty":
      return "pretty"
    default:
      return undefined
  }
}
