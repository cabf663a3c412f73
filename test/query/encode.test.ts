import { DuckDBInstance, type DuckDBConnection } from "@duckdb/node-api"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { encodeText, type ChunkSource } from "../../src/query/encode.ts"
import * as Reference from "./encodeReference.ts"

// Answers are written from DuckDB's column vectors (chunkBytes.ts); every byte must be what the per-cell encoder
// wrote before. Each query below runs twice on a real DuckDB, once through each encoder, in every text format.

type TextFormat = "json" | "jsonl" | "csv" | "pretty"
const FORMATS: ReadonlyArray<TextFormat> = ["json", "jsonl", "csv", "pretty"]

let instance: DuckDBInstance
let conn: DuckDBConnection

const sourceOf = async (sql: string): Promise<ChunkSource> => {
  const result = await (await conn.prepare(sql)).stream()
  return {
    columns: result.columnNames(),
    types: result.columnTypes(),
    next: async () => {
      const chunk = await result.fetchChunk()
      return chunk === null || chunk.rowCount === 0 ? null : chunk
    }
  }
}

/** The whole answer as text, or the error the encoder threw. */
const answer = async (pieces: AsyncGenerator<Uint8Array>): Promise<string> => {
  const parts: Array<Buffer> = []
  try {
    for await (const piece of pieces) parts.push(Buffer.from(piece))
  } catch (e) {
    return `error: ${e instanceof Error ? e.message : String(e)}`
  }
  return Buffer.concat(parts).toString("latin1")
}

const both = async (sql: string, format: TextFormat) => ({
  now: await answer(encodeText(await sourceOf(sql), format)),
  before: await answer(Reference.encodeText(await sourceOf(sql), format))
})

const expectSameBytes = async (sql: string) => {
  for (const format of FORMATS) {
    const { now, before } = await both(sql, format)
    expect(now, `${format} of ${sql}`).toBe(before)
  }
}

describe("answers encoded from column vectors", () => {
  beforeAll(async () => {
    instance = await DuckDBInstance.create(":memory:", { threads: "1" })
    conn = await instance.connect()
    await conn.run("SET TimeZone = 'UTC'")
  })
  afterAll(() => {
    conn.closeSync()
    instance.closeSync()
  })

  it("floats: NULL, NaN, ±inf, ±0, whole numbers, decimals, exponents and float32 as before", async () => {
    const values = [
      "NULL", "'NaN'", "'inf'", "'-inf'", "0", "-0.0", "1", "-1", "99", "1.5", "-2.25", "0.1", "0.3", "59.18",
      "100.0", "123.456", "1e15", "1e15 + 0.5", "9007199254740992", "1e16", "1e16 + 2", "1e21", "1.5e-7",
      "0.000001", "0.0000015", "1e-7", "5e-324", "1.7976931348623157e308", "1073741823.5", "1073741824.25",
      "-1073741823.75", "123456.789012", "0.1 + 0.2", "1 / 3", "2 / 3", "-1e300", "4.35", "1.005", "8.675"
    ]
    await expectSameBytes(`SELECT v AS d, TRY_CAST(v AS FLOAT) AS f FROM (VALUES ${values.map((v) => `((${v})::DOUBLE)`).join(", ")}) t(v)`)
  })

  it("many generated floats with 0 to 9 decimals print as JavaScript prints them", async () => {
    await expectSameBytes(
      `SELECT (hash(i) % 2000000000)::DOUBLE / 10 ^ (i % 10) - 1000 AS x, hash(i * 7)::DOUBLE / 3.7 AS y,
        ((hash(i) % 1000000)::DOUBLE / 100)::FLOAT AS z FROM range(20000) r(i)`
    )
  }, 60_000)

  it("strings: empty, quotes, commas, line breaks, control characters, backslashes, unicode, long, NULL", async () => {
    const values = [
      "NULL", "''", "'plain'", "'a,b'", `'say "hi"'`, "'line' || chr(10) || 'break'", "'cr' || chr(13)",
      "'tab' || chr(9)", "chr(1) || 'x' || chr(31)", "chr(127)", "'back\\slash'", "'héllo'", "'日本語のテキスト'",
      "'😀 emoji'", "'line' || chr(8232) || 'sep'", "'exactly 12 b'", "'thirteen byte'", "repeat('long,', 40)",
      `repeat('"q"', 30)`, "repeat('x', 200)", "repeat('é', 7)", "'\"'", "','", "' leading space'"
    ]
    await expectSameBytes(`SELECT v AS s, length(v) AS n FROM (VALUES ${values.map((v) => `(${v})`).join(", ")}) t(v)`)
  })

  it("integers of every width, their limits, uint64, hugeint and decimals", async () => {
    await expectSameBytes(`SELECT * FROM (VALUES
      (NULL::BIGINT, NULL::UBIGINT, NULL::INTEGER, NULL::SMALLINT, NULL::TINYINT, NULL::UINTEGER, NULL::USMALLINT,
       NULL::UTINYINT, NULL::HUGEINT, NULL::DECIMAL(18,3)),
      (0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
      (-1, 1, -1, -1, -1, 1, 1, 1, -1, -1.5),
      (9223372036854775807, 18446744073709551615, 2147483647, 32767, 127, 4294967295, 65535, 255,
       170141183460469231731687303715884105727, 123456789012345.678),
      (-9223372036854775808, 9223372036854775808, -2147483648, -32768, -128, 0, 0, 0,
       -170141183460469231731687303715884105727, -0.001),
      (9007199254740992, 9007199254740993, 1000000, 1000, 100, 3000000000, 60000, 200, 12345, 42),
      (-9007199254740993, 4294967296, -1000000, -1000, -100, 1, 2, 3, 0, 0.1),
      (4294967295, 4294967295, 10, 10, 10, 10, 10, 10, 10, 10),
      (-4294967296, 18014398509481984, 7, 7, 7, 7, 7, 7, 7, 7)
    ) t(i64, u64, i32, i16, i8, u32, u16, u8, i128, dec)`)
  })

  it("times in every precision: fractions of 0, 3, 6 and 9 digits, before 1970, far years, dates", async () => {
    const times = [
      "NULL", "'2024-01-01 00:00:00'", "'2024-01-01 00:00:00.5'", "'2024-01-01 23:59:59.123'",
      "'2024-01-01 12:34:56.123456'", "'2024-02-29 12:34:56.123456789'", "'1970-01-01 00:00:00'",
      "'1969-12-31 23:59:59.999999999'", "'1900-03-01 01:02:03.000004'", "'1677-09-22 00:12:44.145225'",
      "'2262-04-11 23:47:16.854'", "'2000-01-01 00:00:00.000001'", "'2000-01-01 00:00:00.01'"
    ]
    await expectSameBytes(`SELECT v::TIMESTAMP_NS AS ns, v::TIMESTAMP AS us, v::TIMESTAMP_MS AS ms, v::TIMESTAMP_S AS s,
      v::TIMESTAMPTZ AS tz, v::DATE AS d FROM (VALUES ${times.map((v) => `(${v})`).join(", ")}) t(v)`)
    await expectSameBytes(`SELECT v::TIMESTAMP AS us, v::DATE AS d FROM (VALUES
      ('0001-01-01 00:00:00'), ('9999-12-31 23:59:59.999999'), ('0100-06-15 06:30:00.25')) t(v)`)
  })

  it("answers of several megabytes, sent in many pieces, keep every piece's bytes", async () => {
    const sql = `SELECT TIMESTAMP_NS '2024-01-01' + INTERVAL (i * 10) SECOND AS time, 'host_' || (i % 100) AS hostname,
      (hash(i) % 10000)::DOUBLE / 100 AS usage_user, repeat('x', (i % 40)::INTEGER) AS pad FROM range(60000) r(i)`
    for (const format of ["jsonl", "csv"] as const) {
      const { now, before } = await both(sql, format)
      expect(now.length).toBeGreaterThan(3 * 1024 * 1024)
      expect(now, format).toBe(before)
    }
  }, 60_000)

  it("times out of order near each other and around 1970, in every precision, as before", async () => {
    await expectSameBytes(`SELECT v AS ns, v::TIMESTAMP AS us, v::TIMESTAMP::TIMESTAMP_MS AS ms,
      v::TIMESTAMP::TIMESTAMP_S AS s FROM (SELECT make_timestamp_ns(base + (hash(i) % 7000000000000000)::BIGINT - 3500000000000000
        + CASE WHEN i % 3 = 0 THEN 0 ELSE (hash(i * 3) % 1000000000)::BIGINT END) AS v
        FROM range(1500) r(i), (VALUES (0::BIGINT), (1704067200000000000::BIGINT)) b(base)) t`)
  }, 60_000)

  it("times beyond the year 9999 and before year 0 go the per-cell way with the same outcome", async () => {
    await expectSameBytes(`SELECT TIMESTAMP '10000-01-01 00:00:00' AS far, DATE '20000-05-05' AS date`)
    await expectSameBytes(`SELECT TIMESTAMP '-0044-03-15 12:00:00' AS past`)
    await expectSameBytes(`SELECT 'infinity'::TIMESTAMP AS inf, '-infinity'::DATE AS neg`)
  })

  it("booleans, structs, lists, intervals and other types as before", async () => {
    await expectSameBytes(`SELECT * FROM (VALUES
      (true, {'value': 1.5, 'time': TIMESTAMP_NS '2024-01-01 00:00:01'}, [1, 2, NULL], INTERVAL 90 MINUTE,
       TIME '12:34:56', 'x'::BLOB, uuid '00000000-0000-0000-0000-000000000001'),
      (false, {'value': NULL, 'time': NULL}, [], INTERVAL 1 DAY, TIME '00:00:00', ''::BLOB, NULL),
      (NULL, NULL, NULL, NULL, NULL, NULL, NULL)
    ) t(b, st, li, iv, tm, bl, id)`)
  })

  it("column names with quotes, commas, unicode and line breaks; rows with every column NULL", async () => {
    await expectSameBytes(`SELECT NULL::DOUBLE AS "a""b", NULL::VARCHAR AS "c,d", 1 AS "é" UNION ALL
      SELECT 2.5, 'x', NULL UNION ALL SELECT NULL, NULL, NULL`)
    await expectSameBytes(`SELECT 1 AS "line${"\n"}break"`)
  })

  it("empty answers: [] for json, an empty body for jsonl and csv, the header table for pretty", async () => {
    const sql = "SELECT 1::DOUBLE AS x, 'a' AS s WHERE false"
    await expectSameBytes(sql)
    const { now } = await both(sql, "json")
    expect(now).toBe("[]")
  })

  it("answers spanning many chunks, nulls at every position, match byte for byte", async () => {
    await expectSameBytes(`SELECT TIMESTAMP_NS '2024-01-01' + INTERVAL (i * 10) SECOND + INTERVAL (i % 7) MICROSECOND AS time,
      CASE WHEN i % 5 = 0 THEN NULL ELSE 'host_' || (i % 100) END AS hostname,
      CASE WHEN i % 3 = 0 THEN NULL ELSE (hash(i) % 10000)::DOUBLE / 100 END AS usage_user,
      CASE WHEN i % 11 = 0 THEN NULL ELSE i END AS n, i % 2 = 0 AS even FROM range(10000) r(i)`)
  }, 60_000)

  it("row loops per column shape: long and unicode keys, many shapes in turn, strings of 12 and 13 bytes", async () => {
    await expectSameBytes(`SELECT i AS "${"k".repeat(45)}", 'é' || i AS "ключ ${"ü".repeat(20)}",
      CASE WHEN i % 2 = 0 THEN NULL ELSE repeat('a', 11) || (i % 10) END AS twelve,
      repeat('b', 12) || (i % 10) AS thirteen, repeat('"', 12) AS quotes FROM range(5) r(i)`)
    // More shapes than are kept compiled, each answer still its bytes.
    for (let k = 0; k < 270; k++)
      await expectSameBytes(`SELECT ${k} AS "c${k}", NULLIF(${k} % 3, 0)::DOUBLE / 4 AS "v${k}", 's' || ${k} AS s`)
  }, 60_000)
})
