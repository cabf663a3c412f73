import { Context, Data, Either, Layer } from "effect"
import * as Os from "node:os"
import { MAX_QUERY_PERMITS } from "./query/QueryGate.ts"

/** The server's resolved configuration: flags, then STRATA_* and INFLUXDB3_* environment, then defaults. */
export interface ServerConfigShape {
  readonly nodeId: string
  readonly dataDir: string
  readonly httpBind: { readonly host: string; readonly port: number }
  readonly withoutAuth: boolean
  readonly disableAuthz: ReadonlyArray<AuthzExemption>
  readonly mode: ReadonlyArray<NodeMode>
  readonly walFlushIntervalMs: number
  readonly logFilter: string
  readonly maxHttpRequestSize: number
  /** Longest a request may take to arrive, headers and body (408 and the connection closed after); 0 turns it off. */
  readonly httpRequestTimeoutMs: number
  readonly numDatabaseLimit: number
  readonly numTableLimit: number
  readonly numColumnsPerTableLimit: number
  readonly hardDeleteDefaultDurationMs: number
  readonly maxConcurrentQueries: number
  readonly writeBufferMaxBytes: number
  /** Longest time buffered rows wait before the Compactor persists them to Parquet. */
  readonly persistIntervalMs: number
  /**
   * Buffer bytes past which the Compactor persists at once (resolved from a percentage of writeBufferMaxBytes or a
   * size).
   */
  readonly forceSnapshotBytes: number
  /** The time span of one gen1 Parquet file: 1, 5 or 10 minutes. */
  readonly gen1DurationMs: number
  /** How long a 24-hour window must receive no new gen1 file before the Compactor compacts it. */
  readonly compactionDelayMs: number
  /** How old a row-delete request must be before the Compactor rewrites the files it touches. */
  readonly rowDeleteMinAgeMs: number
  /** Payload bytes of unpersisted writes that persist at once: bounds what a start parses again. */
  readonly persistLogThresholdBytes: number
  /** Unpersisted line-protocol bytes past which writes wait for the Compactor (0: never). */
  readonly writeStallBytes: number
  /** Payload bytes of persisted write events the log keeps (newest first); older ones are truncated from it. */
  readonly snapshottedLogKeepBytes: number
  /** Start past events of the log that fail their checksums, skipping and reporting them, instead of stopping. */
  readonly recover: boolean
  /** Largest bulk-import upload or download, in bytes (413 beyond). */
  readonly maxImportSize: number
  /** The directory `file://` import sources must lie in ("" refuses every `file://` source). */
  readonly importDir: string
  /** The directory backups are written to ("" means `<data-dir>/backups`). */
  readonly backupDir: string
  /** The processing engine's plugin directory ("" means `<data-dir>/plugins`). */
  readonly pluginDir: string
  /** Longest a plugin call may run before its python process is stopped. */
  readonly pluginTimeoutMs: number
  /** Bytes of decoded Parquet columns kept for series aggregates (0: none kept, every query runs on DuckDB). */
  readonly parquetMemCacheBytes: number
}

export type AuthzExemption = "health" | "ping" | "metrics"
export type NodeMode = "ingest" | "query" | "compact" | "process"

export class ServerConfig extends Context.Tag("strata/ServerConfig")<ServerConfig, ServerConfigShape>() {}

/** A flag of `strata serve`: its name, the environment names that also set it, and how to read it. */
interface FlagSpec {
  readonly flag: string
  readonly env: ReadonlyArray<string>
  readonly boolean?: true
  readonly describe: string
  readonly fallback: string
}

export const serveFlags: ReadonlyArray<FlagSpec> = [
  { flag: "node-id", env: ["STRATA_NODE_ID", "INFLUXDB3_NODE_IDENTIFIER_PREFIX"], describe: "Identifier of this node, written into every log envelope", fallback: "strata-node" },
  { flag: "data-dir", env: ["STRATA_DATA_DIR", "INFLUXDB3_DB_DIR"], describe: "Directory holding the event log and data files", fallback: "./.strata" },
  { flag: "http-bind", env: ["STRATA_HTTP_BIND", "INFLUXDB3_HTTP_BIND_ADDR"], describe: "Address to listen on (host:port; port 0 picks a free one)", fallback: "127.0.0.1:8181" },
  { flag: "without-auth", env: ["STRATA_WITHOUT_AUTH", "INFLUXDB3_START_WITHOUT_AUTH"], boolean: true, describe: "Turn every authentication and authorization check off", fallback: "false" },
  { flag: "disable-authz", env: ["STRATA_DISABLE_AUTHZ", "INFLUXDB3_DISABLE_AUTHZ"], describe: "Comma list of endpoints open without a token: health, ping, metrics", fallback: "" },
  { flag: "mode", env: ["STRATA_MODE", "INFLUXDB3_ENTERPRISE_MODE"], describe: "Comma list of node modes: ingest, query, compact, process, or all", fallback: "all" },
  { flag: "wal-flush-interval", env: ["STRATA_WAL_FLUSH_INTERVAL", "INFLUXDB3_WAL_FLUSH_INTERVAL"], describe: "Longest wait before a group commit of the event log (e.g. 1ms, 10ms, 1s)", fallback: "1ms" },
  { flag: "log-filter", env: ["STRATA_LOG_FILTER", "INFLUXDB3_LOG_FILTER", "LOG_FILTER"], describe: "Minimum log level: trace, debug, info, warn, error, off", fallback: "info" },
  { flag: "max-http-request-size", env: ["STRATA_MAX_HTTP_REQUEST_SIZE", "INFLUXDB3_MAX_HTTP_REQUEST_SIZE"], describe: "Largest request body in bytes, before and after gunzip", fallback: "10485760" },
  { flag: "http-request-timeout", env: ["STRATA_HTTP_REQUEST_TIMEOUT"], describe: "Longest a request's headers and body may take to arrive before a 408 closes the connection (0s: no limit)", fallback: "60s" },
  { flag: "num-database-limit", env: ["STRATA_NUM_DATABASE_LIMIT", "INFLUXDB3_ENTERPRISE_NUM_DATABASE_LIMIT"], describe: "Most databases (besides _internal and deleted ones)", fallback: "100" },
  { flag: "num-table-limit", env: ["STRATA_NUM_TABLE_LIMIT", "INFLUXDB3_ENTERPRISE_NUM_TABLE_LIMIT"], describe: "Most tables across all databases", fallback: "4000" },
  { flag: "num-total-columns-per-table-limit", env: ["STRATA_NUM_TOTAL_COLUMNS_PER_TABLE_LIMIT", "INFLUXDB3_ENTERPRISE_NUM_TOTAL_COLUMNS_PER_TABLE_LIMIT"], describe: "Most tag and field columns in one table", fallback: "500" },
  { flag: "hard-delete-default-duration", env: ["STRATA_HARD_DELETE_DEFAULT_DURATION", "INFLUXDB3_HARD_DELETE_DEFAULT_DURATION"], describe: "Delay before a soft-deleted object is hard deleted when hard_delete_at=default", fallback: "72h" },
  { flag: "max-concurrent-queries", env: ["STRATA_MAX_CONCURRENT_QUERIES", "INFLUXDB3_MAX_CONCURRENT_QUERIES"], describe: "Queries allowed to run at once; more wait for a permit (default: effectively unlimited)", fallback: String(MAX_QUERY_PERMITS) },
  { flag: "write-buffer-max-bytes", env: ["STRATA_WRITE_BUFFER_MAX_BYTES"], describe: "Memory the write buffer may hold before writes are refused", fallback: "2147483648" },
  { flag: "persist-interval", env: ["STRATA_PERSIST_INTERVAL"], describe: "Longest time buffered rows wait before they are persisted to Parquet", fallback: "10m" },
  { flag: "force-snapshot-mem-threshold", env: ["STRATA_FORCE_SNAPSHOT_MEM_THRESHOLD", "INFLUXDB3_FORCE_SNAPSHOT_MEM_THRESHOLD"], describe: "Buffer size that persists at once: a percentage of --write-buffer-max-bytes (50%) or a size (512MiB)", fallback: "50%" },
  {
    flag: "persist-log-threshold",
    env: ["STRATA_PERSIST_LOG_THRESHOLD"],
    describe: "Line-protocol bytes of writes not yet persisted that persist at once; bounds what a start replays (e.g. 64MiB)",
    fallback: "64MiB"
  },  {
    flag: "write-stall-threshold",
    env: ["STRATA_WRITE_STALL_THRESHOLD"],
    describe: "Line-protocol bytes waiting for a persist past which writes wait for the Compactor (0: never)",
    fallback: "128MiB"
  },

  { flag: "gen1-duration", env: ["STRATA_GEN1_DURATION", "INFLUXDB3_GEN1_DURATION"], describe: "Time span of one persisted (gen1) Parquet file: 1m, 5m or 10m", fallback: "10m" },
  { flag: "compaction-delay", env: ["STRATA_COMPACTION_DELAY"], describe: "How long a 24-hour window must receive no new persisted file before its files are compacted", fallback: "10m" },
  { flag: "row-delete-min-age", env: ["STRATA_ROW_DELETE_MIN_AGE"], describe: "How old a row-delete request must be before the Compactor rewrites the Parquet files it touches (rows are hidden from queries at once)", fallback: "24h" },
  { flag: "snapshotted-log-keep", env: ["STRATA_SNAPSHOTTED_LOG_KEEP"], describe: "Payload bytes of persisted writes the event log keeps (newest first); older ones are truncated from it (e.g. 256MiB, 0)", fallback: "256MiB" },
  { flag: "recover", env: ["STRATA_RECOVER"], boolean: true, describe: "Start even if events of the log fail their checksums: skip them and report what is lost", fallback: "false" },
  { flag: "max-import-size", env: ["STRATA_MAX_IMPORT_SIZE"], describe: "Largest bulk-import upload or download (e.g. 10GiB); larger ones answer 413", fallback: "10GiB" },
  { flag: "import-dir", env: ["STRATA_IMPORT_DIR"], describe: "Directory that file:// bulk-import sources must lie in (unset: file:// sources are refused)", fallback: "" },
  { flag: "backup-dir", env: ["STRATA_BACKUP_DIR"], describe: "Directory backups are written to and restored from (default: <data-dir>/backups)", fallback: "" },
  { flag: "plugin-dir", env: ["STRATA_PLUGIN_DIR", "INFLUXDB3_PLUGIN_DIR"], describe: "Directory of processing-engine Python plugins (default: <data-dir>/plugins)", fallback: "" },
  { flag: "parquet-mem-cache-size", env: ["STRATA_PARQUET_MEM_CACHE_SIZE", "INFLUXDB3_PARQUET_MEM_CACHE_SIZE"], describe: "Memory for persisted files' columns decoded for series aggregates: a size (512MiB), megabytes (1000) or a percentage of the machine's (or container's) memory (10%)", fallback: "10%" },
  { flag: "disable-parquet-mem-cache", env: ["STRATA_DISABLE_PARQUET_MEM_CACHE", "INFLUXDB3_DISABLE_PARQUET_MEM_CACHE"], boolean: true, describe: "Answer every query through DuckDB, keeping no decoded columns in memory", fallback: "false" },
  { flag: "plugin-timeout", env: ["STRATA_PLUGIN_TIMEOUT"], describe: "Longest a plugin call may run before its python process is stopped", fallback: "60s" }
]

/** Why a configuration could not be read. */
export class ConfigError extends Data.TaggedError("ConfigError")<{ readonly message: string }> {}

const unitMs: Record<string, number> = {
  ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, sec: 1000, m: 60_000, min: 60_000, h: 3_600_000, hr: 3_600_000,
  d: 86_400_000, day: 86_400_000, days: 86_400_000, w: 604_800_000, y: 31_557_600_000
}

/** Parses humantime-style durations (`30d`, `1h30m`, `500ms`) to milliseconds. */
export const parseDurationMs = (text: string): number | undefined => {
  const trimmed = text.trim()
  if (trimmed === "") return undefined
  let total = 0
  let rest = trimmed
  while (rest.length > 0) {
    const m = /^(\d+(?:\.\d+)?)\s*([a-zµ]+)\s*/i.exec(rest)
    if (!m) return undefined
    const unit = unitMs[m[2]!.toLowerCase()]
    if (unit === undefined) return undefined
    total += Number(m[1]) * unit
    rest = rest.slice(m[0].length)
  }
  // Hundreds of digits parse to Infinity, which no later step (BigInt, Date, sleep) can use.
  return Number.isFinite(total) ? total : undefined
}

const sizeUnits: Record<string, number> = {
  "": 1, b: 1, k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  ki: 1024, kib: 1024, mi: 1024 ** 2, mib: 1024 ** 2, gi: 1024 ** 3, gib: 1024 ** 3, ti: 1024 ** 4, tib: 1024 ** 4
}

/** Parses a byte size (`536870912`, `512MiB`, `2GB`) to bytes. */
export const parseByteSize = (text: string): number | undefined => {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text)
  if (m === null) return undefined
  const unit = sizeUnits[m[2]!.toLowerCase()]
  if (unit === undefined) return undefined
  const bytes = Math.floor(Number(m[1]) * unit)
  return Number.isSafeInteger(bytes) ? bytes : undefined
}

/** A percentage of `of` (`50%`, `12.5%`) or a byte size; undefined when it is neither. */
export const parseSizeOrPercent = (text: string, of: number): number | undefined => {
  const pct = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(text)
  if (pct !== null) {
    const n = Number(pct[1])
    return n > 0 && n <= 100 ? Math.floor((of * n) / 100) : undefined
  }
  return parseByteSize(text)
}

/** The machine's memory, or the container's limit when one is set (cgroups; Node reports no limit as 2^64). */
const availableMemory = (): number => {
  const limit = process.constrainedMemory()
  return limit > 0 && limit < Os.totalmem() ? limit : Os.totalmem()
}

const parseBind = (text: string): Either.Either<{ host: string; port: number }, ConfigError> => {
  const idx = text.lastIndexOf(":")
  const host = idx < 0 ? "0.0.0.0" : text.slice(0, idx) || "0.0.0.0"
  const port = Number(idx < 0 ? text : text.slice(idx + 1))
  if (!Number.isInteger(port) || port < 0 || port > 65535) return Either.left(new ConfigError({ message: `invalid --http-bind '${text}': expected host:port` }))
  return Either.right({ host: host.replace(/^\[|\]$/g, ""), port })
}

/** Resolves `strata serve` flags (already split into name → value) against the environment. */
export const resolveServeConfig = (
  flags: Readonly<Record<string, string | true>>,
  env: Readonly<Record<string, string | undefined>>
): Either.Either<ServerConfigShape, ConfigError> => {
  const raw = new Map<string, string>()
  for (const spec of serveFlags) {
    const fromFlag = flags[spec.flag]
    const fromEnv = spec.env.map((name) => env[name]).find((v) => v !== undefined && v !== "")
    raw.set(spec.flag, fromFlag === true ? "true" : fromFlag ?? fromEnv ?? spec.fallback)
  }
  for (const name of Object.keys(flags)) {
    if (!serveFlags.some((s) => s.flag === name)) return Either.left(new ConfigError({ message: `unknown flag --${name}` }))
  }
  const get = (name: string) => raw.get(name)!
  const int = (name: string, min: number): number | ConfigError => {
    const n = Number(get(name))
    return Number.isInteger(n) && n >= min ? n : new ConfigError({ message: `invalid --${name} '${get(name)}': expected an integer ≥ ${min}` })
  }
  const duration = (name: string): number | ConfigError => {
    const ms = parseDurationMs(get(name))
    return ms === undefined ? new ConfigError({ message: `invalid --${name} '${get(name)}': expected a duration like 10ms, 1s, 72h` }) : ms
  }
  const bool = (name: string) => ["true", "1", "yes"].includes(get(name).toLowerCase())
  const bind = parseBind(get("http-bind"))
  if (Either.isLeft(bind)) return Either.left(bind.left)
  const exemptions = get("disable-authz").split(",").map((s) => s.trim()).filter((s) => s !== "")
  for (const e of exemptions) {
    if (!["health", "ping", "metrics"].includes(e)) return Either.left(new ConfigError({ message: `invalid --disable-authz value '${e}': expected health, ping or metrics` }))
  }
  const modes = get("mode").split(",").map((s) => s.trim()).filter((s) => s !== "")
  const allModes: ReadonlyArray<NodeMode> = ["ingest", "query", "compact", "process"]
  for (const m of modes) {
    if (m !== "all" && !(allModes as ReadonlyArray<string>).includes(m)) return Either.left(new ConfigError({ message: `invalid --mode '${m}': expected ingest, query, compact, process or all` }))
  }
  const logFilter = get("log-filter").toLowerCase()
  if (!["trace", "debug", "info", "warn", "error", "off"].includes(logFilter)) return Either.left(new ConfigError({ message: `invalid --log-filter '${logFilter}'` }))
  const values = {
    walFlushIntervalMs: duration("wal-flush-interval"),
    maxHttpRequestSize: int("max-http-request-size", 1),
    httpRequestTimeoutMs: duration("http-request-timeout"),
    numDatabaseLimit: int("num-database-limit", 1),
    numTableLimit: int("num-table-limit", 1),
    numColumnsPerTableLimit: int("num-total-columns-per-table-limit", 1),
    hardDeleteDefaultDurationMs: duration("hard-delete-default-duration"),
    maxConcurrentQueries: int("max-concurrent-queries", 1),
    writeBufferMaxBytes: int("write-buffer-max-bytes", 1)
  }
  for (const v of Object.values(values)) if (v instanceof ConfigError) return Either.left(v)
  const numbers = values as { [K in keyof typeof values]: number }
  const persistIntervalMs = duration("persist-interval")
  if (persistIntervalMs instanceof ConfigError) return Either.left(persistIntervalMs)
  if (persistIntervalMs <= 0) return Either.left(new ConfigError({ message: `invalid --persist-interval '${get("persist-interval")}': expected a duration above 0` }))
  const forceSnapshotBytes = parseSizeOrPercent(get("force-snapshot-mem-threshold"), numbers.writeBufferMaxBytes)
  if (forceSnapshotBytes === undefined || forceSnapshotBytes <= 0) {
    return Either.left(new ConfigError({ message: `invalid --force-snapshot-mem-threshold '${get("force-snapshot-mem-threshold")}': expected a percentage like 50% or a size like 512MiB` }))
  }
  const gen1DurationMs = parseDurationMs(get("gen1-duration"))
  if (gen1DurationMs !== 60_000 && gen1DurationMs !== 300_000 && gen1DurationMs !== 600_000) {
    return Either.left(new ConfigError({ message: `invalid --gen1-duration '${get("gen1-duration")}': expected 1m, 5m or 10m` }))
  }
  const compactionDelayMs = duration("compaction-delay")
  if (compactionDelayMs instanceof ConfigError) return Either.left(compactionDelayMs)
  const rowDeleteMinAgeMs = duration("row-delete-min-age")
  if (rowDeleteMinAgeMs instanceof ConfigError) return Either.left(rowDeleteMinAgeMs)
  const snapshottedLogKeepBytes = parseByteSize(get("snapshotted-log-keep"))
  if (snapshottedLogKeepBytes === undefined) {
    return Either.left(new ConfigError({ message: `invalid --snapshotted-log-keep '${get("snapshotted-log-keep")}': expected a size like 256MiB` }))
  }
  const writeStallBytes = parseByteSize(get("write-stall-threshold"))
  if (writeStallBytes === undefined || writeStallBytes < 0) {
    const given = get("write-stall-threshold")
    return Either.left(new ConfigError({ message: `invalid --write-stall-threshold '${given}': expected a size like 128MiB, or 0` }))
  }
  const persistLogThresholdBytes = parseByteSize(get("persist-log-threshold"))
  if (persistLogThresholdBytes === undefined || persistLogThresholdBytes <= 0) {
    return Either.left(new ConfigError({ message: `invalid --persist-log-threshold '${get("persist-log-threshold")}': expected a size like 64MiB` }))
  }
  const maxImportSize = parseByteSize(get("max-import-size"))
  if (maxImportSize === undefined || maxImportSize <= 0) {
    return Either.left(new ConfigError({ message: `invalid --max-import-size '${get("max-import-size")}': expected a size like 10GiB` }))
  }
  const pluginTimeoutMs = duration("plugin-timeout")
  if (pluginTimeoutMs instanceof ConfigError) return Either.left(pluginTimeoutMs)
  if (pluginTimeoutMs <= 0) return Either.left(new ConfigError({ message: `invalid --plugin-timeout '${get("plugin-timeout")}': expected a duration above 0` }))
  // A bare number is megabytes, as InfluxDB 3 reads this flag.
  const cacheSize = get("parquet-mem-cache-size")
  const parquetMemCacheBytes = /^\s*\d+\s*$/.test(cacheSize) ? Number(cacheSize) * 1024 * 1024 : parseSizeOrPercent(cacheSize, availableMemory())
  if (parquetMemCacheBytes === undefined || !Number.isSafeInteger(parquetMemCacheBytes)) {
    return Either.left(new ConfigError({ message: `invalid --parquet-mem-cache-size '${cacheSize}': expected a size like 512MiB, megabytes like 1000, or a percentage like 10%` }))
  }
  return Either.right({
    parquetMemCacheBytes: bool("disable-parquet-mem-cache") ? 0 : parquetMemCacheBytes,
    pluginDir: get("plugin-dir"),
    pluginTimeoutMs,
    maxImportSize,
    importDir: get("import-dir"),
    backupDir: get("backup-dir"),
    nodeId: get("node-id"),
    dataDir: get("data-dir"),
    httpBind: bind.right,
    withoutAuth: bool("without-auth"),
    recover: bool("recover"),
    disableAuthz: exemptions as ReadonlyArray<AuthzExemption>,
    mode: modes.includes("all") || modes.length === 0 ? allModes : (modes as ReadonlyArray<NodeMode>),
    logFilter,
    ...numbers,
    persistIntervalMs,
    forceSnapshotBytes,
    gen1DurationMs,
    compactionDelayMs,
    rowDeleteMinAgeMs,
    persistLogThresholdBytes,
    writeStallBytes,
    snapshottedLogKeepBytes
  })
}

/** The configuration with every default, for tests: a temp data dir and a random port. */
export const testConfig = (dataDir: string, overrides: Partial<ServerConfigShape> = {}): ServerConfigShape => {
  const base = Either.getOrThrow(resolveServeConfig({ "data-dir": dataDir, "http-bind": "127.0.0.1:0" }, {}))
  return { ...base, ...overrides }
}

/** Provides a resolved configuration. */
export const layerServerConfig = (config: ServerConfigShape) => Layer.succeed(ServerConfig, config)

