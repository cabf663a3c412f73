import { Binary, Field, Int32, Schema as ArrowSchema, Uint8, Utf8, type DataType } from "apache-arrow"
import { Effect } from "effect"
import { authorize } from "../auth/authenticate.ts"
import { Catalog } from "../catalog/Catalog.ts"
import { liveDatabase } from "../catalog/state.ts"
import { InvalidRequest, NotFound } from "../errors.ts"
import { virtualTables } from "../query/virtualTables.ts"
import {
  schemaBytes,
  sqlColumnsSchema,
  sqlInfoSchema,
  sqlInfoTable,
  tableFrames,
  tableOf,
  tableSchema,
  type SqlInfoValue
} from "./arrow.ts"
import type { SqlCommand } from "./protocol.ts"
import type { Session } from "./session.ts"

/** Flight SQL's catalog commands (catalogs, schemas, tables, table types, keys, SqlInfo): answers and schemas. */

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

export const catalogDb = (who: Session) =>
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
export const commandFrames = (who: Session, command: SqlCommand) =>
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
export const commandSchema = (command: SqlCommand): Uint8Array | undefined => {
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
