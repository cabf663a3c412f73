import { DuckDBInstance } from "@duckdb/node-api"
import { describe, expect, it } from "@effect/vitest"
import { bucketOf, bucketSql } from "../../src/influxql/select/transforms.ts"
import { dialectSetupSql } from "../../src/query/dialect/setup.ts"

describe("InfluxQL GROUP BY time buckets", () => {
  it("DuckDB's bucket of a time is the planner's, before and after the offset and the epoch", async () => {
    const instance = await DuckDBInstance.create(":memory:")
    const conn = await instance.connect()
    for (const statement of dialectSetupSql) await conn.run(statement)
    try {
      const times = [
        -90_000_000_001n, -60_000_000_000n, -1n, 0n, 1n, 59_999_999_999n, 60_000_000_000n, 1_704_067_230_123_456_789n
      ]
      for (const interval of [60_000_000_000n, 7_000n, 86_400_000_000_000n])
        for (const offset of [0n, 15_000_000_000n, -15_000_000_000n]) {
          const sql = `SELECT t, CAST(${bucketSql("t", interval, offset)} AS VARCHAR) FROM (VALUES ${times.map((t) => `(${t}::BIGINT)`).join(", ")}) AS v(t) ORDER BY t`
          const rows = (await conn.runAndReadAll(sql)).getRows()
          const buckets = rows.map(([t, b]) => [BigInt(t as bigint), BigInt(b as string)])
          expect(buckets).toEqual(times.map((t) => [t, bucketOf(t, interval, offset)]))
        }
    } finally {
      conn.closeSync()
      instance.closeSync()
    }
  })
})
