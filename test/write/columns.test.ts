import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { expectError, expectOk } from "../support/expect.ts"
import { bufferedRows } from "../support/rows.ts"
import { createOperatorToken, startServer, type InProcessServer } from "../support/server.ts"

/**
 * Lines of every field kind, sparse and changing field shapes, two tables, repeated and reordered tag sets, and
 * two bad lines (a parse error and a type conflict) at known places. Over 32 KiB, so a parse worker reads it whole.
 */
const mixedLines = (): Array<string> => {
  const lines: Array<string> = []
  for (let i = 0; i < 1500; i++) {
    const t = 1_700_000_000_000_000_000n + BigInt(i) * 1_000_000_000n
    const host = `h${i % 7}`
    switch (i % 5) {
      case 0:
        lines.push(`cpu,host=${host},region=eu f=${i / 8},i=${i - 700}i,u=18446744073709551615u,b=true,s="q\\"${i}" ${t}`)
        break
      case 1:
        lines.push(`cpu,region=eu,host=${host} f=-${i}.5 ${t}`)
        break
      case 2:
        lines.push(`cpu,host=${host} b=F,s="x y",i=${i}i ${t}`)
        break
      case 3:
        lines.push(`mem,host=${host} used=${i}i,free=${2 ** 40 + i} ${t}`)
        break
      default:
        lines.push(`cpu,host=${host},region=us f=${i},u=${i}u ${t}`)
    }
  }
  lines[100] = "cpu,host=bad f= 1"
  lines[777] = `cpu,host=h1 f="not a float" 1`
  return lines
}

describe("writes parsed on a worker thread", () => {
  let server: InProcessServer
  let token: string
  const write = (path: string, body: string | Uint8Array) => server.request("POST", path, { body, token })

  beforeAll(async () => {
    server = await startServer()
    token = await createOperatorToken(server)
  }, 30_000)
  afterAll(() => server.stop())

  it("a large mixed body writes exactly the rows that the same lines written in small batches do", async () => {
    const lines = mixedLines()
    const body = lines.join("\n")
    expect(Buffer.byteLength(body)).toBeGreaterThan(64 * 1024)
    expectError(await write("/api/v3/write_lp?db=big&precision=ns", body), 400, "partial write of line protocol occurred", [
      { error_message: "No fields were provided", line_number: 101, original_line: lines[100] },
      {
        error_message: "invalid column type for column 'f', expected iox::column_type::field::float, got iox::column_type::field::string",
        line_number: 778,
        original_line: lines[777]
      }
    ])
    for (let i = 0; i < lines.length; i += 100) {
      await write("/api/v3/write_lp?db=small&precision=ns", lines.slice(i, i + 100).join("\n"))
    }
    for (const table of ["cpu", "mem"]) {
      const big = await bufferedRows(server, "big", table)
      expect(big.length).toBeGreaterThan(250)
      expect(big).toEqual(await bufferedRows(server, "small", table))
    }
    const cpu = await bufferedRows(server, "big", "cpu")
    expect(cpu[0]).toEqual({
      host: "h0", region: "eu", time: expect.anything(), f: 0, i: -700n, u: 18446744073709551615n, b: true, s: 'q"0'
    })
    expect(cpu.find((r) => r["i"] === 2n)).toMatchObject({ host: "h2", region: null, f: null, u: null, b: false, s: "x y" })
  })

  it("UTF-8 names and strings come through intact, in large and small bodies", async () => {
    const line = (i: number) => `mesüré,hôst=中${i % 3} välue=${i},s="😀 ${i}" ${1_700_000_000 + i}`
    const large = Array.from({ length: 3000 }, (_, i) => line(i)).join("\n")
    expect(Buffer.byteLength(large)).toBeGreaterThan(64 * 1024)
    expectOk(await write("/api/v3/write_lp?db=utf8big&precision=s", large), 204)
    expectOk(await write("/api/v3/write_lp?db=utf8small&precision=s", line(1)), 204)
    const rows = await bufferedRows(server, "utf8big", "mesüré")
    expect(rows).toHaveLength(3000)
    expect(rows[0]).toMatchObject({ "hôst": "中0", "välue": 0, s: "😀 0" })
    expect((await bufferedRows(server, "utf8small", "mesüré"))[0]).toMatchObject({ "hôst": "中1", "välue": 1, s: "😀 1" })
  })

  it("a large body that is not UTF-8 answers 400 and writes nothing", async () => {
    const body = Buffer.concat([Buffer.from("m v=1 1\n".repeat(8000)), Buffer.from([0xff, 0xfe])])
    expectError(await write("/api/v3/write_lp?db=notutf8", body), 400, /^body content is not valid utf8/)
    expect(await bufferedRows(server, "notutf8", "m")).toEqual([])
  })

  it("column buffers reused from body to body carry nothing over: times, kinds and line numbers are each body's own", async () => {
    // Each body is over 32 KiB (parsed on the worker), and each reuses the buffers the one before filled: integers and
    // timestamps first, then floats without timestamps, then a shorter body with a bad line.
    const withTimes = Array.from({ length: 3000 }, (_, i) => `r,k=${i % 10} n=${i}i ${1_000 + i}`).join("\n")
    const before = Date.now()
    // Lines without a time all get the same server time: distinct series keep them apart.
    const withoutTimes = Array.from({ length: 3000 }, (_, i) => `r,k=u${i} x=${i}.25`).join("\n")
    const shorter = Array.from({ length: 1200 }, (_, i) => (i === 1100 ? "r,k=0 x=oops" : `r,k=${i % 10} x=${i}.5 ${5_000 + i}`)).join("\n")
    expectOk(await write("/api/v3/write_lp?db=reuse&precision=s", withTimes), 204)
    expectOk(await write("/api/v3/write_lp?db=reuse&precision=s", withoutTimes), 204)
    expectError(await write("/api/v3/write_lp?db=reuse&precision=s", shorter), 400, "partial write of line protocol occurred", [
      { error_message: "No fields were provided", line_number: 1101, original_line: "r,k=0 x=oops" }
    ])
    const rows = await bufferedRows(server, "reuse", "r")
    const seconds = (r: Record<string, unknown>) => Number((r["time"] as Date).getTime()) / 1000
    const first = rows.filter((r) => r["n"] !== null)
    expect(first).toHaveLength(3000)
    expect(first.every((r) => r["x"] === null && seconds(r) === 1_000 + Number(r["n"]))).toBe(true)
    const untimed = rows.filter((r) => r["x"] !== null && Number(r["x"]) % 1 === 0.25)
    expect(untimed).toHaveLength(3000)
    expect(untimed.every((r) => r["n"] === null && seconds(r) * 1000 >= before - 1000)).toBe(true)
    const third = rows.filter((r) => r["x"] !== null && Number(r["x"]) % 1 === 0.5)
    expect(third).toHaveLength(1199)
    expect(third.every((r) => seconds(r) === 5_000 + Number(r["x"]) - 0.5)).toBe(true)
  })

  it("concurrent large writes are all written", async () => {
    const bodies = Array.from({ length: 6 }, (_, b) =>
      Array.from({ length: 3000 }, (_, i) => `c,w=${b},k=${i % 50} v=${i} ${1_700_000_000 + i}`).join("\n")
    )
    for (const res of await Promise.all(bodies.map((body) => write("/api/v3/write_lp?db=conc&precision=s", body)))) expectOk(res, 204)
    expect(await bufferedRows(server, "conc", "c")).toHaveLength(18_000)
  })
})
