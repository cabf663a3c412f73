import * as Grpc from "@grpc/grpc-js"
import * as ProtoLoader from "@grpc/proto-loader"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as Url from "node:url"
import Protobuf from "protobufjs"

/**
 * The Arrow Flight and Flight SQL protocols, loaded from the official `.proto` files in `schema/` (Apache Arrow's
 * `format/Flight.proto` and `format/FlightSql.proto`): the gRPC service definition through `@grpc/proto-loader`, and
 * the Flight SQL commands (carried as `google.protobuf.Any` in descriptors, tickets and actions) through protobufjs.
 */

/** The repository's `schema/` directory, found upward from this module (sources and the dist bundle alike). */
const schemaDir = (): string => {
  let dir = Path.dirname(Url.fileURLToPath(import.meta.url))
  for (;;) {
    const candidate = Path.join(dir, "schema")
    if (Fs.existsSync(Path.join(candidate, "Flight.proto"))) return candidate
    const parent = Path.dirname(dir)
    if (parent === dir) throw new Error("schema/Flight.proto not found above the server's modules")
    dir = parent
  }
}

const dir = schemaDir()

const packageDefinition = ProtoLoader.loadSync(Path.join(dir, "Flight.proto"), {
  keepCase: true,
  longs: String,
  enums: Number,
  defaults: true,
  oneofs: true
})

interface FlightPackage {
  readonly arrow: { readonly flight: { readonly protocol: { readonly FlightService: Grpc.ServiceClientConstructor } } }
}

/** The `arrow.flight.protocol.FlightService` definition, for `Server.addService` and test clients. */
export const flightService: Grpc.ServiceDefinition = (
  Grpc.loadPackageDefinition(packageDefinition) as unknown as FlightPackage
).arrow.flight.protocol.FlightService.service

/** The Flight service's client constructor (tests and tools). */
export const FlightServiceClient: Grpc.ServiceClientConstructor = (
  Grpc.loadPackageDefinition(packageDefinition) as unknown as FlightPackage
).arrow.flight.protocol.FlightService

const root = new Protobuf.Root()
root.resolvePath = (origin, target) => {
  if (target.startsWith("google/protobuf/")) return target
  return Path.isAbsolute(target) ? target : Path.join(dir, Path.basename(target))
}
root.loadSync(["google/protobuf/any.proto", Path.join(dir, "Flight.proto"), Path.join(dir, "FlightSql.proto")], {
  keepCase: true
})
root.resolveAll()

const SQL = "arrow.flight.protocol.sql."
const TYPE_URL = "type.googleapis.com/"

/** A Flight or Flight SQL message type by its short name (`CommandStatementQuery`, `FlightData`, …). */
export const messageType = (name: string): Protobuf.Type =>
  root.lookupType(
    name.includes(".") ? name : root.lookup(SQL + name) !== null ? SQL + name : `arrow.flight.protocol.${name}`
  )

/** A Flight SQL command decoded from its `Any` envelope: the short type name and its fields. */
export interface SqlCommand {
  readonly type: string
  readonly fields: Record<string, unknown>
}

const anyType = root.lookupType("google.protobuf.Any")

/** Decodes an `Any`-packed Flight SQL message; undefined when the bytes are not one. */
export const unpackCommand = (bytes: Uint8Array): SqlCommand | undefined => {
  let envelope: { type_url?: string; value?: Uint8Array }
  try {
    envelope = anyType.toObject(anyType.decode(bytes)) as { type_url?: string; value?: Uint8Array }
  } catch {
    return undefined
  }
  const url = envelope.type_url ?? ""
  if (!url.startsWith(TYPE_URL + SQL)) return undefined
  const type = url.slice(TYPE_URL.length + SQL.length)
  const messageTypeOf = root.lookup(SQL + type)
  if (!(messageTypeOf instanceof Protobuf.Type)) return undefined
  const fields = messageTypeOf.toObject(messageTypeOf.decode(envelope.value ?? new Uint8Array(0)), {
    longs: String,
    bytes: Buffer,
    defaults: true,
    arrays: true
  })
  return { type, fields }
}

/** Packs a Flight SQL message into an `Any`. */
export const packCommand = (type: string, fields: Record<string, unknown>): Buffer => {
  const t = root.lookupType(SQL + type)
  const value = t.encode(t.fromObject(fields)).finish()
  return Buffer.from(anyType.encode(anyType.fromObject({ type_url: TYPE_URL + SQL + type, value })).finish())
}

/** Encodes a Flight SQL message without an envelope (action results carry some bare). */
export const encodeMessage = (type: string, fields: Record<string, unknown>): Buffer => {
  const t = messageType(type)
  return Buffer.from(t.encode(t.fromObject(fields)).finish())
}

/** Decodes a bare Flight SQL message. */
export const decodeMessage = (type: string, bytes: Uint8Array): Record<string, unknown> => {
  const t = messageType(type)
  return t.toObject(t.decode(bytes), { longs: String, bytes: Buffer, defaults: true, arrays: true })
}
