import { HttpServerResponse } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Effect, Schema } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { ServerConfig } from "../config.ts"
import { InvalidRequest, NotFound, Unavailable } from "../errors.ts"
import { ImportJobs } from "../import/ImportJobs.ts"
import { IMPORT_FORMATS, parseColumnMetadata, PRECISIONS, type ImportFormat } from "../import/plan.ts"
import { s3SettingsOf } from "../import/s3.ts"
import { streamMultipartToDisk } from "../import/upload.ts"
import { readJsonBody } from "./body.ts"
import { jsonResponse } from "./respond.ts"
import { admin, type RequestContext, type RouteDef } from "./route.ts"

const IMPORT_PATH = "/api/v3/enterprise/import"

/** Import endpoints run only where the import scheduler runs: a node whose --mode has compact (503 elsewhere). */
const importJobs = Effect.gen(function* () {
  const imports = yield* ImportJobs
  if (!imports.enabled) {
    const modes = (yield* ServerConfig).mode.join(",")
    return yield* Effect.fail(new Unavailable({ message: `bulk import is not available on this node: it runs only on a node with --mode compact (or all); this node runs ${modes}` }))
  }
  return imports
})

const idempotencyKeyOf = (ctx: RequestContext) => {
  const key = ctx.request.headers["idempotency-key"]
  return key === undefined || key.trim() === "" ? null : key.trim()
}

const SourceBody = Schema.Struct({
  database: Schema.String,
  table: Schema.String,
  source: Schema.Struct({
    uri: Schema.String,
    format: Schema.optional(Schema.NullOr(Schema.String)),
    precision: Schema.optional(Schema.String),
    // s3://: the 3.11 CLI's --source-opt keys (aws_region, aws_endpoint, aws_access_key_id, …), or Zilliz's keys.
    options: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Union(Schema.String, Schema.Boolean) })),
    accessKey: Schema.optional(Schema.String),
    secretKey: Schema.optional(Schema.String)
  }),
  column_metadata: Schema.optional(Schema.Unknown),
  column_mapping: Schema.optional(Schema.Unknown),
  schema: Schema.optional(Schema.Unknown),
  on_error: Schema.optional(Schema.Literal("abort", "skip_row")),
  create_table: Schema.optional(Schema.Boolean)
})

/** Drains a request body that is not needed (a repeated idempotent request), so the connection stays usable. */
const drain = (ctx: RequestContext) =>
  Effect.async<void>((resume) => {
    const incoming = NodeHttpServerRequest.toIncomingMessage(ctx.request)
    if (incoming.readableEnded) return resume(Effect.void)
    incoming.on("end", () => resume(Effect.void))
    incoming.on("error", () => resume(Effect.void))
    incoming.resume()
  })

const fromUpload = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const imports = yield* importJobs
    const config = yield* ServerConfig
    const key = idempotencyKeyOf(ctx)
    if (key !== null) {
      const existing = yield* imports.byIdempotencyKey(key)
      if (existing !== undefined) {
        yield* drain(ctx)
        return jsonResponse(yield* imports.info(existing))
      }
    }
    const jobId = imports.newJobId()
    const dir = imports.stagingDir(jobId)
    yield* Effect.sync(() => NodeFs.mkdirSync(dir, { recursive: true }))
    const staged = NodePath.join(dir, "upload.parquet")
    const cleanup = Effect.sync(() => NodeFs.rmSync(imports.jobDir(jobId), { recursive: true, force: true }))
    const upload = yield* streamMultipartToDisk(ctx.request, "file_bytes", staged, config.maxImportSize).pipe(Effect.tapError(() => cleanup))
    const missing = ["database", "table"].filter((f) => (upload.fields[f] ?? "").trim() === "")
    if (upload.file === undefined) missing.push("file_bytes")
    if (missing.length > 0) {
      yield* cleanup
      return yield* Effect.fail(new InvalidRequest({ message: `missing multipart field(s): ${missing.join(", ")}` }))
    }
    const metadataText = upload.fields["column_metadata"] ?? upload.fields["column_mapping"] ?? upload.fields["schema"]
    const metadata = parseColumnMetadata(metadataText ?? null)
    if ("error" in metadata) {
      yield* cleanup
      return yield* Effect.fail(new InvalidRequest({ message: metadata.error }))
    }
    const filename = NodePath.basename(upload.file!.filename) || "upload.parquet"
    const { job } = yield* imports.createFromUpload({
      jobId,
      database: upload.fields["database"]!.trim(),
      table: upload.fields["table"]!.trim(),
      mapping: metadata.mapping,
      filename,
      stagedPath: staged,
      sizeBytes: upload.file!.bytes,
      idempotencyKey: key
    })
    return jsonResponse(yield* imports.info(job))
  })

const fromSource = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const imports = yield* importJobs
    const config = yield* ServerConfig
    const body = yield* readJsonBody(ctx.request, SourceBody, config.maxHttpRequestSize)
    const key = idempotencyKeyOf(ctx)
    if (key !== null) {
      const existing = yield* imports.byIdempotencyKey(key)
      if (existing !== undefined) return jsonResponse(yield* imports.info(existing))
    }
    const metadata = parseColumnMetadata(body.column_metadata ?? body.column_mapping ?? body.schema ?? null)
    if ("error" in metadata) return yield* Effect.fail(new InvalidRequest({ message: metadata.error }))
    const format = body.source.format ?? null
    if (format !== null && !(IMPORT_FORMATS as ReadonlyArray<string>).includes(format)) {
      return yield* Effect.fail(new InvalidRequest({ message: `invalid source.format '${format}': expected one of ${IMPORT_FORMATS.join(", ")}` }))
    }
    const precision = body.source.precision ?? "ns"
    if (PRECISIONS[precision] === undefined) return yield* Effect.fail(new InvalidRequest({ message: `invalid source.precision '${precision}': expected ns, us, ms or s` }))
    const s3 = s3SettingsOf(body.source)
    if ("error" in s3) return yield* Effect.fail(new InvalidRequest({ message: s3.error }))
    const { job } = yield* imports.createFromSource({
      database: body.database,
      table: body.table,
      uri: body.source.uri,
      format: format as ImportFormat | null,
      mapping: metadata.mapping,
      onError: body.on_error ?? "abort",
      createTable: body.create_table ?? false,
      precision,
      idempotencyKey: key,
      s3
    })
    return jsonResponse(yield* imports.info(job))
  })

const jobIdOf = (ctx: RequestContext) => {
  const parts = new URL(ctx.request.url, "http://localhost").pathname.split("/")
  return decodeURIComponent(parts[5] ?? "")
}

const found = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const imports = yield* importJobs
    const id = jobIdOf(ctx)
    const job = yield* imports.get(id)
    if (job === undefined) return yield* Effect.fail(new NotFound({ message: `import job not found: ${id}` }))
    return { imports, job }
  })

/** The bulk-import endpoints: the seed's upload and list, plus one job, its error report, cancel and source jobs. */
export const importRoutes: ReadonlyArray<RouteDef> = [
  {
    method: "POST",
    path: IMPORT_PATH,
    access: admin,
    handler: (ctx) =>
      /^\s*application\/json/i.test(ctx.request.headers["content-type"] ?? "") ? fromSource(ctx) : fromUpload(ctx)
  },
  {
    method: "GET",
    path: IMPORT_PATH,
    access: admin,
    handler: () => Effect.flatMap(importJobs, (imports) => Effect.map(imports.list, (all) => jsonResponse(all)))
  },
  {
    method: "GET",
    path: `${IMPORT_PATH}/:upload_uuid`,
    access: admin,
    handler: (ctx) =>
      Effect.flatMap(found(ctx), ({ imports, job }) => Effect.map(imports.info(job), (i) => jsonResponse(i)))
  },
  {
    method: "GET",
    path: `${IMPORT_PATH}/:upload_uuid/errors`,
    access: admin,
    handler: (ctx) =>
      Effect.flatMap(found(ctx), ({ imports, job }) =>
        Effect.map(imports.errors(job.id), (text) =>
          HttpServerResponse.text(text, { contentType: "application/x-ndjson" })
        )
      )
  },
  {
    method: "DELETE",
    path: `${IMPORT_PATH}/:upload_uuid`,
    access: admin,
    handler: (ctx) =>
      Effect.gen(function* () {
        const { imports, job } = yield* found(ctx)
        const after = yield* imports.cancel(job.id)
        return jsonResponse(yield* imports.info(after ?? job))
      })
  }
]
