import { SqlClient } from "@effect/sql"
import { Chunk, Deferred, Effect, Exit, Metric, MetricBoundaries, Option, PubSub, Queue, Schedule, Stream } from "effect"
import { ServerConfig } from "../config.ts"
import { decodeEvent, encodeEvent, type StrataEvent } from "../events/index.ts"
import { CommitThread } from "./CommitThread.ts"
import { SegmentReader } from "./segments.ts"
import { LogDir } from "./store.ts"

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

/** The log could not be written. */
export class LogWriteFailed {
  readonly _tag = "LogWriteFailed"
  constructor(readonly message: string) {}
}

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

const nowNs = () => BigInt(Date.now()) * 1_000_000n + BigInt(Math.floor((performance.now() % 1) * 1e6))


/** Reads envelopes with `seq` above `afterSeq`, oldest first. */
export const readEnvelopes = (afterSeq: number, limit: number, untilSeq?: number) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const dir = yield* LogDir
    const rows = yield* sql<{
      seq: bigint
      at: bigint
      node: string
      kind: string
      body: string
      payload: Uint8Array | null
      payload_segment: bigint | null
      payload_offset: bigint | null
      payload_length: bigint | null
    }>`
      SELECT seq, at, node, kind, body, payload, payload_segment, payload_offset, payload_length FROM events
      WHERE seq > ${afterSeq} AND seq <= ${untilSeq ?? Number.MAX_SAFE_INTEGER}
      ORDER BY seq LIMIT ${limit}`.pipe(Effect.provideService(SqlClient.SafeIntegers, true))
    const segments = new SegmentReader(dir)
    try {
      return rows.map(
        (r): Envelope => ({
          seq: Number(r.seq),
          at: r.at,
          node: r.node,
          event: decodeEvent(r.body),
          payload:
            r.payload_segment === null
              ? r.payload
              : segments.read({ segment: Number(r.payload_segment), offset: Number(r.payload_offset), length: Number(r.payload_length) })
        })
      )
    } finally {
      segments.close()
    }
  }).pipe(Effect.orDie)

/** Streams every envelope after `afterSeq` (to `untilSeq` if given) in pages. */
export const streamEnvelopes = (afterSeq: number, untilSeq?: number) =>
  Stream.paginateChunkEffect(afterSeq, (from) =>
    readEnvelopes(from, 1000, untilSeq).pipe(
      Effect.map((page) => [
        Chunk.fromIterable(page),
        page.length < 1000 ? Option.none<number>() : Option.some(page[page.length - 1]!.seq)
      ] as const)
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
    const last = yield* sql<{ seq: bigint | null }>`SELECT max(seq) AS seq FROM events`.pipe(
      Effect.provideService(SqlClient.SafeIntegers, true),
      Effect.orDie
    )
    let nextSeq = Number(last[0]?.seq ?? 0n) + 1
    let committedSeq = nextSeq - 1
    const pending = yield* Queue.unbounded<PendingAppend>()
    const committedHub = yield* PubSub.sliding<Envelope>(65_536)

    // Inserts and fsyncs run on their own thread: the main thread keeps serving while a commit waits for the disk.
    const commitThread = yield* Effect.acquireRelease(
      Effect.sync(() => new CommitThread(config.dataDir)),
      (thread) => Effect.promise(() => thread.close())
    )
    const insertAll = (appends: ReadonlyArray<PendingAppend>) =>
      Effect.tryPromise({
        try: () =>
          commitThread.commit(
            appends.flatMap((p) =>
              p.envelopes.map((e, i) => ({ seq: e.seq, at: e.at, node: e.node, kind: e.event._tag, body: encodeEvent(e.event), payload: p.payloads[i]! }))
            )
          ),
        catch: (e) => new LogWriteFailed(`the event log could not be written: ${e instanceof Error ? e.message : String(e)}`)
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
        for (const p of batch) yield* Deferred.succeed(p.committed, undefined)
        yield* committedHub.publishAll(envelopes)
      } else {
        yield* Effect.logError("event log commit failed", exit.cause)
        const failure = new LogWriteFailed("the event log could not be written")
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
        if (rest.length > 0) yield* insertAll(rest).pipe(Effect.ignoreLogged)
        for (const p of rest) yield* Deferred.succeed(p.committed, undefined)
      })
    )

    /** Assigns seqs and queues the events; the returned effect completes when they are committed. */
    const enqueue = (events: ReadonlyArray<NewEvent>) =>
      Effect.map(Deferred.make<void, LogWriteFailed>(), (committed) => {
        const at = nowNs()
        const envelopes = events.map((e): Envelope => ({ seq: nextSeq++, at, node: config.nodeId, event: e.event, payload: null }))
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
      /** Committed envelopes, live, from the moment of subscription. */
      subscribe: Stream.fromPubSub(committedHub),
      /** Reads committed envelopes after `afterSeq`. */
      read: (afterSeq: number, limit: number) =>
        readEnvelopes(afterSeq, limit).pipe(Effect.provideService(SqlClient.SqlClient, sql), Effect.provideService(LogDir, config.dataDir)),
      /** Streams every committed envelope after `afterSeq`. */
      stream: (afterSeq: number) =>
        streamEnvelopes(afterSeq).pipe(Stream.provideService(SqlClient.SqlClient, sql), Stream.provideService(LogDir, config.dataDir))
    } as const
  })
}) {}
