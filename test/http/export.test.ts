import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { tableFromIPC } from "apache-arrow"
import { Effect, Stream } from "effect"
import { readParquet } from "parquet-wasm/node"
import { Compactor } from "../../src/compactor/Compactor.ts"
import { fileHeader, tarStream } from "../../src/storage/tar.ts"
import { expectError, expectOk } from "../support/expect.ts"
import * as NodeChild from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { createOperatorToken, createResourceToken, startServer, strataBin, tempDir, type InProcessServer } from "../support/server.ts"

const MIN = 60_000_000_000
const DAY = 24 * 60 * MIN
// 2024-01-01T00:00:00Z in ns.
const T0 = 1_704_067_200_000_000_000n

interface TarFile {
  readonly name: string
  readonly type: string
  readonly content: Uint8Array
}

/** A tiny ustar/PAX reader: enough to check what the server writes. */
const readTar = (bytes: Uint8Array): Array<TarFile> => {
  const text = (from: number, length: number) => {
    const raw = bytes.subarray(from, from + length)
    const end = raw.indexOf(0)
    return new TextDecoder().decode(end < 0 ? raw : raw.subarray(0, end))
  }
  const out: Array<TarFile> = []
  let offset = 0
  let paxPath: string | undefined
  expect(bytes.length % 512).toBe(0)
  while (offset + 512 <= bytes.length) {
    if (bytes.subarray(offset, offset + 512).every((b) => b === 0)) {
      // The end: two zero blocks, nothing after.
      expect(bytes.subarray(offset).every((b) => b === 0)).toBe(true)
      expect(bytes.length - offset).toBe(1024)
      return out
    }
    expect(text(offset + 257, 6)).toBe("ustar")
    let sum = 0
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : bytes[offset + i]!
    expect(parseInt(text(offset + 148, 8).trim(), 8)).toBe(sum)
    const size = parseInt(text(offset + 124, 12), 8)
    const type = text(offset + 156, 1)
    const prefix = text(offset + 345, 155)
    const name = prefix === "" ? text(offset, 100) : `${prefix}/${text(offset, 100)}`
    const content = bytes.slice(offset + 512, offset + 512 + size)
    offset += 512 + Math.ceil(size / 512) * 512
    if (type === "x") {
      paxPath = /\d+ path=(.*)\n/.exec(new TextDecoder().decode(content))?.[1]
      continue
    }
    out.push({ name: paxPath ?? name, type, content })
    paxPath = undefined
  }
  throw new Error("tar archive without its end blocks")
}

const parquetRows = (bytes: Uint8Array) => tableFromIPC(readParquet(bytes).intoIPCStream()).numRows

describe("tar writer", () => {
  it.effect("writes entries a reader parses back, long names through a PAX header, sizes padded to blocks", () =>
    Effect.gen(function* () {
      const long = `${"t".repeat(300)}/2024-01-01/compacted-1.parquet`
      const entries = [
        { name: "m/2024-01-01/compacted-1.parquet", body: new Uint8Array([1, 2, 3]) },
        { name: `${"p".repeat(120)}/x.parquet`, body: new Uint8Array(512).fill(7) },
        { name: long, body: new Uint8Array(0) },
        { name: "é/ü.parquet", body: new Uint8Array(1000).fill(9) }
      ]
      const chunks = yield* Stream.runCollect(
        tarStream(
          Stream.fromIterable(
            entries.map((e) => ({
              name: e.name,
              size: e.body.length,
              mtimeSec: 1_700_000_000,
              content: Stream.make(e.body)
            }))
          )
        )
      )
      const all = new Uint8Array([...chunks].reduce((n, c) => n + c.length, 0))
      let at = 0
      for (const c of chunks) (all.set(c, at), (at += c.length))
      const read = readTar(all)
      expect(read.map((f) => f.name)).toEqual(entries.map((e) => e.name))
      expect(read.map((f) => [...f.content])).toEqual(entries.map((e) => [...e.body]))
      expect(fileHeader("a", 0, 0).length).toBe(512)
    })
  )
})

describe("exporting compacted windows", () => {
  let server: InProcessServer
  let admin: string
  let otherOnly: string
  const get = (path: string, token = admin) => server.request("GET", path, { token })
  const getBytes = async (path: string, token = admin) => {
    const response = await fetch(new URL(path, server.url), { headers: { authorization: `Bearer ${token}` } })
    return { status: response.status, contentType: response.headers.get("content-type"), bytes: new Uint8Array(await response.arrayBuffer()) }
  }

  beforeAll(async () => {
    server = await startServer({ gen1DurationMs: 60_000, persistIntervalMs: 3_600_000, compactionDelayMs: 3_600_000 })
    admin = await createOperatorToken(server)
    otherOnly = await createResourceToken(server, admin, "other-only", { resource_type: "db", resource_names: ["other"], actions: ["read", "write"] })
    const at = (ns: number) => String(T0 + BigInt(ns))
    // Day one: 3 rows of m (one overwritten), day two: 2 rows; n only in day one; `other` has data that stays gen1.
    const lines = [
      `m,host=a v=1 ${at(MIN)}`,
      `m,host=b v=2 ${at(MIN)}`,
      `m,host=a v=3 ${at(2 * MIN)}`,
      `m,host=a v=4 ${at(DAY + MIN)}`,
      `m,host=b v=5 ${at(DAY + 2 * MIN)}`,
      `n,host=a v=6 ${at(3 * MIN)}`
    ]
    expectOk(await server.request("POST", "/api/v3/write_lp?db=d&precision=nanosecond", { token: admin, body: lines.join("\n") }), 204)
    await server.runtime.runPromise(Effect.flatMap(Compactor, (c) => c.persistNow))
    expectOk(await server.request("POST", "/api/v3/write_lp?db=d&precision=nanosecond", { token: admin, body: `m,host=a v=30 ${at(2 * MIN)}` }), 204)
    await server.runtime.runPromise(Effect.flatMap(Compactor, (c) => c.persistNow))
    await server.runtime.runPromise(Effect.flatMap(Compactor, (c) => c.compactNow()))
    expectOk(await server.request("POST", "/api/v3/write_lp?db=other&precision=nanosecond", { token: admin, body: `o v=1 ${at(MIN)}` }), 204)
    await server.runtime.runPromise(Effect.flatMap(Compactor, (c) => c.persistNow))
  }, 60_000)
  afterAll(() => server.stop())

  it("lists the databases, tables and 24-hour windows that have compacted data", async () => {
    expect(expectOk(await get("/api/v3/export/databases")).json()).toEqual({ databases: ["d"] })
    expect(expectOk(await get("/api/v3/export/tables?db=d")).json()).toEqual({ tables: ["m", "n"] })
    expect(expectOk(await get("/api/v3/export/windows?db=d&table=m")).json()).toEqual({ windows: ["2024-01-01", "2024-01-02"] })
    expect(expectOk(await get("/api/v3/export/windows?db=d&table=n")).json()).toEqual({ windows: ["2024-01-01"] })
    // `other` has only gen1 files: nothing to export yet.
    expect(expectOk(await get("/api/v3/export/tables?db=other")).json()).toEqual({ tables: [] })
    expect(expectOk(await get("/api/v3/export/windows?db=other&table=o")).json()).toEqual({ windows: [] })
  })

  it("window_data streams a tar of every window's Parquet files, which read back to the compacted rows", async () => {
    const all = await getBytes("/api/v3/export/window_data?db=d&table=m")
    expect(all.status).toBe(200)
    expect(all.contentType).toBe("application/x-tar")
    const files = readTar(all.bytes)
    expect(files.map((f) => f.name)).toEqual(["m/2024-01-01/compacted-1.parquet", "m/2024-01-02/compacted-1.parquet"])
    expect(files.map((f) => parquetRows(f.content))).toEqual([3, 2])
    // The overwrite won in the compacted file.
    const day1 = tableFromIPC(readParquet(files[0]!.content).intoIPCStream())
    expect(day1.toArray().map((r) => [r.host, r.v])).toEqual([["a", 1], ["a", 30], ["b", 2]])

    const one = await getBytes("/api/v3/export/window_data?db=d&table=m&windows=2024-01-02")
    expect(readTar(one.bytes).map((f) => [f.name, parquetRows(f.content)])).toEqual([["m/2024-01-02/compacted-1.parquet", 2]])
    const both = await getBytes("/api/v3/export/window_data?db=d&table=m&windows=2024-01-02,2024-01-01")
    expect(readTar(both.bytes).map((f) => f.name)).toEqual(files.map((f) => f.name))
  })

  it("an unknown database, table or window answers 404 naming it; a malformed window 400", async () => {
    expectError(await get("/api/v3/export/tables?db=nope"), 404, "database not found: nope")
    expectError(await get("/api/v3/export/windows?db=d&table=nope"), 404, "table not found: nope in database d")
    expectError(await get("/api/v3/export/window_data?db=nope&table=m"), 404, "database not found: nope")
    expectError(await get("/api/v3/export/window_data?db=d&table=nope"), 404, "table not found: nope in database d")
    expectError(
      await get("/api/v3/export/window_data?db=d&table=m&windows=2024-01-01,2023-12-31"),
      404,
      "window not found: 2023-12-31 (table m in database d has compacted windows 2024-01-01, 2024-01-02)"
    )
    expectError(await get("/api/v3/export/window_data?db=other&table=o"), 404, "no compacted windows to export for table o in database other")
    expectError(await get("/api/v3/export/window_data?db=d&table=m&windows=yesterday"), 400, "invalid query parameter 'windows': 'yesterday' is not a date (YYYY-MM-DD)")
    expectError(await get("/api/v3/export/tables"), 400, "missing query parameter 'db'")
  })

  it("a token scoped to another database is refused with 403 and lists only what it may read", async () => {
    expectError(await get("/api/v3/export/tables?db=d", otherOnly), 403)
    expectError(await get("/api/v3/export/windows?db=d&table=m", otherOnly), 403)
    expectError(await get("/api/v3/export/window_data?db=d&table=m", otherOnly), 403)
    // 403 before 404: the scoped token does not learn which databases exist.
    expectError(await get("/api/v3/export/tables?db=nope", otherOnly), 403)
    expect(expectOk(await get("/api/v3/export/databases", otherOnly)).json()).toEqual({ databases: [] })
    expectError(await server.request("GET", "/api/v3/export/databases"), 401)
  })

  it("strata export copies a table's compacted windows into a directory from the data dir", () => {
    const out = tempDir("strata-export-")
    const run = NodeChild.spawnSync(process.execPath, [strataBin, "export", "--data-dir", server.dataDir, "--db", "d", "--table", "m", "--out", out, "--windows", "2024-01-02"], { encoding: "utf8" })
    expect(run.stderr).toBe("")
    expect(run.status).toBe(0)
    const file = NodePath.join(out, "m", "2024-01-02", "compacted-1.parquet")
    expect(parquetRows(new Uint8Array(NodeFs.readFileSync(file)))).toBe(2)
    const missing = NodeChild.spawnSync(process.execPath, [strataBin, "export", "--data-dir", server.dataDir, "--db", "d", "--table", "nope", "--out", out], { encoding: "utf8" })
    expect(missing.status).toBe(1)
    expect(missing.stderr).toBe("error: table not found: nope in database d\n")
  }, 30_000)
})
