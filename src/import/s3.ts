import type { S3Client } from "@aws-sdk/client-s3"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import * as NodeStream from "node:stream"
import * as NodeStreamPromises from "node:stream/promises"

// The SDK is loaded on first use: it is large, and most servers never read from S3.
const sdk = () => import("@aws-sdk/client-s3")

/** Credentials given in the request; without them the SDK's chain (AWS_ACCESS_KEY_ID, …, profiles) is used. */
export interface S3Credentials {
  readonly accessKeyId: string
  readonly secretAccessKey: string
  readonly sessionToken?: string | undefined
}

/**
 * How a job reaches its bucket, as the job records it: nothing secret (request credentials are kept apart, in a
 * file of the job's staging directory). Unset fields fall back to the environment when the client is made.
 */
export interface S3Access {
  readonly region: string | null
  readonly endpoint: string | null
  /** Path-style addressing (`endpoint/bucket/key`): the default with an endpoint override (S3-compatible stores). */
  readonly pathStyle: boolean | null
  /** Whether the job's credentials came with the request (then kept in its staging directory until it finishes). */
  readonly requestCredentials: boolean
}

/** A bucket and the key prefix (or one key) an `s3://bucket/prefix` URI names. */
export const parseS3Uri = (uri: string): { readonly bucket: string; readonly prefix: string } | undefined => {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/i.exec(uri)
  if (m === null || m[1] === "") return undefined
  return { bucket: m[1]!, prefix: m[2]! }
}

/**
 * The request's S3 settings: the 3.11 CLI's `--source-opt` keys in `source.options`, or Zilliz's
 * `accessKey`/`secretKey`.
 */
export const s3SettingsOf = (source: {
  readonly options?: Readonly<Record<string, string | boolean>> | undefined
  readonly accessKey?: string | undefined
  readonly secretKey?: string | undefined
}): { readonly access: S3Access; readonly credentials: S3Credentials | undefined } | { readonly error: string } => {
  const o = source.options ?? {}
  const known = [
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_region",
    "aws_endpoint",
    "aws_virtual_hosted_style_request"
  ]
  const unknown = Object.keys(o).filter((k) => !known.includes(k))
  if (unknown.length > 0) return { error: `unknown source.options ${unknown.join(", ")}: expected ${known.join(", ")}` }
  const text = (k: string) => (o[k] === undefined ? undefined : String(o[k]))
  const keyId = text("aws_access_key_id") ?? source.accessKey
  const secret = text("aws_secret_access_key") ?? source.secretKey
  if ((keyId === undefined) !== (secret === undefined)) {
    return { error: "S3 credentials need both an access key id and a secret access key" }
  }
  const endpoint = text("aws_endpoint") ?? null
  if (endpoint !== null && !/^https?:\/\//i.test(endpoint)) {
    return { error: `invalid aws_endpoint '${endpoint}': expected an http:// or https:// URL` }
  }
  const virtual = text("aws_virtual_hosted_style_request")
  return {
    access: {
      region: text("aws_region") ?? null,
      endpoint,
      pathStyle: virtual === undefined ? null : virtual !== "true",
      requestCredentials: keyId !== undefined
    },
    credentials:
      keyId === undefined
        ? undefined
        : { accessKeyId: keyId, secretAccessKey: secret!, sessionToken: text("aws_session_token") }
  }
}

/**
 * A client for a job's bucket. Region and endpoint fall back to AWS_REGION (AWS_DEFAULT_REGION, else us-east-1) and
 * AWS_ENDPOINT_URL_S3/AWS_ENDPOINT_URL; an endpoint override means path-style addressing unless the request says not.
 * Checksums are computed only where S3 requires them, as S3-compatible stores often reject the newer ones.
 */
export const s3Client = async (access: S3Access, credentials: S3Credentials | undefined): Promise<S3Client> => {
  const { S3Client } = await sdk()
  const env = process.env
  const endpoint = access.endpoint ?? env["AWS_ENDPOINT_URL_S3"] ?? env["AWS_ENDPOINT_URL"] ?? undefined
  const identity =
    credentials === undefined
      ? undefined
      : {
          accessKeyId: credentials.accessKeyId,
          secretAccessKey: credentials.secretAccessKey,
          ...(credentials.sessionToken === undefined ? {} : { sessionToken: credentials.sessionToken })
        }
  return new S3Client({
    region: access.region ?? env["AWS_REGION"] ?? env["AWS_DEFAULT_REGION"] ?? "us-east-1",
    ...(endpoint === undefined ? {} : { endpoint }),
    forcePathStyle: access.pathStyle ?? endpoint !== undefined,
    ...(identity === undefined ? {} : { credentials: identity }),
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: 3
  })
}

/** One object under a prefix. */
export interface S3Object {
  readonly key: string
  readonly size: number
}

/** Every object under `prefix` (all pages), in key order. */
export const listObjects = async (
  client: S3Client,
  bucket: string,
  prefix: string,
  signal: AbortSignal
): Promise<ReadonlyArray<S3Object>> => {
  const { ListObjectsV2Command } = await sdk()
  const out: Array<S3Object> = []
  let token: string | undefined
  do {
    const command = new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token })
    const page = await client.send(command, { abortSignal: signal })
    for (const o of page.Contents ?? []) {
      if (o.Key !== undefined && !o.Key.endsWith("/")) out.push({ key: o.Key, size: o.Size ?? 0 })
    }
    token = page.IsTruncated === true ? page.NextContinuationToken : undefined
  } while (token !== undefined)
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
}

/**
 * The objects an `s3://bucket/prefix` URI names: the one object whose key is the prefix, else every object under
 * `prefix/` (a directory), with names relative to it.
 */
export const objectsOfUri = async (client: S3Client, bucket: string, prefix: string, signal: AbortSignal) => {
  const listed = await listObjects(client, bucket, prefix, signal)
  const exact = listed.find((o) => o.key === prefix)
  if (exact !== undefined && prefix !== "") return [{ name: NodePath.posix.basename(exact.key), ...exact }]
  const dir = prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`
  return listed.filter((o) => o.key.startsWith(dir)).map((o) => ({ name: o.key.slice(dir.length), ...o }))
}

/**
 * Streams one object to `target` (through `target.part`, renamed when whole): memory stays bounded whatever its size.
 * `onBytes` hears the bytes so far; past `limit` bytes the download fails.
 */
export const downloadObject = async (
  client: S3Client,
  bucket: string,
  key: string,
  target: string,
  options: { readonly limit: number; readonly signal: AbortSignal; readonly onBytes?: (bytes: number) => void }
) => {
  const { GetObjectCommand } = await sdk()
  const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: options.signal })
  const body = object.Body
  if (!(body instanceof NodeStream.Readable)) throw new Error(`GET s3://${bucket}/${key} answered no body`)
  NodeFs.mkdirSync(NodePath.dirname(target), { recursive: true })
  let bytes = 0
  const counter = new NodeStream.Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length
      options.onBytes?.(bytes)
      const tooLarge = bytes > options.limit
      const message = `s3://${bucket}/${key} is larger than --max-import-size (${options.limit} bytes)`
      cb(tooLarge ? new Error(message) : null, chunk)
    }
  })
  const part = `${target}.part`
  await NodeStreamPromises.pipeline(body, counter, NodeFs.createWriteStream(part), { signal: options.signal })
  NodeFs.renameSync(part, target)
  return bytes
}

const DENIED = [
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "AccessDenied",
  "ExpiredToken",
  "InvalidToken",
  "CredentialsProviderError"
]

/** What went wrong talking to S3, in words a user can act on; `kind` says which status it answers. */
export const describeS3Error = (
  e: unknown,
  what: string
): { readonly kind: "not_found" | "denied" | "other"; readonly message: string } => {
  const name = e instanceof Error ? e.name : ""
  // Service errors carry the HTTP status the store answered.
  const metadata =
    typeof e === "object" && e !== null && "$metadata" in e
      ? (e as { readonly $metadata?: { readonly httpStatusCode?: number } }).$metadata
      : undefined
  const status = metadata?.httpStatusCode
  const detail = e instanceof Error ? e.message : String(e)
  if (name === "NoSuchBucket") {
    return { kind: "not_found", message: `${what}: the bucket does not exist (NoSuchBucket)` }
  }
  if (name === "NoSuchKey" || status === 404) {
    return { kind: "not_found", message: `${what}: no such key (${name || "404"})` }
  }
  if (DENIED.includes(name) || status === 403) {
    return { kind: "denied", message: `${what}: S3 refused the credentials (${name || status}): ${detail}` }
  }
  return { kind: "other", message: `${what}: ${name !== "" && name !== "Error" ? `${name}: ` : ""}${detail}` }
}
