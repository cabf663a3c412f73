import type { DuckDBConnection } from "@duckdb/node-api"
import { Effect } from "effect"
import type { TableState } from "../catalog/state.ts"
import { InvalidRequest } from "../errors.ts"
import type { JobError } from "../jobs/Jobs.ts"
import { planImport, plannedRowsSql, type ImportColumnType } from "./plan.ts"
import { sqlString as literal } from "../query/literal.ts"

/** Runs DuckDB work on the import's connection, one statement at a time. */
export type DuckRunner = <A>(what: string, f: (c: DuckDBConnection) => Promise<A>) => Effect.Effect<A, JobError>

/**
 * Reads an uploaded Parquet file for the seed's checks and its UploadedImportInfo facts; fails 400 naming the
 * problem.
 */
export const inspectUpload = (
  duck: DuckRunner,
  path: string,
  mapping: Readonly<Record<string, ImportColumnType>>,
  table: TableState
) =>
  Effect.gen(function* () {
    const facts = yield* duck("reading the upload", async (c) => {
      const rowCount = Number((await c.runAndReadAll(`SELECT coalesce(sum(num_rows), 0) FROM parquet_file_metadata(${literal(path)})`)).getRows()[0]![0])
      const ioxParquet = Number((await c.runAndReadAll(`SELECT count(*) FROM parquet_kv_metadata(${literal(path)}) WHERE lower(decode(key)) LIKE '%iox%'`)).getRows()[0]![0]) > 0
      const columns = (await c.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${literal(path)})`)).getRows().map((r) => ({ name: String(r[0]), type: String(r[1]) }))
      return { rowCount, ioxParquet, columns }
    }).pipe(Effect.mapError((e) => new InvalidRequest({ message: `invalid Parquet file: ${e.message.replace(/^reading the upload: /, "")}` })))
    if (facts.rowCount === 0) return yield* Effect.fail(new InvalidRequest({ message: "empty Parquet file: it holds no rows" }))
    const planned = planImport(facts.columns, mapping, table)
    if ("error" in planned) return yield* Effect.fail(new InvalidRequest({ message: planned.error }))
    const rowsSql = plannedRowsSql(planned.plan, `(SELECT *, 0 AS __row FROM read_parquet(${literal(path)}))`, 1n)
    const time = planned.plan.time
    const range = yield* duck("reading the upload's times", async (c) => {
      // From the footer's column statistics when the time column is a timestamp that has them; else one scan.
      if (time.sourceType.startsWith("TIMESTAMP")) {
        const stats = (await c.runAndReadAll(
          `SELECT epoch_ns(min(TRY_CAST(stats_min_value AS TIMESTAMP_NS))), epoch_ns(max(TRY_CAST(stats_max_value AS TIMESTAMP_NS))), count(*) FILTER (WHERE stats_min_value IS NULL) ` +
            `FROM parquet_metadata(${literal(path)}) WHERE path_in_schema = ${literal(time.source)}`
        )).getRows()[0]
        if (stats !== undefined && stats[0] !== null && stats[1] !== null && Number(stats[2]) === 0) return stats
      }
      return (await c.runAndReadAll(`SELECT coalesce(epoch_ns(min(time)), 0), coalesce(epoch_ns(max(time)), 0) FROM (${rowsSql})`)).getRows()[0]!
    }).pipe(Effect.mapError((e) => new InvalidRequest({ message: `invalid Parquet file: ${e.message}` })))
    return {
      rowCount: facts.rowCount,
      ioxParquet: facts.ioxParquet,
      minTimestampNs: String(range[0]),
      maxTimestampNs: String(range[1])
    }
  })
