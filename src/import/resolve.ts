import { Effect, Either } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"
import { liveDatabase, liveTable, type CatalogState } from "../catalog/state.ts"
import { Forbidden, InvalidRequest, NotFound } from "../errors.ts"
import type { JobInput } from "../events/index.ts"
import { formatOfName, type ImportFormat } from "./plan.ts"
import { describeS3Error, objectsOfUri, parseS3Uri, s3Client, type S3Access, type S3Credentials } from "./s3.ts"

/**
 * Resolves a `file://` URI to the files it names (a file, or a directory's files by extension), inside --import-dir
 * only.
 */
export const resolveFileUri = (importDir: string | undefined, uri: string, format: ImportFormat | null) =>
  Effect.gen(function* () {
    if (importDir === undefined) return yield* Effect.fail(new Forbidden({ message: "file:// sources are refused: the server has no --import-dir" }))
    const path = yield* Effect.try({ try: () => NodeUrl.fileURLToPath(uri), catch: () => new InvalidRequest({ message: `invalid file:// URI: ${uri}` }) })
    const real = yield* Effect.try({ try: () => NodeFs.realpathSync(path), catch: () => new InvalidRequest({ message: `source not found: ${uri}` }) })
    const inside = (p: string) => p === importDir || p.startsWith(importDir + NodePath.sep)
    if (!inside(real)) return yield* Effect.fail(new Forbidden({ message: `source ${uri} is outside --import-dir (symbolic links are followed)` }))
    const stat = NodeFs.statSync(real)
    const files: Array<JobInput> = []
    if (stat.isDirectory()) {
      const names = (NodeFs.readdirSync(real, { recursive: true }) as Array<string>).sort()
      for (const name of names) {
        const full = NodePath.join(real, name)
        const realFile = NodeFs.realpathSync(full)
        if (!inside(realFile)) return yield* Effect.fail(new Forbidden({ message: `source ${uri} holds ${name}, a link to outside --import-dir` }))
        if (!NodeFs.statSync(realFile).isFile()) continue
        const f = formatOfName(name)
        if (f === undefined || (format !== null && f !== format)) continue
        files.push({ name, source: NodeUrl.pathToFileURL(realFile).href, bytes: NodeFs.statSync(realFile).size })
      }
      if (files.length === 0) return yield* Effect.fail(new InvalidRequest({ message: `source ${uri} holds no ${format ?? "parquet, csv, ndjson or line-protocol"} files` }))
    } else {
      files.push({ name: NodePath.basename(real), source: NodeUrl.pathToFileURL(real).href, bytes: stat.size })
    }
    return files
  })

/**
 * Lists the objects an s3:// URI names (one object, or every object under the prefix in a format it can tell):
 * a missing bucket or no objects answer 404, refused credentials 403, anything else 400, each naming the problem.
 */
export const resolveS3Uri = (
  uri: string,
  format: ImportFormat | null,
  s3: { readonly access: S3Access; readonly credentials: S3Credentials | undefined } | undefined
) =>
  Effect.gen(function* () {
    const parsed = parseS3Uri(uri)
    if (parsed === undefined)
      return yield* Effect.fail(
        new InvalidRequest({ message: `invalid s3:// URI '${uri}': expected s3://bucket/prefix` })
      )
    const access = s3?.access ?? { region: null, endpoint: null, pathStyle: null, requestCredentials: false }
    const listed = yield* Effect.tryPromise({
      try: async (signal) => {
        const client = await s3Client(access, s3?.credentials)
        try {
          return await objectsOfUri(client, parsed.bucket, parsed.prefix, signal)
        } finally {
          client.destroy()
        }
      },
      catch: (e) => {
        const d = describeS3Error(e, `listing ${uri}`)
        return d.kind === "not_found"
          ? new NotFound({ message: d.message })
          : d.kind === "denied"
            ? new Forbidden({ message: d.message })
            : new InvalidRequest({ message: d.message })
      }
    })
    if (listed.length === 0) return yield* Effect.fail(new NotFound({ message: `source ${uri} holds no objects` }))
    const single = listed.length === 1 && listed[0]!.key === parsed.prefix
    const files: Array<JobInput> = []
    for (const o of listed) {
      const f = formatOfName(o.name)
      if (!single && (f === undefined || (format !== null && f !== format))) continue
      files.push({ name: o.name, source: `s3://${parsed.bucket}/${o.key}`, bytes: o.size })
    }
    if (files.length === 0)
      return yield* Effect.fail(
        new InvalidRequest({
          message: `source ${uri} holds no ${format ?? "parquet, csv, ndjson or line-protocol"} files`
        })
      )
    return files
  })

/** The database and table a request names: 404 when missing (the table may be missing when it is to be created). */
export const target = (state: CatalogState, database: string, table: string, createTable: boolean) => {
  const db = liveDatabase(state, database)
  if (db === undefined) return Either.left(new NotFound({ message: `database not found: ${database}` }))
  const t = liveTable(db, table)
  if (t === undefined && !createTable) return Either.left(new NotFound({ message: `table not found: ${table} (database ${database})` }))
  return Either.right({ db, table: t })
}

/**
 * The inputs a source URI names (file://, http(s):// or s3://), each of a format given or told by its name; fails
 * naming the problem (400, 403 or 404).
 */
export const resolveSource = (
  importDir: string | undefined,
  uri: string,
  format: ImportFormat | null,
  s3: { readonly access: S3Access; readonly credentials: S3Credentials | undefined } | undefined
) =>
  Effect.gen(function* () {
    let inputs: ReadonlyArray<JobInput>
    const scheme = uri.slice(0, uri.indexOf(":") + 1).toLowerCase()
    if (scheme === "file:") inputs = yield* resolveFileUri(importDir, uri, format)
    else if (scheme === "http:" || scheme === "https:") {
      const url = yield* Effect.try({
        try: () => new URL(uri),
        catch: () => new InvalidRequest({ message: `invalid URI: ${uri}` })
      })
      inputs = [{ name: NodePath.basename(url.pathname) || url.hostname, source: url.href, bytes: -1 }]
    } else if (scheme === "s3:") inputs = yield* resolveS3Uri(uri, format, s3)
    else
      return yield* Effect.fail(
        new InvalidRequest({
          message: `unsupported source URI '${uri}': expected file://, http://, https:// or s3://`
        })
      )
    for (const i of inputs) {
      const f = format ?? formatOfName(i.name)
      if (f === undefined)
        return yield* Effect.fail(
          new InvalidRequest({
            message: `cannot tell the format of ${i.name}: give source.format (parquet, csv, ndjson, lp)`
          })
        )
    }
    return inputs
  })
