import type { ColumnType } from "../events/index.ts"
import { INTERNAL_DB, type CatalogState, type DatabaseState, type TableState } from "../catalog/state.ts"
import { distinctCacheColumns, lastCacheColumns } from "../cache/columns.ts"
import { sqlString } from "./literal.ts"
import type { QueryRecord } from "./QueryLog.ts"
import type { NodeRow } from "../nodes/view.ts"
import { deletesOf } from "../deletes/state.ts"
import { engineTables, type EngineLogRow } from "../engine/tables.ts"

/**
 * The tables InfluxDB 3 derives from its catalog and runtime state — `information_schema.*` and `system.*` — as SQL
 * over literal rows, built per query from the state it sees.
 */

type Literal =
  | string
  | number
  | bigint
  | boolean
  | null
  | { readonly ns: bigint }
  | { readonly intervalNs: bigint }
  | ReadonlyArray<string | number>

interface VirtualColumn {
  readonly name: string
  readonly sqlType: string
}

export interface VirtualTable {
  readonly schema: "system" | "information_schema"
  readonly name: string
  readonly columns: ReadonlyArray<VirtualColumn>
  readonly rows: () => ReadonlyArray<ReadonlyArray<Literal>>
}

const col = (name: string, sqlType: string): VirtualColumn => ({ name, sqlType })

const literal = (v: Literal): string => {
  if (v === null) return "NULL"
  switch (typeof v) {
    case "string":
      return sqlString(v)
    case "number":
    case "bigint":
      return String(v)
    case "boolean":
      return v ? "true" : "false"
  }
  if (Array.isArray(v)) return `[${v.map((x) => literal(x as Literal)).join(", ")}]`
  if ("ns" in v) return `make_timestamp_ns(${v.ns})`
  return `to_microseconds(${(v as { readonly intervalNs: bigint }).intervalNs / 1000n})`
}

/** The SQL selecting a virtual table's rows under its column names and types. */
export const virtualTableSql = (table: VirtualTable): string => {
  const rows = table.rows()
  const names = table.columns.map((c) => `"${c.name}"`)
  if (rows.length === 0) return `SELECT ${table.columns.map((c) => `CAST(NULL AS ${c.sqlType}) AS "${c.name}"`).join(", ")} WHERE false`
  const values = rows.map((r) => `(${r.map(literal).join(", ")})`).join(", ")
  return `SELECT ${table.columns.map((c, i) => `CAST(${names[i]} AS ${c.sqlType}) AS ${names[i]}`).join(", ")} FROM (VALUES ${values}) AS v(${names.join(", ")})`
}

/** Arrow's names for column types, as information_schema.columns reports them. */
export const arrowTypeName: Record<ColumnType, string> = {
  tag: "Dictionary(Int32, Utf8)",
  time: "Timestamp(Nanosecond, None)",
  float: "Float64",
  integer: "Int64",
  uinteger: "UInt64",
  string: "Utf8",
  boolean: "Boolean"
}

/** The DuckDB type a column is read as. */
export const duckTypeName: Record<ColumnType, string> = {
  tag: "VARCHAR",
  time: "TIMESTAMP_NS",
  float: "DOUBLE",
  integer: "BIGINT",
  uinteger: "UBIGINT",
  string: "VARCHAR",
  boolean: "BOOLEAN"
}

/** A table's columns in the order `SELECT *` gives them: sorted by name, as InfluxDB 3 does. */
export const columnsInOrder = (table: TableState) =>
  [...table.columns].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))

const liveTables = (db: DatabaseState) =>
  [...db.tables.values()].filter((t) => !t.deleted).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))

const INFORMATION_SCHEMA_VIEWS = ["columns", "df_settings", "parameters", "routines", "schemata", "tables", "views"]

/** What the virtual tables read. */
export interface VirtualTableContext {
  readonly state: CatalogState
  readonly db: DatabaseState
  readonly queries: () => ReadonlyArray<QueryRecord>
  /** A table's persisted Parquet files (path relative to the data dir), for `system.parquet_files`. */
  readonly files?: (
    tableId: number
  ) => ReadonlyArray<{
    readonly path: string
    readonly bytes: number
    readonly rows: number
    readonly minTimeNs: bigint
    readonly maxTimeNs: bigint
  }>
  /** Every node of the cluster, for `system.nodes`. */
  readonly nodes?: () => ReadonlyArray<NodeRow>
  /** The database's recent plugin log lines, for `system.processing_engine_logs`. */
  readonly engineLogs?: () => ReadonlyArray<EngineLogRow>
}

const systemTables = (ctx: VirtualTableContext): ReadonlyArray<VirtualTable> => {
  const tables: Array<VirtualTable> = [
    {
      schema: "system",
      name: "queries",
      columns: [
        col("id", "VARCHAR"),
        col("phase", "VARCHAR"),
        col("issue_time", "TIMESTAMP_NS"),
        col("query_type", "VARCHAR"),
        col("query_text", "VARCHAR"),
        col("partitions", "BIGINT"),
        col("parquet_files", "BIGINT"),
        col("plan_duration", "INTERVAL"),
        col("permit_duration", "INTERVAL"),
        col("execute_duration", "INTERVAL"),
        col("end2end_duration", "INTERVAL"),
        col("compute_duration", "INTERVAL"),
        col("max_memory", "BIGINT"),
        col("success", "BOOLEAN"),
        col("running", "BOOLEAN"),
        col("cancelled", "BOOLEAN"),
        col("trace_id", "VARCHAR")
      ],
      rows: () =>
        ctx
          .queries()
          .map((q) => [
            q.id,
            q.phase,
            { ns: q.issueTimeNs },
            q.queryType,
            q.text,
            q.partitions,
            q.parquetFiles,
            q.planNs === null ? null : { intervalNs: q.planNs },
            q.permitNs === null ? null : { intervalNs: q.permitNs },
            q.executeNs === null ? null : { intervalNs: q.executeNs },
            q.end2endNs === null ? null : { intervalNs: q.end2endNs },
            q.computeNs === null ? null : { intervalNs: q.computeNs },
            q.maxMemory,
            q.success,
            q.running,
            q.cancelled,
            null
          ])
    },
    {
      schema: "system",
      name: "last_caches",
      columns: [
        col("table", "VARCHAR"),
        col("name", "VARCHAR"),
        col("key_column_ids", "UINTEGER[]"),
        col("key_column_names", "VARCHAR[]"),
        col("value_column_ids", "UINTEGER[]"),
        col("value_column_names", "VARCHAR[]"),
        col("count", "USMALLINT"),
        col("ttl", "UBIGINT")
      ],
      rows: () =>
        liveTables(ctx.db).flatMap((t) =>
          [...t.lastCaches.values()].map((c) => {
            const { keys, values, time } = lastCacheColumns(t, c)
            const shown = [...values, time]
            return [
              t.name,
              c.name,
              keys.map((k) => k.id),
              keys.map((k) => k.name),
              shown.map((v) => v.id),
              shown.map((v) => v.name),
              c.count,
              c.ttlSeconds
            ]
          })
        )
    },
    {
      schema: "system",
      name: "distinct_caches",
      columns: [
        col("table", "VARCHAR"),
        col("name", "VARCHAR"),
        col("column_ids", "UINTEGER[]"),
        col("column_names", "VARCHAR[]"),
        col("max_cardinality", "UBIGINT"),
        col("max_age_seconds", "UBIGINT")
      ],
      rows: () =>
        liveTables(ctx.db).flatMap((t) =>
          [...t.distinctCaches.values()].map((c) => {
            const columns = distinctCacheColumns(t, c)
            return [
              t.name,
              c.name,
              columns.map((k) => k.id),
              columns.map((k) => k.name),
              c.maxCardinality,
              c.maxAgeSeconds
            ]
          })
        )
    },
    {
      schema: "system",
      name: "parquet_files",
      columns: [
        col("table_name", "VARCHAR"),
        col("path", "VARCHAR"),
        col("size_bytes", "UBIGINT"),
        col("row_count", "UBIGINT"),
        col("min_time", "BIGINT"),
        col("max_time", "BIGINT")
      ],
      rows: () =>
        liveTables(ctx.db).flatMap((t) =>
          (ctx.files?.(t.id) ?? []).map((f) => [t.name, f.path, f.bytes, f.rows, f.minTimeNs, f.maxTimeNs])
        )
    },
    {
      schema: "system",
      name: "processing_engine_triggers",
      columns: [
        col("trigger_name", "VARCHAR"),
        col("plugin_filename", "VARCHAR"),
        col("trigger_specification", "VARCHAR"),
        col("disabled", "BOOLEAN"),
        col("error_behavior", "VARCHAR")
      ],
      rows: () => []
    },
    {
      schema: "system",
      name: "processing_engine_trigger_arguments",
      columns: [col("trigger_name", "VARCHAR"), col("argument_key", "VARCHAR"), col("argument_value", "VARCHAR")],
      rows: () => []
    },
    {
      schema: "system",
      name: "processing_engine_logs",
      columns: [
        col("event_time", "TIMESTAMP_NS"),
        col("trigger_name", "VARCHAR"),
        col("log_level", "VARCHAR"),
        col("log_text", "VARCHAR")
      ],
      rows: () => []
    },
    {
      schema: "system",
      name: "influxdb_schema",
      columns: [col("measurement", "VARCHAR"), col("key", "VARCHAR"), col("data_type", "VARCHAR")],
      rows: () => liveTables(ctx.db).flatMap((t) => columnsInOrder(t).map((c) => [t.name, c.name, c.type]))
    },
    {
      schema: "system",
      name: "row_deletes",
      columns: [
        col("sequence", "BIGINT"),
        col("table_name", "VARCHAR"),
        col("delete_predicate", "VARCHAR"),
        col("min_time", "BIGINT"),
        col("max_time", "BIGINT"),
        col("disposition", "VARCHAR"),
        col("created_at", "TIMESTAMP_NS"),
        col("completed_at", "TIMESTAMP_NS"),
        col("aborted_at", "TIMESTAMP_NS"),
        col("abort_reason", "VARCHAR"),
        col("files_rewritten", "BIGINT")
      ],
      // This database's requests (an unbounded range reads as NULL), and how many files the completing rewrite
      // replaced.
      rows: () =>
        [...deletesOf(ctx.state).requests.values()]
          .filter((r) => r.dbId === ctx.db.id)
          .sort((a, b) => a.sequence - b.sequence)
          .map((r) => [
            r.sequence,
            ctx.db.tables.get(r.tableId)?.name ?? r.tableName,
            r.predicateText,
            r.minTimeNs,
            r.maxTimeNs,
            r.disposition,
            { ns: r.createdAtNs },
            nsOrNull(r.completedAtNs),
            nsOrNull(r.abortedAtNs),
            r.abortReason,
            r.rewrittenFiles
          ])
    }
  ]
  if (ctx.db.name === INTERNAL_DB) tables.push(...internalTables(ctx))
  return tables.sort((a, b) => (a.name < b.name ? -1 : 1))
}

const nsOrNull = (ns: bigint | null) => (ns === null ? null : { ns })

const internalTables = (ctx: VirtualTableContext): ReadonlyArray<VirtualTable> => [
  {
    schema: "system",
    name: "databases",
    columns: [
      col("database_name", "VARCHAR"),
      col("retention_period_ns", "BIGINT"),
      col("deleted", "BOOLEAN"),
      col("hard_deletion_time", "TIMESTAMP_NS")
    ],
    rows: () =>
      [...ctx.state.databases.values()].map((d) => [d.name, d.retentionPeriodNs, d.deleted, nsOrNull(d.hardDeleteAtNs)])
  },
  {
    schema: "system",
    name: "tables",
    columns: [
      col("database_name", "VARCHAR"),
      col("table_name", "VARCHAR"),
      col("column_count", "BIGINT"),
      col("series_key_columns", "VARCHAR"),
      col("last_cache_count", "BIGINT"),
      col("distinct_cache_count", "BIGINT"),
      col("deleted", "BOOLEAN"),
      col("hard_deletion_time", "TIMESTAMP_NS")
    ],
    rows: () =>
      [...ctx.state.databases.values()].flatMap((d) =>
        [...d.tables.values()].map((t) => [
          d.name,
          t.name,
          t.columns.length,
          t.seriesKey.join(","),
          t.lastCaches.size,
          t.distinctCaches.size,
          t.deleted,
          nsOrNull(t.hardDeleteAtNs)
        ])
      )
  },
  {
    schema: "system",
    name: "tokens",
    columns: [
      col("token_id", "BIGINT"),
      col("name", "VARCHAR"),
      col("hash", "VARCHAR"),
      col("created_at", "TIMESTAMP_NS"),
      col("description", "VARCHAR"),
      col("created_by_token_id", "BIGINT"),
      col("updated_at", "TIMESTAMP_NS"),
      col("updated_by_token_id", "BIGINT"),
      col("expiry", "TIMESTAMP_NS"),
      col("permissions", "VARCHAR")
    ],
    rows: () =>
      [...ctx.state.tokens.values()].map((t) => [
        t.id,
        t.name,
        t.hash,
        { ns: t.createdAtNs },
        null,
        null,
        nsOrNull(t.updatedAtNs),
        null,
        nsOrNull(t.expiresAtNs),
        t.grant._tag === "admin"
          ? "*:*:*"
          : t.grant.permissions
              .map((p) => `${p.resourceType}:${p.resourceNames.join(",")}:${p.actions.join(",")}`)
              .join(" ")
      ])
  },
  {
    schema: "system",
    name: "nodes",
    columns: [
      col("node_id", "VARCHAR"),
      col("node_catalog_id", "BIGINT"),
      col("instance_id", "VARCHAR"),
      col("mode", "VARCHAR"),
      col("core_count", "BIGINT"),
      col("state", "VARCHAR"),
      col("started_at", "TIMESTAMP_NS"),
      col("last_heartbeat", "TIMESTAMP_NS")
    ],
    rows: () =>
      (ctx.nodes?.() ?? []).map((n) => [
        n.nodeId,
        n.catalogId,
        n.instanceId,
        n.mode.join(","),
        n.coreCount,
        n.state,
        nsOrNull(n.startedAtNs),
        nsOrNull(n.lastHeartbeatNs)
      ])
  }
]

const informationSchemaTables = (
  ctx: VirtualTableContext,
  system: ReadonlyArray<VirtualTable>
): ReadonlyArray<VirtualTable> => [
  {
    schema: "information_schema",
    name: "tables",
    columns: [
      col("table_catalog", "VARCHAR"),
      col("table_schema", "VARCHAR"),
      col("table_name", "VARCHAR"),
      col("table_type", "VARCHAR")
    ],
    rows: () => [
      ...liveTables(ctx.db).map((t) => ["public", "iox", t.name, "BASE TABLE"]),
      ...system.map((t) => ["public", "system", t.name, "BASE TABLE"]),
      ...INFORMATION_SCHEMA_VIEWS.map((name) => ["public", "information_schema", name, "VIEW"])
    ]
  },
  {
    schema: "information_schema",
    name: "columns",
    columns: [
      col("table_catalog", "VARCHAR"),
      col("table_schema", "VARCHAR"),
      col("table_name", "VARCHAR"),
      col("column_name", "VARCHAR"),
      col("ordinal_position", "UBIGINT"),
      col("column_default", "VARCHAR"),
      col("is_nullable", "VARCHAR"),
      col("data_type", "VARCHAR"),
      col("character_maximum_length", "UBIGINT"),
      col("character_octet_length", "UBIGINT"),
      col("numeric_precision", "UBIGINT"),
      col("numeric_precision_radix", "UBIGINT"),
      col("numeric_scale", "UBIGINT"),
      col("datetime_precision", "UBIGINT"),
      col("interval_type", "VARCHAR")
    ],
    rows: () =>
      liveTables(ctx.db).flatMap((t) =>
        columnsInOrder(t).map((c, i) => [
          "public",
          "iox",
          t.name,
          c.name,
          i,
          null,
          c.type === "time" ? "NO" : "YES",
          arrowTypeName[c.type],
          null,
          c.type === "string" || c.type === "tag" ? 2147483647 : null,
          c.type === "float" ? 24 : c.type === "integer" || c.type === "uinteger" ? 64 : null,
          c.type === "float" ? 2 : c.type === "integer" || c.type === "uinteger" ? 2 : null,
          null,
          null,
          null
        ])
      )
  },
  {
    schema: "information_schema",
    name: "schemata",
    columns: [
      col("catalog_name", "VARCHAR"),
      col("schema_name", "VARCHAR"),
      col("schema_owner", "VARCHAR"),
      col("default_character_set_catalog", "VARCHAR"),
      col("default_character_set_schema", "VARCHAR"),
      col("default_character_set_name", "VARCHAR"),
      col("sql_path", "VARCHAR")
    ],
    rows: () => ["information_schema", "iox", "system"].map((s) => ["public", s, null, null, null, null, null])
  },
  {
    schema: "information_schema",
    name: "views",
    columns: [
      col("table_catalog", "VARCHAR"),
      col("table_schema", "VARCHAR"),
      col("table_name", "VARCHAR"),
      col("definition", "VARCHAR")
    ],
    rows: () => []
  },
  {
    schema: "information_schema",
    name: "df_settings",
    columns: [col("name", "VARCHAR"), col("value", "VARCHAR"), col("description", "VARCHAR")],
    rows: () => [["datafusion.execution.time_zone", "+00:00", "The default time zone"]]
  }
]

/** Every virtual table visible from a database, by `schema.name`. */
export const virtualTables = (ctx: VirtualTableContext): ReadonlyMap<string, VirtualTable> => {
  const system = [...systemTables(ctx), ...engineTables(ctx.state, ctx.db, ctx.engineLogs ?? (() => []))]
  const all = [...system, ...informationSchemaTables(ctx, system)]
  return new Map(all.map((t) => [`${t.schema}.${t.name}`, t]))
}
