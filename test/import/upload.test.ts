import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { Compactor } from "../../src/compactor/Compactor.ts"
import { expectError } from "../support/expect.ts"
import { createOperatorToken, createResourceToken, startServer, tempDir, type InProcessServer } from "../support/server.ts"
import { countRows, multipart, parquetFrom, upload, waitForJob } from "./support.ts"

const DAY = 86_400_000_000_000n
const T0 = 1_700_000_000_000_000_000n

let server: InProcessServer
let token: string
const dir = tempDir("strata-import-files-")
let good: Uint8Array

beforeAll(async () => {
  server = await startServer({ persistIntervalMs: 3_600_000 })
  token = await createOperatorToken(server)
  const w = await server.request("POST", "/api/v3/write_lp?db=d", { token, body: `room,room=init temp=1 ${T0 - DAY}` })
  expect(w.status).toBe(204)
  // 3 rooms x 1000 rows across two days, the time column as TIMESTAMP_NS under another name.
  good = NodeFs.readFileSync(
    await parquetFrom(
      NodePath.join(dir, "good.parquet"),
      `SELECT 'r' || (i % 3) AS room, i * 1.5 AS temp, i AS n, make_timestamp_ns(${T0} + i * 100000000000) AS ts FROM range(3000) t(i)`
    )
  )
})
afterAll(() => server.stop())

describe("POST /api/v3/enterprise/import (the seed's upload)", () => {
  it("answers UploadedImportInfo with every field, then the job goes queued → dispatched → imported → compacted and its rows are queryable", async () => {
    const res = await upload(server, token, { database: "d", table: "room", column_metadata: JSON.stringify({ column_mapping: { room: "tag", temp: "f64", ts: "time" } }) }, good, "good.parquet")
    expect(res.status, res.text).toBe(200)
    const info = res.json()
    for (const field of ["upload_uuid", "db_id", "table_id", "filename", "status", "last_message", "created_at", "started_at", "completed_at", "last_updated_at", "column_metadata", "iox_parquet", "size_bytes", "row_count", "min_timestamp_ns", "max_timestamp_ns"]) {
      expect(info).toHaveProperty(field)
    }
    expect(info).toMatchObject({ filename: "good.parquet", row_count: 3000, size_bytes: good.byteLength, iox_parquet: false, column_metadata: { column_mapping: { room: "tag", temp: "f64", ts: "time" } } })
    expect(["queued", "dispatched", "imported"]).toContain(info.status)
    expect(BigInt(info.min_timestamp_ns)).toBe(T0)
    expect(info.max_timestamp_ns).toBe(Number(T0 + 2999n * 100000000000n))
    const done = await waitForJob(server, token, info.upload_uuid, (j) => j.status === "imported")
    expect(done).toMatchObject({ rows_imported: 3000, files_total: 1, files_done: 1, percent_complete: 100 })
    expect(done.completed_at).toBeGreaterThanOrEqual(done.started_at)
    const rows = await countRows(server, token, "d", "SELECT count(*) AS n, count(DISTINCT room) AS rooms, sum(n) AS s FROM room WHERE room <> 'init'")
    expect(rows).toEqual([{ n: 3000, rooms: 3, s: (2999 * 3000) / 2 }])
    const list = await server.request("GET", "/api/v3/enterprise/import", { token })
    expect(list.json<Array<{ upload_uuid: string }>>().map((j) => j.upload_uuid)).toContain(info.upload_uuid)
    await server.runtime.runPromise(Effect.flatMap(Compactor, (c) => c.compactNow()))
    const compacted = await waitForJob(server, token, info.upload_uuid, (j) => j.status === "compacted")
    expect(compacted.status).toBe("compacted")
    expect(await countRows(server, token, "d", "SELECT count(*) AS n FROM room WHERE room <> 'init'")).toEqual([{ n: 3000 }])
  })

  it("refuses bad uploads synchronously with 400 naming the problem, unknown targets with 404, and non-admins with 401/403", async () => {
    const noBoundary = await server.request("POST", "/api/v3/enterprise/import", { token, body: "x", headers: { "content-type": "multipart/form-data" } })
    expectError(noBoundary, 400, /missing multipart boundary/)
    expectError(await upload(server, token, { database: "d", table: "room" }), 400, /missing multipart field\(s\): file_bytes/)
    expectError(await upload(server, token, { table: "room" }, good), 400, /missing multipart field\(s\): database/)
    const broken = await server.request("POST", "/api/v3/enterprise/import", { token, body: "--b\r\nnot headers", headers: { "content-type": "multipart/form-data; boundary=b" } })
    expectError(broken, 400, /unparseable multipart/)
    expectError(await upload(server, token, { database: "d", table: "room" }, new TextEncoder().encode("not parquet at all")), 400, /invalid Parquet file/)
    const empty = NodeFs.readFileSync(await parquetFrom(NodePath.join(dir, "empty.parquet"), "SELECT 'a' AS room, 1.0 AS temp, TIMESTAMP_NS '2024-01-01' AS time WHERE false"))
    expectError(await upload(server, token, { database: "d", table: "room" }, empty), 400, /empty Parquet file/)
    expectError(await upload(server, token, { database: "d", table: "room", column_metadata: "{not json" }, good), 400, /malformed column_metadata/)
    expectError(await upload(server, token, { database: "d", table: "room", column_metadata: '{"column_mapping":{"room":"int"}}' }, good), 400, /malformed column_metadata: column 'room'/)
    expectError(await upload(server, token, { database: "d", table: "room", column_metadata: '{"schema":{"room":"tag","ts":"time","temp":"bool"}}' }, good), 400, /type mismatch: column 'temp'/)
    expectError(await upload(server, token, { database: "d", table: "room", column_metadata: '{"column_mapping":{"nope":"tag","ts":"time"}}' }, good), 400, /maps column 'nope'/)
    expectError(await upload(server, token, { database: "d", table: "room" }, good), 400, /no time column/)
    expectError(await upload(server, token, { database: "nodb", table: "room" }, good), 404, /database not found: nodb/)
    expectError(await upload(server, token, { database: "d", table: "notable" }, good), 404, /table not found: notable/)
    expectError(await upload(server, undefined, { database: "d", table: "room" }, good), 401)
    const reader = await createResourceToken(server, token, "reader", { resource_type: "db", resource_names: ["d"], actions: ["read", "write"] })
    expectError(await upload(server, reader, { database: "d", table: "room" }, good), 403)
    // Nothing of a refused upload stays staged.
    const staged = NodePath.join(server.dataDir, "imports")
    const left = NodeFs.existsSync(staged) ? (NodeFs.readdirSync(staged, { recursive: true }) as Array<string>).filter((p) => p.endsWith(".parquet")) : []
    expect(left).toEqual([])
  })

  it("an Idempotency-Key answers the existing job for a repeated upload instead of importing twice", async () => {
    const fields = { database: "d", table: "room", column_metadata: JSON.stringify({ column_mapping: { room: "tag", ts: "time" } }) }
    const send = () => {
      const b = bodyOf(fields, good)
      return server.request("POST", "/api/v3/enterprise/import", { token, body: b.body, headers: { ...b.headers, "idempotency-key": "k-1" } })
    }
    const m1 = await send()
    expect(m1.status, m1.text).toBe(200)
    const m2 = await send()
    expect(m2.status, m2.text).toBe(200)
    expect(m2.json().upload_uuid).toBe(m1.json().upload_uuid)
    const all = (await server.request("GET", "/api/v3/enterprise/import", { token })).json<Array<{ upload_uuid: string }>>()
    expect(all.filter((j) => j.upload_uuid === m1.json().upload_uuid)).toHaveLength(1)
  })
})

const bodyOf = (fields: Record<string, string>, bytes: Uint8Array) => {
  const m = multipart(fields, { name: "file_bytes", filename: "x.parquet", bytes })
  return { body: m.body, headers: { "content-type": m.contentType } }
}

describe("--mode without compact", () => {
  it("answers the import endpoints 503", async () => {
    const query = await startServer({ withoutAuth: true, mode: ["query", "ingest"] })
    try {
      expectError(await query.request("GET", "/api/v3/enterprise/import"), 503, /--mode compact/)
      expectError(await upload(query, undefined, { database: "d", table: "t" }, good), 503)
    } finally {
      await query.stop()
    }
  })
})
