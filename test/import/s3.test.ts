import { CreateBucketCommand, DeleteObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as NodeFs from "node:fs"
import * as NodeHttp from "node:http"
import * as NodePath from "node:path"
import S3rver from "s3rver"
import { expectError } from "../support/expect.ts"
import { startServer, tempDir, type InProcessServer } from "../support/server.ts"
import { countRows, parquetFrom, waitForJob } from "./support.ts"

// A real S3 API (s3rver, on a free port over a temp dir), filled through the AWS SDK as a user would.
let server: InProcessServer
let s3: S3rver
let endpoint = ""
let client: S3Client
const BUCKET = "strata-src"
const KEY = "S3RVER"
const start = (body: unknown) => server.request("POST", "/api/v3/enterprise/import", { body })
const finished = (j: { status: string }) => ["imported", "compacted", "terminal_failed", "cancelled"].includes(j.status)
const options = () => ({
  aws_endpoint: endpoint,
  aws_region: "us-east-1",
  aws_access_key_id: KEY,
  aws_secret_access_key: KEY
})

beforeAll(async () => {
  s3 = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory: tempDir("strata-s3rver-") })
  endpoint = `http://127.0.0.1:${(await s3.run()).port}`
  client = new S3Client({
    region: "us-east-1",
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: KEY, secretAccessKey: KEY },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED"
  })
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }))
  const put = (key: string, body: string | Uint8Array) =>
    client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }))
  await put(
    "cpu/a.csv",
    "host,usage,time\n" + Array.from({ length: 500 }, (_, i) => `h${i % 5},${i},${1704067200 + i}`).join("\n") + "\n"
  )
  await put(
    "cpu/b.ndjson",
    Array.from({ length: 300 }, (_, i) =>
      JSON.stringify({ host: `n${i % 3}`, usage: i * 0.5, time: 1704153600 + i })
    ).join("\n") + "\n"
  )
  const local = NodePath.join(tempDir("strata-s3-parquet-"), "c.parquet")
  await parquetFrom(
    local,
    "SELECT 'p' || (i % 4) AS host, i * 1.0 AS usage, " +
      "make_timestamp_ns(1704240000000000000 + i * 1000000000) AS time FROM range(2000) t(i)"
  )
  await put("cpu/nested/c.parquet", NodeFs.readFileSync(local))
  await put("cpu/README.md", "not data\n")
  await put("cpuish/other.csv", "host,usage,time\nx,1,1704067200\n")
  await put("one.lp", "net,host=a rx=1i 1704067200\nnet,host=b rx=2i 1704067201\nnet,host=c rx=3i 1704067202\n")
  server = await startServer({ withoutAuth: true, persistIntervalMs: 3_600_000 })
  expect((await server.request("POST", "/api/v3/configure/database", { body: { db: "d" } })).status).toBe(200)
}, 60_000)
afterAll(async () => {
  client?.destroy()
  await server?.stop()
  await s3?.close()
})

describe("import jobs from s3:// sources", () => {
  it("a prefix is a directory: each object of a known format is one input, with exact row counts", async () => {
    const res = await start({
      database: "d",
      table: "cpu",
      create_table: true,
      source: { uri: `s3://${BUCKET}/cpu`, precision: "s", options: options() },
      column_metadata: { column_mapping: { host: "tag", usage: "f64" } }
    })
    expect(res.status, res.text).toBe(200)
    const job = await waitForJob(server, undefined, res.json().upload_uuid, finished, 60_000)
    expect(job).toMatchObject({
      status: "imported",
      rows_imported: 2800,
      rows_skipped: 0,
      files_total: 3,
      files_done: 3
    })
    expect(job.files.map((f: { name: string; rows: number }) => [f.name, f.rows])).toEqual([
      ["a.csv", 500],
      ["b.ndjson", 300],
      ["nested/c.parquet", 2000]
    ])
    // Nothing of `cpuish/` (outside the prefix as a directory) and nothing secret in the job's record.
    expect(
      await countRows(server, undefined, "d", "SELECT count(*) AS n, count(DISTINCT host) AS hosts FROM cpu")
    ).toEqual([{ n: 2800, hosts: 12 }])
    expect(JSON.stringify(job)).not.toContain(KEY)
  })

  it("one object, credentials, region and endpoint from the environment (AWS_*)", async () => {
    const saved = { ...process.env }
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: KEY,
      AWS_SECRET_ACCESS_KEY: KEY,
      AWS_REGION: "us-east-1",
      AWS_ENDPOINT_URL: endpoint
    })
    try {
      const res = await start({
        database: "d",
        table: "net",
        create_table: true,
        source: { uri: `s3://${BUCKET}/one.lp`, precision: "s" }
      })
      expect(res.status, res.text).toBe(200)
      const job = await waitForJob(server, undefined, res.json().upload_uuid, finished, 60_000)
      expect(job).toMatchObject({ status: "imported", rows_imported: 3, files_total: 1 })
    } finally {
      for (const k of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_ENDPOINT_URL"]) {
        if (saved[k] === undefined) delete process.env[k]
        else process.env[k] = saved[k]
      }
    }
    expect(await countRows(server, undefined, "d", "SELECT host, rx FROM net ORDER BY host")).toEqual([
      { host: "a", rx: 1 },
      { host: "b", rx: 2 },
      { host: "c", rx: 3 }
    ])
  })

  it("an object gone by the time its job runs fails the job for good, naming the object", async () => {
    await client.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: "later/gone.csv", Body: "host,usage,time\nx,1,1704067200\n" })
    )
    // A job ahead of it that waits for the test, so the object is deleted after listing and before reading.
    let release: () => void = () => {}
    const released = new Promise<void>((r) => (release = r))
    const http = NodeHttp.createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/csv" })
      res.write("host,usage,time\n")
      void released.then(() => res.end("y,2,1704067200\n"))
    })
    await new Promise<void>((r) => http.listen(0, "127.0.0.1", r))
    try {
      const port = (http.address() as { port: number }).port
      const ahead = await start({
        database: "d",
        table: "gone",
        create_table: true,
        source: { uri: `http://127.0.0.1:${port}/a.csv`, precision: "s" }
      })
      expect(ahead.status, ahead.text).toBe(200)
      const res = await start({
        database: "d",
        table: "gone",
        create_table: true,
        source: { uri: `s3://${BUCKET}/later/gone.csv`, precision: "s", options: options() }
      })
      expect(res.status, res.text).toBe(200)
      await client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: "later/gone.csv" }))
      release()
      const job = await waitForJob(server, undefined, res.json().upload_uuid, finished, 60_000)
      expect(job.status).toBe("terminal_failed")
      expect(job.last_message).toBe(`reading s3://${BUCKET}/later/gone.csv: no such key (NoSuchKey)`)
      expect(job.files[0]).toMatchObject({ name: "gone.csv", status: "running", error: job.last_message })
    } finally {
      release()
      http.close()
    }
  })

  it("a missing bucket or an empty prefix answers 404, wrong credentials 403, each naming the problem", async () => {
    expectError(
      await start({
        database: "d",
        table: "x",
        create_table: true,
        source: { uri: "s3://no-such-bucket/cpu", options: options() }
      }),
      404,
      /no-such-bucket.*NoSuchBucket/
    )
    expectError(
      await start({
        database: "d",
        table: "x",
        create_table: true,
        source: { uri: `s3://${BUCKET}/nothing-here/`, options: options() }
      }),
      404,
      /holds no objects/
    )
    const wrong = { ...options(), aws_access_key_id: "WRONG", aws_secret_access_key: "WRONG" }
    expectError(
      await start({
        database: "d",
        table: "x",
        create_table: true,
        source: { uri: `s3://${BUCKET}/cpu`, options: wrong }
      }),
      403,
      /S3 refused the credentials \(InvalidAccessKeyId\)/
    )
    expectError(
      await start({
        database: "d",
        table: "x",
        create_table: true,
        source: { uri: `s3://${BUCKET}/cpu`, options: { aws_access_key_id: KEY } }
      }),
      400,
      /both an access key id and a secret/
    )
    expectError(
      await start({
        database: "d",
        table: "x",
        create_table: true,
        source: { uri: `s3://${BUCKET}/cpu`, options: { aws_bucket: "x" } }
      }),
      400,
      /unknown source.options aws_bucket/
    )
  })
})
