import * as Grpc from "@grpc/grpc-js"
import { Binary, Field, Int32, Schema as ArrowSchema, Uint8, Utf8, type DataType } from "apache-arrow"
import { Cause, Effect, Either, Exit, Layer, Option, Runtime, Stream } from "effect"
import * as Crypto from "node:crypto"
import { authenticate, authorizationSecret, authorize } from "../auth/authenticate.ts"
import type { Requirement } from "../auth/tokens.ts"
import { Catalog } from "../catalog/Catalog.ts"
import { liveDatabase, type TokenState } from "../catalog/state.ts"
import { ServerConfig } from "../config.ts"
import { InvalidRequest, NotFound, type ApiFailure } from "../errors.ts"
import { influxqlV3Answer } from "../http/influxql.ts"
import { paramsOf } from "../http/query.ts"
import { boundParamsOf } from "../influxql/parser.ts"
import type { Json } from "../query/ast.ts"
import { QueryEngine, type ParquetReader } from "../query/QueryEngine.ts"
import { virtualTables } from "../query/virtualTables.ts"
import {
  parquetAsArrow,
  schemaBytes,
  sqlColumnsSchema,
  sqlInfoSchema,
  sqlInfoTable,
  tableFrames,
  tableOf,
  tableSchema,
  unframe,
  type SqlInfoValue
} from "./arrow.ts"
import type { Http2Handoff } from "./listener.ts"
import { encodeMessage, flightService, packCommand, unpackCommand, type SqlCommand } from "./protocol.ts"

/**
 * Arrow Flight and Flight SQL on the HTTP port (ADR 0011). InfluxDB 3's JSON ticket on DoGet (the official clients'
 * query path) and Flight SQL's statements, catalog commands and prepared statements (Grafana, ADBC, JDBC) run
 * through the same QueryEngine, authentication and permissions as /api/v3/query_sql and /api/v3/query_influxql.
 */

type Services = QueryEngine | Catalog | ServerConfig

/** Who is calling and on which database (the `database` metadata or one of InfluxDB 3's other names for it). */
interface Session {
  readonly token: TokenState | null
  readonly secret: string | undefined
  readonly database: string | undefined
}

const DATABASE_HEADERS = ["database", "bucket", "bucket-name", "iox-namespace-name"]

const header = (metadata: Grpc.Metadata, name: string): string | undefined => {
  const value = metadata.get(name)[0]
  return value === undefined ? undefined : typeof value === "string" ? value : value.toString("utf8")
}

const session = (metadata: Grpc.Metadata) =>
  Effect.gen(function* () {
    const config = yield* ServerConfig
    const secret = yield* authorizationSecret(header(metadata, "authorization"))
    const database = DATABASE_HEADERS.map((h) => header(metadata, h)).find((v) => v !== undefined && v !== "")
    if (config.withoutAuth) return { token: null, secret, database } satisfies Session
    const state = yield* (yield* Catalog).current
    const token = yield* authenticate(state, secret, BigInt(Date.now()) * 1_000_000n)
    return { token, secret, database } satisfies Session
  })

/** A failure as the gRPC status a client sees, with the message InfluxDB 3 gives over HTTP. */
const statusOf = (
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

const causeStatus = (cause: Cause.Cause<unknown>): Grpc.StatusObject => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) return statusOf(failure.value as ApiFailure)
  if (Cause.isInterruptedOnly(cause))
    return { code: Grpc.status.CANCELLED, details: "cancelled", metadata: new Grpc.Metadata() }
  return { code: Grpc.status.INTERNAL, details: "internal error", metadata: new Grpc.Metadata() }
}

// ---------------------------------------------------------------------------------------------------------------
// Tickets and statements

/** InfluxDB 3's ticket: `{"database","sql_query","query_type","params"}`. */
interface JsonTicket {
  readonly database: string
  readonly sql_query: string
  readonly query_type: "sql" | "influxql"
  readonly params: unknown
}

const jsonTicket = (bytes: Uint8Array): JsonTicket | undefined => {
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(bytes).toString("utf8"))
  } catch {
    return undefined
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined
  const v = value as Record<string, unknown>
  const type = v["query_type"] === undefined ? "sql" : v["query_type"]
  if (typeof v["sql_query"] !== "string" || (type !== "sql" && type !== "influxql")) return undefined
  return {
    database: typeof v["database"] === "string" ? v["database"] : "",
    sql_query: v["sql_query"],
    query_type: type,
    params: v["params"]
  }
}

/** A statement to run: what Flight SQL's tickets and prepared statements carry. */
interface Statement {
  readonly database: string | undefined
  readonly query: string
  readonly kind: "sql" | "influxql"
  readonly params: unknown
}

const encodeStatement = (s: Statement) => Buffer.from(JSON.stringify(s), "utf8")

const decodeStatement = (bytes: Uint8Array): Statement | undefined => {
  try {
    const v = JSON.parse(Buffer.from(bytes).toString("utf8")) as Statement
    return typeof v.query === "string" ? v : undefined
  } catch {
    return undefined
  }
}

const flightReader: ParquetReader = { compression: "snappy", read: parquetAsArrow }

/** A statement's answer as framed Arrow IPC messages, schema first. */
const answerFrames = (who: Session, statement: Statement) =>
  Effect.gen(function* () {
    const db = statement.database ?? who.database
    if (db === undefined || db === "")
      return yield* new InvalidRequest({
        message: "database not specified: set the 'database' metadata or the ticket's database"
      })
    if (statement.query.trim() === "") return yield* new InvalidRequest({ message: "missing query" })
    if (statement.kind === "influxql") {
      const bound = boundParamsOf(statement.params)
      if (Either.isLeft(bound)) return yield* new InvalidRequest({ message: bound.left })
      const access = { token: who.token, authorize: (r: Requirement) => authorize(who.token, r) }
      return (yield* influxqlV3Answer(access, db, statement.query, bound.right, {
        format: "parquet",
        parquetReader: flightReader
      })).body
    }
    const params = yield* paramsOf(statement.params)
    yield* authorize(who.token, { _tag: "db", action: "read", db })
    const engine = yield* QueryEngine
    const answer = yield* engine.sql({
      db,
      sql: statement.query,
      params,
      format: "parquet",
      parquetReader: flightReader
    })
    return answer.body
  })

/** The schema of a statement's answer, from the same query with no rows; empty when it cannot be read that way. */
const statementSchema = (who: Session, statement: Statement) =>
  Effect.gen(function* () {
    if (statement.kind !== "sql") return new Uint8Array(0)
    const probe = { ...statement, query: `SELECT * FROM (${statement.query.replace(/[\s;]+$/, "")}) AS q LIMIT 0` }
    const first = yield* Effect.either(Effect.flatMap(answerFrames(who, probe), (frames) => Stream.runHead(frames)))
    return first._tag === "Right" && Option.isSome(first.right) ? first.right.value : new Uint8Array(0)
  })

// ---------------------------------------------------------------------------------------------------------------
// Flight SQL catalog commands

const CATALOG = "public"
const SCHEMAS = ["iox", "information_schema", "system"]

/** SQL LIKE as Flight SQL's filter patterns use it (`%` and `_`). */
const like = (pattern: string | undefined) => {
  if (pattern === undefined || pattern === "") return () => true
  const re = new RegExp(
    `^${pattern
      .replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
      .replace(/%/g, ".*")
      .replace(/_/g, ".")}$`,
    "s"
  )
  return (s: string) => re.test(s)
}

const utf8 = (name: string, nullable = true): Field => new Field(name, new Utf8() as DataType, nullable)

const catalogDb = (who: Session) =>
  Effect.gen(function* () {
    const name = who.database
    if (name === undefined || name === "")
      return yield* new InvalidRequest({ message: "database not specified: set the 'database' metadata" })
    yield* authorize(who.token, { _tag: "db", action: "read", db: name })
    const state = yield* (yield* Catalog).current
    const db = liveDatabase(state, name)
    if (db === undefined) return yield* new NotFound({ message: `database not found: ${name}` })
    return { state, db }
  })

const SQL_INFO: ReadonlyMap<number, SqlInfoValue> = new Map<number, SqlInfoValue>([
  [0, "Strata"], // FLIGHT_SQL_SERVER_NAME
  [1, "3.0.0"], // FLIGHT_SQL_SERVER_VERSION
  [2, "21.2.0"], // FLIGHT_SQL_SERVER_ARROW_VERSION
  [3, true], // FLIGHT_SQL_SERVER_READ_ONLY
  [4, true], // FLIGHT_SQL_SERVER_SQL
  [5, false], // FLIGHT_SQL_SERVER_SUBSTRAIT
  [8, 0], // FLIGHT_SQL_SERVER_TRANSACTION: none
  [9, false], // FLIGHT_SQL_SERVER_CANCEL
  [500, false], // SQL_DDL_CATALOG
  [501, false], // SQL_DDL_SCHEMA
  [502, false], // SQL_DDL_TABLE
  [504, '"'] // SQL_IDENTIFIER_QUOTE_CHAR
])

/** The answer to a Flight SQL metadata command, or undefined when the command is not one. */
const commandFrames = (who: Session, command: SqlCommand) =>
  Effect.gen(function* () {
    const f = command.fields as Record<string, unknown>
    switch (command.type) {
      case "CommandGetCatalogs":
        return tableFrames(tableOf(new ArrowSchema([utf8("catalog_name", false)]), [[CATALOG]]))
      case "CommandGetDbSchemas": {
        const match = like(f["db_schema_filter_pattern"] as string | undefined)
        const catalogOk = f["catalog"] === undefined || f["catalog"] === CATALOG || f["catalog"] === ""
        const names = catalogOk ? SCHEMAS.filter(match) : []
        return tableFrames(
          tableOf(new ArrowSchema([utf8("catalog_name"), utf8("db_schema_name", false)]), [
            names.map(() => CATALOG),
            names
          ])
        )
      }
      case "CommandGetTableTypes":
        return tableFrames(tableOf(new ArrowSchema([utf8("table_type", false)]), [["BASE TABLE", "VIEW"]]))
      case "CommandGetTables": {
        const { state, db } = yield* catalogDb(who)
        const schemaOk = like(f["db_schema_filter_pattern"] as string | undefined)
        const tableOk = like(f["table_name_filter_pattern"] as string | undefined)
        const types = (f["table_types"] as Array<string> | undefined) ?? []
        const catalogOk = f["catalog"] === undefined || f["catalog"] === CATALOG || f["catalog"] === ""
        const virtual = virtualTables({ state, db, queries: () => [] })
        const rows: Array<{ schema: string; name: string; type: string; arrow: () => ArrowSchema }> = []
        for (const t of [...db.tables.values()]
          .filter((t) => !t.deleted)
          .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
          rows.push({ schema: "iox", name: t.name, type: "BASE TABLE", arrow: () => tableSchema(t) })
        }
        for (const t of virtual.values()) {
          rows.push({
            schema: t.schema,
            name: t.name,
            type: t.schema === "system" ? "BASE TABLE" : "VIEW",
            arrow: () => sqlColumnsSchema(t.columns)
          })
        }
        const chosen = rows.filter(
          (r) => catalogOk && schemaOk(r.schema) && tableOk(r.name) && (types.length === 0 || types.includes(r.type))
        )
        const fields = [
          utf8("catalog_name"),
          utf8("db_schema_name"),
          utf8("table_name", false),
          utf8("table_type", false)
        ]
        const columns: Array<Array<unknown>> = [
          chosen.map(() => CATALOG),
          chosen.map((r) => r.schema),
          chosen.map((r) => r.name),
          chosen.map((r) => r.type)
        ]
        if (f["include_schema"] === true) {
          fields.push(new Field("table_schema", new Binary() as DataType, false))
          columns.push(chosen.map((r) => schemaBytes(r.arrow())))
        }
        return tableFrames(tableOf(new ArrowSchema(fields), columns))
      }
      case "CommandGetPrimaryKeys":
      case "CommandGetExportedKeys":
      case "CommandGetImportedKeys":
      case "CommandGetCrossReference": {
        // Tables have no keys: the answer is empty, in the command's schema (JDBC's DatabaseMetaData asks).
        const schema = keysSchema(command.type)
        return tableFrames(
          tableOf(
            schema,
            schema.fields.map(() => [])
          )
        )
      }
      case "CommandGetSqlInfo": {
        const wanted = ((f["info"] as Array<number> | undefined) ?? []).map(Number)
        const entries = [...SQL_INFO].filter(([k]) => wanted.length === 0 || wanted.includes(k))
        return tableFrames(sqlInfoTable(entries))
      }
      default:
        return undefined
    }
  })

/** The schema a metadata command answers with (for GetFlightInfo and GetSchema). */
const commandSchema = (command: SqlCommand): Uint8Array | undefined => {
  switch (command.type) {
    case "CommandGetCatalogs":
      return schemaBytes(new ArrowSchema([utf8("catalog_name", false)]))
    case "CommandGetDbSchemas":
      return schemaBytes(new ArrowSchema([utf8("catalog_name"), utf8("db_schema_name", false)]))
    case "CommandGetTableTypes":
      return schemaBytes(new ArrowSchema([utf8("table_type", false)]))
    case "CommandGetTables": {
      const fields = [
        utf8("catalog_name"),
        utf8("db_schema_name"),
        utf8("table_name", false),
        utf8("table_type", false)
      ]
      if (command.fields["include_schema"] === true)
        fields.push(new Field("table_schema", new Binary() as DataType, false))
      return schemaBytes(new ArrowSchema(fields))
    }
    case "CommandGetSqlInfo":
      return schemaBytes(sqlInfoSchema)
    case "CommandGetPrimaryKeys":
    case "CommandGetExportedKeys":
    case "CommandGetImportedKeys":
    case "CommandGetCrossReference":
      return schemaBytes(keysSchema(command.type))
    default:
      return undefined
  }
}

/** The schemas of the key commands, as FlightSql.proto gives them. */
const keysSchema = (type: string): ArrowSchema => {
  const int32 = (name: string) => new Field(name, new Int32() as DataType, false)
  if (type === "CommandGetPrimaryKeys") {
    const names = [utf8("catalog_name"), utf8("db_schema_name"), utf8("table_name", false), utf8("column_name", false)]
    return new ArrowSchema([...names, utf8("key_name"), int32("key_sequence")])
  }
  const side = (p: string) => [
    utf8(`${p}_catalog_name`),
    utf8(`${p}_db_schema_name`),
    utf8(`${p}_table_name`, false),
    utf8(`${p}_column_name`, false)
  ]
  const rule = (name: string) => new Field(name, new Uint8() as DataType, false)
  return new ArrowSchema([
    ...side("pk"),
    ...side("fk"),
    int32("key_sequence"),
    utf8("fk_key_name"),
    utf8("pk_key_name"),
    rule("update_rule"),
    rule("delete_rule")
  ])
}

// ---------------------------------------------------------------------------------------------------------------
// Prepared statements: kept server-side by handle (parameters arrive later by DoPut), at most this many at once

const MAX_PREPARED = 4096

class PreparedStatements {
  private readonly byHandle = new Map<string, Statement>()
  create(statement: Statement): string {
    const handle = Crypto.randomUUID()
    this.byHandle.set(handle, statement)
    if (this.byHandle.size > MAX_PREPARED) this.byHandle.delete(this.byHandle.keys().next().value!)
    return handle
  }
  get(handle: Uint8Array): Statement | undefined {
    return this.byHandle.get(Buffer.from(handle).toString("utf8"))
  }
  bind(handle: Uint8Array, params: Record<string, Json>): boolean {
    const key = Buffer.from(handle).toString("utf8")
    const statement = this.byHandle.get(key)
    if (statement === undefined) return false
    this.byHandle.set(key, { ...statement, params })
    return true
  }
  close(handle: Uint8Array): void {
    this.byHandle.delete(Buffer.from(handle).toString("utf8"))
  }
}

/** The most parameter bytes a DoPut may send (they are held until the stream ends). */
const MAX_PARAMETER_BYTES = 16 * 1024 * 1024

const unknownHandle = new InvalidRequest({ message: "unknown prepared statement handle" })

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
