import { TextOutput } from "./text.ts"
import type { TimeFormat, V1AnswerEncoder, V1Cell, V1Columns, V1SeriesHead } from "./types.ts"

/** The CSV answer (`Accept: application/csv`): one header per series, times as epoch integers. */

const csvField = (s: string) => {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c === 44 || c === 34 || c === 10 || c === 13) return `"${s.replace(/"/g, '""')}"`
  }
  return s
}

const cellText = (v: V1Cell, time: TimeFormat): string => {
  if (v === null) return ""
  switch (typeof v) {
    case "string":
      return v
    case "number":
      return Number.isNaN(v) ? "" : String(v)
    case "bigint":
      return v.toString()
    case "boolean":
      return v ? "true" : "false"
  }
  return (v.timeNs / (time._tag === "epoch" ? time.divisor : 1n)).toString()
}

/**
 * CSV, sent as it is written: `name,tags,<columns>` per series (when it changes), integer times, a blank line between
 * statements.
 */
export class CsvAnswer implements V1AnswerEncoder {
  private readonly out = new TextOutput()
  private statements = 0
  private header: string | undefined
  private prefix = ""
  private mark: readonly [number, string] = [0, ""]
  private failed = false

  constructor(private readonly time: TimeFormat) {}

  readonly wantsRows = true

  statement() {
    if (this.statements++ > 0) this.out.write("\n")
    this.header = undefined
    this.failed = false
    this.mark = this.out.mark()
  }

  series(head: V1SeriesHead) {
    if (this.failed) return
    const header = ["name", "tags", ...head.columns].map(csvField).join(",")
    if (header !== this.header) {
      this.out.write(header + "\n")
      this.header = header
    }
    const tags = head.tags === undefined ? "" : Object.keys(head.tags).sort().map((k) => `${k}=${head.tags![k]}`).join(",")
    this.prefix = csvField(head.name ?? "") + "," + csvField(tags)
  }

  rows(cells: V1Columns, from: number, to: number) {
    if (this.failed) return
    let text = ""
    for (let r = from; r < to; r++) {
      let line = this.prefix
      for (let c = 0; c < cells.length; c++) line += "," + csvField(cellText(cells[c]![r]!, this.time))
      text += line + "\n"
    }
    this.out.write(text)
  }

  fail(message: string) {
    // Rows already sent stay; the error follows them.
    this.out.reset(this.mark)
    this.out.write(`name,tags,error\n,,${csvField(message)}\n`)
    this.failed = true
  }

  endStatement() {}

  end() {}

  take() {
    return this.out.take()
  }
}
