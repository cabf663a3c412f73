import type { DuckDBConnection } from "@duckdb/node-api"
import { sqlString as literal } from "./literal.ts"

/**
 * What SQL may do inside DuckDB. Two walls: the instance is sandboxed (no file outside the server's own answer
 * directory, no extensions, configuration locked), and the planner lets through only functions on an allow-list
 * (this module) and only tables it resolved itself (`translate.ts`).
 */

/**
 * The statements that sandbox a DuckDB instance, run in this order on one connection before any user query.
 * `allowed_directories` must come before `enable_external_access = false`; once locked nothing can be changed, so
 * every setting the server needs (the time zone, the spill directory) is set here, globally. DuckDB adds the spill
 * directory to the allowed ones itself (it keeps spilling working); only the planner keeps queries from naming it.
 */
export const sandboxSql = (options: {
  readonly allowedDirectory: string
  readonly spillDirectory: string
  /** Further directories the server's own SQL reads and writes (persisted Parquet files); queries cannot name them. */
  readonly dataDirectories?: ReadonlyArray<string>
  /**
   * Parquet footers kept between queries (reading one costs ~0.5 ms for a day's file of 8 row groups, ~5 ms for 100).
   * DuckDB reads a footer again only when the file's modification second changes: only for files whose writer makes
   * sure it does (the object store), not for a user's files. Set GLOBAL: it is a session setting, and the queries'
   * connections are not the one that sets it.
   */
  readonly keepParquetFooters?: boolean
}): ReadonlyArray<string> => [
  ...(options.keepParquetFooters === true ? [`SET GLOBAL parquet_metadata_cache = true`] : []),
  `SET GLOBAL TimeZone = 'UTC'`,
  `SET temp_directory = ${literal(options.spillDirectory)}`,
  `SET autoinstall_known_extensions = false`,
  `SET autoload_known_extensions = false`,
  `SET allowed_directories = [${[options.allowedDirectory, ...(options.dataDirectories ?? [])].map((d) => literal(d.endsWith("/") ? d : `${d}/`)).join(", ")}]`,
  `SET enable_external_access = false`,
  `SET lock_configuration = true`
]

/**
 * Functions no query may call even though DuckDB has them as scalars: they read DuckDB's settings, catalog, session
 * or logs, parse or plan SQL given as text (binding it against the whole catalog), or change session state that a
 * pooled connection carries to the next query.
 */
const DENIED = new Set([
  "current_setting",
  "current_database",
  "current_catalog",
  "current_schema",
  "current_schemas",
  "current_query",
  "current_query_id",
  "current_connection_id",
  "current_transaction_id",
  "current_user",
  "current_role",
  "session_user",
  "user",
  "txid_current",
  "in_search_path",
  "getvariable",
  "setseed",
  "nextval",
  "currval",
  "write_log",
  "get_block_size",
  "version",
  "sleep_ms",
  "json_serialize_sql",
  "json_deserialize_sql",
  "json_serialize_plan",
  "json_execute_serialized_sql"
])
const DENIED_PREFIXES = ["duckdb_", "pragma_", "read_", "__", "pg_"]

/** Names DuckDB's binder handles itself (not listed in duckdb_functions()). */
const BINDER_FUNCTIONS = ["unnest", "unlist"]

/** Whether a query may call a function, by its (lower-case) name. */
export interface FunctionPolicy {
  readonly allows: (name: string) => boolean
}

let policy: Promise<FunctionPolicy> | undefined

/**
 * The allow-list: DuckDB's built-in scalar, aggregate and macro functions of schema `main` (not `pg_catalog`, no
 * table or pragma functions), minus the denied ones, plus the dialect's `strata_*` macros. Read once per process.
 */
export const functionPolicy = (conn: DuckDBConnection): Promise<FunctionPolicy> =>
  (policy ??= conn
    .runAndReadAll(
      `SELECT DISTINCT lower(function_name) FROM duckdb_functions() WHERE schema_name = 'main' AND internal AND function_type IN ('scalar', 'aggregate', 'macro')`
    )
    .then((reader) => {
      const names = new Set<string>(BINDER_FUNCTIONS)
      for (const [name] of reader.getRows()) {
        const n = String(name)
        if (!DENIED.has(n) && !DENIED_PREFIXES.some((p) => n.startsWith(p))) names.add(n)
      }
      return { allows: (name: string) => names.has(name) || name.startsWith("strata_") }
    })
    .catch((error: unknown) => {
      policy = undefined
      throw error
    }))
