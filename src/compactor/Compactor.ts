import { Cause, Clock, Effect, Metric, MetricBoundaries, Schedule } from "effect"
import { Catalog } from "../catalog/Catalog.ts"
import { Checkpoints } from "../checkpoint/Checkpoints.ts"
import { ServerConfig } from "../config.ts"
import { type EngineFailed, engineFailed, type LogWriteFailed } from "../errors.ts"
import { dueRowDeletes, rowDeleteFilesRewrittenTotal, rowDeletesCompletedTotal } from "../deletes/rewrite.ts"
import { activeRowDeletes, indexedColumns, keepSql } from "../deletes/state.ts"
import { RowDeleteCompleted, SnapshotPersisted, type PersistedFile } from "../events/index.ts"
import { EventLog } from "../log/EventLog.ts"
import { makeLogReclaimer } from "../log/reclaim.ts"
import { actorRestartsTotal } from "../metrics/prometheus.ts"
import { forkSupervised } from "../supervision.ts"
import { DuckDb } from "../query/DuckDb.ts"
import { DBS_PREFIX, FileIndex } from "../storage/FileIndex.ts"
import { attemptPromise, ObjectStore, StorageError, STORED_PARQUET_OPTIONS } from "../storage/ObjectStore.ts"
import { TableSources } from "../storage/TableSource.ts"
import { Ingester } from "../write/Ingester.ts"
import type { PersistTarget } from "../write/WriteBuffer.ts"
import { makeRetentionSweep } from "./retention.ts"
import { allGen1Windows, compactionFailuresTotal, compactWindows, dueWindows, windowName, windowOf, type CompactionDeps } from "./compaction.ts"
import { sqlString as literal } from "../query/literal.ts"

export const persistsTotal = Metric.counter("strata_persists_total", { description: "Persists of the write buffer to Parquet" })
export const persistFailuresTotal = Metric.counter("strata_persist_failures_total", {
  description: "Persists that failed (storage or log errors); their rows stay in the buffer and the log, and the next tick retries"
})
export const persistedFilesTotal = Metric.counter("strata_persisted_files_total", { description: "Parquet files written by persists" })
export const persistedBytesTotal = Metric.counter("strata_persisted_bytes_total", { description: "Bytes of Parquet files written by persists" })
export const persistedRowsTotal = Metric.counter("strata_persisted_rows_total", { description: "Rows written to Parquet by persists" })
export const persistDuration = Metric.histogram(
  "strata_persist_duration_seconds",
  MetricBoundaries.exponential({ start: 0.005, factor: 2, count: 14 }),
  "Time to persist the write buffer: write the files, record them, drop the rows"
)
const compactorRestarts = actorRestartsTotal.pipe(Metric.tagged("actor", "compactor"))

/** What one persist did. */
export interface PersistOutcome {
  readonly persistedSeq: number
  readonly files: ReadonlyArray<PersistedFile>
}

/** Events (writes left out) after which the Compactor checkpoints the projections without waiting for a persist. */
const CHECKPOINT_AFTER_EVENTS = 1_000

const pad = (n: number) => String(n).padStart(2, "0")

/** Gen1 files a persist writes per DuckDB script. */
const COPIES_PER_SCRIPT = 16

/** `dbs/<db_id>/<table_id>/<YYYY-MM-DD>/<HH-MM>/<seq>.parquet` for a gen1 window starting at `startNs`. */
export const gen1Path = (dbId: number, tableId: number, startNs: bigint, seq: number) => {
  const d = new Date(Number(startNs / 1_000_000n) - (startNs < 0n && startNs % 1_000_000n !== 0n ? 1 : 0))
  return `${DBS_PREFIX}${dbId}/${tableId}/${windowName(windowOf(startNs))}/${pad(d.getUTCHours())}-${pad(d.getUTCMinutes())}/${seq}.parquet`
}

/**
 * The Compactor actor: persists the write buffer to gen1 Parquet files every `--persist-interval`, and sooner once
 * the buffer passes `--force-snapshot-mem-threshold`. A persist captures the last applied write seq and the rows up
 * to it (under the Ingester's lock), writes one file per table and gen1 window (deduplicated, sorted by series key
 * then time) outside it, records them in one SnapshotPersisted event, and only once that commits (and queries that
 * planned without the files are done) drops the rows from the buffer. A crash before the commit leaves files no
 * event names (removed at start) and the rows in the log; after it, the rows are in files and a start skips them.
 */
export class Compactor extends Effect.Service<Compactor>()("strata/Compactor", {
  dependencies: [
    Catalog.Default,
    Checkpoints.Default,
    DuckDb.Default,
    EventLog.Default,
    FileIndex.Default,
    Ingester.Default,
    TableSources.Default
  ],
  scoped: Effect.gen(function* () {
    const config = yield* ServerConfig
    const ingester = yield* Ingester
    const fileIndex = yield* FileIndex
    const sources = yield* TableSources
    const store = yield* ObjectStore
    const log = yield* EventLog
    const duck = yield* DuckDb
    const catalog = yield* Catalog
    const checkpoints = yield* Checkpoints
    // Its own connection: the buffer's appends keep the writer connection.
    const conn = yield* Effect.acquireRelease(
      Effect.tryPromise({ try: () => duck.instance.connect(), catch: engineFailed("the compactor could not connect to DuckDB") }),
      (c) => Effect.sync(() => c.closeSync())
    )
    const lock = yield* Effect.makeSemaphore(1)
    const windowNs = BigInt(config.gen1DurationMs) * 1_000_000n
    let lastPersistMs = yield* Clock.currentTimeMillis
    // The log's space: persisted writes past --snapshotted-log-keep are truncated, deleted data's payloads purged.
    const reclaimer = yield* makeLogReclaimer
    const logged = (what: string) => Effect.catchAllCause((cause: Cause.Cause<unknown>) => Effect.logError(`${what} failed (retried later)`, cause))

    /** Writes one target's files; on failure, removes what it wrote (nothing names those files yet). */
    const writeTarget = (target: PersistTarget, seq: number) => {
      const scratches: Array<{ path: string; localFile: string }> = []
      return Effect.gen(function* () {
        const written: Array<PersistedFile> = []
        const ranks = `persist_ranks_t${target.tableId}`
        const stage = `persist_stage_t${target.tableId}`
        const windowsStarted = performance.now()
        const windows = yield* attemptPromise("staging the buffer's rows", async () => {
          const duplicates = async () =>
            (await conn.runAndReadAll(ingester.buffer.persistDuplicatesSql(target))).getRows()[0]?.[0] === true
          const merge = target.mayHaveDuplicates && (await duplicates())
          const staged = { ...target, mayHaveDuplicates: merge }
          await conn.run(
            `${ingester.buffer.persistRanksSql(target, ranks)};\n${ingester.buffer.persistStageSql(staged, ranks, stage, windowNs)}`
          )
          return (await conn.runAndReadAll(ingester.buffer.persistWindowsSql(stage))).getRows() as Array<
            [bigint, bigint, bigint, bigint]
          >
        })
        yield* Effect.logDebug(
          `persist: table ${target.tableId} spans ${windows.length} window(s), staged in ${(performance.now() - windowsStarted).toFixed(0)} ms`
        )
        const columns = [...target.tags, ...target.fields.map((f) => f.name)]
        // Several windows' COPYs go to DuckDB as one script: each statement's answer would otherwise wait for a turn of
        // the event loop, which ingest keeps busy (a backfill persists one small file per window).
        for (let from = 0; from < windows.length; from += COPIES_PER_SCRIPT) {
          const group = windows.slice(from, from + COPIES_PER_SCRIPT)
          const statements: Array<string> = []
          for (const [w, lo, hi, rows] of group) {
            const path = gen1Path(target.dbId, target.tableId, BigInt(w) * windowNs, seq)
            const scratch = yield* store.scratchPath(path)
            // Listed before it is written: a failure removes whatever the script produced.
            scratches.push({ path, localFile: scratch })
            statements.push(
              `COPY (${ingester.buffer.persistSql(target, stage, BigInt(w))}) TO ${literal(scratch)} (${STORED_PARQUET_OPTIONS})`
            )
            const file = { path, dbId: target.dbId, tableId: target.tableId, rows: Number(rows), bytes: 0, columns }
            written.push({ ...file, minTimeNs: BigInt(lo), maxTimeNs: BigInt(hi) })
          }
          const groupStarted = performance.now()
          yield* attemptPromise(`writing ${group.length} file(s) from ${scratches[from]!.path}`, () =>
            conn.run(statements.join(";\n"))
          )
          const took = (performance.now() - groupStarted).toFixed(0)
          yield* Effect.logDebug(`persist: ${group.length} file(s) from ${scratches[from]!.path} written in ${took} ms`)
        }
        // All of the target's files are stored (and synced) together: one sync per file and per directory.
        yield* store.putFiles(scratches)
        return yield* Effect.forEach(written, (f) => Effect.map(store.size(f.path), (bytes) => ({ ...f, bytes })))
      }).pipe(
        // Nothing names these files yet: whatever was produced or moved in goes.
        Effect.tapError(() =>
          Effect.forEach(
            scratches,
            (s) => Effect.zipRight(store.remove(s.localFile), store.remove(s.path)).pipe(Effect.ignore),
            { discard: true }
          )
        ),
        Effect.ensuring(
          Effect.tryPromise(async () => {
            await conn.run(`DROP TABLE IF EXISTS temp.persist_ranks_t${target.tableId}`)
            await conn.run(`DROP TABLE IF EXISTS temp.persist_stage_t${target.tableId}`)
          }).pipe(Effect.ignore)
        )
      )
    }

    const persistOnce: Effect.Effect<PersistOutcome | undefined, StorageError | LogWriteFailed | EngineFailed> =
      Effect.gen(function* () {
        const started = performance.now()
        const { persistedSeq, targets, payloadBytes } = yield* ingester.capturePersist
        lastPersistMs = yield* Clock.currentTimeMillis
        // Nothing buffered (every write since was dropped): the payloads captured no longer wait for a persist.
        if (targets.length === 0) return yield* Effect.as(ingester.releasePersisted([], payloadBytes), undefined)
        const files: Array<PersistedFile> = []
        const removeWritten = Effect.forEach(files, (f) => store.remove(f.path).pipe(Effect.ignore), { discard: true })
        yield* Effect.forEach(targets, (t) => Effect.map(writeTarget(t, persistedSeq), (w) => void files.push(...w)), {
          discard: true
        }).pipe(Effect.tapError(() => removeWritten))
        // Once committed (and applied to the file index, before the append returns) queries find the files; the rows
        // leave the buffer once older queries are done.
        yield* log.append([{ event: new SnapshotPersisted({ version: 1, persistedSeq, files }) }])
        yield* sources.drainReaders
        yield* ingester.releasePersisted(targets, payloadBytes)
        yield* reclaimer.truncate(persistedSeq).pipe(logged("event log truncation"))
        let bytes = 0
        let rows = 0
        for (const f of files) ((bytes += f.bytes), (rows += f.rows))
        yield* Metric.increment(persistsTotal)
        yield* Metric.incrementBy(persistedFilesTotal, files.length)
        yield* Metric.incrementBy(persistedBytesTotal, bytes)
        yield* Metric.incrementBy(persistedRowsTotal, rows)
        yield* Metric.update(persistDuration, (performance.now() - started) / 1000)
        yield* Effect.logDebug(
          `persisted ${rows} row(s) up to seq ${persistedSeq} into ${files.length} file(s), ${bytes} bytes`
        )
        return { persistedSeq, files }
      })

    /** Persists now (serialised with the loop's persists). */
    const persistNow = lock.withPermits(1)(persistOnce)

    // Compactions run one at a time, beside persists: a gen1 file persisted meanwhile is not replaced and ranks newer.
    const compactionLock = yield* Effect.makeSemaphore(1)
    const compactionDeps: CompactionDeps = {
      conn,
      store,
      log,
      fileIndex,
      drainReaders: sources.drainReaders,
      table: (dbId, tableId) =>
        Effect.map(catalog.current, (c) => {
          const t = c.databases.get(dbId)?.tables.get(tableId)
          return t === undefined || t.deleted ? undefined : t
        }),
      // Every compaction leaves out the rows accepted row-delete requests hide, so none comes back from a merge.
      keep: (f) => keepSql(activeRowDeletes(Effect.runSync(catalog.current), f.tableId), f),
      indexedColumns: (dbId, tableId) => Effect.map(catalog.current, (c) => indexedColumns(c, dbId, tableId))
    }
    const windowSeen = new Map<string, { readonly newest: number; readonly sinceMs: number }>()
    /**
     * Compacts every window holding gen1 files now, regardless of `--compaction-delay` (`targetRows` splits smaller
     * windows, for tests).
     */
    const compactNow = (options: { readonly targetRows?: number } = {}) =>
      compactionLock.withPermits(1)(
        Effect.suspend(() =>
          compactWindows({ ...compactionDeps, ...options }, allGen1Windows(fileIndex.unsafeCurrent()))
        )
      )
    const compactDue = compactionLock.withPermits(1)(
      Effect.gen(function* () {
        const due = dueWindows(
          fileIndex.unsafeCurrent(),
          windowSeen,
          yield * Clock.currentTimeMillis,
          config.compactionDelayMs
        )
        if (due.length > 0) yield* compactWindows(compactionDeps, due)
      })
    )

    /**
     * Applies the pending row-delete requests older than `--row-delete-min-age`: rewrites every window holding files
     * they touch (without the rows they hide) and records each request completed. Returns the sequences completed.
     */
    const applyRowDeletes = compactionLock.withPermits(1)(
      Effect.gen(function* () {
        const due = dueRowDeletes(
          yield * catalog.current,
          fileIndex.unsafeCurrent(),
          yield * Clock.currentTimeMillis,
          config.rowDeleteMinAgeMs
        )
        const completed: Array<number> = []
        for (const { request, windows } of due) {
          // Windows rewritten for an earlier request of this pass no longer hold the replaced files: read them afresh.
          const outcomes =
            yield *
            compactWindows(
              compactionDeps,
              windows.filter((w) =>
                w.files.every((f) =>
                  fileIndex
                    .unsafeCurrent()
                    .tables.get(w.tableId)
                    ?.some((g) => g.path === f.path)
                )
              )
            )
          let files = 0
          for (const o of outcomes) files += o.removed.length
          yield* log.append([{ event: new RowDeleteCompleted({ version: 1, sequence: request.sequence, files }) }])
          yield* Metric.increment(rowDeletesCompletedTotal)
          yield* Metric.incrementBy(rowDeleteFilesRewrittenTotal, files)
          yield* Effect.logInfo(`row-delete request ${request.sequence} completed: ${files} file(s) rewritten`)
          completed.push(request.sequence)
        }
        return completed
      })
    )

    // Retention and deletes: files wholly outside retention leave the index, and files it dropped leave the disk.
    const sweepLock = yield* Effect.makeSemaphore(1)
    const retentionSweep = yield* makeRetentionSweep
    // The payloads of hard- and data-deleted data leave the log in the same sweep that deletes their files.
    const sweepNow = sweepLock.withPermits(1)(
      Effect.zipRight(retentionSweep, Effect.zipRight(reclaimer.purge.pipe(logged("event log purge")), reclaimer.measure))
    )

    /** Checkpoints the catalog and the file index now, so that a start applies only the events after this. */
    const checkpointNow = checkpoints.write(Effect.all({ catalog: catalog.current, files: fileIndex.current }))

    /** Persists now; a failure is counted and logged (the rows stay in the buffer and the log) and passed on. */
    const persistOrLog = persistNow.pipe(
      Effect.tapError((e) =>
        Effect.zipRight(
          Metric.increment(persistFailuresTotal),
          Effect.logError(`persist failed (rows stay in the buffer and the log; retrying later): ${e.message}`)
        )
      )
    )

    const tick = Effect.gen(function* () {
      yield* sweepNow.pipe(Effect.catchAll((e) => Effect.logError(`retention sweep failed (retrying next tick): ${e.message}`)))
      const now = yield* Clock.currentTimeMillis
      const due =
        now - lastPersistMs >= config.persistIntervalMs ||
        ingester.buffer.bytes >= config.forceSnapshotBytes ||
        ingester.unpersistedPayloadBytes() >= config.persistLogThresholdBytes
      if (due) {
        yield* persistOrLog.pipe(Effect.ignore)
      }
      // A checkpoint follows each persist that saw other events, and any tick once many have gathered.
      if (due || (yield* checkpoints.eventsSince) >= CHECKPOINT_AFTER_EVENTS) {
        yield* Effect.whenEffect(
          checkpointNow.pipe(Effect.catchAll((e) => Effect.logError(`checkpoint failed (the log still holds everything; retrying later): ${e.message}`))),
          Effect.map(checkpoints.eventsSince, (n) => n > 1)
        )
      }
      yield* applyRowDeletes.pipe(
        Effect.catchAll((e) => Effect.logError(`row-delete rewrite failed (the requests stay pending and hidden; retrying later): ${e.message}`))
      )
      yield* compactDue.pipe(
        Effect.catchAll((e) =>
          Effect.zipRight(Metric.increment(compactionFailuresTotal), Effect.logError(`compaction failed (the window keeps its files; retrying later): ${e.message}`))
        )
      )
    })

    // Line protocol piling up unpersisted (a backfill) is looked at more often than the tick's other work runs: a
    // persist follows the one before at once while the threshold is still passed.
    const persistBacklog = Effect.gen(function* () {
      if (ingester.unpersistedPayloadBytes() < config.persistLogThresholdBytes) return
      // A failing store (a full disk) is not tried again at this pace: the tick retries it meanwhile.
      yield* persistOrLog.pipe(Effect.catchAll(() => Effect.sleep("10 seconds")))
    })
    yield* forkSupervised("compactor-backlog", persistBacklog.pipe(Effect.repeat(Schedule.spaced("200 millis"))))

    // Supervised: a defect is logged and counted, and the loop restarts with capped exponential backoff.
    yield* tick.pipe(
      Effect.repeat(Schedule.spaced("1 second")),
      Effect.sandbox,
      Effect.tapError((cause) => Effect.zipRight(Metric.increment(compactorRestarts), Effect.logError("compactor crashed, restarting", cause))),
      Effect.retry(Schedule.exponential("100 millis").pipe(Schedule.union(Schedule.spaced("30 seconds")))),
      Effect.annotateLogs("actor", "compactor"),
      Effect.forkScoped
    )

    return {
      /** Persists the buffer now; undefined when it held no rows. */
      persistNow,
      /** Removes the files wholly outside retention and deletes the files the index dropped, now. */
      sweepNow,
      /** Checkpoints the projections now (undefined when nothing changed since the last checkpoint). */
      checkpointNow,
      /** Compacts every window holding gen1 files now (ignoring `--compaction-delay`); what each compaction did. */
      compactNow,
      /**
       * Rewrites the files of pending row-delete requests older than `--row-delete-min-age` now; the sequences
       * completed.
       */
      applyRowDeletes
    } as const
  })
}) {}
