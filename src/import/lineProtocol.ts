import * as NodeFs from "node:fs"
import { FieldKind, parseLineProtocol } from "../lineprotocol/index.ts"
import type { ImportColumnType } from "./plan.ts"

/** What converting a line-protocol file produced. */
export interface ConvertedLineProtocol {
  /** The column mapping the lines imply: tags as tags, fields by their kind, `time` as time. */
  readonly mapping: Readonly<Record<string, ImportColumnType>>
  readonly lines: number
  /** Lines refused by the parser or naming another measurement (reported, with line numbers). */
  readonly errors: number
}

const kindType: Record<number, ImportColumnType> = { [FieldKind.Float]: "f64", [FieldKind.Integer]: "i64", [FieldKind.UInteger]: "u64", [FieldKind.String]: "string", [FieldKind.Boolean]: "bool" }

/** Bytes of the file parsed at a time: lines are parsed in whole-line chunks so memory stays bounded. */
const CHUNK_BYTES = 8 * 1024 * 1024

/**
 * Converts a line-protocol file to NDJSON through the write path's parser: one object per point of `measurement`
 * (`__line` its line number, tags, fields, `time` in ns: the timestamp times `precisionNs`, or `nowNs` without one);
 * refused lines go to `errorsPath` as JSONL (file, row, raw, reason). Synchronous, chunk by chunk.
 */
export const convertLineProtocol = (
  source: string,
  target: string,
  errorsPath: string,
  options: { readonly name: string; readonly measurement: string; readonly precisionNs: bigint; readonly nowNs: bigint }
): ConvertedLineProtocol => {
  const mapping: Record<string, ImportColumnType> = {}
  const out = NodeFs.openSync(target, "w")
  const errOut = NodeFs.openSync(errorsPath, "w")
  let lines = 0
  let errors = 0
  let lineOffset = 0
  const fd = NodeFs.openSync(source, "r")
  try {
    const buffer = Buffer.alloc(CHUNK_BYTES)
    let carry = ""
    for (;;) {
      const n = NodeFs.readSync(fd, buffer, 0, CHUNK_BYTES, null)
      let text = carry + (n > 0 ? buffer.subarray(0, n).toString("utf8") : "")
      if (n > 0) {
        const cut = text.lastIndexOf("\n")
        carry = cut < 0 ? text : text.slice(cut + 1)
        text = cut < 0 ? "" : text.slice(0, cut + 1)
      } else carry = ""
      if (text !== "") {
        const parsed = parseLineProtocol(text)
        const rows: Array<string> = []
        const bad: Array<string> = []
        for (const e of parsed.errors)
          bad.push(
            JSON.stringify({
              file: options.name,
              row: e.lineNumber + lineOffset,
              raw: e.originalLine,
              reason: e.message
            })
          )
        for (const line of parsed.lines) {
          if (line.measurement !== options.measurement) {
            bad.push(JSON.stringify({ file: options.name, row: line.lineNumber + lineOffset, raw: null, reason: `measurement '${line.measurement}' is not the table '${options.measurement}'` }))
            continue
          }
          const obj: Record<string, unknown> = { __line: line.lineNumber + lineOffset }
          for (let i = 0; i < line.tagKeys.length; i++) {
            obj[line.tagKeys[i]!] = line.tagValues[i]
            mapping[line.tagKeys[i]!] ??= "tag"
          }
          for (let i = 0; i < line.fieldKeys.length; i++) {
            const v = line.fieldValues[i]!
            obj[line.fieldKeys[i]!] = typeof v === "bigint" ? v.toString() : v
            mapping[line.fieldKeys[i]!] ??= kindType[line.fieldKinds[i]!]!
          }
          obj["time"] = (line.timestamp === undefined ? options.nowNs : line.timestamp * options.precisionNs).toString()
          rows.push(JSON.stringify(obj))
        }
        lines += parsed.nonEmptyLines
        errors += bad.length
        if (rows.length > 0) NodeFs.writeSync(out, rows.join("\n") + "\n")
        if (bad.length > 0) NodeFs.writeSync(errOut, bad.join("\n") + "\n")
        for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) lineOffset++
      }
      if (n <= 0) break
    }
  } finally {
    NodeFs.closeSync(fd)
    NodeFs.closeSync(out)
    NodeFs.closeSync(errOut)
  }
  mapping["time"] = "time"
  return { mapping, lines, errors }
}
