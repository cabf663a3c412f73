import { columnTypeConflict, type SchemaChange } from "../catalog/commands.ts"
import { columnCaseClash, columnNameProblem, foldColumnName } from "../catalog/names.ts"
import { countedColumns, liveTable, type DatabaseState, type TableState } from "../catalog/state.ts"
import type { ColumnType } from "../events/index.ts"
import { NANOS_PER, toNanos, type FieldShape, type LineError, type ParsedBatch, type Precision } from "../lineprotocol/index.ts"

const kindToType: ReadonlyArray<ColumnType> = ["float", "integer", "uinteger", "string", "boolean"]

/** The accepted lines of one table in a batch: their indices in the batch and their nanosecond times. */
export interface AcceptedRows {
  /** Batch line indices; the first `count` entries are meaningful. */
  rows: Int32Array
  times: BigInt64Array
  count: number
}

/** The outcome of checking a parsed batch against the catalog. */
export interface CheckedBatch {
  /** Lines that may be written, grouped by table name, with their nanosecond times. */
  readonly accepted: Map<string, AcceptedRows>
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

const pushRow = (group: AcceptedRows, row: number, time: bigint): void => {
  const c = group.count
  if (c === group.rows.length) {
    const rows = new Int32Array(c * 2)
    rows.set(group.rows)
    group.rows = rows
    const times = new BigInt64Array(c * 2)
    times.set(group.times)
    group.times = times
  }
  group.rows[c] = row
  group.times[c] = time
  group.count = c + 1
}

/**
 * Checks each line against the database's schema (or the schema the batch itself introduces): column types,
 * tag/field name clashes, reserved and malformed names, names the buffer would take for one column (they differ only
 * in case), the per-table column limit (`columnLimit`; replay passes none, the columns exist by then), timestamp
 * range. Pure; the catalog is not changed here. Lines listed in `skip` (by line number) are left out, as replay
 * leaves out the lines a write refused.
 *
 * A series' tag keys with a field shape that passed once pass again (the known columns only grow within a batch), so
 * the column check runs once per distinct (measurement, tag keys, field shape), not once per line; it is linear in
 * the line's columns.
 */
export const checkBatch = (
  db: DatabaseState | undefined,
  batch: ParsedBatch,
  precision: Precision,
  defaultTimeNs: bigint,
  skip?: ReadonlySet<number>,
  columnLimit = Infinity
): CheckedBatch => {
  const accepted = new Map<string, AcceptedRows>()
  const errors = new Map<number, string>()
  // Columns introduced by earlier lines of this batch, per table.
  const pending = new Map<string, PendingColumns>()
  // Per batch series, the field shape it last passed with; per measurement and tag-key array, every shape that passed.
  const passedShape = new Int32Array(batch.series.length).fill(-1)
  const passedCombos = new Map<string, Map<ReadonlyArray<string>, Set<number>>>()
  const times32 = new Int32Array(batch.times.buffer, batch.times.byteOffset, batch.count * 2)
  // Lines of a batch mostly repeat the previous line's timestamp: compare its two 32-bit halves and reuse the scaled
  // value, so no bigint is read or computed per line.
  let prevLo = 0
  let prevHi = 0
  let prevValid = false
  let prevNs = 0n
  let lastTable = ""
  let lastGroup: AcceptedRows | undefined
  const lineCount = batch.count
  for (let i = 0; i < lineCount; i++) {
    const lineNumber = batch.lineNumbers[i]!
    if (skip !== undefined && skip.has(lineNumber)) continue
    let time = defaultTimeNs
    if (batch.hasTime[i] === 1) {
      const lo = times32[2 * i]!
      const hi = times32[2 * i + 1]!
      if (!prevValid || lo !== prevLo || hi !== prevHi) {
        const raw = batch.times[i]!
        const ns = toNanos(raw, precision)
        if (ns === undefined) {
          prevValid = false
          errors.set(lineNumber, `timestamp, ${raw}, out of range for precision: ${precisionLabel[precision]}`)
          continue
        }
        prevLo = lo
        prevHi = hi
        prevNs = ns
        prevValid = true
      }
      time = prevNs
    }
    const s = batch.lineSeries[i]!
    const shapeId = batch.lineShape[i]!
    const series = batch.series[s]!
    const measurement = series.measurement
    if (passedShape[s] !== shapeId) {
      let byKeys = passedCombos.get(measurement)
      let shapes = byKeys?.get(series.tagKeys)
      if (shapes === undefined || !shapes.has(shapeId)) {
        const problem = checkColumns(db, pending, measurement, series.tagKeys, batch.shapes[shapeId]!, columnLimit)
        if (problem !== undefined) {
          errors.set(lineNumber, problem)
          continue
        }
        if (byKeys === undefined) {
          byKeys = new Map()
          passedCombos.set(measurement, byKeys)
        }
        if (shapes === undefined) {
          shapes = new Set()
          byKeys.set(series.tagKeys, shapes)
        }
        shapes.add(shapeId)
      }
      passedShape[s] = shapeId
    }
    let group = measurement === lastTable ? lastGroup : accepted.get(measurement)
    if (group === undefined) {
      // Most batches write one table: the first group has room for every line, later ones grow as needed.
      const size = accepted.size === 0 ? lineCount : Math.min(lineCount, 256)
      group = { rows: new Int32Array(size), times: new BigInt64Array(size), count: 0 }
      accepted.set(measurement, group)
    }
    lastTable = measurement
    lastGroup = group
    pushRow(group, i, time)
  }
  const changes: Array<SchemaChange> = []
  for (const [table, columns] of pending) {
    // Tags first, in first-seen order: a new table's series key is its tags in the order lines introduced them.
    const list = [...columns.types.entries()].map(([name, type]) => ({ name, type }))
    list.sort((a, b) => (a.type === "tag" ? 0 : 1) - (b.type === "tag" ? 0 : 1))
    changes.push({ table, columns: list })
  }
  return { accepted, errors, changes }
}

/** Columns a batch introduces to one table: their types, and their names by folded name. */
interface PendingColumns {
  readonly types: Map<string, ColumnType>
  readonly folded: Map<string, string>
}

/** Per table state, its column names by folded name (built once per state, on the first new name). */
const foldedColumns = new WeakMap<TableState, Map<string, string>>()

const foldedIndex = (table: TableState): Map<string, string> => {
  let index = foldedColumns.get(table)
  if (index === undefined) {
    index = new Map()
    for (const c of table.columns) index.set(foldColumnName(c.name), c.name)
    foldedColumns.set(table, index)
  }
  return index
}

const columnLimitMessage = (limit: number) => `Update to schema would exceed number of columns per table limit of ${limit} columns`

/**
 * The first problem with a line's columns, or undefined after recording the columns it introduces in `pending`.
 * Columns the table (or the batch) already has cost one lookup each; new ones are checked by map lookups too, so the
 * check is linear in the line, and it stops at the column limit.
 */
const checkColumns = (
  db: DatabaseState | undefined,
  pending: Map<string, PendingColumns>,
  measurement: string,
  tagKeys: ReadonlyArray<string>,
  shape: FieldShape,
  columnLimit: number
): string | undefined => {
  const table = db === undefined ? undefined : liveTable(db, measurement)
  let introduced = pending.get(measurement)
  let additions: PendingColumns | undefined
  let room = Infinity
  const tagCount = tagKeys.length
  const total = tagCount + shape.keys.length
  for (let i = 0; i < total; i++) {
    const name = i < tagCount ? tagKeys[i]! : shape.keys[i - tagCount]!
    const type: ColumnType = i < tagCount ? "tag" : kindToType[shape.kinds[i - tagCount]!]!
    const existing = table?.columnsByName.get(name)?.type ?? introduced?.types.get(name)
    if (existing === type) continue
    const problem = columnNameProblem(name)
    if (problem !== undefined) return problem
    if (existing !== undefined) return columnTypeConflict(name, existing, type)
    if (additions === undefined) {
      additions = { types: new Map(), folded: new Map() }
      room = columnLimit - (table === undefined ? 0 : countedColumns(table)) - (introduced?.types.size ?? 0)
    }
    const clash = additions.types.get(name)
    if (clash !== undefined) return columnTypeConflict(name, clash, type)
    const fold = foldColumnName(name)
    const other =
      (table === undefined ? undefined : foldedIndex(table).get(fold)) ??
      introduced?.folded.get(fold) ??
      additions.folded.get(fold)
    if (other !== undefined) return columnCaseClash(name, other)
    if (additions.types.size >= room) return columnLimitMessage(columnLimit)
    additions.types.set(name, type)
    additions.folded.set(fold, name)
  }
  if (additions !== undefined) {
    if (introduced === undefined) {
      introduced = { types: new Map(), folded: new Map() }
      pending.set(measurement, introduced)
    }
    for (const [n, t] of additions.types) introduced.types.set(n, t)
    for (const [f, n] of additions.folded) introduced.folded.set(f, n)
  }
  return undefined
}

/** Sorted line errors for a response: at most `limit`, with the user's original line text. */
export const lineErrors = (
  errors: ReadonlyMap<number, string>,
  parseErrors: ReadonlyArray<LineError>,
  originalLine: (n: number) => string
): Array<LineError> => {
  const all: Array<LineError> = [...parseErrors]
  for (const [lineNumber, message] of errors) all.push({ lineNumber, message, originalLine: originalLine(lineNumber) })
  all.sort((a, b) => a.lineNumber - b.lineNumber)
  return all
}
