import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import * as NodeStream from "node:stream"
import { serverError } from "../cli/serverError.ts"

/** What `strata import` was asked to do. */
export interface ImportCommand {
  readonly host: string
  readonly token: string | undefined
  readonly database: string
  readonly table: string
  /** Local Parquet files or directories to upload (one job per file), or none when `uri` is given. */
  readonly paths: ReadonlyArray<string>
  readonly uri: string | undefined
  readonly format: string | undefined
  readonly columns: Readonly<Record<string, string>>
  /** For s3:// URIs: `aws_region`, `aws_endpoint`, `aws_access_key_id`, … (the 3.11 CLI's `--source-opt`). */
  readonly sourceOptions?: Readonly<Record<string, string>> | undefined
  readonly onError: string | undefined
  readonly createTable: boolean
  readonly json: boolean
}

/** A job as the server reports it (the fields the CLI reads). */
interface JobInfo {
  readonly upload_uuid: string
  readonly filename: string
  readonly status: string
  readonly last_message: string | null
  readonly rows_imported: number
  readonly rows_skipped: number
  readonly row_count: number
  readonly files_total: number
  readonly files_done: number
  readonly percent_complete: number
}

const FINISHED = ["imported", "compacted", "failed", "terminal_failed", "cancelled"]
const SUCCEEDED = ["imported", "compacted"]

/** Every Parquet file a path names: the file, or a directory's `*.parquet` files, walked recursively, sorted. */
export const parquetFilesOf = (path: string): ReadonlyArray<string> => {
  const stat = NodeFs.statSync(path)
  if (!stat.isDirectory()) return [path]
  return (NodeFs.readdirSync(path, { recursive: true }) as Array<string>)
    .filter((p) => p.toLowerCase().endsWith(".parquet"))
    .sort()
    .map((p) => NodePath.join(path, p))
}

const headers = (command: ImportCommand): Record<string, string> => (command.token === undefined ? {} : { authorization: `Bearer ${command.token}` })

const answer = async (res: Response): Promise<JobInfo> => {
  const text = await res.text()
  if (!res.ok) throw serverError(res.status, text)
  return JSON.parse(text) as JobInfo
}

/** Uploads one Parquet file as the seed's multipart request, streamed from disk. */
const uploadFile = async (command: ImportCommand, file: string): Promise<JobInfo> => {
  const boundary = `----strata-import-${Date.now().toString(16)}`
  const field = (name: string, value: string) => `--${boundary}\r\ncontent-disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`
  let head = field("database", command.database) + field("table", command.table)
  if (Object.keys(command.columns).length > 0) head += field("column_metadata", JSON.stringify({ column_mapping: command.columns }))
  head += `--${boundary}\r\ncontent-disposition: form-data; name="file_bytes"; filename="${NodePath.basename(file).replace(/"/g, "")}"\r\ncontent-type: application/vnd.apache.parquet\r\n\r\n`
  const tail = `\r\n--${boundary}--\r\n`
  async function* parts() {
    yield Buffer.from(head)
    for await (const chunk of NodeFs.createReadStream(file, { highWaterMark: 1024 * 1024 })) yield chunk as Buffer
    yield Buffer.from(tail)
  }
  const res = await fetch(new URL("/api/v3/enterprise/import", command.host), {
    method: "POST",
    headers: { ...headers(command), "content-type": `multipart/form-data; boundary=${boundary}` },
    body: NodeStream.Readable.toWeb(NodeStream.Readable.from(parts())) as ReadableStream,
    duplex: "half"
  } as RequestInit)
  return answer(res)
}

const startFromUri = async (command: ImportCommand): Promise<JobInfo> => {
  const body = {
    database: command.database,
    table: command.table,
    source: {
      uri: command.uri,
      ...(command.format === undefined ? {} : { format: command.format }),
      ...(command.sourceOptions === undefined || Object.keys(command.sourceOptions).length === 0
        ? {}
        : { options: command.sourceOptions })
    },
    column_metadata: { column_mapping: command.columns },
    ...(command.onError === undefined ? {} : { on_error: command.onError }),
    create_table: command.createTable
  }
  const res = await fetch(new URL("/api/v3/enterprise/import", command.host), { method: "POST", headers: { ...headers(command), "content-type": "application/json" }, body: JSON.stringify(body) })
  return answer(res)
}

/** The progress line: rows, percent, rate, ETA. */
export const progressLine = (rows: number, percent: number, elapsedS: number): string => {
  const rate = elapsedS > 0 ? rows / elapsedS : 0
  const eta = percent > 0 && percent < 100 ? (elapsedS * (100 - percent)) / percent : 0
  const width = 30
  const filled = Math.round((percent / 100) * width)
  return `[${"#".repeat(filled)}${" ".repeat(width - filled)}] ${percent.toFixed(0).padStart(3)}%  ${rows} rows  ${Math.round(rate)} rows/s  ETA ${Math.ceil(eta)}s`
}

/**
 * Runs `strata import`: starts the jobs, follows them to the end; answers the exit code (0 when every job imported).
 */
export const runImport = async (
  command: ImportCommand,
  out: (text: string) => void,
  err: (text: string) => void,
  tty: boolean
): Promise<number> => {
  const started = Date.now()
  const jobs: Array<JobInfo> = []
  if (command.uri !== undefined) jobs.push(await startFromUri(command))
  for (const path of command.paths) for (const file of parquetFilesOf(path)) jobs.push(await uploadFile(command, file))
  if (jobs.length === 0) throw new Error("nothing to import: give Parquet files or directories, or --uri")
  const final: Array<JobInfo> = []
  for (const job of jobs) {
    let info = job
    while (!FINISHED.includes(info.status)) {
      await new Promise((r) => setTimeout(r, 250))
      info = await answer(
        await fetch(new URL(`/api/v3/enterprise/import/${job.upload_uuid}`, command.host), {
          headers: headers(command)
        })
      )
      if (tty) {
        const rows = final.reduce((n, j) => n + j.rows_imported, 0) + info.rows_imported
        const percent = ((final.length + info.percent_complete / 100) / jobs.length) * 100
        err(`\r\x1b[2K${progressLine(rows, percent, (Date.now() - started) / 1000)}`)
      }
    }
    final.push(info)
  }
  if (tty) err("\n")
  const ok = final.every((j) => SUCCEEDED.includes(j.status))
  if (command.json) {
    out(JSON.stringify({ ok, seconds: (Date.now() - started) / 1000, jobs: final }, null, 2) + "\n")
  } else {
    for (const j of final)
      out(
        `${j.upload_uuid}  ${j.status.padEnd(15)} ${j.rows_imported} rows imported, ${j.rows_skipped} skipped  ${j.filename}${j.last_message ? `  (${j.last_message})` : ""}\n`
      )
  }
  return ok ? 0 : 1
}
