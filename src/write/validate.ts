import { columnTypeConflict, type SchemaChange } from "../catalog/commands.ts"
import { liveTable, type DatabaseState } from "../catalog/state.ts"
import type { ColumnType } from "../events/index.ts"
import { NANOS_PER, toNanos, type LineError, type ParsedLine, type Precision } from "../lineprotocol/index.ts"

const kindToType: ReadonlyArray<ColumnType> = ["float", "integer", "uinteger", "string", "boolean"]

/** The outcome of checking a parsed batch against the catalog. */
export interface CheckedBatch {
  /** Lines that may be written, grouped by table name, with their nanosecond times. */
  readonly accepted: Map<string, { lines: Array<ParsedLine>; times: Array<bigint> }>
  /** Lines refused, by line number. */
  readonly errors: Map<number, string>
  /** Tables and columns the accepted lines need that the catalog does not have yet. */
  readonly changes: ReadonlyArray<SchemaChange>
}

const precisionLabel: Record<Precision, string> = {
  auto: "Auto",
  nanosecond: "Nanosecond",
  microsecond: "Microsecond",
  millisecond: "Millisecond",
  second: "Second",
  minute: "Minute",
  hour: "Hour"
}

/** The time a line without a timestamp gets: the ingest time, truncated to the unit of an explicit precision. */
export const defaultTime = (nowNs: bigint, precision: Precision) => precision === "auto" ? nowNs : nowNs - (nowNs % NANOS_PER[precision])

/**
 * Checks each line against the database's schema (or the schema the batch itself introduces): column types,
 * tag/field name clashes, reserved names, timestamp range. Pure; the catalog is not changed here.
 */
export const checkBatch = (
  db: DatabaseState | undefined,
  lines: ReadonlyArray<ParsedLine>,
  precision: Precision,
  defaultTimeNs: bigint
): CheckedBatch => {
  const accepted = new Map<string, { lines: Array<ParsedLine>; times: Array<bigint> }>()
  const errors = new Map<number, string>()
  // Column types introduced by earlier lines of this batch, per table.
  const pending = new Map<string, Map<string, ColumnType>>()
  for (const line of lines) {
    let time = defaultTimeNs
    if (line.timestamp !== undefined) {
      const ns = toNanos(line.timestamp, precision)
      if (ns === undefined) {
        errors.set(line.lineNumber, `timestamp, ${line.timestamp}, out of range for precision: ${precisionLabel[precision]}`)
        continue
      }
      time = ns
    }
    const table = db === undefined ? undefined : liveTable(db, line.measurement)
    let introduced = pending.get(line.measurement)
    let problem: string | undefined
    let additions: Array<[string, ColumnType]> | undefined
    const tagCount = line.tagKeys.length
    const total = tagCount + line.fieldKeys.length
    for (let i = 0; i < total && problem === undefined; i++) {
      const name = i < tagCount ? line.tagKeys[i]! : line.fieldKeys[i - tagCount]!
      const type: ColumnType = i < tagCount ? "tag" : kindToType[line.fieldKinds[i - tagCount]!]!
      const existing = table?.columnsByName.get(name)?.type ?? introduced?.get(name)
      if (existing === type) continue
      if (name === "time" || name === "__chunk_order") {
        problem = `'${name}' is a reserved column`
      } else if (existing !== undefined) {
        problem = columnTypeConflict(name, existing, type)
      } else {
        additions ??= []
        const clash = additions.find(([n]) => n === name)
        if (clash !== undefined) problem = columnTypeConflict(name, clash[1], type)
        else additions.push([name, type])
      }
    }
    if (problem !== undefined) {
      errors.set(line.lineNumber, problem)
      continue
    }
    if (additions !== undefined) {
      if (introduced === undefined) {
        introduced = new Map()
        pending.set(line.measurement, introduced)
      }
      for (const [n, t] of additions) introduced.set(n, t)
    }
    let group = accepted.get(line.measurement)
    if (group === undefined) {
      group = { lines: [], times: [] }
      accepted.set(line.measurement, group)
    }
    group.lines.push(line)
    group.times.push(time)
  }
  const changes: Array<SchemaChange> = []
  for (const [table, columns] of pending) {
    // Tags first, in first-seen order: a new table's series key is its tags in the order lines introduced them.
    const list = [...columns.entries()].map(([name, type]) => ({ name, type }))
    list.sort((a, b) => (a.type === "tag" ? 0 : 1) - (b.type === "tag" ? 0 : 1))
    changes.push({ table, columns: list })
  }
  return { accepted, errors, changes }
}

/** Sorted line errors for a response: at most `limit`, with the user's original line text. */
export const lineErrors = (errors: ReadonlyMap<number, string>, parseErrors: ReadonlyArray<LineError>, originalLine: (n: number) => string): Array<LineError> => {
  const all: Array<LineError> = [...parseErrors]
  for (const [lineNumber, message] of errors) all.push({ lineNumber, message, originalLine: originalLine(lineNumber) })
  all.sort((a, b) => a.lineNumber - b.lineNumber)
  return all
}
