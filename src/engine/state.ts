import type { CatalogState } from "../catalog/state.ts"
import type { EngineEvent, ErrorBehavior } from "../events/index.ts"

/** A processing-engine trigger as the catalog holds it. */
export interface TriggerDef {
  readonly dbId: number
  readonly name: string
  readonly pluginFilename: string
  readonly specification: string
  readonly arguments: Readonly<Record<string, string>> | null
  readonly runAsync: boolean
  readonly errorBehavior: ErrorBehavior
  readonly disabled: boolean
  /**
   * WAL triggers: every write at or below this seq is processed (or was committed while the trigger was disabled,
   * or before it existed). Durable: it moves only with logged events.
   */
  readonly processedSeq: number
}

/** Triggers by `dbId/name`. */
export interface EngineState {
  readonly triggers: ReadonlyMap<string, TriggerDef>
}

export const emptyEngine: EngineState = { triggers: new Map() }

/** The key a trigger is held under. */
export const triggerKey = (dbId: number, name: string) => `${dbId}/${name}`

/** The engine part of a catalog, also of one restored from a checkpoint written before triggers existed. */
export const engineOf = (state: CatalogState): EngineState =>
  (state as { readonly engine?: EngineState }).engine ?? emptyEngine

const update = (state: EngineState, key: string, f: (t: TriggerDef) => TriggerDef | undefined): EngineState => {
  const current = state.triggers.get(key)
  if (current === undefined) return state
  const next = new Map(state.triggers)
  const changed = f(current)
  if (changed === undefined) next.delete(key)
  else next.set(key, changed)
  return { triggers: next }
}

/** Applies one engine event committed at `seq`. */
export const applyEngineEvent = (state: EngineState, event: EngineEvent, seq: number): EngineState => {
  const key = triggerKey(event.dbId, event.name)
  switch (event._tag) {
    case "TriggerCreated": {
      const { _tag, version, ...def } = event
      return { triggers: new Map(state.triggers).set(key, { ...def, processedSeq: seq }) }
    }
    case "TriggerEnabled":
      // Writes committed while it was disabled are not its to process.
      return update(state, key, (t) =>
        t.disabled ? { ...t, disabled: false, processedSeq: Math.max(t.processedSeq, seq) } : t
      )
    case "TriggerDisabled":
      return update(state, key, (t) => ({ ...t, disabled: true }))
    case "TriggerDeleted":
      return update(state, key, () => undefined)
    case "TriggerBatchProcessed":
      return update(state, key, (t) => ({ ...t, processedSeq: Math.max(t.processedSeq, event.throughSeq) }))
  }
}

/** The triggers of one database, in name order. */
export const triggersOf = (state: CatalogState, dbId: number): ReadonlyArray<TriggerDef> =>
  [...engineOf(state).triggers.values()]
    .filter((t) => t.dbId === dbId)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
