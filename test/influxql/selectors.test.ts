import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { expectOk } from "../support/expect.ts"
import { startServerWith, type InProcessServer } from "../support/server.ts"

// Two series per host, values tied within and across series, points written out of time order; `other` is a second
// field that some points lack (their `v` is then absent, not NULL-valued, as line protocol has it).
const T0 = 1704067200000000000n
const point = (host: string, dc: string, s: number, fields: string) => `m,host=${host},dc=${dc} ${fields} ${T0 + BigInt(s) * 1_000_000_000n}`
const LINES = [
  point("a", "x", 5, "v=7,other=1"),
  point("a", "x", 3, "v=7,other=2"),
  point("a", "y", 3, "v=7,other=3"),
  point("a", "y", 1, "other=4"),
  point("a", "x", 4, "v=-2,other=5"),
  point("a", "y", 2, "v=-2,other=6"),
  point("a", "x", 6, "v=1"),
  point("b", "x", 9, "v=4"),
  point("b", "x", 8, "v=4"),
  point("b", "y", 7, "v=3"),
  point("b", "y", 0, "other=7")
].join("\n")

const at = (s: number) => new Date(Number(T0 / 1_000_000n) + s * 1000).toISOString().replace(".000Z", "Z")

describe("InfluxQL selectors pick the point 1.x picks", () => {
  let server: InProcessServer
  let token: string
  const values = async (q: string) => {
    const res = await expectOk(await server.request("GET", `/query?${new URLSearchParams({ db: "t", q })}`, { token }))
    type Series = { tags?: object; values: Array<Array<unknown>> }
    const series = (res.json() as { results: Array<{ series?: Array<Series> }> }).results[0]!.series ?? []
    return series.map((s) => ({ tags: s.tags, values: s.values }))
  }

  beforeAll(async () => {
    const started = await startServerWith("t", LINES)
    server = started.server
    token = started.token
  }, 30_000)
  afterAll(() => server.stop())

  it("min() and max() report the earliest point among tied values, across series too, never a point without the field", async () => {
    expect(await values("SELECT max(v) FROM m GROUP BY host")).toEqual([
      { tags: { host: "a" }, values: [[at(3), 7]] },
      { tags: { host: "b" }, values: [[at(8), 4]] }
    ])
    expect(await values("SELECT min(v) FROM m GROUP BY host")).toEqual([
      { tags: { host: "a" }, values: [[at(2), -2]] },
      { tags: { host: "b" }, values: [[at(7), 3]] }
    ])
    expect(await values("SELECT max(v) FROM m")).toEqual([{ tags: undefined, values: [[at(3), 7]] }])
    expect(await values("SELECT min(v) * 2 FROM m WHERE host = 'a' AND dc = 'x'")).toEqual([{ tags: undefined, values: [[at(4), -4]] }])
  })

  it("a lone first() or last() reports the time of the first or last point with the field", async () => {
    expect(await values("SELECT first(v), last(other) FROM m GROUP BY host")).toEqual([
      { tags: { host: "a" }, values: [["1970-01-01T00:00:00Z", -2, 1]] },
      { tags: { host: "b" }, values: [["1970-01-01T00:00:00Z", 3, 7]] }
    ])
    expect(await values("SELECT first(v) FROM m GROUP BY host")).toEqual([
      { tags: { host: "a" }, values: [[at(2), -2]] },
      { tags: { host: "b" }, values: [[at(7), 3]] }
    ])
    expect(await values("SELECT last(other) FROM m GROUP BY host")).toEqual([
      { tags: { host: "a" }, values: [[at(5), 1]] },
      { tags: { host: "b" }, values: [[at(0), 7]] }
    ])
  })

  it("top() and bottom() keep the earliest of tied points at the edge, and every point when there are fewer", async () => {
    expect(await values("SELECT top(v, 2) FROM m GROUP BY host")).toEqual([
      { tags: { host: "a" }, values: [[at(3), 7], [at(3), 7]] },
      { tags: { host: "b" }, values: [[at(8), 4], [at(9), 4]] }
    ])
    expect(await values("SELECT top(v, 3) FROM m WHERE host = 'a'")).toEqual([{ tags: undefined, values: [[at(3), 7], [at(3), 7], [at(5), 7]] }])
    expect(await values("SELECT bottom(v, 2) FROM m GROUP BY host")).toEqual([
      { tags: { host: "a" }, values: [[at(2), -2], [at(4), -2]] },
      { tags: { host: "b" }, values: [[at(7), 3], [at(8), 4]] }
    ])
    expect(await values("SELECT bottom(v, 10) FROM m WHERE host = 'b'")).toEqual([{ tags: undefined, values: [[at(7), 3], [at(8), 4], [at(9), 4]] }])
    expect(await values("SELECT bottom(v, dc, 2) FROM m GROUP BY host")).toEqual([
      { tags: { host: "a" }, values: [[at(2), -2, "y"], [at(4), -2, "x"]] },
      { tags: { host: "b" }, values: [[at(7), 3, "y"], [at(8), 4, "x"]] }
    ])
  })
})
