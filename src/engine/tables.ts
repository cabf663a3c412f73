import type { CatalogState, DatabaseState } from "../catalog/state.ts"
import type { EngineLogRow } from "./EngineLogs.ts"
import { triggersOf } from "./state.ts"

export type { EngineLogRow }

type Cell = string | boolean | null | { readonly ns: bigint }

/** The processing engine's `system.*` tables of a database, in the shape the virtual-table module takes. */
export const engineTables = (state: CatalogState, db: DatabaseState, logs: () => ReadonlyArray<EngineLogRow>) => {
  const col = (name: string, sqlType: string) => ({ name, sqlType })
  return [
    {
      schema: "system" as const,
      name: "processing_engine_triggers",
      columns: [
        col("trigger_name", "VARCHAR"),
        col("plugin_filename", "VARCHAR"),
        col("trigger_specification", "VARCHAR"),
        col("disabled", "BOOLEAN")
      ],
      rows: (): ReadonlyArray<ReadonlyArray<Cell>> =>
        triggersOf(state, db.id).map((t) => [t.name, t.pluginFilename, t.specification, t.disabled])
    },
    {
      schema: "system" as const,
      name: "processing_engine_trigger_arguments",
      columns: [col("trigger_name", "VARCHAR"), col("argument_key", "VARCHAR"), col("argument_value", "VARCHAR")],
      rows: (): ReadonlyArray<ReadonlyArray<Cell>> =>
        triggersOf(state, db.id).flatMap((t) => Object.entries(t.arguments ?? {}).map(([k, v]) => [t.name, k, v]))
    },
    {
      schema: "system" as const,
      name: "processing_engine_logs",
      columns: [
        col("event_time", "TIMESTAMP_NS"),
        col("trigger_name", "VARCHAR"),
        col("log_level", "VARCHAR"),
        col("log_text", "VARCHAR")
      ],
      rows: (): ReadonlyArray<ReadonlyArray<Cell>> =>
        logs().map((l) => [{ ns: l.eventTimeNs }, l.triggerName, l.logLevel, l.logText])
    }
  ]
}
