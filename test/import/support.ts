import { DuckDBInstance } from "@duckdb/node-api"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import type { ServerHandle, TestResponse } from "../support/server.ts"

let instance: Promise<DuckDBInstance> | undefined

/** Runs SQL on a scratch DuckDB (not the server's) to make test files. */
export const duckRun = async (sql: string) => {
  const db = await (instance ??= DuckDBInstance.create(":memory:"))
  const c = await db.connect()
  try {
    await c.run("SET TimeZone = 'UTC'")
    await c.run(sql)
  } finally {
    c.closeSync()
  }
}

/** Writes a Parquet file from a SELECT. */
export const parquetFrom = async (path: string, select: string) => {
  NodeFs.mkdirSync(NodePath.dirname(path), { recursive: true })
  await duckRun(`COPY (${select}) TO '${path}' (FORMAT parquet)`)
  return path
}

/** A multipart/form-data body with text fields and one file part. */
export const multipart = (
  fields: Record<string, string>,
  file?: { readonly name: string; readonly filename: string; readonly bytes: Uint8Array }
) => {
  const boundary = `----strata${Math.random().toString(16).slice(2)}`
  const parts: Array<Buffer> = []
  for (const [k, v] of Object.entries(fields))
    parts.push(Buffer.from(`--${boundary}\r\ncontent-disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`))
  if (file !== undefined) {
    parts.push(
      Buffer.from(
        `--${boundary}\r\ncontent-disposition: form-data; name="${file.name}"; filename="${file.filename}"\r\ncontent-type: application/octet-stream\r\n\r\n`
      )
    )
    parts.push(Buffer.from(file.bytes))
    parts.push(Buffer.from("\r\n"))
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`))
  return { body: new Uint8Array(Buffer.concat(parts)), contentType: `multipart/form-data; boundary=${boundary}` }
}

/** Uploads a Parquet file the seed's way. */
export const upload = (server: Pick<ServerHandle, "request">, token: string | undefined, fields: Record<string, string>, bytes?: Uint8Array, filename = "data.parquet") => {
  const m = multipart(fields, bytes === undefined ? undefined : { name: "file_bytes", filename, bytes })
  return server.request("POST", "/api/v3/enterprise/import", { body: m.body, headers: { "content-type": m.contentType }, ...(token === undefined ? {} : { token }) })
}

/** Polls a job until `done` holds of it (or fails after `timeoutMs`). */
export const waitForJob = async (server: Pick<ServerHandle, "request">, token: string | undefined, id: string, done: (job: any) => boolean, timeoutMs = 20_000) => {
  const until = Date.now() + timeoutMs
  let last: TestResponse | undefined
  while (Date.now() < until) {
    last = await server.request("GET", `/api/v3/enterprise/import/${id}`, token === undefined ? {} : { token })
    if (last.status === 200 && done(last.json())) return last.json()
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`job ${id} did not get there in time: ${last?.status} ${last?.text}`)
}

/** count(*) of a table through SQL. */
export const countRows = async (server: Pick<ServerHandle, "request">, token: string | undefined, db: string, sql: string) => {
  const res = await server.request("GET", `/api/v3/query_sql?db=${db}&format=json&q=${encodeURIComponent(sql)}`, token === undefined ? {} : { token })
  if (res.status !== 200) throw new Error(`query answered ${res.status} ${res.text}`)
  return res.json<Array<Record<string, unknown>>>()
}
