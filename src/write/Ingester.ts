import { Clock, Deferred, Effect, Either, Fiber, Metric, Schedule, Stream } from "effect"
import * as NodeOs from "node:os"
import { Caches } from "../cache/Caches.ts"
import { Catalog } from "../catalog/Catalog.ts"
import { extendSchema } from "../catalog/commands.ts"
import { databaseNameProblem } from "../catalog/names.ts"
import { databaseAt, liveDatabase, liveTable, type CatalogState, type DatabaseState } from "../catalog/state.ts"
import { ServerConfig } from "../config.ts"
import {
  actorRestartsTotal,
  influxWriteBytesTotal,
  influxWriteLinesRejectedTotal,
  influxWriteLinesTotal
} from "../metrics/prometheus.ts"
import { type EngineFailed, engineFailed, ExecutionFailed, InvalidRequest, Unavailable } from "../errors.ts"
import { type StrataEvent, WriteBatch } from "../events/index.ts"
import { type LineError, type ParsedBatch, type Precision } from "../lineprotocol/index.ts"
import { EventLog, type Envelope } from "../log/EventLog.ts"
import { DuckDb } from "../query/DuckDb.ts"
import { FileIndex } from "../storage/FileIndex.ts"
import { checkBatch, defaultTime, lineErrors, type CheckedBatch } from "./validate.ts"
import { decodeBody, joinChunks, parseBytes } from "./decode.ts"
import { ParsePool, type ParseReply } from "./ParsePool.ts"
import { WriteBuffer, type AppendMark, type PersistTarget, type TableRows } from "./WriteBuffer.ts"

/** One write request, as the endpoints hand it over. */
export interface WriteRequest {
  readonly db: string
  /** The line protocol, in the chunks it arrived in; the Ingester takes them over (they move to other threads). */
  readonly body: ReadonlyArray<Uint8Array>
  readonly size: number
  readonly precision: Precision
  readonly acceptPartial: boolean
  readonly noSync: boolean
  /**
   * Events committed atomically with this write's WriteBatch (a trigger's progress); not logged if nothing is written.
   */
  readonly alsoLog?: ReadonlyArray<StrataEvent>
}

/**
 * What happened to a write: all written; some lines refused (the rest written); or, with accept_partial=false, nothing.
 */
export type WriteOutcome =
  | { readonly _tag: "Written"; readonly lines: number }
  | { readonly _tag: "Partial"; readonly errors: ReadonlyArray<LineError>; readonly limitHit: boolean }
  | { readonly _tag: "Rejected"; readonly errors: ReadonlyArray<LineError>; readonly limitHit: boolean }

export const writeLinesTotal = Metric.counter("strata_write_lines_total", { description: "Line-protocol lines written" })
export const writeLinesRejectedTotal = Metric.counter("strata_write_lines_rejected_total", { description: "Line-protocol lines refused" })
export const writeBytesTotal = Metric.counter("strata_write_bytes_total", { description: "Line-protocol bytes received by writes" })
export const writeBufferBytes = Metric.gauge("strata_write_buffer_bytes", { description: "Memory held by the write buffer (estimate)" })
export const writeBufferRows = Metric.gauge("strata_write_buffer_rows", { description: "Rows held by the write buffer" })
export const writeLinesRetractedTotal = Metric.counter("strata_write_lines_retracted_total", {
  description: "Line-protocol lines taken back out of the write buffer because their log commit failed"
})
export const replayWriteEventsTotal = Metric.counter("strata_replay_write_events_total", {
  description: "Write events of the log re-applied to the write buffer at start (those after the last persist)"
})
export const replayQuarantinedTotal = Metric.counter("strata_replay_quarantined_total", {
  description: "Write events and lines of the log skipped at start because they cannot be applied"
})

const flushTickerRestarts = actorRestartsTotal.pipe(Metric.tagged("actor", "ingester-flush"))

/** Bodies this large are parsed on a worker thread; smaller ones cost less to parse than to hand over. */
const WORKER_MIN_BYTES = 32 * 1024

/** One parse worker per core beyond the main thread's (at least one, at most four). */
const parseWorkers = () => Math.max(1, Math.min(4, NodeOs.availableParallelism() - 1))

/** A parsed request body: its columns, its chunks, and `done` to call once the columns are no longer read. */
interface ParsedBody {
  readonly batch: ParsedBatch
  readonly body: ReadonlyArray<Uint8Array>
  readonly done: () => void
}

const notUtf8 = (message: string) => new InvalidRequest({ message: `body content is not valid utf8: ${message}` })

/** Decodes and parses a body on the calling thread. */
const parseHere = (body: Uint8Array): Either.Either<ParsedBatch, InvalidRequest> => {
  try {
    return Either.right(parseBytes(body))
  } catch (e) {
    return Either.left(notUtf8((e as Error).message))
  }
}

const isLimitMessage = (m: string) => m.startsWith("Update to schema would exceed number of") || m.startsWith("Adding a new database would exceed limit of")

/** Splits a body into its physical lines, for quoting a refused line back to the user. */
const physicalLine = (body: ReadonlyArray<Uint8Array>, size: number) => {
  let lines: Array<string> | undefined
  return (n: number) => {
    lines ??= decodeBody(joinChunks(body, size)).split("\n")
    return (lines[n - 1] ?? "").replace(/\r$/, "")
  }
}

/** The rows of an accepted batch, per live table of the database. */
const tableRows = (db: DatabaseState | undefined, batch: ParsedBatch, accepted: CheckedBatch["accepted"]) => {
  const out: Array<TableRows> = []
  if (db === undefined) return out
  for (const [name, group] of accepted) {
    const table = liveTable(db, name)
    if (table !== undefined)
      out.push({ dbId: db.id, table, batch, lines: group.rows, times: group.times, count: group.count })
  }
  return out
}

/**
 * The Ingester actor: parses and checks batches, extends the schema through the Catalog, appends one WriteBatch
 * event per request and applies it to the write buffer, in log order under one lock.
 */
export class Ingester extends Effect.Service<Ingester>()("strata/Ingester", {
  dependencies: [Caches.Default, Catalog.Default, DuckDb.Default, EventLog.Default, FileIndex.Default],
  scoped: Effect.gen(function* () {
    const log = yield* EventLog
    const catalog = yield* Catalog
    const config = yield* ServerConfig
    const duck = yield* DuckDb
    const fileIndex = yield* FileIndex
    const caches = yield* Caches
    const buffer = new WriteBuffer(duck.writer)
    /**
     * The seq of the last write applied to the buffer: its rows, and every earlier write's, are below the tables'
     * `appended`.
     */
    let lastAppliedSeq = 0
    // Payload bytes of the writes applied so far, and how many of them the last recorded persist covered: their
    // difference is what a start would parse again, which `--persist-log-threshold` bounds.
    let appliedPayloadBytes = 0
    let persistedPayloadBytes = 0
    /** Writes applied but not yet settled (committed, or failed and taken back), by seq. */
    const inFlight = new Map<number, Deferred.Deferred<void>>()
    // Cache updates of writes applied to the buffer but not yet committed, by seq: they reach the caches only once the
    // commit succeeded (in commit order, from the projection below), so a write whose commit fails never shows there.
    // A commit can be projected before its write registers its updates: such seqs are remembered until it does.
    const pendingCacheUpdates = new Map<number, ReadonlyArray<() => void>>()
    const committedBeforeRegistered = new Set<number>()
    const lock = yield* Effect.makeSemaphore(1)
    const pool = yield* Effect.acquireRelease(
      Effect.sync(() => new ParsePool(parseWorkers())),
      (p) => Effect.tryPromise({ try: () => p.close(), catch: engineFailed("closing the parse threads") }).pipe(Effect.ignoreLogged)
    )

    /**
     * Parses a request body, on a worker when it is large; log order is still set later, under the lock. Returns the
     * body's chunks too (those sent to a worker come back as new objects).
     */
    const parseBody = (
      body: ReadonlyArray<Uint8Array>,
      size: number
    ): Effect.Effect<ParsedBody, InvalidRequest | Unavailable | EngineFailed> => {
      if (size < WORKER_MIN_BYTES)
        return Either.map(parseHere(joinChunks(body, size)), (batch) => ({ batch, body, done: () => {} }))
      return Effect.flatMap(
        Effect.tryPromise({ try: () => pool.parse(body, size), catch: engineFailed("the write could not be parsed") }),
        (reply): Effect.Effect<ParsedBody, InvalidRequest | Unavailable> => {
          if (reply === undefined) return Effect.fail(new Unavailable({ message: "the write could not be parsed (a parse thread stopped); retry" }))
          if (reply._tag === "NotUtf8") return Effect.fail(notUtf8(reply.message))
          return Effect.succeed({ batch: reply.batch, body: reply.chunks, done: () => pool.reuse(reply.batch) })
        }
      )
    }

    // Suspended: the sizes are read when it runs, not once when it is built.
    const publishBufferSize = Effect.suspend(() =>
      Effect.zipRight(Metric.set(writeBufferBytes, buffer.bytes), Metric.set(writeBufferRows, buffer.rows))
    )

    /**
     * Applies a logged write at start, each table name resolved as it was at the write's seq (a table deleted and
     * created again under its name is another table) against the final catalog's tables. What cannot be applied is
     * quarantined, never fatal: the lines that current checks refuse (older servers let poison names and infinite
     * floats into the log), or the whole event when applying it fails. Each is logged with its seq and counted.
     */
    const replayWrite = (final: CatalogState, envelope: Envelope, parsedAhead?: ParseReply) =>
      Effect.tryPromise(async () => {
        const event = envelope.event as WriteBatch
        const finalDb = final.databases.get(event.dbId)
        // A database deleted later in the log would be dropped again: skip it now.
        if (finalDb === undefined || finalDb.deleted) return []
        const db = databaseAt(finalDb, envelope.seq)
        if (parsedAhead?._tag === "NotUtf8") throw new Error(`body content is not valid utf8: ${parsedAhead.message}`)
        const parsed = parsedAhead?.batch ?? parseBytes(envelope.payload!)
        const rejected = new Set(event.rejectedLines)
        const checked = checkBatch(db, parsed, event.precision as Precision, event.defaultTimeNs, rejected)
        const refused: Array<string> = []
        for (const e of parsed.errors)
          if (e.message.endsWith(": value out of range")) refused.push(`line ${e.lineNumber}: ${e.message}`)
        for (const [line, message] of checked.errors) refused.push(`line ${line}: ${message}`)
        for (const rows of tableRows(db, parsed, checked.accepted))
          await buffer.append(rows).then(() => caches.ingest(rows))
        return refused
      }).pipe(
        Effect.flatMap((refused) =>
          refused.length === 0
            ? Effect.succeed(0)
            : Effect.logWarning(
                `event log seq ${envelope.seq}: ${refused.length} line(s) of this write cannot be applied and are skipped (quarantined); first: ${refused[0]}`
              ).pipe(
                Effect.zipRight(Metric.incrementBy(replayQuarantinedTotal, refused.length)),
                Effect.as(refused.length)
              )
        ),
        Effect.catchAll((e) =>
          Effect.logError(
            `event log seq ${envelope.seq}: this write could not be applied and is skipped (quarantined): ${String(e.error)}`
          ).pipe(Effect.zipRight(Metric.increment(replayQuarantinedTotal)), Effect.as(1))
        )
      )

    /** What a delete event drops from the buffer; undefined for every other event. */
    const bufferDrop = (envelope: Envelope): (() => Promise<void>) | undefined => {
      const e = envelope.event
      switch (e._tag) {
        case "DatabaseSoftDeleted":
        case "DatabaseHardDeleted":
        case "DatabaseDataDeleted":
          return () => buffer.dropDatabase(e.dbId)
        case "TableSoftDeleted":
        case "TableHardDeleted":
        case "TableDataDeleted":
          return () => buffer.dropTable(e.tableId)
        default:
          return undefined
      }
    }

    const applyDelete = (envelope: Envelope) => {
      const drop = bufferDrop(envelope)
      return drop === undefined
        ? Effect.void
        : Effect.tryPromise({ try: drop, catch: engineFailed("the write buffer could not drop deleted rows") })
    }

    // Recovery: the writes after the last persist (earlier ones are in Parquet) are applied again, in log order with
    // the deletes among them, against the catalog as recovered (each write resolving names as of its seq).
    const recovered = yield* catalog.current
    const persistedSeq = (yield* fileIndex.current).persistedSeq
    let quarantined = 0
    let replayed = 0
    // Large bodies are parsed ahead on the parse workers, a few at a time, while earlier ones are applied in order.
    // Nothing else runs during a start, so it parses on one more worker (every core), stopped once the log is read.
    const startPool = yield* Effect.acquireRelease(
      Effect.sync(() => (NodeOs.availableParallelism() > parseWorkers() ? new ParsePool(1) : undefined)),
      (extra) => Effect.tryPromise(async () => extra?.close()).pipe(Effect.ignore)
    )
    let parsedAhead = 0
    const parseAhead = (envelope: Envelope) => {
      const payload = envelope.payload
      if (envelope.event._tag !== "WriteBatch" || payload === null || payload.byteLength < WORKER_MIN_BYTES) return Effect.succeed({ envelope })
      const parser = startPool !== undefined && parsedAhead++ % 2 === 1 ? startPool : pool
      // The worker takes a copy: should it fail, the envelope still holds its payload to parse here.
      return Effect.map(
        Effect.tryPromise({
          try: () => parser.parse([new Uint8Array(payload)], payload.byteLength),
          catch: engineFailed(`the write at seq ${envelope.seq} could not be parsed`)
        }),
        (reply) => ({ envelope, reply })
      )
    }
    yield* log.stream(persistedSeq).pipe(
      Stream.mapEffect(parseAhead, { concurrency: 2 * (parseWorkers() + (startPool === undefined ? 0 : 1)) }),
      Stream.runForEach(({ envelope, reply }: { envelope: Envelope; reply?: ParseReply | undefined }) => {
        if (envelope.event._tag !== "WriteBatch" || envelope.payload === null) return applyDelete(envelope)
        replayed += 1
        appliedPayloadBytes += envelope.payload.byteLength
        return Effect.map(replayWrite(recovered, envelope, reply), (n) => {
          quarantined += n
          if (reply?._tag === "Parsed") pool.reuse(reply.batch)
        })
      })
    )
    yield* Effect.tryPromise(async () => startPool?.close()).pipe(Effect.ignore)
    lastAppliedSeq = yield* log.committedSeq
    yield* Metric.incrementBy(replayWriteEventsTotal, replayed)
    buffer.flush()
    yield* publishBufferSize
    if (quarantined > 0) {
      yield* Effect.logError(`the start skipped ${quarantined} write event(s) or line(s) of the log that cannot be applied (quarantined, see above)`)
    }

    /** Takes a write's rows back out of the buffer: its commit failed, so it must never be seen. */
    const retract = (marks: ReadonlyArray<AppendMark>, lines: number) =>
      lock.withPermits(1)(
        Effect.tryPromise({ try: () => buffer.retract(marks), catch: engineFailed("the write buffer could not take rows back") })
      ).pipe(
        Effect.zipRight(publishBufferSize),
        Effect.zipRight(Metric.incrementBy(writeLinesRetractedTotal, lines)),
        Effect.zipRight(Effect.logWarning(`a write's log commit failed: its ${lines} line(s) were taken back out of the write buffer`))
      )
    const scope = yield* Effect.scope

    // Appended rows become visible to DuckDB at least this often even without queries.
    // Supervised as the other actors' loops: a defect is logged and counted, and the ticker starts again.
    yield* lock.withPermits(1)(Effect.sync(() => buffer.flush())).pipe(
      Effect.repeat(Schedule.spaced("1 second")),
      Effect.sandbox,
      Effect.tapError((cause) => Effect.zipRight(Metric.increment(flushTickerRestarts), Effect.logError("the write buffer's flush ticker crashed, restarting", cause))),
      Effect.retry(Schedule.exponential("100 millis").pipe(Schedule.union(Schedule.spaced("30 seconds")))),
      Effect.annotateLogs("actor", "ingester"),
      Effect.forkScoped
    )

    // Deletes committed from now on drop buffered rows, in commit order, before their DELETE answers. Writes are
    // applied by `write` itself, in log order under the lock (and taken back if their commit fails).
    yield* log.project("write-buffer", (envelopes) =>
      Effect.forEach(
        envelopes,
        // A projection cannot fail (the event is committed): a buffer that cannot drop rows is a defect here.
        (envelope) => {
          if (envelope.event._tag === "WriteBatch") return Effect.sync(() => feedCaches(envelope.seq))
          return bufferDrop(envelope) === undefined
            ? Effect.void
            : lock.withPermits(1)(applyDelete(envelope)).pipe(Effect.orDie, Effect.zipRight(publishBufferSize))
        },
        { discard: true }
      )
    )

    /** Feeds a committed write's cache updates (or notes the commit, when the write has not registered them yet). */
    function feedCaches(seq: number): void {
      const updates = pendingCacheUpdates.get(seq)
      if (updates === undefined) {
        committedBeforeRegistered.add(seq)
        return
      }
      pendingCacheUpdates.delete(seq)
      for (const update of updates) update()
    }

    /** Registers a write's cache updates, fed at once when its commit was already projected. */
    const registerCacheUpdates = (seq: number, updates: ReadonlyArray<() => void>) => {
      if (committedBeforeRegistered.delete(seq)) {
        for (const update of updates) update()
      } else if (updates.length > 0) {
        pendingCacheUpdates.set(seq, updates)
      }
    }

    /**
     * Write stall: while the line protocol waiting for a persist passes `--write-stall-threshold` (ingest outruns the
     * Compactor, as in a backfill), a write waits before it reads its body, for at most 30 s, and is never refused for
     * it. This bounds what a start replays and what the buffer holds, at the persist's pace.
     */
    const awaitPersistBacklog = Effect.gen(function* () {
      const limit = config.writeStallBytes
      if (limit === 0) return
      for (let waited = 0; appliedPayloadBytes - persistedPayloadBytes > limit && waited < 30_000; waited += 20) {
        yield* Effect.sleep("20 millis")
      }
    })

    const write = (request: WriteRequest) =>
      Effect.gen(function* () {
        yield* Metric.incrementBy(writeBytesTotal, request.size)
        yield* Metric.incrementBy(Metric.tagged(influxWriteBytesTotal, "db", request.db), request.size)
        yield* awaitPersistBacklog
        const { batch: parsed, body, done } = yield* parseBody(request.body, request.size)
        if (parsed.nonEmptyLines === 0) return yield* Effect.fail(new InvalidRequest({ message: "incoming write was empty" }))
        if (buffer.bytes > config.writeBufferMaxBytes) {
          return yield* Effect.fail(new Unavailable({ message: `the write buffer is full (${config.writeBufferMaxBytes} bytes); retry later` }))
        }
        let state = yield* catalog.current
        if (liveDatabase(state, request.db) === undefined) {
          const problem = databaseNameProblem(request.db)
          if (problem !== undefined) return yield* Effect.fail(new InvalidRequest({ message: problem }))
        }
        // Read once per request: a line without a timestamp takes the time the write arrived.
        const nowNs = BigInt(yield* Clock.currentTimeMillis) * 1_000_000n
        const fallbackTime = defaultTime(nowNs, request.precision)
        const original = physicalLine(body, request.size)
        // With accept_partial every refused line is reported as a partial write, even when none was written.
        const outcomeOf = (errors: ReadonlyArray<LineError>): WriteOutcome => {
          const limitHit = errors.some((e) => isLimitMessage(e.message))
          return request.acceptPartial ? { _tag: "Partial", errors, limitHit } : { _tag: "Rejected", errors, limitHit }
        }

        const columnLimit = config.numColumnsPerTableLimit
        let checked = checkBatch(
          liveDatabase(state, request.db),
          parsed,
          request.precision,
          fallbackTime,
          undefined,
          columnLimit
        )
        if (!request.acceptPartial && (parsed.errors.length > 0 || checked.errors.size > 0)) {
          return outcomeOf(lineErrors(checked.errors, parsed.errors, original))
        }
        if (checked.changes.length > 0 || liveDatabase(state, request.db) === undefined) {
          const rejectedTables =
            yield *
            catalog.execute((s, ctx) =>
              Either.map(extendSchema(s, ctx, request.db, checked.changes), ({ events, rejected }) => ({
                events,
                result: rejected
              }))
            )
          state = yield* catalog.current
          checked = checkBatch(
            liveDatabase(state, request.db),
            parsed,
            request.precision,
            fallbackTime,
            undefined,
            columnLimit
          )
          for (const [table, message] of rejectedTables) {
            const group = checked.accepted.get(table)
            if (group === undefined) continue
            for (let r = 0; r < group.count; r++) checked.errors.set(parsed.lineNumbers[group.rows[r]!]!, message)
            checked.accepted.delete(table)
          }
          if (!request.acceptPartial && checked.errors.size > 0) {
            return outcomeOf(lineErrors(checked.errors, parsed.errors, original))
          }
        }
        const errors = lineErrors(checked.errors, parsed.errors, original)
        let written = 0
        for (const group of checked.accepted.values()) written += group.count
        yield* Metric.incrementBy(writeLinesRejectedTotal, errors.length)
        if (errors.length > 0) yield* Metric.incrementBy(Metric.tagged(influxWriteLinesRejectedTotal, "db", request.db), errors.length)
        if (written === 0) return outcomeOf(errors)

        const db = liveDatabase(state, request.db)!
        const event = new WriteBatch(
          {
            version: 1,
            db: request.db,
            dbId: db.id,
            precision: request.precision,
            defaultTimeNs: fallbackTime,
            rejectedLines: [...checked.errors.keys()]
          },
          { disableValidation: true }
        )
        // Appended in log order, before the commit completes (so no_sync writes are seen at once); a write whose
        // commit fails is taken back. Taking back costs one DELETE on failure; appending after the commit would put
        // the append after the fsync on every write's path.
        const rowsByTable = tableRows(db, parsed, checked.accepted)
        const { committed, marks, seq, settledSignal } = yield* lock.withPermits(1)(
          Effect.uninterruptible(
            Effect.gen(function* () {
              // The buffer takes the tables' new columns before the event is logged: once logged, applying cannot fail.
              yield* Effect.tryPromise({
                try: () => buffer.prepare(rowsByTable),
                catch: (e) =>
                  new ExecutionFailed({ message: `the write buffer could not take this write's tables or columns, nothing was written: ${e instanceof Error ? e.message : String(e)}` })
              })
              const { committed, envelopes } =
                yield * log.enqueue([{ event, payload: body }, ...(request.alsoLog ?? []).map((e) => ({ event: e }))])
              const cacheUpdates: Array<() => void> = []
              const marks = yield* Effect.tryPromise({ catch: engineFailed("the write buffer could not append"), try: async () => {
                const out: Array<AppendMark> = []
                for (const rows of rowsByTable) {
                  const mark = await buffer.append(rows)
                  const update = caches.prepare(rows)
                  if (update !== undefined) cacheUpdates.push(update)
                  if (mark !== undefined) out.push(mark)
                }
                return out
              } })
              done()
              const seq = envelopes[0]!.seq
              registerCacheUpdates(seq, cacheUpdates)
              lastAppliedSeq = seq
              appliedPayloadBytes += request.size
              const settledSignal = yield* Deferred.make<void>()
              inFlight.set(seq, settledSignal)
              return { committed, marks, seq, settledSignal }
            })
          )
        )
        // Awaited in the Ingester's scope: a write is taken back even when its client has gone, or (no_sync) was
        // answered.
        const settled =
          yield *
          committed.pipe(
            Effect.tapError(() =>
              Effect.zipRight(
                Effect.sync(() => pendingCacheUpdates.delete(seq)),
                retract(marks, written)
              )
            ),
            Effect.ensuring(Effect.suspend(() => (inFlight.delete(seq), Deferred.succeed(settledSignal, undefined)))),
            Effect.forkIn(scope)
          )
        yield* publishBufferSize
        yield* Metric.incrementBy(writeLinesTotal, written)
        yield* Metric.incrementBy(Metric.tagged(influxWriteLinesTotal, "db", request.db), written)
        if (!request.noSync) yield* Fiber.join(settled)
        return errors.length === 0 ? ({ _tag: "Written", lines: written } as const) : outcomeOf(errors)
      })

    /**
     * What a persist takes, captured under the lock: the seq of the last applied write and, per table, the rows up to
     * it. Returns once every write up to that seq has settled, so that rows of a write whose commit failed are gone
     * before the persist reads them.
     */
    const capturePersist = Effect.gen(function* () {
      const captured = yield* lock.withPermits(1)(
        Effect.sync(() => {
          buffer.flush()
          const pending = [...inFlight].filter(([seq]) => seq <= lastAppliedSeq).map(([, d]) => d)
          const payloadBytes = appliedPayloadBytes
          return { persistedSeq: lastAppliedSeq, targets: buffer.persistTargets(), pending, payloadBytes }
        })
      )
      yield* Effect.forEach(captured.pending, Deferred.await, { discard: true })
      return { persistedSeq: captured.persistedSeq, targets: captured.targets, payloadBytes: captured.payloadBytes }
    })

    /**
     * Drops persisted rows from the buffer, once the persist is recorded and queries find them in files; the payload
     * bytes the capture covered no longer count as unpersisted.
     */
    const releasePersisted = (targets: ReadonlyArray<PersistTarget>, payloadBytes: number) =>
      lock
        .withPermits(1)(
          Effect.tryPromise({
            try: () => buffer.dropPersisted(targets),
            catch: engineFailed("the write buffer could not drop persisted rows")
          }).pipe(
            Effect.tap(() => Effect.sync(() => (persistedPayloadBytes = Math.max(persistedPayloadBytes, payloadBytes))))
          )
        )
        .pipe(Effect.tap(() => publishBufferSize))

    /**
     * Replaces the buffer's content for a restore, writes held off meanwhile: waits for writes in flight to settle,
     * runs `commit` (which logs RestoreApplied), empties the buffer, then logs the backup's unpersisted writes again
     * (new seqs) and applies them, names resolved as of their original seqs. Writes to a database the tail deletes
     * later are left out; the tail's table deletes drop the rows before them from the buffer.
     */
    const restore = <E>(commit: Effect.Effect<void, E>, tail: ReadonlyArray<Envelope>) =>
      lock.withPermits(1)(
        Effect.uninterruptible(
          Effect.gen(function* () {
            yield* Effect.forEach([...inFlight.values()], Deferred.await, { discard: true })
            yield* commit
            yield* Effect.tryPromise({ try: () => buffer.dropAll(), catch: engineFailed("the write buffer could not be emptied") })
            const restored = yield* catalog.current
            caches.reset(restored)
            const dbDeletedAt = new Map<number, number>()
            for (const e of tail) {
              const ev = e.event
              if (ev._tag === "DatabaseSoftDeleted" || ev._tag === "DatabaseHardDeleted" || ev._tag === "DatabaseDataDeleted") dbDeletedAt.set(ev.dbId, e.seq)
            }
            for (const e of tail) {
              if (e.event._tag !== "WriteBatch") {
                yield* applyDelete(e)
                continue
              }
              if (e.payload === null || (dbDeletedAt.get(e.event.dbId) ?? 0) > e.seq) continue
              // The log takes its chunks over: it gets a copy, the buffer parses the original.
              yield* log.append([{ event: e.event, payload: [new Uint8Array(e.payload)] }])
              yield* replayWrite(restored, e)
            }
            lastAppliedSeq = yield* log.committedSeq
            buffer.flush()
          })
        )
      ).pipe(Effect.tap(() => publishBufferSize))

    return {
      /** Writes a line-protocol batch. */
      write,
      restore,
      capturePersist,
      releasePersisted,
      /** The write buffer, for the query engine. */
      buffer,
      /** Payload bytes of applied writes that no recorded persist covers yet: what a start would parse again. */
      unpersistedPayloadBytes: () => appliedPayloadBytes - persistedPayloadBytes,
      /** Makes every acknowledged write visible to DuckDB; queries call it before they read. */
      flush: lock.withPermits(1)(Effect.sync(() => buffer.flush()))
    } as const
  })
}) {}
