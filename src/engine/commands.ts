import { Either } from "effect"
import { liveDatabase, type CatalogState } from "../catalog/state.ts"
import { AlreadyExists, InvalidRequest, NotFound, type ApiFailure } from "../errors.ts"
import {
  TriggerCreated,
  TriggerDeleted,
  TriggerDisabled,
  TriggerEnabled,
  type ErrorBehavior,
  type StrataEvent
} from "../events/index.ts"
import { parseTriggerSpec } from "./spec.ts"
import { engineOf, triggerKey, type TriggerDef } from "./state.ts"

/** A trigger to create, as the request gives it (the plugin is checked to exist by the caller). */
export interface NewTrigger {
  readonly db: string
  readonly name: string
  readonly pluginFilename: string
  readonly specification: string
  readonly arguments: Readonly<Record<string, string>> | null
  readonly runAsync: boolean
  readonly errorBehavior: ErrorBehavior
  readonly disabled: boolean
}

type Decision = Either.Either<ReadonlyArray<StrataEvent>, ApiFailure>

const dbNotFound = (db: string) => new NotFound({ message: `database not found: ${db}` })

/** The trigger `name` of the live database `db`, or 404. */
export const findTrigger = (state: CatalogState, db: string, name: string): Either.Either<TriggerDef, NotFound> => {
  const database = liveDatabase(state, db)
  if (database === undefined) return Either.left(dbNotFound(db))
  const trigger = engineOf(state).triggers.get(triggerKey(database.id, name))
  return trigger === undefined
    ? Either.left(new NotFound({ message: `trigger not found: ${name}` }))
    : Either.right(trigger)
}

/** The live request trigger serving `path`, if any. */
export const requestTrigger = (state: CatalogState, path: string): TriggerDef | undefined =>
  [...engineOf(state).triggers.values()].find((t) => {
    const db = state.databases.get(t.dbId)
    return db !== undefined && !db.deleted && t.specification.trim() === `request:${path}`
  })

/** Creates a trigger: 404 for an unknown database, 400 for a bad specification, 409 for a taken name or path. */
export const createTrigger = (state: CatalogState, t: NewTrigger): Decision => {
  const database = liveDatabase(state, t.db)
  if (database === undefined) return Either.left(dbNotFound(t.db))
  if (t.name.trim() === "") return Either.left(new InvalidRequest({ message: "trigger_name must not be empty" }))
  const spec = parseTriggerSpec(t.specification)
  if (typeof spec === "string") return Either.left(new InvalidRequest({ message: spec }))
  if (engineOf(state).triggers.has(triggerKey(database.id, t.name))) {
    return Either.left(new AlreadyExists({ message: `trigger ${t.name} already exists in database ${t.db}` }))
  }
  if (spec._tag === "Request" && requestTrigger(state, spec.path) !== undefined) {
    return Either.left(new AlreadyExists({ message: `a trigger already serves the request path ${spec.path}` }))
  }
  return Either.right([
    new TriggerCreated({
      version: 1,
      dbId: database.id,
      name: t.name,
      pluginFilename: t.pluginFilename,
      specification: t.specification.trim(),
      arguments: t.arguments === null ? null : { ...t.arguments },
      runAsync: t.runAsync,
      errorBehavior: t.errorBehavior,
      disabled: t.disabled
    })
  ])
}

/** Enables or disables a trigger; a trigger already in that state answers OK and logs nothing. */
export const setTriggerEnabled = (
  state: CatalogState,
  db: string,
  name: string,
  enabled: boolean,
  reason: string | null = null
): Decision =>
  Either.map(findTrigger(state, db, name), (t) =>
    t.disabled === !enabled
      ? []
      : [
          enabled
            ? new TriggerEnabled({ version: 1, dbId: t.dbId, name })
            : new TriggerDisabled({ version: 1, dbId: t.dbId, name, reason })
        ]
  )

/** Deletes a trigger; an enabled one only with `force` (400 otherwise). */
export const deleteTrigger = (state: CatalogState, db: string, name: string, force: boolean): Decision =>
  Either.flatMap(findTrigger(state, db, name), (t) =>
    !t.disabled && !force
      ? Either.left(
          new InvalidRequest({ message: `trigger ${name} is enabled: disable it first, or delete it with force=true` })
        )
      : Either.right([new TriggerDeleted({ version: 1, dbId: t.dbId, name })])
  )
