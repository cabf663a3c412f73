import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { unpack, unpackMultiple } from "msgpackr"
import { expectOk } from "../support/expect.ts"
import { createOperatorToken, startServer, type InProcessServer } from "../support/server.ts"

// A v1 answer of 200,000 rows: produced chunk by chunk while other requests are served, and still whole and exact.
const ROWS = 200_000
const T0 = 1_704_067_200n * 1_000_000_000n
const timeNs = (i: number) => T0 + BigInt(i) * 1_000_000_000n
const host = (i: number) => `h${i % 4}`
const value = (i: number) => ((i * 37) % 1009) / 8

type Series = {
  name: string
  tags?: Record<string, string>
  columns: Array<string>
  values: Array<Array<unknown>>
  partial?: boolean
}
type Answer = { results: Array<{ statement_id: number; series?: Array<Series>; partial?: boolean }> }

/** Splits concatenated JSON objects (a chunked answer) at their top-level ends. */
const jsonObjects = (text: string): Array<Answer> => {
  const out: Array<Answer> = []
  let depth = 0
  let start = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (inString) {
      if (c === "\\") i++
      else if (c === '"') inString = false
    } else if (c === '"') inString = true
    else if (c === "{") depth++
    else if (c === "}" && --depth === 0) {
      out.push(JSON.parse(text.slice(start, i + 1)) as Answer)
      start = i + 1
    }
  }
  return out
}

describe("large v1 answers", () => {
  let server: InProcessServer
  let token: string
  const query = (params: Record<string, string>, accept = "application/json") =>
    fetch(`${server.url}/query?${new URLSearchParams({ db: "big", ...params })}`, { headers: { authorization: `Bearer ${token}`, accept } })

  beforeAll(async () => {
    server = await startServer()
    token = await createOperatorToken(server)
    for (let from = 0; from < ROWS; from += 50_000) {
      const lines: Array<string> = []
      for (let i = from; i < from + 50_000; i++) lines.push(`m,host=${host(i)} v=${value(i)},n=${i}i ${timeNs(i)}`)
      expectOk(await server.request("POST", "/api/v3/write_lp?db=big&precision=nanosecond", { body: lines.join("\n"), token }), 204)
    }
  }, 120_000)
  afterAll(() => server.stop())

  it("a 200,000-row answer arrives whole and exact as JSON, CSV and MessagePack", async () => {
    const json = (await (await query({ q: "SELECT * FROM m", epoch: "ns" })).json()) as Answer
    const series = json.results[0]!.series!
    expect(series.length).toBe(1)
    expect(series[0]!.columns).toEqual(["time", "host", "n", "v"])
    const values = series[0]!.values
    expect(values.length).toBe(ROWS)
    for (const i of [0, 1, 4097, 123_456, ROWS - 1])
      expect(values[i]).toEqual([Number(timeNs(i)), host(i), i, value(i)])
    expect(values.every((row, i) => row[2] === i)).toBe(true)

    const rfc = (await (await query({ q: "SELECT v FROM m WHERE host = 'h1'" })).json()) as Answer
    expect(rfc.results[0]!.series![0]!.values.length).toBe(ROWS / 4)
    expect(rfc.results[0]!.series![0]!.values[0]).toEqual(["2024-01-01T00:00:01Z", value(1)])

    const csv = await (await query({ q: "SELECT * FROM m" }, "application/csv")).text()
    const lines = csv.split("\n")
    expect(lines.length).toBe(ROWS + 2)
    expect(lines[0]).toBe("name,tags,time,host,n,v")
    expect(lines[ROWS]).toBe(`m,,${timeNs(ROWS - 1)},${host(ROWS - 1)},${ROWS - 1},${value(ROWS - 1)}`)

    const packed = new Uint8Array(await (await query({ q: "SELECT * FROM m", epoch: "ns" }, "application/x-msgpack")).arrayBuffer())
    const decoded = unpack(packed) as Answer
    const rows = decoded.results[0]!.series![0]!.values
    expect(rows.length).toBe(ROWS)
    expect(rows[ROWS - 1]!.map((v) => (typeof v === "bigint" ? Number(v) : v))).toEqual([Number(timeNs(ROWS - 1)), host(ROWS - 1), ROWS - 1, value(ROWS - 1)])
  }, 120_000)

  it("a chunked answer has a chunk per series and per chunk_size rows, every one but the last partial", async () => {
    const text = await (await query({ q: "SELECT v FROM m GROUP BY host", chunked: "true", chunk_size: "20000", epoch: "s" })).text()
    const chunks = jsonObjects(text)
    // 4 series of 50,000 rows: 3 chunks each (20,000, 20,000, 10,000).
    expect(chunks.length).toBe(12)
    chunks.forEach((chunk, k) => {
      const result = chunk.results[0]!
      const series = result.series![0]!
      expect(series.tags).toEqual({ host: `h${Math.floor(k / 3)}` })
      expect(series.values.length).toBe(k % 3 === 2 ? 10_000 : 20_000)
      expect(series.partial).toBe(k % 3 === 2 ? undefined : true)
      expect(result.partial).toBe(k === 11 ? undefined : true)
    })
    const h2 = chunks.slice(6, 9).flatMap((c) => c.results[0]!.series![0]!.values)
    expect(h2.length).toBe(50_000)
    expect(
      h2.every((row, j) => row[0] === Number(timeNs(2 + 4 * j) / 1_000_000_000n) && row[1] === value(2 + 4 * j))
    ).toBe(true)

    const packed = new Uint8Array(await (await query({ q: "SELECT v FROM m GROUP BY host", chunked: "true", chunk_size: "20000", epoch: "s" }, "application/x-msgpack")).arrayBuffer())
    const objects = unpackMultiple(packed) as Array<Answer>
    expect(objects.map((o) => o.results[0]!.series![0]!.values.length)).toEqual(
      chunks.map((c) => c.results[0]!.series![0]!.values.length)
    )
  }, 120_000)

  it("a chunked answer is sent as it is produced: at its first chunk the query still runs, and /health is answered", async () => {
    // Pretty chunks of 1,000 rows make ~45 MB: more than the buffers between server and client, so while the client
    // does not read, the server cannot have produced the whole answer.
    const q = "SELECT * FROM m WHERE n >= 0"
    const res = await query({ q, chunked: "true", chunk_size: "1000", pretty: "true" })
    const reader = res.body!.getReader()
    const first = await reader.read()
    const running = await server.request("GET", `/api/v3/query_sql?${new URLSearchParams({ db: "big", q: `SELECT running FROM system.queries WHERE query_type = 'influxql' AND query_text = '${q.replace(/'/g, "''")}'` })}`, { token })
    const health = await server.request("GET", "/health", { token })
    const decoder = new TextDecoder()
    let text = decoder.decode(first.value, { stream: true })
    for (let piece = await reader.read(); !piece.done; piece = await reader.read())
      text += decoder.decode(piece.value, { stream: true })
    expect(running.json()).toEqual([{ running: true }])
    expect(health.status).toBe(200)
    const chunks = jsonObjects(text)
    expect(chunks.length).toBe(ROWS / 1000)
    expect(chunks.map((c) => c.results[0]!.series![0]!.values.length)).toEqual(
      Array.from({ length: ROWS / 1000 }, () => 1000)
    )
    expect(chunks[ROWS / 1000 - 1]!.results[0]!.series![0]!.values[999]).toEqual([`2024-01-03T07:33:19Z`, host(ROWS - 1), ROWS - 1, value(ROWS - 1)])
  }, 120_000)
})
