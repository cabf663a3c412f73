import type { HttpServerRequest } from "@effect/platform"
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Effect } from "effect"
import * as MP from "multipasta"
import * as NodeFs from "node:fs"
import { InvalidRequest, PayloadTooLarge } from "../errors.ts"

/** A multipart upload as it landed: its text fields, and its file part written to `filePath`. */
export interface StagedUpload {
  readonly fields: Readonly<Record<string, string>>
  /** The file part's name, its file name as sent, and its size; undefined when the request had no such part. */
  readonly file: { readonly field: string; readonly filename: string; readonly bytes: number } | undefined
}

const MAX_FIELD_BYTES = 1024 * 1024

const multipartProblem = (error: MP.MultipartError): string => {
  switch (error._tag) {
    case "InvalidBoundary":
      return "unparseable multipart body: invalid boundary"
    case "BadHeaders":
      return "unparseable multipart body: malformed part headers"
    case "InvalidDisposition":
      return "unparseable multipart body: a part lacks a valid Content-Disposition"
    case "EndNotReached":
      return "unparseable multipart body: the closing boundary never came"
    case "ReachedLimit":
      return `unparseable multipart body: ${error.limit} reached`
  }
}

/**
 * Streams a `multipart/form-data` body to disk as it arrives: the part named `fileField` goes to `filePath` chunk by
 * chunk (the request is paused while the disk catches up), other parts are read as text fields. The file part
 * passing `limit` bytes ends the upload with 413. Nothing of the file is held in memory beyond one chunk.
 */
export const streamMultipartToDisk = (
  request: HttpServerRequest.HttpServerRequest,
  fileField: string,
  filePath: string,
  limit: number
): Effect.Effect<StagedUpload, InvalidRequest | PayloadTooLarge> =>
  Effect.suspend(() => {
    const contentType = request.headers["content-type"] ?? ""
    if (!/^multipart\/form-data/i.test(contentType.trim())) {
      return Effect.fail(new InvalidRequest({ message: `expected a multipart/form-data body with database, table and file_bytes, got content-type '${contentType}'` }))
    }
    if (!/;\s*boundary=/i.test(contentType)) return Effect.fail(new InvalidRequest({ message: "missing multipart boundary in the content-type header" }))
    const incoming = NodeHttpServerRequest.toIncomingMessage(request)
    return Effect.async<StagedUpload, InvalidRequest | PayloadTooLarge>((resume) => {
      const fields: Record<string, string> = {}
      let file: { field: string; filename: string; bytes: number } | undefined
      let out: NodeFs.WriteStream | undefined
      let done = false
      let parsed = false
      const finish = (result: Effect.Effect<StagedUpload, InvalidRequest | PayloadTooLarge>) => {
        if (done) return
        done = true
        incoming.removeAllListeners("data")
        incoming.resume()
        if (out !== undefined && !out.closed) {
          out.end(() => resume(result))
          out.on("error", () => resume(result))
        } else resume(result)
      }
      const fail = (e: InvalidRequest | PayloadTooLarge) => {
        out?.destroy()
        out = undefined
        finish(Effect.fail(e))
      }
      const parser = MP.make({
        headers: request.headers as Record<string, string>,
        maxFieldSize: MAX_FIELD_BYTES,
        isFile: (info) => info.name === fileField || info.filename !== undefined,
        onField: (info, value) => void (fields[info.name] = MP.decodeField(info, value)),
        onFile: (info) => {
          if (info.name !== fileField || file !== undefined) return () => undefined
          file = { field: info.name, filename: info.filename ?? "upload", bytes: 0 }
          out = NodeFs.createWriteStream(filePath, { flags: "w" })
          out.on("error", (e) => fail(new InvalidRequest({ message: `the upload could not be stored: ${e.message}` })))
          return (chunk) => {
            if (done || chunk === null || out === undefined) return
            file!.bytes += chunk.length
            if (file!.bytes > limit) {
              fail(new PayloadTooLarge({ message: `the upload is larger than --max-import-size (${limit} bytes)` }))
              return
            }
            if (!out.write(chunk)) {
              incoming.pause()
              out.once("drain", () => incoming.resume())
            }
          }
        },
        onError: (error) => fail(new InvalidRequest({ message: multipartProblem(error) })),
        onDone: () => {
          parsed = true
          if (out !== undefined) {
            const stream = out
            stream.end(() => {
              if (!done) {
                done = true
                resume(Effect.succeed({ fields, file }))
              }
            })
          } else finish(Effect.succeed({ fields, file }))
        }
      })
      incoming.on("data", (chunk: Buffer) => {
        if (!done) parser.write(chunk)
      })
      incoming.on("end", () => {
        if (!done) parser.end()
        if (!done && !parsed) fail(new InvalidRequest({ message: "unparseable multipart body: the closing boundary never came" }))
      })
      incoming.on("error", (e) => fail(new InvalidRequest({ message: `error reading the request body: ${e.message}` })))
      return Effect.sync(() => {
        out?.destroy()
        incoming.destroy()
      })
    })
  })
