import { Effect, Schedule } from "effect"
import { Catalog } from "../catalog/Catalog.ts"
import { activeRowDeletes, keepSql, type RowDeleteRequest } from "../deletes/state.ts"
import type { DatabaseState, TableState } from "../catalog/state.ts"
import { outsideRange } from "../query/timeRange.ts"
import { type BufferView, type ViewScope, viewReadsColumn } from "../query/translate.ts"
import { duckTypeName } from "../query/virtualTables.ts"
import { Ingester } from "../write/Ingester.ts"
import { rowsTableName, seriesTableName } from "../write/WriteBuffer.ts"
import { type Equalities, seriesCondition, whereSql } from "../write/bufferColumns.ts"
import { FileIndex } from "./FileIndex.ts"
import { filesOf, type IndexedFile } from "./files.ts"
import { ObjectStore } from "./ObjectStore.ts"
import { retentionCutoffNs, retentionOf } from "./retention.ts"
import { sqlIdentifier as quote, sqlString as literal } from "../query/literal.ts"
import { acquireScoped } from "../scoped.ts"

/**
 * What the planner reads a table through (the shape `translate` expects of the buffer), the files it chose, and the
 * time its retention cuts rows as of (ms, a whole second; 0 when no table of the database has a retention period).
 */
export type TableView = BufferView & {
  readonly scanned: ReadonlyMap<number, ReadonlyArray<IndexedFile>>
  readonly retentionAsOfMs: number
}

/** Whether a file's index (the values compaction recorded) shows it holds no row the equalities accept. */
export const indexExcludes = (f: IndexedFile, equalities: Equalities | undefined): boolean => {
  if (equalities === undefined || f.index === undefined) return false
  for (const [column, values] of equalities) {
    const held = f.index[column]
    if (held !== undefined && !held.some((v) => values.has(v))) return true
  }
  return false
}

/** What reading a table scans: its files and their bytes, and the rows of files and buffer. */
export interface TableScan {
  readonly files: number
  readonly fileBytes: number
  readonly rows: number
}

/** The columns as a part that lacks some of them reads them: NULL of the column's type where it has none. */
const partColumns = (columns: ReadonlyArray<TableState["columns"][number]>, has: ReadonlySet<string>) =>
  columns.map((c) => (has.has(c.name) ? quote(c.name) : `CAST(NULL AS ${duckTypeName[c.type]}) AS ${quote(c.name)}`))

/** The condition keeping a column's times from retention's cutoff on; undefined without one. */
const keptSince = (column: string, cutoff: bigint | undefined) =>
  cutoff === undefined ? undefined : `${column} >= make_timestamp_ns(${cutoff})`

/** Whether any two of the closed time ranges overlap. */
const anyOverlap = (ranges: Array<{ readonly min: bigint; readonly max: bigint }>) => {
  ranges.sort((a, b) => (a.min < b.min ? -1 : a.min > b.min ? 1 : 0))
  for (let i = 1; i < ranges.length; i++) if (ranges[i]!.min <= ranges[i - 1]!.max) return true
  return false
}

/**
 * The read side of a table: its persisted Parquet files (oldest persist first) plus the write buffer's rows, as one
 * relation with tags, `time` and fields. Last write wins per series and time, field by field, across all of them:
 * when no two sources' time ranges overlap a plain UNION ALL is the answer; when some may, rows are merged by
 * series (every tag, NULL for absent) and time with an order key (file by persist order, then the buffer by row).
 *
 * Queries hold a read lease while they plan and run: rows leave the buffer only after every query that may have
 * planned without their files has finished.
 */
export class TableSources extends Effect.Service<TableSources>()("strata/TableSources", {
  dependencies: [Catalog.Default, FileIndex.Default, Ingester.Default],
  effect: Effect.gen(function* () {
    const ingester = yield* Ingester
    const catalog = yield* Catalog
    const fileIndex = yield* FileIndex
    const store = yield* ObjectStore
    const clock = yield* Effect.clock
    const buffer = ingester.buffer
    let generation = 0
    const readers = new Map<number, number>()

    /** A query's read lease (scoped): buffered rows are visible to it and stay until it ends. */
    const open = Effect.zipRight(
      ingester.flush,
      acquireScoped(
        Effect.sync(() => {
          const g = generation
          readers.set(g, (readers.get(g) ?? 0) + 1)
          return g
        }),
        (g) =>
          Effect.sync(() => {
            const n = (readers.get(g) ?? 1) - 1
            if (n === 0) readers.delete(g)
            else readers.set(g, n)
          })
      )
    )

    /** Starts a new generation of readers and waits until every query of the older ones has finished. */
    const drainReaders = Effect.suspend(() => {
      const g = ++generation
      const older = () => [...readers.keys()].some((k) => k < g)
      return Effect.void.pipe(Effect.repeat({ schedule: Schedule.spaced("5 millis"), while: older }))
    })

    // Files written before a column was added lack it: several are read by name. One file needs no union, which
    // costs a Parquet query ~0.5 ms of binding (measured on the 100-host day in one compacted file).
    const fileSource = (files: ReadonlyArray<IndexedFile>) => {
      const paths = files.map((f) => literal(store.localPath(f.path))).join(", ")
      return files.length === 1 ? `read_parquet([${paths}])` : `read_parquet([${paths}], union_by_name = true)`
    }

    /**
     * The buffer's place in a view of the scope: its time range, whether its rows all lie outside the scope's time
     * bounds, and whether it holds rows the view reads (then they are a part of it).
     */
    const bufferPart = (tableId: number, scope: ViewScope) => {
      const range = buffer.timeRange(tableId)
      const described = buffer.describe(tableId)
      const out = range !== undefined && outsideRange(scope.timeRange, range.min, range.max)
      return { range, described, out, held: described !== undefined && described.rows > 0 && !out }
    }

    /** Whether a view's files and buffer part may hold rows of one series and time (then they are merged). */
    const partsOverlap = (files: ReadonlyArray<IndexedFile>, part: ReturnType<typeof bufferPart>) => {
      const ranges = files.map((f) => ({ min: f.minTimeNs, max: f.maxTimeNs }))
      if (part.held && part.range !== undefined) ranges.push(part.range)
      return anyOverlap(ranges)
    }

    /**
     * The SQL of one table over files and buffer, columns in the order tags, time, fields (each query sorts them). Rows
     * before `cutoff` (retention) are left out of every part, so DuckDB skips the Parquet row groups before it.
     */
    const tableSql = (
      table: TableState,
      bufferMerge: boolean,
      cutoff: bigint | undefined,
      deletes: ReadonlyArray<RowDeleteRequest>,
      files: ReadonlyArray<IndexedFile>,
      scope: ViewScope
    ): string | undefined => {
      const withTags = scope.withTags ?? true
      // The buffered series the query's tag conditions leave: the buffer's rows of the others are not read.
      const series = buffer.seriesMatching(table.id, scope.equalities)
      const part = bufferPart(table.id, scope)
      const kept = (column: string) => keptSince(column, cutoff)
      // Rows a row-delete request hides (files persisted before it): left out of the file's part.
      const where = (keep: string | undefined) => whereSql(kept("time"), keep)
      const since = where(undefined)
      if (files.length === 0) {
        // The buffer's rows all lie outside the query's time bounds: it is left out like a file would be.
        const view = part.out ? undefined : buffer.viewSql(table.id, bufferMerge, withTags, series)
        return view === undefined || cutoff === undefined ? view : `SELECT * FROM (${view}) AS v${since}`
      }
      const described = part.described
      const hasBuffer = part.held
      const overlap = partsOverlap(files, part)
      // Only the columns the query may name, and every tag where rows are merged by series and time: a file's
      // SELECT of all 21 columns of the 100-host set costs DuckDB ~0.5 ms a query more than of the 1-3 it reads.
      const tags = table.columns.filter((c) => c.type === "tag" && (overlap || viewReadsColumn(scope, c.name)))
      const fields = table.columns.filter((c) => c.type !== "tag" && c.type !== "time" && viewReadsColumn(scope, c.name))
      const all = [...tags, ...fields]
      const inFiles = new Set(files.flatMap((f) => f.columns))
      const inBuffer = new Set([...(described?.tags ?? []), ...(described?.fields.map((f) => f.name) ?? [])])
      // A part lacks the columns added after it was written: those are NULL from it.
      const columnsOf = (has: ReadonlySet<string>, ord?: string) =>
        [...partColumns(all, has), "time", ...(ord ? [ord] : [])].join(", ")
      const fromBuffer = (ord?: string) =>
        [
          ...all.map((c) => (!inBuffer.has(c.name) ? `CAST(NULL AS ${duckTypeName[c.type]}) AS ${quote(c.name)}` : c.type === "tag" ? `s.${quote(c.name)}` : `b.${quote(c.name)}`)),
          "b.time",
          ...(ord ? [ord] : [])
        ].join(", ")
      if (!overlap) {
        const groups = new Map<string, Array<IndexedFile>>()
        for (const f of files) {
          const key = keepSql(deletes, f) ?? ""
          const group = groups.get(key)
          if (group === undefined) groups.set(key, [f])
          else group.push(f)
        }
        const parts = [...groups].map(([keep, group]) =>
          `SELECT ${columnsOf(groups.size === 1 ? inFiles : new Set(group.flatMap((f) => f.columns)))} FROM ${fileSource(group)}${where(keep === "" ? undefined : keep)}`
        )
        if (hasBuffer) parts.push(`SELECT ${columnsOf(inBuffer)} FROM (${buffer.viewSql(table.id, bufferMerge, withTags, series)!}) AS v${since}`)
        return parts.join(" UNION ALL ")
      }
      const parts = files.map((f, i) => `SELECT ${columnsOf(new Set(f.columns), `CAST(${i} AS DOUBLE) AS _ord`)} FROM ${fileSource([f])}${where(keepSql(deletes, f))}`)
      if (hasBuffer) {
        const from = `${rowsTableName(table.id)} b JOIN ${seriesTableName(table.id)} s USING (_sid)`
        const rows = whereSql(kept("b.time"), seriesCondition("b._sid", series))
        parts.push(`SELECT ${fromBuffer(`CAST(${files.length} AS DOUBLE) + b._row AS _ord`)} FROM ${from}${rows}`)
      }
      const merged = fields.map((f) => `arg_max(${quote(f.name)}, _ord) FILTER (WHERE ${quote(f.name)} IS NOT NULL) AS ${quote(f.name)}`)
      const keys = [...tags.map((t) => quote(t.name)), "time"]
      return `SELECT ${[...keys, ...merged].join(", ")} FROM (${parts.join(" UNION ALL ")}) AS u GROUP BY ${keys.join(", ")}`
    }

    // Files outside retention or the query's time bounds, or whose file index shows no row the query's equalities
    // accept, are not read.
    const chosenFiles = (table: TableState, cutoff: bigint | undefined, scope: ViewScope) =>
      filesOf(fileIndex.unsafeCurrent(), table.id).filter(
        (f) =>
          (cutoff === undefined || f.maxTimeNs >= cutoff) &&
          !outsideRange(scope.timeRange, f.minTimeNs, f.maxTimeNs) &&
          !indexExcludes(f, scope.equalities)
      )

    return {
      open,
      drainReaders,
      /** The planner's view of a database's tables, with retention applied as of now (when the query is planned). */
      view: (db: DatabaseState): TableView => {
        // Whole seconds, rounded up (a row never answers past its retention): the same view SQL, and its parse, then
        // serves every query of that second.
        const nowMs = Math.ceil(clock.unsafeCurrentTimeMillis() / 1000) * 1000
        const state = Effect.runSync(catalog.current)
        const scanned = new Map<number, ReadonlyArray<IndexedFile>>()
        return {
          viewSql: (tableId, deduplicate, scope = {}) => {
            const table = db.tables.get(tableId)
            if (table === undefined) return buffer.viewSql(tableId, deduplicate, scope.withTags)
            const cutoff = retentionCutoffNs(db, table, nowMs)
            const files = chosenFiles(table, cutoff, scope)
            // A table read by several references (each with its own conditions) scans the files any of them reads.
            const earlier = scanned.get(tableId)
            scanned.set(tableId, earlier === undefined ? files : [...new Set([...earlier, ...files])])
            return tableSql(table, deduplicate ?? true, cutoff, activeRowDeletes(state, table.id), files, scope)
          },
          describe: (tableId) => buffer.describe(tableId),
          plainFiles: (tableId, scope = {}, deduplicate = true, columns = []) => {
            const table = db.tables.get(tableId)
            if (table === undefined) return undefined
            const cutoff = retentionCutoffNs(db, table, nowMs)
            const files = chosenFiles(table, cutoff, scope)
            const deletes = activeRowDeletes(state, table.id)
            if (files.some((f) => keepSql(deletes, f) !== undefined)) return undefined
            const part = bufferPart(table.id, scope)
            if (partsOverlap(files, part)) return undefined
            const view = part.held
              ? buffer.viewSql(table.id, deduplicate, true, buffer.seriesMatching(table.id, scope.equalities))
              : undefined
            if (view === undefined) return { files, cutoffNs: cutoff }
            // The buffer's rows of the scope, as the named columns (NULL where the buffer has none) and time.
            const held = new Set([...part.described!.tags, ...part.described!.fields.map((f) => f.name)])
            const listed = partColumns(table.columns.filter((c) => columns.includes(c.name)), held)
            const since = whereSql(keptSince('"time"', cutoff), undefined)
            return { files, cutoffNs: cutoff, buffer: `SELECT ${[...listed, '"time"'].join(", ")} FROM (${view}) AS v${since}` }
          },
          scanned,
          retentionAsOfMs: [...db.tables.values()].some((t) => retentionOf(db, t) !== null) ? nowMs : 0
        }
      },
      /** The persisted-file index as of now: another object once any file was added, replaced or removed. */
      filesState: () => fileIndex.unsafeCurrent(),
      /** A table's persisted files, for `system.parquet_files`. */
      files: (tableId: number): ReadonlyArray<IndexedFile> => filesOf(fileIndex.unsafeCurrent(), tableId),
      /** What reading a table scans, for telemetry. */
      scan: (tableId: number, chosen?: ReadonlyArray<IndexedFile>): TableScan => {
        const files = chosen ?? filesOf(fileIndex.unsafeCurrent(), tableId)
        let fileBytes = 0
        let rows = buffer.describe(tableId)?.rows ?? 0
        for (const f of files) (fileBytes += f.bytes), (rows += f.rows)
        return { files: files.length, fileBytes, rows }
      }
    } as const
  })
}) {}
