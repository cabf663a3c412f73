import * as Grpc from "@grpc/grpc-js"
import { Cause, Clock, Effect, Option } from "effect"
import { authenticate, authorizationSecret } from "../auth/authenticate.ts"
import { Catalog } from "../catalog/Catalog.ts"
import type { TokenState } from "../catalog/state.ts"
import { ServerConfig } from "../config.ts"
import type { ApiFailure } from "../errors.ts"
import type { QueryEngine } from "../query/QueryEngine.ts"

/** A Flight call's caller (from its gRPC metadata) and how its failures reach the client as gRPC statuses. */

export type Services = QueryEngine | Catalog | ServerConfig

/** Who is calling and on which database (the `database` metadata or one of InfluxDB 3's other names for it). */
export interface Session {
  readonly token: TokenState | null
  readonly secret: string | undefined
  readonly database: string | undefined
}

const DATABASE_HEADERS = ["database", "bucket", "bucket-name", "iox-namespace-name"]

const header = (metadata: Grpc.Metadata, name: string): string | undefined => {
  const value = metadata.get(name)[0]
  return value === undefined ? undefined : typeof value === "string" ? value : value.toString("utf8")
}

export const session = (metadata: Grpc.Metadata) =>
  Effect.gen(function* () {
    const config = yield* ServerConfig
    const secret = yield* authorizationSecret(header(metadata, "authorization"))
    const database = DATABASE_HEADERS.map((h) => header(metadata, h)).find((v) => v !== undefined && v !== "")
    if (config.withoutAuth) return { token: null, secret, database } satisfies Session
    const state = yield* (yield* Catalog).current
    const token = yield* authenticate(state, secret, BigInt(yield* Clock.currentTimeMillis) * 1_000_000n)
    return { token, secret, database } satisfies Session
  })

/** A failure as the gRPC status a client sees, with the message InfluxDB 3 gives over HTTP. */
export const statusOf = (
  failure: ApiFailure | { readonly _tag: "EngineFailed" | "LogWriteFailed"; readonly message: string }
): Grpc.StatusObject => {
  const code = (() => {
    switch (failure._tag) {
      case "Unauthenticated":
        return Grpc.status.UNAUTHENTICATED
      case "Forbidden":
        return Grpc.status.PERMISSION_DENIED
      case "InvalidRequest":
      case "NotFound":
      case "PayloadTooLarge":
      case "UnsupportedMediaType":
        return Grpc.status.INVALID_ARGUMENT
      case "LimitExceeded":
        return Grpc.status.RESOURCE_EXHAUSTED
      case "Unavailable":
        return Grpc.status.UNAVAILABLE
      case "NotAllowed":
        return Grpc.status.UNIMPLEMENTED
      default:
        return Grpc.status.INTERNAL
    }
  })()
  return { code, details: failure.message, metadata: new Grpc.Metadata() }
}

export const causeStatus = (cause: Cause.Cause<unknown>): Grpc.StatusObject => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) return statusOf(failure.value as ApiFailure)
  if (Cause.isInterruptedOnly(cause))
    return { code: Grpc.status.CANCELLED, details: "cancelled", metadata: new Grpc.Metadata() }
  return { code: Grpc.status.INTERNAL, details: "internal error", metadata: new Grpc.Metadata() }
}
