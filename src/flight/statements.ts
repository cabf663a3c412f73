import { Effect, Either, Option, Stream } from "effect"
import * as Crypto from "node:crypto"
import { authorize } from "../auth/authenticate.ts"
import type { Requirement } from "../auth/tokens.ts"
import { InvalidRequest } from "../errors.ts"
import { influxqlV3Answer } from "../http/influxql.ts"
import { paramsOf } from "../http/query.ts"
import { boundParamsOf } from "../influxql/parser.ts"
import type { Json } from "../query/ast.ts"
import { QueryEngine, type ParquetReader } from "../query/QueryEngine.ts"
import { parquetAsArrow } from "./arrow.ts"
import type { Session } from "./session.ts"

/**
 * What Flight runs: InfluxDB 3's JSON tickets and Flight SQL's statements (SQL or InfluxQL) and prepared statements,
 * answered as Arrow IPC frames through the same QueryEngine and permissions as the HTTP query endpoints.
 */

/** InfluxDB 3's ticket: `{"database","sql_query","query_type","params"}`. */
export interface JsonTicket {
  readonly database: string
  readonly sql_query: string
  readonly query_type: "sql" | "influxql"
  readonly params: unknown
}

export const jsonTicket = (bytes: Uint8Array): JsonTicket | undefined => {
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
export interface Statement {
  readonly database: string | undefined
  readonly query: string
  readonly kind: "sql" | "influxql"
  readonly params: unknown
}

export const encodeStatement = (s: Statement) => Buffer.from(JSON.stringify(s), "utf8")

export const decodeStatement = (bytes: Uint8Array): Statement | undefined => {
  try {
    const v = JSON.parse(Buffer.from(bytes).toString("utf8")) as Statement
    return typeof v.query === "string" ? v : undefined
  } catch {
    return undefined
  }
}

const flightReader: ParquetReader = { compression: "snappy", read: parquetAsArrow }

/** A statement's answer as framed Arrow IPC messages, schema first. */
export const answerFrames = (who: Session, statement: Statement) =>
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
export const statementSchema = (who: Session, statement: Statement) =>
  Effect.gen(function* () {
    if (statement.kind !== "sql") return new Uint8Array(0)
    const probe = { ...statement, query: `SELECT * FROM (${statement.query.replace(/[\s;]+$/, "")}) AS q LIMIT 0` }
    const first = yield* Effect.either(Effect.flatMap(answerFrames(who, probe), (frames) => Stream.runHead(frames)))
    return first._tag === "Right" && Option.isSome(first.right) ? first.right.value : new Uint8Array(0)
  })

const MAX_PREPARED = 4096

/** Prepared statements, kept server-side by handle (parameters arrive later by DoPut), at most MAX_PREPARED. */
export class PreparedStatements {
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

export const unknownHandle = new InvalidRequest({ message: "unknown prepared statement handle" })
