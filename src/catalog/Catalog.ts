import { Clock, Effect, Either, Metric, Schedule, SubscriptionRef } from "effect"
import * as NodeCrypto from "node:crypto"
import { ServerConfig } from "../config.ts"
import type { ApiFailure } from "../errors.ts"
import { ClusterInitialized, DatabaseCreated, type StrataEvent } from "../events/index.ts"
import { EventLog, type Envelope, LogWriteFailed } from "../log/EventLog.ts"
import { influxCatalogOperationsTotal } from "../metrics/prometheus.ts"
import { type CommandContext, dueHardDeletes } from "./commands.ts"
import { Checkpoints } from "../checkpoint/Checkpoints.ts"
import { applyEnvelope, type CatalogState, INTERNAL_DB } from "./state.ts"
import { forkSupervised } from "../supervision.ts"

const INTERNAL_RETENTION_NS = 7n * 24n * 3600n * 1_000_000_000n

/** A catalog command: decides events from the current state, or fails. */
export type Command<A> = (
  state: CatalogState,
  ctx: CommandContext
) => Either.Either<{ readonly events: ReadonlyArray<StrataEvent>; readonly result: A }, ApiFailure>

/**
 * The Catalog actor. It owns the catalog projection and serialises every command: decide against the current state,
 * append the events to the log, apply the committed envelopes, answer. Readers see the state through `current`.
 */
export class Catalog extends Effect.Service<Catalog>()("strata/Catalog", {
  dependencies: [Checkpoints.Default, EventLog.Default],
  scoped: Effect.gen(function* () {
    const log = yield* EventLog
    const config = yield* ServerConfig
    const replayed = (yield* Checkpoints).recovered.catalog
    // Columns of older servers' events that the buffer cannot hold are left out; say so, loudly, once per start.
    for (const q of replayed.quarantinedColumns) {
      const db = replayed.databases.get(q.dbId)
      const table = db?.tables.get(q.tableId)
      yield* Effect.logWarning(
        `event log seq ${q.seq}: column ${JSON.stringify(q.name)} of table '${table?.name ?? q.tableId}' in database '${db?.name ?? q.dbId}' is left out of the catalog (quarantined): ${q.reason}`
      )
    }
    const state = yield* SubscriptionRef.make(replayed)
    // Every committed event reaches the catalog here, whoever appended it (writes carry no catalog change).
    yield* log.project("catalog", (envelopes) =>
      SubscriptionRef.update(state, (s) => envelopes.reduce((acc, e) => (e.event._tag === "WriteBatch" ? acc : applyEnvelope(acc, e)), s))
    )
    const lock = yield* Effect.makeSemaphore(1)
    const limits = {
      numDatabaseLimit: config.numDatabaseLimit,
      numTableLimit: config.numTableLimit,
      numColumnsPerTableLimit: config.numColumnsPerTableLimit,
      hardDeleteDefaultDurationMs: config.hardDeleteDefaultDurationMs
    }

    const commit = (events: ReadonlyArray<StrataEvent>) =>
      Effect.gen(function* () {
        if (events.length === 0) return [] as ReadonlyArray<Envelope>
        // The catalog projection has applied them once the append returns.
        return yield* log.append(events.map((event) => ({ event })))
      })

    const execute = <A>(command: Command<A>): Effect.Effect<A, ApiFailure | LogWriteFailed> =>
      lock.withPermits(1)(
        Effect.gen(function* () {
          const nowNs = BigInt(yield* Clock.currentTimeMillis) * 1_000_000n
          const decided = command(yield* SubscriptionRef.get(state), { limits, nowNs })
          if (Either.isLeft(decided)) return yield* Effect.fail(decided.left)
          yield* commit(decided.right.events)
          for (const event of decided.right.events) yield* Metric.increment(Metric.tagged(influxCatalogOperationsTotal, "type", event._tag))
          return decided.right.result
        })
      )

    if (replayed.clusterUuid === null) {
      yield *
        lock
          .withPermits(1)(
            commit([
              new ClusterInitialized({ version: 1, clusterUuid: NodeCrypto.randomUUID() }),
              new DatabaseCreated({
                version: 1,
                dbId: replayed.nextDbId,
                name: INTERNAL_DB,
                retentionPeriodNs: INTERNAL_RETENTION_NS
              })
            ])
          )
          .pipe(Effect.orDie)
    }

    // Soft-deleted objects whose hard-delete time has come leave the catalog.
    yield* forkSupervised(
      "catalog-hard-delete",
      execute((s, ctx) => Either.right({ events: dueHardDeletes(s, ctx.nowNs), result: undefined })).pipe(
        Effect.catchAll((e) => Effect.logWarning("hard-delete sweep failed", e)),
        Effect.repeat(Schedule.spaced("10 seconds"))
      )
    )

    return {
      /** The catalog as of now. */
      current: SubscriptionRef.get(state),
      /** Every new catalog state, starting with the current one. */
      changes: state.changes,
      /** Runs a command under the catalog lock; its events are durable before it answers. */
      execute,
      /** The cluster's identity. */
      clusterUuid: Effect.map(SubscriptionRef.get(state), (s) => s.clusterUuid ?? "")
    } as const
  })
}) {}

/** Lifts a plain decision (events only) into a command answering with the committed state. */
export const decide =
  (
    f: (state: CatalogState, ctx: CommandContext) => Either.Either<ReadonlyArray<StrataEvent>, ApiFailure>
  ): Command<void> =>
  (state, ctx) =>
    Either.map(f(state, ctx), (events) => ({ events, result: undefined }))
