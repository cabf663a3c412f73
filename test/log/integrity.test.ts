import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { Effect, Either } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { resolveServeConfig } from "../../src/config.ts"
import { EventLog } from "../../src/log/EventLog.ts"
import { segmentDir, segmentFile } from "../../src/log/segments.ts"
import { logFile } from "../../src/log/store.ts"
import { replay } from "../../src/replay.ts"
import { bufferedRows } from "../support/rows.ts"
import { runCli, spawnServer, startServer, tempDir, type InProcessServer } from "../support/server.ts"

interface StoredRow {
  seq: number
  kind: string
  inline: number | null
  payload_segment: number | null
  payload_offset: number | null
  payload_length: number | null
  payload_crc: number | null
  row_crc: number | null
}

/** Runs `f` on the log's SQLite file (read-write: closing the last connection checkpoints the WAL into the file). */
const withLog = <A>(dir: string, f: (db: Database) => A): A => {
  const db = new Database(logFile(dir))
  try {
    return f(db)
  } finally {
    db.close()
  }
}

const rowsOf = (dir: string) =>
  withLog(dir, (db) =>
    db.prepare("SELECT seq, kind, length(payload) AS inline, payload_segment, payload_offset, payload_length, payload_crc, row_crc FROM events ORDER BY seq").all() as Array<StoredRow>
  )

/** Flips bits of the byte `at` bytes into the first occurrence of `marker` in the log's SQLite file. */
const flipInLogFile = (dir: string, marker: string, at: number) => {
  const file = logFile(dir)
  expect(NodeFs.existsSync(`${file}-wal`)).toBe(false)
  const bytes = NodeFs.readFileSync(file)
  const index = bytes.indexOf(marker)
  expect(index).toBeGreaterThanOrEqual(0)
  // 0x03 turns a digit into another digit and a letter into another letter: the bytes still parse, only wrong.
  bytes[index + at]! ^= 0x03
  NodeFs.writeFileSync(file, bytes)
}

/** Flips one bit of byte `at` of a payload segment file. */
const flipInSegment = (dir: string, segment: number, at: number) => {
  const fd = NodeFs.openSync(segmentFile(dir, segment), "r+")
  try {
    const byte = Buffer.alloc(1)
    NodeFs.readSync(fd, byte, 0, 1, at)
    byte[0]! ^= 0x01
    NodeFs.writeSync(fd, byte, 0, 1, at)
  } finally {
    NodeFs.closeSync(fd)
  }
}

/** Starts an in-process server and expects the start to fail; returns the failure's message. */
const startFailure = async (dir: string, recover = false): Promise<string> => {
  const outcome = await startServer({ withoutAuth: true, recover }, dir).then(
    async (server) => {
      await server.stop()
      return undefined
    },
    (e: unknown) => (e instanceof Error ? e.message : String(e))
  )
  if (outcome === undefined) throw new Error(`the server started on ${dir}`)
  return outcome
}

const DB = "integrity_db"
const bigLines = 5000
/** Seeded once: a database, two small writes (kept in the log's rows) and a large one (kept in a payload segment). */
let seed: string
let small: StoredRow
let large: StoredRow

/** A fresh copy of the seeded data dir, for a test to damage. */
const copyOfSeed = () => {
  const dir = tempDir()
  NodeFs.cpSync(seed, dir, { recursive: true })
  return dir
}

const running: Array<InProcessServer> = []
afterAll(() => Promise.all(running.map((s) => s.stop())))
const start = async (dir: string, recover = false) => {
  const server = await startServer({ withoutAuth: true, recover }, dir)
  running.push(server)
  return server
}

beforeAll(async () => {
  seed = tempDir()
  const server = await startServer({ withoutAuth: true }, seed)
  try {
    const write = async (body: string) => expect((await server.request("POST", `/api/v3/write_lp?db=${DB}`, { body })).status).toBe(204)
    await write("m,t=a v=123456789 1")
    await write("m,t=b v=2 2")
    await write(Array.from({ length: bigLines }, (_, i) => `big,t=a v=${i}i ${i + 1}`).join("\n"))
  } finally {
    await server.stop()
  }
  const rows = rowsOf(seed)
  small = rows.find((r) => r.kind === "WriteBatch" && r.inline !== null)!
  large = rows.find((r) => r.payload_segment !== null)!
}, 60_000)

describe("checksums of the event log", () => {
  it("every row a server writes carries a row checksum, and every payload its own", () => {
    const rows = rowsOf(seed)
    expect(rows.length).toBeGreaterThan(4)
    for (const r of rows) expect(r.row_crc, `seq ${r.seq}`).not.toBeNull()
    const writes = rows.filter((r) => r.kind === "WriteBatch")
    expect(writes.length).toBe(3)
    for (const r of writes) expect(r.payload_crc, `seq ${r.seq}`).not.toBeNull()
    expect(small.payload_segment).toBeNull()
    expect(large.payload_length).toBeGreaterThan(64 * 1024)
  })

  it("an undamaged data dir restarts with every row", async () => {
    const server = await start(copyOfSeed())
    expect((await bufferedRows(server, DB, "m")).map((r) => r["v"])).toEqual([123456789, 2])
    expect((await bufferedRows(server, DB, "big")).length).toBe(bigLines)
    expect(await server.runtime.runPromise(Effect.flatMap(EventLog, (log) => log.damaged))).toEqual([])
  })

  it("a flipped bit in a payload segment stops the start with an error naming the seq and the segment file", async () => {
    const dir = copyOfSeed()
    flipInSegment(dir, large.payload_segment!, large.payload_offset! + 1000)
    const message = await startFailure(dir)
    expect(message).toContain(`event seq ${large.seq} (WriteBatch, `)
    expect(message).toContain(segmentFile(dir, large.payload_segment!))
    expect(message).toContain("payload checksum mismatch")
    expect(message).toContain("--recover")
  })

  it("a flipped bit in a payload kept in the log's row stops the start with an error naming the seq and log.sqlite", async () => {
    const dir = copyOfSeed()
    // 123456789 would be read back as 123457789: a wrong value, not a parse error.
    flipInLogFile(dir, "v=123456789", 6)
    const message = await startFailure(dir)
    expect(message).toContain(`event seq ${small.seq} (WriteBatch, `)
    expect(message).toContain(`in ${logFile(dir)}: payload checksum mismatch`)
  })

  it("a flipped bit in an event body stops the start instead of changing the catalog", async () => {
    const dir = copyOfSeed()
    const created = rowsOf(dir).find((r) => r.kind === "DatabaseCreated" && r.seq > 2)!
    // `"name":"integrity_db"` would still decode, as `jntegrity_db`.
    flipInLogFile(dir, `"name":"${DB}"`, 8)
    const message = await startFailure(dir)
    expect(message).toContain(`event seq ${created.seq} (DatabaseCreated, `)
    expect(message).toContain("row checksum mismatch")
  })

  it("a payload segment cut short stops the start, naming the seq and the file", async () => {
    const dir = copyOfSeed()
    NodeFs.truncateSync(segmentFile(dir, large.payload_segment!), large.payload_offset! + 10)
    const message = await startFailure(dir)
    expect(message).toContain(`event seq ${large.seq} (WriteBatch, `)
    expect(message).toContain(`${segmentFile(dir, large.payload_segment!)}: its payload (bytes ${large.payload_offset}–`)
  })

  it("with --recover the server starts without the damaged events, keeps the others and reports what was lost", async () => {
    const dir = copyOfSeed()
    flipInSegment(dir, large.payload_segment!, large.payload_offset! + 5)
    flipInLogFile(dir, "v=123456789", 6)
    const server = await start(dir, true)
    expect((await bufferedRows(server, DB, "m")).map((r) => r["t"])).toEqual(["b"])
    expect(await bufferedRows(server, DB, "big")).toEqual([])
    const damaged = await server.runtime.runPromise(Effect.flatMap(EventLog, (log) => log.damaged))
    expect(damaged.map((d) => [d.seq, d.kind, d.file])).toEqual([
      [small.seq, "WriteBatch", logFile(dir)],
      [large.seq, "WriteBatch", segmentFile(dir, large.payload_segment!)]
    ])
    expect(damaged[1]!.bytes).toBeGreaterThan(large.payload_length!)
    // New writes go on after the skipped ones.
    expect((await server.request("POST", `/api/v3/write_lp?db=${DB}`, { body: "m,t=c v=3 3" })).status).toBe(204)
    expect((await bufferedRows(server, DB, "m")).map((r) => r["t"])).toEqual(["b", "c"])
  })

  it("after a --recover start the damaged events sit in quarantined_events and a plain start needs no --recover", async () => {
    const dir = copyOfSeed()
    flipInSegment(dir, large.payload_segment!, large.payload_offset! + 5)
    flipInLogFile(dir, "v=123456789", 6)
    const recovered = await start(dir, true)
    expect((await recovered.request("POST", `/api/v3/write_lp?db=${DB}`, { body: "m,t=c v=3 3" })).status).toBe(204)
    await recovered.stop()

    const db = new Database(logFile(dir), { readonly: true })
    try {
      const rows = db.prepare("SELECT seq, kind, reason FROM quarantined_events ORDER BY seq").all() as Array<{ seq: number; kind: string; reason: string }>
      expect(rows.map((r) => [r.seq, r.kind])).toEqual([[small.seq, "WriteBatch"], [large.seq, "WriteBatch"]])
      expect(rows[1]!.reason).toContain("checksum mismatch")
      const left = db.prepare(`SELECT seq FROM events WHERE seq IN (${small.seq}, ${large.seq})`).all()
      expect(left).toEqual([])
    } finally {
      db.close()
    }

    const plain = await start(dir)
    expect((await bufferedRows(plain, DB, "m")).map((r) => r["t"])).toEqual(["b", "c"])
    expect(await plain.runtime.runPromise(Effect.flatMap(EventLog, (log) => log.damaged))).toEqual([])
    // No later event takes a quarantined seq again.
    expect((await plain.request("POST", `/api/v3/write_lp?db=${DB}`, { body: "m,t=d v=4 4" })).status).toBe(204)
    await plain.stop()
    const after = new Database(logFile(dir), { readonly: true })
    try {
      const seqs = (after.prepare("SELECT seq FROM events").all() as Array<{ seq: number }>).map((r) => r.seq)
      expect(seqs).not.toContain(small.seq)
      expect(seqs).not.toContain(large.seq)
    } finally {
      after.close()
    }
  })

  it("STRATA_RECOVER=true turns --recover on", () => {
    const config = Either.getOrThrow(resolveServeConfig({}, { STRATA_RECOVER: "true" }))
    expect(config.recover).toBe(true)
    expect(Either.getOrThrow(resolveServeConfig({}, {})).recover).toBe(false)
  })
})

describe("a log missing beside the data it describes", () => {
  it("a log.sqlite truncated to 0 bytes while payload segments exist refuses to start, and is left as it was", async () => {
    const dir = copyOfSeed()
    NodeFs.truncateSync(logFile(dir), 0)
    const message = await startFailure(dir)
    expect(message).toContain(`the event log ${logFile(dir)} is empty (0 bytes)`)
    expect(message).toContain(segmentDir(dir))
    expect(NodeFs.statSync(logFile(dir)).size).toBe(0)
  })

  it("a deleted log.sqlite while payload segments exist refuses to start, and no new log is made", async () => {
    const dir = copyOfSeed()
    NodeFs.rmSync(logFile(dir))
    const message = await startFailure(dir)
    expect(message).toContain(`the event log ${logFile(dir)} is missing`)
    expect(NodeFs.existsSync(logFile(dir))).toBe(false)
  })

  it("a missing log beside Parquet files under dbs/ refuses to start", async () => {
    const dir = tempDir()
    NodeFs.mkdirSync(NodePath.join(dir, "dbs/1/1/2026-01-01/00-00"), { recursive: true })
    NodeFs.writeFileSync(NodePath.join(dir, "dbs/1/1/2026-01-01/00-00/7.parquet"), "PAR1")
    expect(await startFailure(dir)).toContain("is missing, but the data directory holds data it describes")
  })

  it("a fresh empty data dir still starts", async () => {
    const server = await start(tempDir())
    expect((await server.request("GET", "/health")).status).toBe(200)
  })
})

describe("logs written before checksums", () => {
  /** The seeded dir as an older server left it: no checksum columns at all. */
  const oldFormat = () => {
    const dir = copyOfSeed()
    withLog(dir, (db) => {
      db.exec("ALTER TABLE events DROP COLUMN row_crc")
      db.exec("ALTER TABLE events DROP COLUMN payload_crc")
    })
    return dir
  }

  it("replay reads an old-format log read-only, and a server starts on it with every row", async () => {
    const dir = oldFormat()
    const lines: Array<string> = []
    await Effect.runPromise(replay(dir, undefined, true, (line) => lines.push(line)))
    expect(lines.length).toBe(rowsOf(seed).length + 1)
    const server = await start(dir)
    expect((await bufferedRows(server, DB, "m")).map((r) => r["v"])).toEqual([123456789, 2])
    expect((await bufferedRows(server, DB, "big")).length).toBe(bigLines)
  })

  it("an old row whose body does not decode stops the start with an error naming its seq", async () => {
    const dir = oldFormat()
    const seq = rowsOf(seed).find((r) => r.kind === "DatabaseCreated" && r.seq > 2)!.seq
    withLog(dir, (db) => db.prepare("UPDATE events SET body = ? WHERE seq = ?").run(`{"_tag":"DatabaseCreated","version":1}`, seq))
    const message = await startFailure(dir)
    expect(message).toContain(`event seq ${seq} (DatabaseCreated, `)
    expect(message).toContain("its body does not decode")
  })
})

describe("strata replay on a damaged log", () => {
  it("stops naming the seq, or with --recover prints the damaged event and goes on", async () => {
    const dir = copyOfSeed()
    flipInSegment(dir, large.payload_segment!, large.payload_offset! + 5)
    const failed = await Effect.runPromise(Effect.either(replay(dir, undefined, true, () => {})))
    expect(Either.isLeft(failed) && failed.left.message).toContain(`event seq ${large.seq} (WriteBatch, `)
    const lines: Array<string> = []
    await Effect.runPromise(replay(dir, undefined, true, (line) => lines.push(line), true))
    const damaged = lines
      .map((l) => JSON.parse(l) as { damaged?: { seq: number; file: string } })
      .filter((l) => l.damaged !== undefined)
    expect(damaged.map((l) => [l.damaged!.seq, l.damaged!.file])).toEqual([
      [large.seq, segmentFile(dir, large.payload_segment!)]
    ])
    expect(lines.length).toBe(rowsOf(seed).length + 1)
  })
})

describe("strata serve (child process)", () => {
  it("a damaged payload segment: exit code 1 and the seq and file on stderr; with --recover it starts and reports the loss", async () => {
    const dir = copyOfSeed()
    flipInSegment(dir, large.payload_segment!, large.payload_offset! + 5)
    const refused = await runCli(["serve", "--data-dir", dir, "--http-bind", "127.0.0.1:0"], 30_000)
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain(`error: the event log is damaged: event seq ${large.seq} (WriteBatch, `)
    expect(refused.stderr).toContain(segmentFile(dir, large.payload_segment!))

    const child = await spawnServer(dir, ["--recover", "--without-auth"], 30_000)
    try {
      expect(child.output()).toContain(`--recover: skipping damaged event seq ${large.seq} (WriteBatch`)
      await new Promise((r) => setTimeout(r, 200))
      expect(child.output()).toMatch(new RegExp(`--recover: started without 1 damaged event\\(s\\) of the log, \\d+ bytes lost: seq ${large.seq} \\(WriteBatch`))
    } finally {
      await child.stop()
    }
  }, 60_000)

  it("a log truncated to 0 bytes beside payload segments: exit code 1 and why on stderr", async () => {
    const dir = copyOfSeed()
    NodeFs.truncateSync(logFile(dir), 0)
    const refused = await runCli(["serve", "--data-dir", dir, "--http-bind", "127.0.0.1:0"], 30_000)
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain(`error: the event log ${logFile(dir)} is empty (0 bytes), but the data directory holds data it describes`)
  }, 60_000)
})
