import { ioxQueryLogEnd2end, ioxQueryLogParquetFiles } from "../metrics/prometheus.ts"
/** Recent queries, as `system.queries` lists them, and the figures of the last one for the telemetry endpoint. */

export type QueryPhase = "received" | "planned" | "permit" | "success" | "fail" | "cancel"

export interface QueryRecord {
  readonly id: string
  phase: QueryPhase
  readonly issueTimeNs: bigint
  readonly queryType: "sql" | "influxql"
  readonly text: string
  readonly database: string
  partitions: number
  parquetFiles: number
  planNs: bigint | null
  permitNs: bigint | null
  executeNs: bigint | null
  end2endNs: bigint | null
  computeNs: bigint | null
  maxMemory: number
  success: boolean
  running: boolean
  cancelled: boolean
  /** Telemetry: rows and bytes the query's table scans read, and rows it returned. */
  rowsRead: number
  bytesRead: number
  rowsReturned: number
  filesScanned: number
  /** Telemetry: reads answered from `last_cache()` and `distinct_cache()`. */
  lastCacheHits?: number
  distinctCacheHits?: number
}

/** How many finished queries are kept (InfluxDB's `--query-log-size` default). */
const QUERY_LOG_SIZE = 1000

export class QueryLog {
  private readonly records: Array<QueryRecord> = []
  /** The last finished query of each database: telemetry shows a token the latest one among those it may read. */
  private readonly lastByDatabase = new Map<string, { readonly record: QueryRecord; readonly order: number }>()
  private finishedCount = 0
  private nextId = 1

  /** Registers a query as received. */
  start(queryType: "sql" | "influxql", text: string, database: string, issueTimeNs: bigint): QueryRecord {
    const record: QueryRecord = {
      id: String(this.nextId++),
      phase: "received",
      issueTimeNs,
      queryType,
      text,
      database,
      partitions: 0,
      parquetFiles: 0,
      planNs: null,
      permitNs: null,
      executeNs: null,
      end2endNs: null,
      computeNs: null,
      maxMemory: 0,
      success: false,
      running: true,
      cancelled: false,
      rowsRead: 0,
      bytesRead: 0,
      rowsReturned: 0,
      filesScanned: 0
    }
    this.records.push(record)
    if (this.records.length > QUERY_LOG_SIZE) this.records.splice(0, this.records.length - QUERY_LOG_SIZE)
    return record
  }

  /** Marks a query finished (successfully or not); it becomes the one telemetry reports to readers of its database. */
  finish(record: QueryRecord, outcome: "success" | "fail" | "cancel", end2endNs: bigint) {
    record.phase = outcome
    record.success = outcome === "success"
    record.cancelled = outcome === "cancel"
    record.running = false
    record.end2endNs = end2endNs
    ioxQueryLogEnd2end.unsafeUpdate(Number(end2endNs) / 1e9, [])
    ioxQueryLogParquetFiles.unsafeUpdate(record.filesScanned, [])
    this.lastByDatabase.set(record.database, { record, order: this.finishedCount++ })
  }

  /** The queries of one database, oldest first. */
  of(database: string): ReadonlyArray<QueryRecord> {
    return this.records.filter((r) => r.database === database)
  }

  /** The query that finished last among the databases `visible` admits. */
  lastFinished(visible: (database: string) => boolean): QueryRecord | undefined {
    let last: { readonly record: QueryRecord; readonly order: number } | undefined
    for (const [database, entry] of this.lastByDatabase) {
      if ((last === undefined || entry.order > last.order) && visible(database)) last = entry
    }
    return last?.record
  }
}
