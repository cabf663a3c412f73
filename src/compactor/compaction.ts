import type { DuckDBConnection } from "@duckdb/node-api"
import { Effect, Metric, MetricBoundaries } from "effect"
import type { TableState } from "../catalog/state.ts"
import { WindowCompacted, type PersistedFile } from "../events/index.ts"
import type { EventLog } from "../log/EventLog.ts"
import { duckTypeName } from "../query/virtualTables.ts"
import { DBS_PREFIX, type FileIndex } from "../storage/FileIndex.ts"
import { filesOf, type FileIndexState, type IndexedFile } from "../storage/files.ts"
import { attemptPromise, type ObjectStoreShape, STORED_PARQUET_OPTIONS } from "../storage/ObjectStore.ts"
import { sqlIdentifier as quote, sqlString as literal } from "../query/literal.ts"

export const compactionsTotal = Metric.counter("strata_compactions_total", { description: "Windows compacted" })
export const compactionFailuresTotal = Metric.counter("strata_compaction_failures_total", {
  description: "Compactions that failed (storage or log errors); the window keeps its files and the next tick retries"
})
export const compactionDuration = Metric.histogram(
  "strata_compaction_duration_seconds",
  MetricBoundaries.exponential({ start: 0.005, factor: 2, count: 14 }),
  "Time to compact one window: merge its files, record the result, delete the replaced files"
)

/** Most files one compacted window is written as. */
export const MAX_COMPACTED_FILES = 4
/** Rows past which a compacted window is split (by time) into more files, up to MAX_COMPACTED_FILES. */
export const COMPACTED_FILE_TARGET_ROWS = 20_000_000

const DAY_NS = 86_400_000_000_000n
const pad = (n: number) => String(n).padStart(2, "0")

/** The 24-hour UTC window (days since the epoch, floored) a time falls in. */
export const windowOf = (ns: bigint): bigint => ns / DAY_NS - (ns < 0n && ns % DAY_NS !== 0n ? 1n : 0n)

/** A window's name: its UTC date, `YYYY-MM-DD`. */
export const windowName = (day: bigint): string => {
  const d = new Date(Number(day) * 86_400_000)
  return `${String(d.getUTCFullYear()).padStart(4, "0")}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`
}

/** `dbs/<db_id>/<table_id>/<YYYY-MM-DD>/compacted-<gen>.parquet`, with `-<n>` when the window takes several files. */
export const compactedPath = (
  dbId: number,
  tableId: number,
  day: bigint,
  generation: number,
  part: number,
  parts: number
) =>
  `${DBS_PREFIX}${dbId}/${tableId}/${windowName(day)}/compacted-${generation}${parts > 1 ? `-${part + 1}` : ""}.parquet`

/** The generation of a compacted file, from its name; undefined for a gen1 file. */
export const compactedGeneration = (path: string): number | undefined => {
  const m = /\/compacted-(\d+)(?:-\d+)?\.parquet$/.exec(path)
  return m === null ? undefined : Number(m[1])
}

/** One table's files in one window, in persist order. */
export interface WindowFiles {
  readonly tableId: number
  readonly day: bigint
  readonly files: ReadonlyArray<IndexedFile>
  /** Highest persist event seq among its gen1 files: a new gen1 file raises it. */
  readonly newestGen1: number
}

/** The windows of a table that hold gen1 files (and so want compacting), with every file of each. */
export const gen1Windows = (state: FileIndexState, tableId: number): ReadonlyArray<WindowFiles> => {
  const byDay = new Map<bigint, Array<IndexedFile>>()
  for (const f of filesOf(state, tableId)) {
    const day = windowOf(f.minTimeNs)
    const list = byDay.get(day)
    if (list === undefined) byDay.set(day, [f])
    else list.push(f)
  }
  const out: Array<WindowFiles> = []
  for (const [day, files] of byDay) {
    const gen1 = files.filter((f) => compactedGeneration(f.path) === undefined)
    if (gen1.length === 0) continue
    out.push({ tableId, day, files, newestGen1: Math.max(...gen1.map((f) => f.persistEventSeq)) })
  }
  return out.sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : 0))
}

/**
 * The SQL merging a window's files (in persist order) as the read path does: last write wins per series and time,
 * field by field; sorted by series key then time. `range` limits it to [from, to) when the window is split.
 */
export const mergeSql = (
  table: TableState,
  files: ReadonlyArray<IndexedFile>,
  localPath: (p: string) => string,
  range?: readonly [bigint, bigint],
  keep: (f: IndexedFile) => string | undefined = () => undefined
) => {
  const present = new Set(files.flatMap((f) => f.columns))
  const tags = table.columns.filter((c) => c.type === "tag" && present.has(c.name))
  const fields = table.columns.filter((c) => c.type !== "tag" && c.type !== "time" && present.has(c.name))
  const filter = range === undefined ? "" : ` WHERE time >= make_timestamp_ns(${range[0]}) AND time < make_timestamp_ns(${range[1]})`
  const parts = files.map((f, i) => {
    const has = new Set(f.columns)
    const cols = [...tags, ...fields].map((c) => (has.has(c.name) ? quote(c.name) : `CAST(NULL AS ${duckTypeName[c.type]}) AS ${quote(c.name)}`))
    // Rows that row-delete requests hide are left out of the merge: the new file holds none of them.
    const kept = keep(f)
    const where = kept === undefined ? filter : filter === "" ? ` WHERE ${kept}` : `${filter} AND ${kept}`
    return `SELECT ${[...cols, "time", `${i} AS _ord`].join(", ")} FROM read_parquet(${literal(localPath(f.path))})${where}`
  })
  const order = [
    ...table.seriesKey.filter((n) => tags.some((t) => t.name === n)),
    ...tags.map((t) => t.name).filter((n) => !table.seriesKey.includes(n))
  ]
  const keys = [...tags.map((t) => quote(t.name)), "time"]
  const merged = fields.map((f) => `arg_max(${quote(f.name)}, _ord) FILTER (WHERE ${quote(f.name)} IS NOT NULL) AS ${quote(f.name)}`)
  return {
    sql:
      `SELECT ${[...keys, ...merged].join(", ")} FROM (${parts.join(" UNION ALL ")}) AS u GROUP BY ${keys.join(", ")} ` +
      `ORDER BY ${[...order.map(quote), "time"].join(", ")}`,
    columns: [...tags, ...fields].map((c) => c.name)
  }
}

/** What compacting needs from the Compactor. */
export interface CompactionDeps {
  readonly conn: DuckDBConnection
  readonly store: ObjectStoreShape
  readonly log: EventLog
  readonly fileIndex: FileIndex
  /** Waits until every query that may have planned with the replaced files has finished. */
  readonly drainReaders: Effect.Effect<void>
  /** The live table, or undefined when it was deleted. */
  readonly table: (dbId: number, tableId: number) => Effect.Effect<TableState | undefined>
  readonly targetRows?: number
  /** The condition keeping a file's rows that no row-delete request hides (undefined: keep all). */
  readonly keep?: (f: IndexedFile) => string | undefined
  /** The columns whose distinct values the table's compacted files record (its file index). */
  readonly indexedColumns?: (dbId: number, tableId: number) => Effect.Effect<ReadonlyArray<string>>
}

/** Most distinct values a file index records per column and file; past it the column is not recorded (not pruned). */
export const FILE_INDEX_MAX_VALUES = 1_000

/** What one window's compaction did. */
export interface CompactionOutcome {
  readonly tableId: number
  readonly window: string
  readonly removed: ReadonlyArray<string>
  readonly added: ReadonlyArray<PersistedFile>
}

/**
 * Compacts one window: merges its files into at most MAX_COMPACTED_FILES new ones, records them in one
 * WindowCompacted event, and deletes the replaced files once queries that may read them are done. A failure before the
 * commit removes what it wrote; a crash leaves files no index names, removed at start.
 */
export const compactWindow = (deps: CompactionDeps, w: WindowFiles) =>
  Effect.gen(function* () {
    const started = performance.now()
    const first = w.files[0]!
    const table = yield* deps.table(first.dbId, w.tableId)
    if (table === undefined) return undefined
    const generation = 1 + Math.max(0, ...w.files.map((f) => compactedGeneration(f.path) ?? 0))
    const window = windowName(w.day)
    const sources = w.files.map((f) => literal(deps.store.localPath(f.path))).join(", ")

    // Split by time (so the parts' ranges stay disjoint and reads stay a plain union) when the window is large.
    let rows = 0
    for (const f of w.files) rows += f.rows
    const parts = Math.min(
      MAX_COMPACTED_FILES,
      Math.max(1, Math.ceil(rows / (deps.targetRows ?? COMPACTED_FILE_TARGET_ROWS)))
    )
    const ranges: Array<readonly [bigint, bigint]> = []
    if (parts > 1) {
      const qs = Array.from({ length: parts - 1 }, (_, i) => (i + 1) / parts)
      const cut = yield* attemptPromise("choosing split times", async () =>
        (await deps.conn.runAndReadAll(`SELECT quantile_disc(epoch_ns(time), [${qs.join(", ")}]) FROM read_parquet([${sources}])`)).getRows()
      )
      const bounds = [
        ...new Set(((cut[0]?.[0] as { items: Array<bigint> } | undefined)?.items ?? []).map((b) => BigInt(b)))
      ]
      let lo = w.day * DAY_NS
      for (const b of bounds) if (b > lo) ranges.push([lo, b]), (lo = b)
      ranges.push([lo, (w.day + 1n) * DAY_NS])
    }

    const added: Array<PersistedFile> = []
    const removeAdded = Effect.forEach(added, (f) => deps.store.remove(f.path).pipe(Effect.ignore), { discard: true })
    const count = Math.max(1, ranges.length)
    yield* Effect.gen(function* () {
      for (let i = 0; i < count; i++) {
        const { sql, columns } = mergeSql(table, w.files, deps.store.localPath, ranges[i], deps.keep)
        const path = compactedPath(first.dbId, w.tableId, w.day, generation, i, count)
        const scratch = yield* deps.store.scratchPath(path)
        yield* attemptPromise(`writing ${path}`, () => deps.conn.run(`COPY (${sql}) TO ${literal(scratch)} (${STORED_PARQUET_OPTIONS})`)).pipe(
          Effect.tapError(() => deps.store.remove(scratch).pipe(Effect.ignore))
        )
        const stats = yield* attemptPromise(`reading ${path}`, async () =>
          (await deps.conn.runAndReadAll(`SELECT count(*), epoch_ns(min(time)), epoch_ns(max(time)) FROM read_parquet(${literal(scratch)})`)).getRows()[0]!
        ).pipe(Effect.tapError(() => deps.store.remove(scratch).pipe(Effect.ignore)))
        if (Number(stats[0]) === 0) {
          yield* deps.store.remove(scratch)
          continue
        }
        const index =
          yield *
          fileIndexValues(deps, first.dbId, w.tableId, scratch, columns).pipe(
            Effect.tapError(() => deps.store.remove(scratch).pipe(Effect.ignore))
          )
        yield *
          deps.store.putFile(path, scratch).pipe(Effect.tapError(() => deps.store.remove(scratch).pipe(Effect.ignore)))
        added.push({
          ...(index === undefined ? {} : { index }),
          path,
          dbId: first.dbId,
          tableId: w.tableId,
          rows: Number(stats[0]),
          minTimeNs: BigInt(stats[1] as bigint),
          maxTimeNs: BigInt(stats[2] as bigint),
          bytes: yield* deps.store.size(path),
          columns
        })
      }
    }).pipe(Effect.tapError(() => removeAdded))

    const removed = w.files.map((f) => f.path)
    // The file index applies the event before the append returns.
    yield *
      deps.log
        .append([
          {
            event: new WindowCompacted({
              version: 1,
              dbId: first.dbId,
              tableId: w.tableId,
              window,
              generation,
              removed,
              added
            })
          }
        ])
        .pipe(Effect.tapError(() => removeAdded))
    const now = new Set(filesOf(yield* deps.fileIndex.current, w.tableId).map((f) => f.path))
    if (!added.every((f) => now.has(f.path))) {
      // A deletion or removal took some of the files out first: the compaction is void, and so are its files.
      yield* removeAdded
      return undefined
    }
    // Committed: queries plan with the new files from now on; the old ones go once older queries are done.
    yield* deps.drainReaders
    yield* Effect.forEach(removed, (p) => deps.store.remove(p).pipe(Effect.ignore), { discard: true })
    yield* Metric.increment(compactionsTotal)
    yield* Metric.update(compactionDuration, (performance.now() - started) / 1000)
    yield* Effect.logDebug(`compacted ${removed.length} file(s) of table ${w.tableId}, window ${window} into ${added.length}`)
    const outcome: CompactionOutcome = { tableId: w.tableId, window, removed, added }
    return outcome
  })

/** The distinct values of the table's indexed columns in a written file (undefined when none is indexed). */
const fileIndexValues = (
  deps: CompactionDeps,
  dbId: number,
  tableId: number,
  file: string,
  columns: ReadonlyArray<string>
) =>
  Effect.gen(function* () {
    const indexed =
      deps.indexedColumns === undefined
        ? []
        : (yield* deps.indexedColumns(dbId, tableId)).filter((c) => columns.includes(c))
    if (indexed.length === 0) return undefined
    const select = indexed
      .map((c) => `list(DISTINCT CAST(${quote(c)} AS VARCHAR)) FILTER (WHERE ${quote(c)} IS NOT NULL)`)
      .join(", ")
    const row = yield* attemptPromise(
      `indexing ${file}`,
      async () => (await deps.conn.runAndReadAll(`SELECT ${select} FROM read_parquet(${literal(file)})`)).getRows()[0]!
    )
    const index: Record<string, ReadonlyArray<string>> = {}
    indexed.forEach((c, i) => {
      const values = ((row[i] as { items?: Array<string> } | null)?.items ?? []).slice().sort()
      if (values.length <= FILE_INDEX_MAX_VALUES) index[c] = values
    })
    return index
  })

/**
 * Which windows are due: those whose newest gen1 file has been there for `delayMs` (tracked here since the server
 * started: after a restart a window waits one delay again). `seen` carries the tracking from call to call.
 */
export const dueWindows = (
  state: FileIndexState,
  seen: Map<string, { readonly newest: number; readonly sinceMs: number }>,
  nowMs: number,
  delayMs: number
): ReadonlyArray<WindowFiles> => {
  const due: Array<WindowFiles> = []
  const live = new Set<string>()
  for (const tableId of state.tables.keys()) {
    for (const w of gen1Windows(state, tableId)) {
      const key = `${tableId}/${w.day}`
      live.add(key)
      const s = seen.get(key)
      if (s === undefined || s.newest !== w.newestGen1) seen.set(key, { newest: w.newestGen1, sinceMs: nowMs })
      else if (nowMs - s.sinceMs >= delayMs) due.push(w)
    }
  }
  for (const key of seen.keys()) if (!live.has(key)) seen.delete(key)
  return due
}

/** Compacts the given windows, one at a time; what each did (void ones left out). */
export const compactWindows = (deps: CompactionDeps, windows: ReadonlyArray<WindowFiles>) =>
  Effect.forEach(windows, (w) => compactWindow(deps, w)).pipe(
    Effect.map((outcomes) => outcomes.filter((o): o is CompactionOutcome => o !== undefined))
  )

/** Every window holding gen1 files, regardless of delay (for `compactNow`). */
export const allGen1Windows = (state: FileIndexState): ReadonlyArray<WindowFiles> =>
  [...state.tables.keys()].flatMap((id) => gen1Windows(state, id))
