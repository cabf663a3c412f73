import { Schema } from "effect"
import { RestoreApplied } from "./backups.ts"
import { CatalogEvent } from "./catalog.ts"
import { ClusterInitialized } from "./cluster.ts"
import { DeleteEvent } from "./deletes.ts"
import { EngineEvent } from "./engine.ts"
import { JobEvent } from "./jobs.ts"
import { LogEvent } from "./log.ts"
import { NodeEvent } from "./nodes.ts"
import { StorageEvent } from "./storage.ts"
import { TokenEvent } from "./tokens.ts"
import { UserEvent } from "./users.ts"
import { WriteBatch } from "./writes.ts"

export * from "./backups.ts"
export * from "./caches.ts"
export * from "./catalog.ts"
export * from "./cluster.ts"
export * from "./deletes.ts"
export * from "./engine.ts"
export * from "./log.ts"
export * from "./nodes.ts"
export * from "./common.ts"
export * from "./jobs.ts"
export * from "./storage.ts"
export * from "./tokens.ts"
export * from "./users.ts"
export * from "./writes.ts"

/** Every event the log can hold. */
export const StrataEvent = Schema.Union(
  ClusterInitialized,
  CatalogEvent,
  TokenEvent,
  UserEvent,
  NodeEvent,
  WriteBatch,
  StorageEvent,
  LogEvent,
  JobEvent,
  DeleteEvent,
  EngineEvent,
  RestoreApplied
)
export type StrataEvent = typeof StrataEvent.Type
export type StrataEventKind = StrataEvent["_tag"]

/** Encodes an event to its stored JSON text. */
export const encodeEvent = (event: StrataEvent): string => JSON.stringify(Schema.encodeSync(StrataEvent)(event))

/** Decodes a stored JSON body back into an event. */
export const decodeEvent = (body: string): StrataEvent => Schema.decodeUnknownSync(StrataEvent)(JSON.parse(body))

/** Every event schema by name, for the JSON Schema export. */
export const eventSchemas = { StrataEvent } as const
