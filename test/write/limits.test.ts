import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { expectError, expectOk } from "../support/expect.ts"
import { liveDatabase } from "../../src/catalog/state.ts"
import { catalogOf, startServer, type InProcessServer } from "../support/server.ts"

/**
 * Lines that are large in one dimension (100,000 tags or fields) are checked in time linear in their size and
 * refused at the column limit; numbers outside the range of their type are refused with a line error.
 */

const wideTags = (n: number) => "wide" + Array.from({ length: n }, (_, i) => `,t${i}=v`).join("") + " f=1 1"
const wideFields = (n: number) => "widef " + Array.from({ length: n }, (_, i) => `f${i}=1`).join(",") + " 1"
const LIMIT = "Update to schema would exceed number of columns per table limit of 500 columns"

describe("write limits", () => {
  let server: InProcessServer
  const write = (path: string, body: string) => server.request("POST", path, { body })
  const sql = async (db: string, q: string) => expectOk(await server.request("POST", "/api/v3/query_sql", { body: { db, q, format: "json" } })).json<Array<Record<string, unknown>>>()

  beforeAll(async () => {
    server = await startServer({ withoutAuth: true })
  }, 30_000)
  afterAll(() => server.stop())

  it("a line with 100,000 tags is refused at the column limit (422), and other requests are answered meanwhile", async () => {
    const line = wideTags(100_000)
    const pending = write("/api/v3/write_lp?db=lim&precision=ns", line)
    expectOk(await write("/api/v3/write_lp?db=lim&precision=ns", "beside f=1 1"), 204)
    const res = await pending
    expectError(res, 422, "partial write of line protocol occurred", [{ error_message: LIMIT, line_number: 1, original_line: line }])
    const db = liveDatabase(await catalogOf(server), "lim")!
    expect([...db.tables.values()].map((t) => t.name)).toEqual(["beside"])
  }, 60_000)

  it("a line with 100,000 fields is refused the same way, with accept_partial=false too", async () => {
    const line = wideFields(100_000)
    expectError(await write("/api/v3/write_lp?db=lim&precision=ns", line), 422, "partial write of line protocol occurred", [{ error_message: LIMIT, line_number: 1, original_line: line }])
    const rejected = await write("/api/v3/write_lp?db=lim&precision=ns&accept_partial=false", `ok f=1 1\n${line}`)
    expectError(rejected, 422, /nothing was written/, { error_message: LIMIT, line_number: 2, original_line: line })
  }, 60_000)

  it("the limit counts the table's columns and those earlier lines of the batch add; lines within it are written", async () => {
    const tags = (from: number, n: number) => Array.from({ length: n }, (_, i) => `,t${from + i}=v`).join("")
    const body = [`grow${tags(0, 300)} f=1 1`, `grow${tags(300, 199)} f=2 2`, `grow${tags(499, 1)} f=3 3`, `grow,t0=v g=4 4`].join("\n")
    const res = await write("/api/v3/write_lp?db=lim&precision=ns", body)
    expectError(res, 422, "partial write of line protocol occurred", [
      { error_message: LIMIT, line_number: 3, original_line: `grow${tags(499, 1)} f=3 3` },
      { error_message: LIMIT, line_number: 4, original_line: "grow,t0=v g=4 4" }
    ])
    expect(await sql("lim", "SELECT f FROM grow ORDER BY time")).toEqual([{ f: 1 }, { f: 2 }])
  })

  it("numbers outside the range of their type are refused with a line error (400), and queries keep answering", async () => {
    const cases = [
      ["big f=1e400 1", "Unable to parse floating-point value `1e400`: value out of range"],
      ["big f=-1.8e308 2", "Unable to parse floating-point value `-1.8e308`: value out of range"],
      ["big i=9223372036854775808i 3", "Unable to parse integer value `9223372036854775808`"],
      ["big i=-9223372036854775809i 4", "Unable to parse integer value `-9223372036854775809`"],
      ["big u=18446744073709551616u 5", "Unable to parse unsigned integer value `18446744073709551616`"]
    ] as const
    for (const [line, message] of cases) {
      expectError(await write("/api/v3/write_lp?db=num&precision=ns", `big f=1 0\n${line}`), 400, "partial write of line protocol occurred", [
        { error_message: message, line_number: 2, original_line: line }
      ])
    }
    const v1 = await write("/write?db=num&precision=ns", "big f=1e400 6")
    expect(v1.status).toBe(400)
    expect(v1.text).toContain("Unable to parse floating-point value `1e400`: value out of range")
    expect(await sql("num", "SELECT f FROM big")).toEqual([{ f: 1 }])
    const influxql = await server.request("GET", "/query?db=num&q=SELECT%20*%20FROM%20big")
    expectOk(influxql)
    expect(influxql.json<{ results: Array<{ series: Array<{ values: Array<Array<unknown>> }> }> }>().results[0]!.series[0]!.values).toEqual([["1970-01-01T00:00:00Z", 1]])
  })
})
