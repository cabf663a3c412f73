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
    kind: t.grant.kind,
    expiry_ns: t.expiresAtNs?.toString() ?? null,
    ...(t.grant.kind === "resource" ? { permissions: t.grant.permissions } : {})
  }))
})

const envelopeJson = (e: Envelope) => ({
  seq: e.seq,
  at: e.at.toString(),
  node: e.node,
  kind: e.event._tag,
  body: JSON.parse(encodeEvent(e.event)) as unknown,
  payload_bytes: e.payload?.length ?? 0
})

/**
 * Prints a data directory's log up to `untilSeq`, then the catalog projected at that point. An event that fails its
 * checksums stops the replay with `LogDamaged`; with `recover` it is printed as damaged and left out of the catalog.
 */
export const replay = (dataDir: string, untilSeq: number | undefined, json: boolean, print: (line: string) => void, recover = false) =>
  Effect.gen(function* () {
    const onDamage = (d: EventDamage) =>
      Effect.sync(() => print(json ? JSON.stringify({ damaged: d }) : `${d.seq}\tDAMAGED\t${describeDamage(d)}`))
    const state = yield* streamEnvelopes(0, untilSeq, { recover, onDamage }).pipe(
      Stream.runFoldEffect(emptyCatalog, (s, e) =>
        Effect.sync(() => {
          if (json) print(JSON.stringify({ envelope: envelopeJson(e) }))
          else print(`${e.seq}\t${new Date(Number(e.at / 1_000_000n)).toISOString()}\t${e.node}\t${e.event._tag}\t${JSON.stringify(envelopeJson(e).body)}`)
          return applyEnvelope(s, e)
        })
      )
    )
    const summary = catalogSummary(state)
    if (json) print(JSON.stringify({ catalog: summary }))
    else print(`\ncatalog at seq ${state.lastSeq}:\n${JSON.stringify(summary, null, 2)}`)
  }).pipe(Effect.provide(layerReadOnlyStore(dataDir)))
