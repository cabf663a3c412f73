import { SqlClient } from "@effect/sql"
import { Cause, Chunk, Deferred, Effect, Exit, Metric, MetricBoundaries, Option, Queue, Schedule, Stream } from "effect"
import { ServerConfig } from "../config.ts"
import { LogWriteFailed } from "../errors.ts"
import { decodeEvent, encodeEvent, type StrataEvent } from "../events/index.ts"
import { CommitThread } from "./CommitThread.ts"
import { describeDamage, type EventDamage, LogDamaged, payloadProblem, rowProblem } from "./integrity.ts"
import { SegmentReader, segmentFile } from "./segments.ts"
import { LogDir, logFile } from "./store.ts"

/**
 * One stored event: its place in the log, when and where it happened, and what it says. `payload` holds the bulk
 * bytes stored beside the event when it is read from the log; envelopes of fresh appends carry none (their bytes
 * were moved to the commit thread).
 */
export interface Envelope {
  readonly seq: number
  readonly at: bigint
  readonly node: string
  readonly event: StrataEvent
  readonly payload: Uint8Array | null
}

/**
 * An event to append, with optional bulk bytes kept beside the body, in chunks stored as one. Appending takes the
 * chunks over: they are moved to the commit thread, and the caller must not read them again.
 */
export interface NewEvent {
  readonly event: StrataEvent
  readonly payload?: ReadonlyArray<Uint8Array>
}

/**
 * A projection of the log, fed every committed envelope in commit order by the log's writer, before the appender
 * learns of the commit. It must not fail (everything is validated before the append) and must not wait on a commit.
 */
export type Projector = (envelopes: ReadonlyArray<Envelope>) => Effect.Effect<void>

export const projectorFailuresTotal = Metric.counter("strata_projector_failures_total", {
  description: "Committed events a projection failed to apply (a defect: the projection is behind the log until a restart)"
})

export { LogWriteFailed }

interface PendingAppend {
  readonly envelopes: ReadonlyArray<Envelope>
  /** Each envelope's payload chunks, or null. */
  readonly payloads: ReadonlyArray<ReadonlyArray<Uint8Array> | null>
  readonly committed: Deferred.Deferred<void, LogWriteFailed>
}

export const appendsTotal = Metric.counter("strata_eventlog_appends_total", { description: "Events appended to the event log" })
export const commitsTotal = Metric.counter("strata_eventlog_commits_total", { description: "Group commits of the event log" })
export const commitDuration = Metric.histogram(
  "strata_eventlog_commit_duration_seconds",
  MetricBoundaries.exponential({ start: 0.0005, factor: 2, count: 14 }),
  "Time to write and fsync one group commit"
)



/** How a read treats an event that does not verify: stop with `LogDamaged`, or skip it and tell `onDamage`. */
export interface ReadOptions {
  readonly recover: boolean
  readonly onDamage?: (damage: EventDamage) => Effect.Effect<void>
  /** Events of this kind are not read at all (their payloads neither): projections that ignore writes skip them. */
  readonly excludeKind?: string | undefined
}

const stopOnDamage: ReadOptions = { recover: false }

/** A row as stored; rows written before payload segments or checksums lack those columns. */
export interface StoredRow {
  seq: bigint
  at: bigint
  node: string
  kind: string
  body: string
  payload: Uint8Array | null
  payload_segment?: bigint | null
  payload_offset?: bigint | null
  payload_length?: bigint | null
  payload_crc?: bigint | null
  row_crc?: bigint | null
}

/** The first line of an error's message: Schema's parse errors run to many lines. */
const firstLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0]!

/**
 * Reads the rows with `seq` above `afterSeq` (at most `limit`), oldest first, verifying each against its checksums.
 * Returns the envelopes that verify and the last seq read, so a caller pages on past skipped events.
 */
const readPage = (afterSeq: number, limit: number, untilSeq: number | undefined, options: ReadOptions) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const dir = yield* LogDir
    // `*`: a read-only reader (replay) cannot migrate an old log, so the columns it has are the ones it gets.
    const rows = yield* sql<StoredRow>`
      SELECT * FROM events
      WHERE seq > ${afterSeq} AND seq <= ${untilSeq ?? Number.MAX_SAFE_INTEGER} AND kind <> ${options.excludeKind ?? ""}
      ORDER BY seq LIMIT ${limit}`.pipe(Effect.provideService(SqlClient.SafeIntegers, true), Effect.orDie)
    const segments = new SegmentReader(dir)
    const envelopes: Array<Envelope> = []
    const damages: Array<EventDamage> = []
    try {
      for (const r of rows) {
        const verified = verifyRow(r, dir, segments)
        if ("damage" in verified) damages.push(verified.damage)
        else envelopes.push(verified.envelope)
      }
    } finally {
      segments.close()
    }
    if (damages.length > 0) {
      if (!options.recover) return yield* Effect.fail(new LogDamaged(damages[0]!))
      if (options.onDamage !== undefined) yield* Effect.forEach(damages, options.onDamage, { discard: true })
    }
    return { envelopes, rows: rows.length, lastSeq: rows.length === 0 ? afterSeq : Number(rows[rows.length - 1]!.seq) }
  })

/** An envelope from its stored row, or what is wrong with the row. */
const verifyRow = (
  r: StoredRow,
  dir: string,
  segments: SegmentReader
): { envelope: Envelope } | { damage: EventDamage } => {
  const seq = Number(r.seq)
  const segment = r.payload_segment ?? null
  const payloadLength = segment === null ? (r.payload?.byteLength ?? 0) : Number(r.payload_length ?? 0)
  const damaged = (file: string, reason: string) => ({
    damage: { seq, kind: r.kind, file, bytes: Buffer.byteLength(r.body) + payloadLength, reason }
  })
  const fields = {
    seq: r.seq,
    at: r.at,
    node: r.node,
    kind: r.kind,
    body: r.body,
    payloadSegment: segment,
    payloadOffset: r.payload_offset ?? null,
    payloadLength: r.payload_length ?? null,
    payloadCrc: r.payload_crc ?? null
  }
  const rowFault = rowProblem(fields, r.row_crc ?? null)
  if (rowFault !== undefined) return damaged(logFile(dir), rowFault)
  let event: StrataEvent
  try {
    event = decodeEvent(r.body)
  } catch (e) {
    return damaged(logFile(dir), `its body does not decode: ${firstLine(e)}`)
  }
  let payload = r.payload
  // Named only when the payload is damaged: the path is not built for every row a start reads.
  const payloadFile = () => (segment === null ? logFile(dir) : segmentFile(dir, Number(segment)))
  if (segment !== null) {
    const ref = { segment: Number(segment), offset: Number(r.payload_offset), length: Number(r.payload_length) }
    try {
      payload = segments.read(ref)
    } catch (e) {
      // A missing file or one that ends early is damage; any other I/O error (EACCES, EMFILE) is not the data's fault.
      const code = (e as NodeJS.ErrnoException).code
      if (code !== undefined && code !== "ENOENT") throw e
      return damaged(
        payloadFile(),
        `its payload (bytes ${ref.offset}–${ref.offset + ref.length}) cannot be read: ${firstLine(e)}`
      )
    }
  }
  const payloadFault = payload === null ? undefined : payloadProblem(payload, fields.payloadCrc)
  if (payloadFault !== undefined) {
    const where =
      segment === null
        ? "in the row"
        : `at bytes ${Number(r.payload_offset)}–${Number(r.payload_offset) + payloadLength}`
    return damaged(payloadFile(), `${payloadFault} of its payload ${where}`)
  }
  return { envelope: { seq, at: r.at, node: r.node, event, payload } }
}

/** Reads the envelopes with `seq` above `afterSeq` (reading at most `limit` rows), oldest first, verified. */
export const readEnvelopes = (
  afterSeq: number,
  limit: number,
  untilSeq?: number,
  options: ReadOptions = stopOnDamage
) => Effect.map(readPage(afterSeq, limit, untilSeq, options), (page) => page.envelopes)

/** Streams every envelope after `afterSeq` (to `untilSeq` if given) in pages, verified as `options` say. */
export const streamEnvelopes = (afterSeq: number, untilSeq?: number, options: ReadOptions = stopOnDamage) =>
  Stream.paginateChunkEffect(afterSeq, (from) =>
    readPage(from, 1000, untilSeq, options).pipe(
      Effect.map(
        (page) =>
          [
            Chunk.fromIterable(page.envelopes),
            page.rows < 1000 ? Option.none<number>() : Option.some(page.lastSeq)
          ] as const
      )
    )
  )

/**
 * The event log: the one source of truth. Appends get their `seq` at once, in call order, and are committed by one
 * writer fiber that drains every pending append into a single SQLite transaction (group commit).
 */
export class EventLog extends Effect.Service<EventLog>()("strata/EventLog", {
  scoped: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const config = yield* ServerConfig
    // Envelopes are stamped from the Clock (read once per append, nanosecond resolution where the clock has it).
    const clock = yield* Effect.clock
    const nowNs = () => clock.unsafeCurrentTimeNanos()
    // A quarantined event keeps its seq: no later event may take it again.
    const last = yield* sql<{ seq: bigint | null }>`SELECT max(seq) AS seq FROM (SELECT max(seq) AS seq FROM events UNION ALL SELECT max(seq) FROM quarantined_events)`.pipe(
      Effect.provideService(SqlClient.SafeIntegers, true),
      Effect.orDie
    )
    let nextSeq = Number(last[0]?.seq ?? 0n) + 1
    let committedSeq = nextSeq - 1
    const pending = yield* Queue.unbounded<PendingAppend>()
    // Projections, in registration order; the lock keeps a checkpoint from seeing them between two of them.
    const projectors: Array<{ readonly name: string; readonly apply: Projector }> = []
    const projectionLock = yield* Effect.makeSemaphore(1)
    /** The newest seq every projection has applied. */
    let projectedSeq = committedSeq
    const project = (envelopes: ReadonlyArray<Envelope>) =>
      projectionLock.withPermits(1)(
        Effect.forEach(
          projectors,
          (p) =>
            p.apply(envelopes).pipe(
              Effect.catchAllCause((cause) =>
                Effect.zipRight(Metric.increment(projectorFailuresTotal), Effect.logError(`projection ${p.name} failed to apply committed events`, cause))
              )
            ),
          { discard: true }
        ).pipe(Effect.zipRight(Effect.sync(() => void (projectedSeq = envelopes[envelopes.length - 1]!.seq))))
      )
    // Events skipped as damaged (only with --recover), by seq: the catalog and the write buffer each read the log
    // at start, and each damaged event is logged once.
    const damaged = new Map<number, EventDamage>()
    const quarantined = new Set<number>()
    const readOptions: ReadOptions = {
      recover: config.recover,
      onDamage: (damage) =>
        Effect.suspend(() => {
          if (damaged.has(damage.seq)) return Effect.void
          damaged.set(damage.seq, damage)
          return Effect.logWarning(`--recover: skipping damaged ${describeDamage(damage)}`)
        })
    }

    // Inserts and fsyncs run on their own thread: the main thread keeps serving while a commit waits for the disk.
    const commitThread = yield* Effect.acquireRelease(
      Effect.sync(() => new CommitThread(config.dataDir)),
      (thread) =>
        Effect.tryPromise({ try: () => thread.close(), catch: (cause) => cause }).pipe(
          Effect.catchAll((cause) => Effect.logWarning("the commit thread did not close cleanly", cause))
        )
    )
    const insertAll = (appends: ReadonlyArray<PendingAppend>) =>
      Effect.tryPromise({
        try: () =>
          commitThread.commit(
            appends.flatMap((p) =>
              p.envelopes.map((e, i) => ({
                seq: e.seq,
                at: e.at,
                node: e.node,
                kind: e.event._tag,
                body: encodeEvent(e.event),
                payload: p.payloads[i]!
              }))
            )
          ),
        catch: (cause) =>
          new LogWriteFailed({
            message: `the event log could not be written: ${cause instanceof Error ? cause.message : String(cause)}`,
            cause
          })
      })

    const commitOnce = Effect.gen(function* () {
      const first = yield* Queue.take(pending)
      if (config.walFlushIntervalMs > 0) yield* Effect.sleep(config.walFlushIntervalMs)
      const rest = yield* Queue.takeAll(pending)
      const batch = [first, ...rest]
      const envelopes = batch.flatMap((p) => p.envelopes)
      const started = performance.now()
      const exit = yield* Effect.exit(insertAll(batch))
      yield* Metric.update(commitDuration, (performance.now() - started) / 1000)
      yield* Metric.increment(commitsTotal)
      if (Exit.isSuccess(exit)) {
        committedSeq = envelopes[envelopes.length - 1]!.seq
        yield* Metric.incrementBy(appendsTotal, envelopes.length)
        // Uninterruptible: an envelope is applied to every projection or (the server stopping) to none.
        yield* Effect.uninterruptible(project(envelopes))
        for (const p of batch) yield* Deferred.succeed(p.committed, undefined)
      } else {
        yield* Effect.logError("event log commit failed", exit.cause)
        const failure = new LogWriteFailed({ message: "the event log could not be written", cause: Cause.squash(exit.cause) })
        for (const p of batch) yield* Deferred.fail(p.committed, failure)
      }
    })

    yield* commitOnce.pipe(
      Effect.forever,
      Effect.sandbox,
      Effect.tapError((cause) => Effect.logError("event log writer crashed, restarting", cause)),
      Effect.retry(Schedule.exponential("10 millis").pipe(Schedule.union(Schedule.spaced("5 seconds")))),
      Effect.annotateLogs("actor", "event-log-writer"),
      Effect.interruptible,
      Effect.forkScoped
    )

    // On shutdown, whatever was accepted but not yet committed is written before the connection closes.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        const rest = Chunk.toReadonlyArray(yield* Queue.takeAll(pending))
        if (rest.length === 0) return
        // A writer still waiting learns whether its events made it: a failed final insert is not a commit.
        const exit = yield* Effect.exit(insertAll(rest))
        if (Exit.isFailure(exit)) yield* Effect.logError("event log commit failed at shutdown", exit.cause)
        for (const p of rest) yield* Exit.isSuccess(exit) ? Deferred.succeed(p.committed, undefined) : Deferred.fail(p.committed, new LogWriteFailed({ message: "the event log could not be written" }))
      })
    )

    /** Assigns seqs and queues the events; the returned effect completes when they are committed. */
    const enqueue = (events: ReadonlyArray<NewEvent>) =>
      Effect.map(Deferred.make<void, LogWriteFailed>(), (committed) => {
        const at = nowNs()
        const envelopes = events.map((e): Envelope => ({
          seq: nextSeq++,
          at,
          node: config.nodeId,
          event: e.event,
          payload: null
        }))
        pending.unsafeOffer({ envelopes, payloads: events.map((e) => e.payload ?? null), committed })
        return { envelopes, committed: Deferred.await(committed) }
      })

    return {
      /** Appends events atomically and waits until they are durable. */
      append: (events: ReadonlyArray<NewEvent>) =>
        Effect.flatMap(enqueue(events), ({ committed, envelopes }) => Effect.as(committed, envelopes)),
      /** Appends events and returns at once with their envelopes and an effect that awaits the commit. */
      enqueue,
      /** The newest committed seq. */
      committedSeq: Effect.sync(() => committedSeq),
      /** Closes the payload segment being appended to and starts the next (after the commits already sent). */
      rollSegment: Effect.tryPromise({
        try: () => commitThread.roll(),
        catch: (cause) =>
          new LogWriteFailed({ message: `the payload segment could not be rolled: ${String(cause)}`, cause })
      }),
      /**
       * Feeds a projection every envelope committed from now on, in commit order, before their appenders resume: once
       * `append` returns, every projection has applied its events. Registered for the caller's scope.
       */
      project: (name: string, apply: Projector) =>
        Effect.acquireRelease(
          Effect.sync(() => void projectors.push({ name, apply })),
          () =>
            Effect.sync(
              () =>
                void projectors.splice(
                  projectors.findIndex((p) => p.apply === apply),
                  1
                )
            )
        ),
      /** Runs `effect` while no projection is applying: every projection stands at the same committed seq. */
      atCommitBoundary: <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        projectionLock.withPermits(1)(
          Effect.zip(
            Effect.sync(() => projectedSeq),
            effect
          )
        ),
      /**
       * Reads committed envelopes after `afterSeq`; fails with `LogDamaged` on one that does not verify (unless
       * --recover).
       */
      read: (afterSeq: number, limit: number) =>
        readEnvelopes(afterSeq, limit, undefined, readOptions).pipe(
          Effect.provideService(SqlClient.SqlClient, sql),
          Effect.provideService(LogDir, config.dataDir)
        ),
      /**
       * Streams every committed envelope after `afterSeq` (up to `untilSeq`, leaving out `excludeKind` if given);
       * fails with `LogDamaged` as `read` does.
       */
      stream: (afterSeq: number, options: { readonly untilSeq?: number; readonly excludeKind?: string } = {}) =>
        streamEnvelopes(afterSeq, options.untilSeq, { ...readOptions, excludeKind: options.excludeKind }).pipe(
          Stream.provideService(SqlClient.SqlClient, sql),
          Stream.provideService(LogDir, config.dataDir)
        ),
      /** The newest `limit` committed events of one kind, newest first; events that do not verify are left out. */
      latestOfKind: (kind: StrataEvent["_tag"], limit: number) =>
        Effect.gen(function* () {
          const rows =
            yield* sql<StoredRow>`SELECT * FROM events WHERE kind = ${kind} ORDER BY seq DESC LIMIT ${limit}`.pipe(
              Effect.provideService(SqlClient.SafeIntegers, true),
              Effect.orDie
            )
          const segments = new SegmentReader(config.dataDir)
          try {
            const out: Array<Envelope> = []
            for (const r of rows) {
              const verified = verifyRow(r, config.dataDir, segments)
              if ("envelope" in verified) out.push(verified.envelope)
            }
            return out
          } finally {
            segments.close()
          }
        }),
      /** The events skipped so far because they did not verify (only with --recover), oldest first. */
      damaged: Effect.sync(() => [...damaged.values()].sort((a, b) => a.seq - b.seq)),
      /**
       * Moves the events skipped as damaged out of the log into `quarantined_events` (kept whole, with why), once
       * every projection has been built without them: later starts read a clean log and need no --recover.
       */
      quarantineDamaged: Effect.suspend(() => {
        const found = [...damaged.values()].filter((d) => !quarantined.has(d.seq))
        if (found.length === 0) return Effect.succeed(0)
        const now = nowNs()
        return sql
          .withTransaction(
            Effect.forEach(
              found,
              (d) =>
                Effect.zipRight(
                  sql`INSERT INTO quarantined_events SELECT ${now}, ${d.reason}, seq, at, node, kind, body, payload, payload_segment, payload_offset, payload_length, payload_crc, row_crc FROM events WHERE seq = ${d.seq}`,
                  sql`DELETE FROM events WHERE seq = ${d.seq}`
                ),
              { discard: true }
            )
          )
          .pipe(
            Effect.tap(() => Effect.sync(() => found.forEach((d) => quarantined.add(d.seq)))),
            Effect.tap(() =>
              Effect.logWarning(
                `--recover: moved ${found.length} damaged event(s) (seq ${found.map((d) => d.seq).join(", ")}) out of the log into its quarantined_events table`
              )
            ),
            Effect.as(found.length),
            Effect.orDie
          )
      })
    } as const
  })
}) {}
