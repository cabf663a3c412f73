import { Effect } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import * as NodeStream from "node:stream"
import * as NodeStreamPromises from "node:stream/promises"
import { JobError } from "../jobs/Jobs.ts"
import { describeS3Error, downloadObject, parseS3Uri, s3Client, type S3Access, type S3Credentials } from "./s3.ts"
import { retryable } from "./spec.ts"

/**
 * Streams an object of a bucket to disk with the job's access and credentials; a missing object or refused
 * credentials fail the job for good.
 */
export const downloadS3 = (
  access: S3Access,
  credentials: S3Credentials | undefined,
  uri: string,
  target: string,
  options: { readonly limit: number; readonly onBytes: (bytes: number) => void }
) =>
  Effect.tryPromise({
    try: async (signal) => {
      const { bucket, prefix: key } = parseS3Uri(uri)!
      if (access.requestCredentials && credentials === undefined)
        throw new Error("the credentials the request gave are gone")
      const client = await s3Client(access, credentials)
      try {
        await downloadObject(client, bucket, key, target, { limit: options.limit, signal, onBytes: options.onBytes })
      } finally {
        client.destroy()
      }
    },
    catch: (e) => {
      const d = describeS3Error(e, `reading ${uri}`)
      return new JobError({ message: d.message, terminal: d.kind !== "other", cause: e })
    }
  })

/** Streams an http(s):// download to disk (`<target>.part`, renamed when whole), failing past `limit` bytes. */
export const downloadHttp = (url: string, target: string, limit: number, onBytes: (bytes: number) => void) =>
  Effect.tryPromise({
    try: async (signal) => {
      NodeFs.mkdirSync(NodePath.dirname(target), { recursive: true })
      const response = await fetch(url, { signal })
      if (!response.ok || response.body === null) throw new Error(`GET ${url} answered ${response.status}`)
      let bytes = 0
      const counter = new NodeStream.Transform({
        transform(chunk: Buffer, _enc, cb) {
          bytes += chunk.length
          onBytes(bytes)
          cb(bytes > limit ? new Error(`the download is larger than --max-import-size (${limit} bytes)`) : null, chunk)
        }
      })
      const part = `${target}.part`
      await NodeStreamPromises.pipeline(
        NodeStream.Readable.fromWeb(response.body as never),
        counter,
        NodeFs.createWriteStream(part)
      )
      NodeFs.renameSync(part, target)
    },
    catch: retryable(`downloading ${url}`)
  })
