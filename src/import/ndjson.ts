import * as NodeFs from "node:fs"
import * as NodeReadline from "node:readline"

/** What cleaning an NDJSON file produced. */
export interface CleanedNdjson {
  readonly lines: number
  /** Lines that are not a JSON object (reported, with line numbers). */
  readonly errors: number
}

/** Characters of a refused line kept in the report. */
const RAW_LIMIT = 4096

/**
 * Copies an NDJSON file whose lines DuckDB refused, line by line (memory bounded by the longest line): each line that
 * is a JSON object goes to `target` with `__line`, its line number; any other non-blank line goes to `errorsPath` as
 * JSONL (file, row, raw, reason). `onBytes` hears how far the reading has come.
 */
export const cleanNdjson = async (
  source: string,
  target: string,
  errorsPath: string,
  options: { readonly name: string; readonly signal: AbortSignal; readonly onBytes?: (bytes: number) => void }
): Promise<CleanedNdjson> => {
  const input = NodeFs.createReadStream(source, { encoding: "utf8", signal: options.signal })
  const out = NodeFs.createWriteStream(target)
  const errOut = NodeFs.createWriteStream(errorsPath)
  const write = (stream: NodeFs.WriteStream, text: string) =>
    stream.write(text) ? Promise.resolve() : new Promise<void>((resolve) => stream.once("drain", () => resolve()))
  const close = (stream: NodeFs.WriteStream) =>
    new Promise<void>((resolve, reject) => stream.end((e?: Error | null) => (e ? reject(e) : resolve())))
  let line = 0
  let lines = 0
  let errors = 0
  let bytes = 0
  try {
    for await (const text of NodeReadline.createInterface({ input, crlfDelay: Infinity })) {
      line += 1
      bytes += Buffer.byteLength(text) + 1
      if (line % 10_000 === 0) options.onBytes?.(bytes)
      if (text.trim() === "") continue
      lines += 1
      let reason: string | undefined
      try {
        const value: unknown = JSON.parse(text)
        const isObject = value !== null && typeof value === "object" && !Array.isArray(value)
        if (!isObject) reason = `line ${line} is not a JSON object`
      } catch (e) {
        reason = `malformed JSON at line ${line}: ${(e as Error).message}`
      }
      if (reason === undefined) {
        const body = text.trim().slice(1).trimStart()
        await write(out, `{"__line":${line}${body.startsWith("}") ? "" : ","}${body}\n`)
      } else {
        errors += 1
        const report = { file: options.name, row: line, raw: text.slice(0, RAW_LIMIT), reason }
        await write(errOut, JSON.stringify(report) + "\n")
      }
    }
  } finally {
    await Promise.all([close(out), close(errOut)])
  }
  options.onBytes?.(bytes)
  return { lines, errors }
}
