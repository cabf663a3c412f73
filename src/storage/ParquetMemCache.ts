import type { DuckDBConnection } from "@duckdb/node-api"
import { Effect, Metric, Runtime, Schedule } from "effect"
import { Catalog } from "../catalog/Catalog.ts"
import { ServerConfig } from "../config.ts"
import { doubleColumn } from "../query/chunkBytes.ts"
import { DuckDb } from "../query/DuckDb.ts"
import { sqlIdentifier as quote, sqlString as literal } from "../query/literal.ts"
import { FileIndex } from "./FileIndex.ts"
import { filesOf, type IndexedFile } from "./files.ts"
import { ObjectStore } from "./ObjectStore.ts"

/**
 * Persisted files' columns decoded in memory, in series order: what answers a series aggregate (query/seriesAggregate)
 * without DuckDB reading and decoding a 122,880-row row group for a few thousand rows. A file's layout is its series
 * (tag values) with each one's rows together and sorted by time, the times as offsets from the file's first; fields
 * are loaded beside it one column at a time, in the same row order. Files never change at a path under one index
 * entry, so an entry is keyed by the file's index entry; entries go when the index drops their file, or, least
 * recently used first, when the cache is over its size (`--parquet-mem-cache-size`).
 *
 * A query never waits for a load: a miss schedules it in the background and the query runs on DuckDB.
 */

/** One series of a file: its tag values (in `FileLayout.tags` order, null where absent) and rows [start, end). */
export interface FileSeries {
  readonly values: ReadonlyArray<string | null>
  readonly start: number
  readonly end: number
}

export interface FileLayout {
  /** The file's first time: offsets count from it. */
  readonly baseNs: bigint
  /** The file's last time minus its first. */
  readonly spanNs: number
  /** The tags the file holds, in the order of each series' values. */
  readonly tags: ReadonlyArray<string>
  readonly series: ReadonlyArray<FileSeries>
  /** Each row's time minus baseNs (exact: a file spans less than 2^53 ns), ascending within a series. */
  readonly offsets: Float64Array
  /** The ORDER BY that puts the file's rows in this order; undefined when it is the file's own. */
  readonly order: string | undefined
}

/** The field types a file's columns are decoded for (see loadField). */
export type FieldType = "float" | "integer" | "uinteger" | "string" | "boolean"

/** A field to decode: its name and catalog type. */
export interface FieldRef {
  readonly name: string
  readonly type: FieldType
}

/**
 * A field's values in layout order as doubles: floats as they are, integers exactly (a file holding one past 2^53 is
 * left to DuckDB), other types as 0 (only which rows have one counts); `valid` is absent when no value is null.
 */
export interface FieldValues {
  readonly values: Float64Array
  readonly valid?: Uint8Array | undefined
}

/** A file's layout and the requested fields (null: the file lacks the column, every value is null). */
export interface DecodedFile {
  readonly layout: FileLayout
  readonly fields: ReadonlyMap<string, FieldValues | null>
}

export const parquetMemCacheAnswersTotal = Metric.counter("strata_parquet_mem_cache_answers_total", {
  description: "Queries answered from persisted files' decoded columns, without DuckDB"
})

export const parquetMemCacheBytes = Metric.gauge("strata_parquet_mem_cache_bytes", {
  description: "Bytes of persisted files' columns held decoded in memory"
})

const COMPACTED_FILE = /\/compacted-\d+(?:-\d+)?\.parquet$/

/** Between a file's key and the part of it an entry holds ("" for the layout, else the field's name). */
const PART = "\u0000"

const fileKey = (f: IndexedFile) => `${f.path}\n${f.persistEventSeq}\n${f.bytes}\n${f.rows}`

/** Files whose load failed or that cannot be held (their span, a NaN), by key: not tried again. */
const UNCACHEABLE_KEPT = 4096
const MAX_EXACT = 2 ** 53

interface Entry {
  readonly value: FileLayout | FieldValues
  readonly bytes: number
}

export class ParquetMemCache extends Effect.Service<ParquetMemCache>()("strata/ParquetMemCache", {
  dependencies: [Catalog.Default, DuckDb.Default, FileIndex.Default],
  scoped: Effect.gen(function* () {
    const config = yield* ServerConfig
    const duck = yield* DuckDb
    const store = yield* ObjectStore
    const fileIndex = yield* FileIndex
    const catalog = yield* Catalog
    const runtime = yield* Effect.runtime<never>()
    const budget = config.parquetMemCacheBytes
    // Least recently used first (a Map keeps insertion order; a hit moves its entry to the end).
    const entries = new Map<string, Entry>()
    const uncacheable = new Set<string>()
    const pending = new Set<string>()
    let heldBytes = 0
    let answers = 0
    let queue: Promise<void> = Promise.resolve()
    let conn: DuckDBConnection | undefined
    let closed = false
    // A load under way is stopped and waited for before its connection closes.
    yield* Effect.addFinalizer(() =>
      Effect.promise(async () => {
        closed = true
        conn?.interrupt()
        await queue
        conn?.closeSync()
        entries.clear()
      })
    )

    const hit = (key: string): Entry["value"] | undefined => {
      const entry = entries.get(key)
      if (entry === undefined) return undefined
      entries.delete(key)
      entries.set(key, entry)
      return entry.value
    }

    /** Drops the entries `leaves` picks (least recently used first) until it says stop; publishes what is held. */
    const dropEntries = (leaves: (key: string) => boolean | "stop") => {
      for (const [k, e] of entries) {
        const verdict = leaves(k)
        if (verdict === "stop") break
        if (!verdict) continue
        entries.delete(k)
        heldBytes -= e.bytes
      }
      Effect.runSync(Metric.set(parquetMemCacheBytes, heldBytes))
    }

    const keep = (key: string, value: Entry["value"], bytes: number) => {
      if (bytes > budget) return
      entries.set(key, { value, bytes })
      heldBytes += bytes
      dropEntries(() => (heldBytes <= budget ? "stop" : true))
    }

    const refuse = (key: string) => {
      if (uncacheable.size >= UNCACHEABLE_KEPT) uncacheable.delete(uncacheable.values().next().value!)
      uncacheable.add(key)
    }

    /** The file is still the one the index lists: its content is what the entry is keyed by. */
    const stillIndexed = (f: IndexedFile) =>
      filesOf(fileIndex.unsafeCurrent(), f.tableId).some((g) => fileKey(g) === fileKey(f))

    const connection = async () => (conn ??= await duck.instance.connect())

    /** The ORDER BY that sorts a file's rows into series (tags, then time; the row number breaks ties). */
    const sortedOrder = (tags: ReadonlyArray<string>) =>
      [...tags.map((t) => `${quote(t)} ASC NULLS FIRST`), `"time" ASC`, "file_row_number ASC"].join(", ")

    const tagsOf = (f: IndexedFile, tagNames: ReadonlyArray<string>) => tagNames.filter((t) => f.columns.includes(t))
    const sourceOf = (f: IndexedFile) => `read_parquet([${literal(store.localPath(f.path))}], file_row_number = true)`

    /**
     * A file's layout. Compaction writes each series' rows together, in time order: then the layout is the file's own
     * row order (its series found by one hash aggregate, each column read by a plain scan). Other files are sorted.
     */
    const loadLayout = async (f: IndexedFile, tagNames: ReadonlyArray<string>): Promise<FileLayout | undefined> => {
      if (f.maxTimeNs - f.minTimeNs >= BigInt(MAX_EXACT)) return undefined
      const c = await connection()
      const source = sourceOf(f)
      const tags = tagsOf(f, tagNames)
      const tagList = tags.map(quote).join(", ")
      const valuesOf = (row: ReadonlyArray<unknown>) =>
        row.slice(0, tags.length).map((v) => (v === null ? null : String(v)))
      const time = `CAST(epoch_ns("time") - ${f.minTimeNs} AS DOUBLE)`
      const offsets = new Float64Array(f.rows)
      const layout = (series: Array<FileSeries>, order: string | undefined): FileLayout => ({
        baseNs: f.minTimeNs,
        spanNs: Number(f.maxTimeNs - f.minTimeNs),
        tags,
        series,
        offsets,
        order
      })
      // In file order, when every series' rows are contiguous and ascend in time.
      const runs =
        tags.length === 0
          ? [[0, f.rows]]
          : (await c.runAndReadAll(`SELECT ${tagList}, min(file_row_number), count(*) FROM ${source} GROUP BY ALL ORDER BY 2`))
              .getRows()
              .map((row) => [...valuesOf(row), Number(row[tags.length]), Number(row[tags.length + 1])])
      const inFileOrder: Array<FileSeries> = []
      let next = 0
      for (const run of runs) {
        const start = run[tags.length] as number
        const n = run[tags.length + 1] as number
        if (start !== next) break
        inFileOrder.push({ values: run.slice(0, tags.length) as Array<string | null>, start, end: start + n })
        next = start + n
      }
      if (next === f.rows && inFileOrder.length === runs.length) {
        const read = await readDoubles(c, `SELECT ${time} FROM ${source}`, offsets)
        if (read.count !== f.rows || read.valid !== undefined) return undefined
        if (inFileOrder.every((s) => ascending(offsets, s.start, s.end))) return layout(inFileOrder, undefined)
      }
      // Sorted into series.
      const sorted: Array<FileSeries> = []
      if (tags.length === 0) sorted.push({ values: [], start: 0, end: f.rows })
      else {
        const grouped = await c.runAndReadAll(
          `SELECT ${tagList}, count(*) FROM ${source} GROUP BY ALL ORDER BY ${tags.map((t) => `${quote(t)} ASC NULLS FIRST`).join(", ")}`
        )
        let start = 0
        for (const row of grouped.getRows()) {
          const n = Number(row[tags.length])
          sorted.push({ values: valuesOf(row), start, end: start + n })
          start += n
        }
      }
      const order = sortedOrder(tags)
      const read = await readDoubles(c, `SELECT ${time} FROM ${source} ORDER BY ${order}`, offsets)
      const last = sorted[sorted.length - 1]
      const complete = read.count === f.rows && (last === undefined || last.end === f.rows) && read.valid === undefined
      if (!complete) return undefined
      return layout(sorted, order)
    }

    /** A field in its file's layout order (null when the layout is not in memory: the field waits for it). */
    const loadField = async (
      f: IndexedFile,
      layout: FileLayout | undefined,
      field: FieldRef
    ): Promise<FieldValues | undefined | null> => {
      if (layout === undefined) return null
      const c = await connection()
      const values = new Float64Array(f.rows)
      const order = layout.order === undefined ? "" : ` ORDER BY ${layout.order}`
      const column = quote(field.name)
      const integers = field.type === "integer" || field.type === "uinteger"
      const select =
        field.type === "float"
          ? column
          : integers
            ? `CAST(${column} AS DOUBLE)`
            : `CASE WHEN ${column} IS NULL THEN NULL ELSE CAST(0 AS DOUBLE) END`
      const read = await readDoubles(c, `SELECT ${select} FROM ${sourceOf(f)}${order}`, values, integers)
      if (read.count !== f.rows || read.unusable) return undefined
      return { values, valid: read.valid }
    }

    /** Schedules loading what a query found missing; one load runs at a time. */
    const schedule = (key: string, load: () => Promise<{ value: Entry["value"]; bytes: number } | undefined | null>) => {
      if (pending.has(key) || uncacheable.has(key) || closed) return
      pending.add(key)
      queue = queue.then(async () => {
        try {
          const started = performance.now()
          const loaded = closed ? null : await load()
          if (loaded !== null && loaded !== undefined)
            Runtime.runFork(runtime)(Effect.logDebug(`parquet mem cache: loaded ${loaded.bytes} bytes in ${(performance.now() - started).toFixed(1)} ms`).pipe(Effect.annotateLogs("key", key)))
          if (loaded === undefined) refuse(key)
          else if (loaded !== null && !closed) keep(key, loaded.value, loaded.bytes)
        } catch (e) {
          refuse(key)
          Runtime.runFork(runtime)(Effect.logDebug(`parquet mem cache: loading failed: ${String(e)}`))
        } finally {
          pending.delete(key)
        }
      })
    }

    // Newly compacted files are loaded before any query asks (their layout and float fields), as InfluxDB 3 keeps
    // newly persisted files in its Parquet cache: the first dashboard refresh after a compaction finds them ready.
    let seen = fileIndex.unsafeCurrent()
    const prefetch = Effect.suspend(() => {
      const current = fileIndex.unsafeCurrent()
      if (current === seen) return Effect.void
      const known = new Set<string>()
      for (const files of seen.tables.values()) for (const f of files) known.add(fileKey(f))
      seen = current
      // The columns of files the index no longer lists (compacted again, deleted, past retention) go at once.
      const live = new Set<string>()
      for (const files of current.tables.values()) for (const f of files) live.add(fileKey(f))
      dropEntries((k) => !live.has(k.slice(0, k.indexOf(PART))))
      return Effect.map(catalog.current, (state) => {
        for (const files of current.tables.values())
          for (const f of files) {
            if (known.has(fileKey(f)) || !COMPACTED_FILE.test(f.path)) continue
            const table = state.databases.get(f.dbId)?.tables.get(f.tableId)
            if (table === undefined) continue
            const floats = table.columns
              .filter((c) => c.type === "float" && f.columns.includes(c.name))
              .map((c): FieldRef => ({ name: c.name, type: "float" }))
            if (f.rows * 8 * (1 + floats.length) > budget / 2) continue
            api.decoded(f, table.columns.filter((c) => c.type === "tag").map((c) => c.name), floats)
          }
      })
    })
    if (budget > 0) yield* Effect.forkScoped(Effect.repeat(prefetch, Schedule.spaced("100 millis")))

    const api = {
      enabled: budget > 0,
      /**
       * The decoded layout and fields of a file, or undefined when any part is not in memory yet (its load is then
       * scheduled). `tagNames` are the table's tags; `fields` the fields to read.
       */
      decoded: (
        f: IndexedFile,
        tagNames: ReadonlyArray<string>,
        fields: ReadonlyArray<FieldRef>
      ): DecodedFile | undefined => {
        // A file one of whose columns would take more than a quarter of the cache is left to DuckDB.
        if (budget <= 0 || f.rows * 9 > budget / 4) return undefined
        const key = fileKey(f)
        const layoutKey = `${key}${PART}`
        const layout = hit(layoutKey) as FileLayout | undefined
        if (layout === undefined)
          schedule(layoutKey, async () => {
            const value = await loadLayout(f, tagNames)
            return value === undefined || !stillIndexed(f)
              ? undefined
              : { value, bytes: value.offsets.byteLength + value.series.length * (64 + 16 * value.tags.length) }
          })
        const decodedFields = new Map<string, FieldValues | null>()
        let missing = layout === undefined
        for (const field of fields) {
          if (!f.columns.includes(field.name)) {
            decodedFields.set(field.name, null)
            continue
          }
          const fieldKey = `${key}${PART}${field.name}`
          const values = hit(fieldKey) as FieldValues | undefined
          if (values !== undefined) decodedFields.set(field.name, values)
          else {
            missing = true
            schedule(fieldKey, async () => {
              const value = await loadField(f, entries.get(layoutKey)?.value as FileLayout | undefined, field)
              if (value === null) return null
              return value === undefined || !stillIndexed(f)
                ? undefined
                : { value, bytes: value.values.byteLength + (value.valid?.byteLength ?? 0) }
            })
          }
        }
        return missing ? undefined : { layout: layout!, fields: decodedFields }
      },
      /** Bytes held, for tests and telemetry. */
      heldBytes: () => heldBytes,
      /** Counts a query answered from decoded columns. */
      answered: Effect.suspend(() => {
        answers++
        return Metric.increment(parquetMemCacheAnswersTotal)
      }),
      /** How many queries were answered from decoded columns. */
      answers: () => answers,
      /** Resolves once every load scheduled so far has finished. */
      settled: (): Promise<void> => queue
    } as const
    return api
  })
}) {}

/** Whether offsets [start, end) never decrease. */
const ascending = (offsets: Float64Array, start: number, end: number) => {
  for (let i = start + 1; i < end; i++) if (offsets[i]! < offsets[i - 1]!) return false
  return true
}

/**
 * Reads a one-column DOUBLE result into `into`, in order: how many rows, their validity, and whether a value makes the
 * column unusable (a NaN; with `integers`, one at or past 2^53, where the cast to DOUBLE may have rounded it).
 */
const readDoubles = async (
  c: DuckDBConnection,
  sql: string,
  into: Float64Array,
  integers = false
): Promise<{ readonly count: number; readonly valid: Uint8Array | undefined; readonly unusable: boolean }> => {
  const result = await c.stream(sql)
  let count = 0
  let valid: Uint8Array | undefined
  let unusable = false
  for (;;) {
    const chunk = await result.fetchChunk()
    if (chunk === null || chunk.rowCount === 0) break
    const n = chunk.rowCount
    if (count + n > into.length) return { count: count + n, valid, unusable }
    const { values: items, valid: mask } = doubleColumn(chunk, 0)
    into.set(items, count)
    for (let i = 0; i < n; i++) {
      if (mask !== null && ((mask[i >> 3]! >> (i & 7)) & 1) === 0) {
        if (valid === undefined) valid = new Uint8Array(into.length).fill(1)
        valid[count + i] = 0
      } else if (Number.isNaN(items[i]!) || (integers && Math.abs(items[i]!) >= MAX_EXACT)) unusable = true
    }
    count += n
  }
  return { count, valid, unusable }
}
