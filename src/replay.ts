import { SqlClient } from "@effect/sql"
import { Effect, Stream } from "effect"
import { applyEnvelope, emptyCatalog, type CatalogState } from "./catalog/state.ts"
import { encodeEvent } from "./events/index.ts"
import { streamEnvelopes, type Envelope } from "./log/EventLog.ts"
import { describeDamage, type EventDamage } from "./log/integrity.ts"
import { layerReadOnlyStore } from "./log/store.ts"

/** The catalog as a plain JSON value: databases, tables with columns, tokens by name (never secrets or hashes). */
export const catalogSummary = (state: CatalogState) => ({
  cluster_uuid: state.clusterUuid,
  last_seq: state.lastSeq,
  databases: [...state.databases.values()].map((db) => ({
    id: db.id,
    name: db.name,
    deleted: db.deleted,
    retention_period_ns: db.retentionPeriodNs?.toString() ?? null,
    hard_delete_at_ns: db.hardDeleteAtNs?.toString() ?? null,
    tables: [...db.tables.values()].map((t) => ({
      id: t.id,
      name: t.name,
      deleted: t.deleted,
      retention_period_ns: t.retentionPeriodNs?.toString() ?? null,
      series_key: t.seriesKey,
      columns: t.columns.map((c) => ({ id: c.id, name: c.name, type: c.type }))
    }))
  })),
  tokens: [...state.tokens.values()].map((t) => ({
    id: t.id,
    name: t.name,
    _tag: t.grant._tag,
    expiry_ns: t.expiresAtNs?.toString() ?? null,
    ...(t.grant._tag === "resource" ? { permissions: t.grant.permissions } : {})
  }))
})

const envelopeJson = (e: Envelope) => ({
  seq: e.seq,
  at: e.at.toString(),
  node: e.node,
  kind: e.event._tag,
  // Password hashes stay in the log: they are never printed.
  body: JSON.parse(encodeEvent(e.event), (key, value: unknown) => (key === "passwordHash" && value !== null ? "<redacted>" : value)) as unknown,
  payload_bytes: e.payload?.length ?? 0
})

/**
 * The log's truncations (oldest first) and the writes whose payloads a delete purged (why, by seq), up to `untilSeq`.
 */
const removedPayloads = (untilSeq: number | undefined) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const until = untilSeq ?? Number.MAX_SAFE_INTEGER
    const truncations = (yield* sql<{ body: string }>`SELECT body FROM events WHERE kind = 'LogTruncated' AND seq <= ${until} ORDER BY seq`)
      .map((r) => JSON.parse(r.body) as { fromSeq: number; throughSeq: number; events: number; payloadBytes: number })
      .map(({ fromSeq, throughSeq, events, payloadBytes }) => ({ fromSeq, throughSeq, events, payloadBytes }))
    // A read-only replay cannot migrate an older log: without the column, nothing was purged.
    const columns = yield* sql<{ name: string }>`SELECT name FROM pragma_table_info('events')`
    const purged = new Map<number, string>()
    if (columns.some((c) => c.name === "payload_purged")) {
      for (const r of yield* sql<{ seq: number; reason: string }>`SELECT seq, payload_purged AS reason FROM events WHERE payload_purged IS NOT NULL AND seq <= ${until}`) {
        purged.set(Number(r.seq), r.reason)
      }
    }
    return { truncations, purged }
  }).pipe(Effect.orDie)

/**
 * Prints a data directory's log up to `untilSeq`, then the catalog projected at that point. An event that fails its
 * checksums stops the replay with `LogDamaged`; with `recover` it is printed as damaged and left out of the catalog.
 */
export const replay = (
  dataDir: string,
  untilSeq: number | undefined,
  json: boolean,
  print: (line: string) => void,
  recover = false
) =>
  Effect.gen(function* () {
    const onDamage = (d: EventDamage) =>
      Effect.sync(() => print(json ? JSON.stringify({ damaged: d }) : `${d.seq}\tDAMAGED\t${describeDamage(d)}`))
    const { truncations, purged } = yield* removedPayloads(untilSeq)
    // A truncation is told where its writes were, before the first event after them.
    const tellTruncations = (beforeSeq: number) => {
      while (truncations.length > 0 && truncations[0]!.throughSeq < beforeSeq) {
        const t = truncations.shift()!
        if (json) print(JSON.stringify({ truncated: t }))
        else
          print(
            `seq ${t.fromSeq}..${t.throughSeq}: ${t.events} write events' payloads truncated after persist (in Parquet), ${t.payloadBytes} bytes`
          )
      }
    }
    const state = yield* streamEnvelopes(0, untilSeq, { recover, onDamage }).pipe(
      Stream.runFoldEffect(emptyCatalog, (s, e) =>
        Effect.sync(() => {
          tellTruncations(e.seq)
          const reason = purged.get(e.seq)
          if (json)
            print(
              JSON.stringify({
                envelope: { ...envelopeJson(e), ...(reason === undefined ? {} : { payload_purged: reason }) }
              })
            )
          else {
            const note = reason === undefined ? "" : `\tpayload purged: ${reason}`
            print(
              `${e.seq}\t${new Date(Number(e.at / 1_000_000n)).toISOString()}\t${e.node}\t${e.event._tag}\t${JSON.stringify(envelopeJson(e).body)}${note}`
            )
          }
          return applyEnvelope(s, e)
        })
      )
    )
    tellTruncations(Number.MAX_SAFE_INTEGER)
    const summary = catalogSummary(state)
    if (json) print(JSON.stringify({ catalog: summary }))
    else print(`\ncatalog at seq ${state.lastSeq}:\n${JSON.stringify(summary, null, 2)}`)
  }).pipe(Effect.provide(layerReadOnlyStore(dataDir)))
