import { Effect } from "effect"

/** One line a plugin logged (or the engine logged about it), for `system.processing_engine_logs`. */
export interface EngineLogRow {
  readonly eventTimeNs: bigint
  readonly db: string
  readonly triggerName: string
  readonly logLevel: "INFO" | "WARN" | "ERROR"
  readonly logText: string
}

/** Lines kept per server; older ones are dropped (the server log keeps every line). */
const KEEP = 10_000

/**
 * The recent plugin log lines, in memory as InfluxDB 3 keeps them (a restart empties them). Separate from the
 * engine so the query engine can read them without depending on it.
 */
export class EngineLogs extends Effect.Service<EngineLogs>()("strata/EngineLogs", {
  sync: () => {
    const rows: Array<EngineLogRow> = []
    return {
      /** Records one line. */
      add: (row: EngineLogRow) => {
        rows.push(row)
        if (rows.length > KEEP) rows.splice(0, rows.length - KEEP)
      },
      /** The lines of one database's triggers, oldest first. */
      of: (db: string): ReadonlyArray<EngineLogRow> => rows.filter((r) => r.db === db)
    } as const
  }
}) {}
