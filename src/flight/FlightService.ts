import * as Grpc from "@grpc/grpc-js"
import { Effect, Exit, Layer, Runtime, Stream } from "effect"
import { authorize } from "../auth/authenticate.ts"
import { InvalidRequest } from "../errors.ts"
import type { Json } from "../query/ast.ts"
import { unframe } from "./arrow.ts"
import { catalogDb, commandFrames, commandSchema } from "./catalogCommands.ts"
import type { Http2Handoff } from "./listener.ts"
import { encodeMessage, flightService, packCommand, unpackCommand, type SqlCommand } from "./protocol.ts"
import { causeStatus, session, type Services, type Session } from "./session.ts"
import {
  answerFrames,
  decodeStatement,
  encodeStatement,
  jsonTicket,
  PreparedStatements,
  statementSchema,
  unknownHandle,
  type Statement
} from "./statements.ts"

/**
 * Arrow Flight and Flight SQL on the HTTP port (ADR 0011). InfluxDB 3's JSON ticket on DoGet (the official clients'
 * query path) and Flight SQL's statements, catalog commands and prepared statements (Grafana, ADBC, JDBC) run
 * through the same QueryEngine, authentication and permissions as /api/v3/query_sql and /api/v3/query_influxql.
 */

/** The most parameter bytes a DoPut may send (they are held until the stream ends). */
const MAX_PARAMETER_BYTES = 16 * 1024 * 1024

// ---------------------------------------------------------------------------------------------------------------
// The gRPC handlers

/** Ends a streaming call with an error status (grpc-js sends the status of an `error` event). */
const fail = (call: NodeJS.EventEmitter, status: Grpc.StatusObject) => {
  call.emit("error", Object.assign(new Error(status.details), status))
}

type Frames = Stream.Stream<Uint8Array, unknown, Services>

/** What a DoGet ticket asks for, as frames. */
const ticketFrames = (who: Session, ticket: Uint8Array, prepared: PreparedStatements) =>
  Effect.gen(function* () {
    const command = unpackCommand(ticket)
    if (command !== undefined) {
      if (command.type === "TicketStatementQuery") {
        const statement = decodeStatement(command.fields["statement_handle"] as Uint8Array)
        if (statement === undefined) return yield* new InvalidRequest({ message: "invalid statement ticket" })
        return (yield* answerFrames(who, statement)) as Frames
      }
      if (command.type === "CommandPreparedStatementQuery") {
        const statement = prepared.get(command.fields["prepared_statement_handle"] as Uint8Array)
        if (statement === undefined) return yield* unknownHandle
        return (yield* answerFrames(who, statement)) as Frames
      }
      const frames = yield* commandFrames(who, command)
      if (frames === undefined)
        return yield* new InvalidRequest({ message: `unsupported Flight SQL command ${command.type}` })
      return Stream.fromIterable(frames) as Frames
    }
    const json = jsonTicket(ticket)
    if (json === undefined)
      return yield* new InvalidRequest({
        message: "invalid ticket: expected InfluxDB 3's JSON ticket or a Flight SQL ticket"
      })
    return (yield* answerFrames(who, {
      database: json.database === "" ? undefined : json.database,
      query: json.sql_query,
      kind: json.query_type,
      params: json.params
    })) as Frames
  })

/** A FlightInfo whose one endpoint's ticket is `ticket`, to be redeemed here. */
const flightInfo = (descriptor: unknown, schema: Uint8Array, ticket: Uint8Array) => ({
  schema: Buffer.from(schema),
  flight_descriptor: descriptor,
  endpoint: [{ ticket: { ticket: Buffer.from(ticket) }, location: [] }],
  total_records: "-1",
  total_bytes: "-1",
  ordered: false
})

/** The statement a Flight SQL descriptor's command names (a query or a prepared statement), if any. */
const descriptorStatement = (who: Session, command: SqlCommand, prepared: PreparedStatements) =>
  Effect.gen(function* () {
    if (command.type === "CommandStatementQuery") {
      const statement: Statement = {
        database: who.database,
        query: String(command.fields["query"] ?? ""),
        kind: "sql",
        params: undefined
      }
      return {
        statement,
        ticket: packCommand("TicketStatementQuery", { statement_handle: encodeStatement(statement) })
      }
    }
    if (command.type === "CommandPreparedStatementQuery") {
      const statement = prepared.get(command.fields["prepared_statement_handle"] as Uint8Array)
      if (statement === undefined) return yield* unknownHandle
      return { statement, ticket: packCommand("CommandPreparedStatementQuery", command.fields) }
    }
    return undefined
  })

/** Parameters bound by DoPut: the first row of each column, by the column's name without a leading `$`. */
const paramsFromFrames = async (
  frames: Array<{ data_header?: Buffer; data_body?: Buffer }>
): Promise<Record<string, Json>> => {
  const { tableFromIPC } = await import("apache-arrow")
  const parts: Array<Uint8Array> = []
  for (const f of frames) {
    const headerBytes = f.data_header ?? Buffer.alloc(0)
    if (headerBytes.length === 0) continue
    const prefix = Buffer.alloc(8)
    prefix.writeInt32LE(-1, 0)
    prefix.writeInt32LE(headerBytes.length, 4)
    parts.push(prefix, headerBytes, f.data_body ?? Buffer.alloc(0))
  }
  if (parts.length === 0) return {}
  const table = tableFromIPC(Buffer.concat(parts))
  const params: Record<string, Json> = {}
  if (table.numRows === 0) return params
  for (const field of table.schema.fields) {
    let v: unknown = table.getChild(field.name)?.get(0)
    if (typeof v === "bigint") v = Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()
    params[field.name.replace(/^\$/, "")] = (v ?? null) as Json
  }
  return params
}

const makeHandlers = (
  runtime: Runtime.Runtime<Services>,
  prepared: PreparedStatements
): Grpc.UntypedServiceImplementation => {
  const run = <A>(effect: Effect.Effect<A, unknown, Services>, done: (exit: Exit.Exit<A, unknown>) => void) => {
    const fiber = Runtime.runFork(runtime)(effect)
    fiber.addObserver(done)
    return fiber
  }
  const unary =
    <A>(body: (who: Session, request: Record<string, unknown>) => Effect.Effect<A, unknown, Services>) =>
    (call: Grpc.ServerUnaryCall<Record<string, unknown>, A>, callback: Grpc.sendUnaryData<A>) => {
      run(
        Effect.flatMap(session(call.metadata), (who) => body(who, call.request)),
        (exit) => (Exit.isSuccess(exit) ? callback(null, exit.value) : callback(causeStatus(exit.cause)))
      )
    }
  /** Streams frames as FlightData, waiting for the client when gRPC's buffer is full. */
  const sendFrames = (call: Grpc.ServerWritableStream<unknown, unknown>, frames: Frames) =>
    Stream.runForEach(frames, (framed) =>
      Effect.async<void>((resume) => {
        const { header, body } = unframe(framed)
        if (call.write({ data_header: header, data_body: body })) resume(Effect.void)
        else call.once("drain", () => resume(Effect.void))
      })
    )
  const streaming =
    (
      body: (
        who: Session,
        call: Grpc.ServerWritableStream<Record<string, unknown>, unknown>
      ) => Effect.Effect<void, unknown, Services>
    ) =>
    (call: Grpc.ServerWritableStream<Record<string, unknown>, unknown>) => {
      const fiber = run(Effect.scoped(Effect.flatMap(session(call.metadata), (who) => body(who, call))), (exit) => {
        if (Exit.isSuccess(exit)) call.end()
        else if (!call.cancelled) fail(call, causeStatus(exit.cause))
      })
      call.on("cancelled", () => Runtime.runFork(runtime)(fiber.interruptAsFork(fiber.id())))
    }

  return {
    Handshake: (call: Grpc.ServerDuplexStream<Record<string, unknown>, unknown>) => {
      run(session(call.metadata), (exit) => {
        if (Exit.isFailure(exit)) {
          fail(call, causeStatus(exit.cause))
          return
        }
        const secret = exit.value.secret ?? ""
        const reply = new Grpc.Metadata()
        reply.set("authorization", `Bearer ${secret}`)
        call.sendMetadata(reply)
        call.on("data", () => undefined)
        call.write({ protocol_version: "0", payload: Buffer.from(secret, "utf8") })
        call.end()
      })
    },
    ListFlights: (call: Grpc.ServerWritableStream<unknown, unknown>) => call.end(),
    ListActions: (call: Grpc.ServerWritableStream<unknown, unknown>) => {
      call.write({ type: "CreatePreparedStatement", description: "Creates a prepared statement (Flight SQL)" })
      call.write({ type: "ClosePreparedStatement", description: "Closes a prepared statement (Flight SQL)" })
      call.end()
    },
    GetFlightInfo: unary((who, descriptor) =>
      Effect.gen(function* () {
        const command = unpackCommand((descriptor["cmd"] as Uint8Array | undefined) ?? new Uint8Array(0))
        if (command === undefined)
          return yield* new InvalidRequest({ message: "expected a Flight SQL command in the descriptor" })
        const statement = yield* descriptorStatement(who, command, prepared)
        if (statement !== undefined)
          return flightInfo(descriptor, yield* statementSchema(who, statement.statement), statement.ticket)
        const schema = commandSchema(command)
        if (schema === undefined)
          return yield* new InvalidRequest({ message: `unsupported Flight SQL command ${command.type}` })
        if (command.type === "CommandGetTables") yield* catalogDb(who)
        return flightInfo(descriptor, schema, descriptor["cmd"] as Uint8Array)
      })
    ),
    GetSchema: unary((who, descriptor) =>
      Effect.gen(function* () {
        const command = unpackCommand((descriptor["cmd"] as Uint8Array | undefined) ?? new Uint8Array(0))
        if (command === undefined)
          return yield* new InvalidRequest({ message: "expected a Flight SQL command in the descriptor" })
        const statement = yield* descriptorStatement(who, command, prepared)
        const schema =
          statement !== undefined ? yield* statementSchema(who, statement.statement) : commandSchema(command)
        if (schema === undefined)
          return yield* new InvalidRequest({ message: `unsupported Flight SQL command ${command.type}` })
        return { schema: Buffer.from(schema) }
      })
    ),
    DoGet: streaming((who, call) =>
      Effect.flatMap(
        ticketFrames(who, (call.request["ticket"] as Uint8Array | undefined) ?? new Uint8Array(0), prepared),
        (frames) => sendFrames(call, frames)
      )
    ),
    DoAction: streaming((who, call) =>
      Effect.gen(function* () {
        const type = String(call.request["type"] ?? "")
        const body = unpackCommand((call.request["body"] as Uint8Array | undefined) ?? new Uint8Array(0))
        if (type === "CreatePreparedStatement" && body?.type === "ActionCreatePreparedStatementRequest") {
          const statement: Statement = {
            database: who.database,
            query: String(body.fields["query"] ?? ""),
            kind: "sql",
            params: undefined
          }
          if (who.database !== undefined) yield* authorize(who.token, { _tag: "db", action: "read", db: who.database })
          const handle = prepared.create(statement)
          const result = packCommand("ActionCreatePreparedStatementResult", {
            prepared_statement_handle: Buffer.from(handle, "utf8"),
            dataset_schema: Buffer.from(yield* statementSchema(who, statement)),
            parameter_schema: Buffer.alloc(0)
          })
          call.write({ body: result })
          return
        }
        if (type === "ClosePreparedStatement" && body?.type === "ActionClosePreparedStatementRequest") {
          prepared.close(body.fields["prepared_statement_handle"] as Uint8Array)
          return
        }
        return yield* new InvalidRequest({ message: `unsupported action ${type}` })
      })
    ),
    DoPut: (call: Grpc.ServerDuplexStream<Record<string, unknown>, unknown>) => {
      const frames: Array<{ flight_descriptor?: { cmd?: Buffer }; data_header?: Buffer; data_body?: Buffer }> = []
      let bytes = 0
      call.on("data", (d: (typeof frames)[number]) => {
        bytes += (d.data_header?.length ?? 0) + (d.data_body?.length ?? 0)
        if (bytes <= MAX_PARAMETER_BYTES) frames.push(d)
        else if (bytes - (d.data_header?.length ?? 0) - (d.data_body?.length ?? 0) <= MAX_PARAMETER_BYTES) {
          const details = `prepared statement parameters larger than ${MAX_PARAMETER_BYTES} bytes`
          fail(call, { code: Grpc.status.RESOURCE_EXHAUSTED, details, metadata: new Grpc.Metadata() })
        }
      })
      call.on("end", () => {
        if (bytes > MAX_PARAMETER_BYTES) return
        run(
          Effect.gen(function* () {
            yield* session(call.metadata)
            const command = unpackCommand(frames[0]?.flight_descriptor?.cmd ?? new Uint8Array(0))
            if (command?.type !== "CommandPreparedStatementQuery")
              return yield* new InvalidRequest({ message: "DoPut takes only a prepared statement's parameters" })
            const handle = command.fields["prepared_statement_handle"] as Uint8Array
            const params = yield* Effect.tryPromise({
              try: () => paramsFromFrames(frames),
              catch: () => new InvalidRequest({ message: "invalid parameter batch" })
            })
            if (!prepared.bind(handle, params)) return yield* unknownHandle
            return encodeMessage("DoPutPreparedStatementResult", { prepared_statement_handle: handle })
          }),
          (exit) => {
            if (Exit.isFailure(exit)) {
              fail(call, causeStatus(exit.cause))
              return
            }
            call.write({ app_metadata: exit.value })
            call.end()
          }
        )
      })
    },
    DoExchange: (call: Grpc.ServerDuplexStream<unknown, unknown>) =>
      fail(call, {
        code: Grpc.status.UNIMPLEMENTED,
        details: "DoExchange is not supported",
        metadata: new Grpc.Metadata()
      }),
    PollFlightInfo: (_call: unknown, callback: Grpc.sendUnaryData<unknown>) =>
      callback({ code: Grpc.status.UNIMPLEMENTED, details: "PollFlightInfo is not supported" })
  }
}

/** Time in-flight calls get to finish when the server stops, before they are cut. */
const SHUTDOWN_GRACE_MS = 2_000

/** The Flight service on the HTTP port's HTTP/2 connections, for the layer's lifetime. */
export const layerFlight = (handoff: Http2Handoff): Layer.Layer<never, never, Services> =>
  Layer.scopedDiscard(
    Effect.gen(function* () {
      const runtime = yield* Effect.runtime<Services>()
      const server = new Grpc.Server()
      server.addService(flightService, makeHandlers(runtime, new PreparedStatements()))
      const injector = server.createConnectionInjector(Grpc.ServerCredentials.createInsecure())
      handoff.inject = (socket) => injector.injectConnection(socket)
      handoff.drain = (graceMs) => injector.drain(graceMs)
      yield* Effect.addFinalizer(() =>
        Effect.async<void>((resume) => {
          handoff.inject = undefined
          handoff.drain = undefined
          const force = setTimeout(() => server.forceShutdown(), SHUTDOWN_GRACE_MS)
          server.tryShutdown(() => {
            clearTimeout(force)
            resume(Effect.void)
          })
        })
      )
    })
  )
