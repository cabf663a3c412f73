import duckdb from "@duckdb/node-bindings"
import { DuckDBAppender, DuckDBBigIntType, DuckDBBooleanType, DuckDBConnection, DuckDBDataChunk, DuckDBDoubleType, DuckDBIntegerType, DuckDBTimestampNanosecondsType, DuckDBUBigIntType, DuckDBVarCharType, type DuckDBType } from "@duckdb/node-api"
import type { TableState } from "../catalog/state.ts"
import type { ColumnType } from "../events/index.ts"
import { FieldKind, type ParsedLine } from "../lineprotocol/index.ts"

/** The rows of one batch for one table: parsed lines and their resolved nanosecond times. */
export interface TableRows {
  readonly dbId: number
  readonly table: TableState
  readonly lines: ReadonlyArray<ParsedLine>
  readonly times: ReadonlyArray<bigint>
}

const VECTOR_SIZE = duckdb.vector_size()

const duckType = (type: ColumnType): DuckDBType => {
  switch (type) {
    case "float":
      return DuckDBDoubleType.instance
    case "integer":
      return DuckDBBigIntType.instance
    case "uinteger":
      return DuckDBUBigIntType.instance
    case "string":
    case "tag":
      return DuckDBVarCharType.instance
    case "boolean":
      return DuckDBBooleanType.instance
    case "time":
      return DuckDBTimestampNanosecondsType.instance
  }
}

const sqlType = (type: ColumnType) =>
  ({ float: "DOUBLE", integer: "BIGINT", uinteger: "UBIGINT", string: "VARCHAR", tag: "VARCHAR", boolean: "BOOLEAN", time: "TIMESTAMP_NS" })[type]

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`

/** Name of the DuckDB table holding a buffered table's rows, and of its series dictionary. */
export const rowsTableName = (tableId: number) => `buf.t${tableId}`
export const seriesTableName = (tableId: number) => `buf.s${tableId}`

/** One buffered table: DuckDB tables for rows and series, plus the JS-side series dictionary. */
interface BufferedTable {
  readonly dbId: number
  readonly tableId: number
  /** Field columns in DuckDB column order (after `_sid` and `time`). */
  readonly fields: Array<{ name: string; type: ColumnType }>
  readonly fieldIndex: Map<string, number>
  /** Tag columns in DuckDB column order (after `_sid`). */
  readonly tags: Array<string>
  readonly tagIndex: Map<string, number>
  /** Series id by the line's raw tag text, and by canonical (sorted) tag text. */
  readonly seriesByRaw: Map<string, number>
  readonly seriesByCanonical: Map<string, number>
  lastTimeBySeries: Array<bigint>
  /** True once some series received a time not after its previous one: queries must then deduplicate. */
  mayHaveDuplicates: boolean
  rows: number
  bytes: number
  rowsAppender: DuckDBAppender
  seriesAppender: DuckDBAppender
}

/**
 * The write buffer: recent rows held columnar inside DuckDB (one rows table and one series dictionary per table),
 * appended in whole vectors copied from typed arrays, so queries read it in place.
 */
export class WriteBuffer {
  private readonly tables = new Map<number, BufferedTable>()
  private readonly dirty = new Set<BufferedTable>()
  private totalBytes = 0
  private totalRows = 0

  constructor(private readonly conn: DuckDBConnection) {}

  /** Bytes of buffered data (an estimate: fixed widths plus string lengths). */
  get bytes() {
    return this.totalBytes
  }

  get rows() {
    return this.totalRows
  }

  /** Buffered table state for the query engine: which tables exist and whether they need deduplication. */
  describe(tableId: number): { readonly tags: ReadonlyArray<string>; readonly fields: ReadonlyArray<{ name: string; type: ColumnType }>; readonly mayHaveDuplicates: boolean; readonly rows: number } | undefined {
    return this.tables.get(tableId)
  }

  /**
   * SQL reading one buffered table as the user sees it: tags, `time`, fields. When some series received rows out of
   * time order, rows with the same series and time are merged so that, field by field, the last non-null value wins.
   */
  viewSql(tableId: number): string | undefined {
    const t = this.tables.get(tableId)
    if (t === undefined) return undefined
    const tags = t.tags.map((n) => `s.${quote(n)}`)
    if (!t.mayHaveDuplicates) {
      return `SELECT ${[...tags, "b.time", ...t.fields.map((f) => `b.${quote(f.name)}`)].join(", ")} FROM ${rowsTableName(tableId)} b JOIN ${seriesTableName(tableId)} s USING (_sid)`
    }
    const merged = t.fields.map((f) => `arg_max(${quote(f.name)}, rowid) FILTER (WHERE ${quote(f.name)} IS NOT NULL) AS ${quote(f.name)}`)
    return `SELECT ${[...tags, "d.time", ...t.fields.map((f) => `d.${quote(f.name)}`)].join(", ")} FROM (SELECT _sid, time${merged.map((m) => ", " + m).join("")} FROM ${rowsTableName(tableId)} GROUP BY _sid, time) d JOIN ${seriesTableName(tableId)} s USING (_sid)`
  }

  /** Appends one table's rows of a batch. */
  async append(rows: TableRows): Promise<void> {
    if (rows.lines.length === 0) return
    const t = await this.ensureTable(rows.dbId, rows.table)
    const n = rows.lines.length
    const sids = new Int32Array(n)
    const times = new BigInt64Array(n)
    const fieldCount = t.fields.length
    const values: Array<Float64Array | BigInt64Array | BigUint64Array | Uint8Array | Array<string | undefined>> = t.fields.map((f) => allocate(f.type, n))
    const valid: Array<Uint8Array | undefined> = new Array(fieldCount)
    const seen = new Uint8Array(fieldCount)
    let bytes = n * 12
    for (let i = 0; i < n; i++) {
      const line = rows.lines[i]!
      const time = rows.times[i]!
      const sid = this.seriesOf(t, line)
      sids[i] = sid
      times[i] = time
      const last = t.lastTimeBySeries[sid]
      if (last !== undefined && time <= last) t.mayHaveDuplicates = true
      else t.lastTimeBySeries[sid] = time
      seen.fill(0)
      const keys = line.fieldKeys
      for (let f = 0; f < keys.length; f++) {
        const col = t.fieldIndex.get(keys[f]!)
        if (col === undefined) continue
        seen[col] = 1
        const v = line.fieldValues[f]!
        const target = values[col]!
        switch (line.fieldKinds[f]) {
          case FieldKind.Float:
            ;(target as Float64Array)[i] = v as number
            bytes += 8
            break
          case FieldKind.Integer:
            ;(target as BigInt64Array)[i] = v as bigint
            bytes += 8
            break
          case FieldKind.UInteger:
            ;(target as BigUint64Array)[i] = v as bigint
            bytes += 8
            break
          case FieldKind.Boolean:
            ;(target as Uint8Array)[i] = v ? 1 : 0
            bytes += 1
            break
          case FieldKind.String:
            ;(target as Array<string | undefined>)[i] = v as string
            bytes += (v as string).length + 16
            break
        }
      }
      for (let col = 0; col < fieldCount; col++) {
        if (seen[col] === 1) continue
        let mask = valid[col]
        if (mask === undefined) {
          mask = new Uint8Array(n).fill(1)
          valid[col] = mask
        }
        mask[i] = 0
      }
    }
    this.appendChunks(t, n, sids, times, values, valid)
    this.dirty.add(t)
    t.rows += n
    t.bytes += bytes
    this.totalRows += n
    this.totalBytes += bytes
  }

  /**
   * Makes every appended row visible to queries. Appends are flushed lazily (DuckDB's appender commits on flush,
   * which costs more than the copy itself), so the query path calls this before it reads.
   */
  flush(): void {
    for (const t of this.dirty) {
      t.seriesAppender.flushSync()
      t.rowsAppender.flushSync()
    }
    this.dirty.clear()
  }

  /** Drops every buffered row of a table. */
  async dropTable(tableId: number): Promise<void> {
    const t = this.tables.get(tableId)
    if (t === undefined) return
    this.tables.delete(tableId)
    this.dirty.delete(t)
    t.rowsAppender.closeSync()
    t.seriesAppender.closeSync()
    this.totalBytes -= t.bytes
    this.totalRows -= t.rows
    await this.conn.run(`DROP TABLE IF EXISTS ${rowsTableName(tableId)}; DROP TABLE IF EXISTS ${seriesTableName(tableId)}`)
  }

  /** Drops every buffered row of a database. */
  async dropDatabase(dbId: number): Promise<void> {
    for (const t of [...this.tables.values()]) if (t.dbId === dbId) await this.dropTable(t.tableId)
  }

  private appendChunks(
    t: BufferedTable,
    n: number,
    sids: Int32Array,
    times: BigInt64Array,
    values: ReadonlyArray<Float64Array | BigInt64Array | BigUint64Array | Uint8Array | Array<string | undefined>>,
    valid: ReadonlyArray<Uint8Array | undefined>
  ) {
    const types: Array<DuckDBType> = [DuckDBIntegerType.instance, DuckDBTimestampNanosecondsType.instance, ...t.fields.map((f) => duckType(f.type))]
    for (let start = 0; start < n; start += VECTOR_SIZE) {
      const count = Math.min(VECTOR_SIZE, n - start)
      const chunk = DuckDBDataChunk.create(types)
      chunk.rowCount = count
      const raw = chunk.chunk
      copyTyped(duckdb.data_chunk_get_vector(raw, 0), sids, start, count)
      copyTyped(duckdb.data_chunk_get_vector(raw, 1), times, start, count)
      for (let col = 0; col < t.fields.length; col++) {
        const vector = duckdb.data_chunk_get_vector(raw, col + 2)
        const source = values[col]!
        const mask = valid[col]
        if (Array.isArray(source)) {
          for (let i = 0; i < count; i++) {
            const s = source[start + i]
            if (s !== undefined) duckdb.vector_assign_string_element(vector, i, s)
          }
        } else {
          copyTyped(vector, source, start, count)
        }
        if (mask !== undefined) {
          // The validity mask is bit-per-row in 64-bit words; it is built here and copied in one call.
          duckdb.vector_ensure_validity_writable(vector)
          const bits = new Uint8Array(Math.ceil(count / 64) * 8)
          for (let i = 0; i < count; i++) if (mask[start + i] === 1) bits[i >> 3]! |= 1 << (i & 7)
          duckdb.copy_data_to_vector_validity(vector, 0, bits.buffer, 0, bits.length)
        }
      }
      t.rowsAppender.appendDataChunk(chunk)
    }
  }

  private seriesOf(t: BufferedTable, line: ParsedLine): number {
    let raw = ""
    for (let i = 0; i < line.tagKeys.length; i++) raw += line.tagKeys[i] + "\u0000" + line.tagValues[i] + "\u0001"
    const known = t.seriesByRaw.get(raw)
    if (known !== undefined) return known
    const order = line.tagKeys.map((_, i) => i).sort((a, b) => (line.tagKeys[a]! < line.tagKeys[b]! ? -1 : 1))
    const canonical = order.map((i) => line.tagKeys[i] + "\u0000" + line.tagValues[i]).join("\u0001")
    let sid = t.seriesByCanonical.get(canonical)
    if (sid === undefined) {
      sid = t.seriesByCanonical.size
      t.seriesByCanonical.set(canonical, sid)
      const values = new Array<string | null>(t.tags.length).fill(null)
      for (let i = 0; i < line.tagKeys.length; i++) {
        const col = t.tagIndex.get(line.tagKeys[i]!)
        if (col !== undefined) values[col] = line.tagValues[i]!
      }
      t.seriesAppender.appendInteger(sid)
      for (const v of values) {
        if (v === null) t.seriesAppender.appendNull()
        else t.seriesAppender.appendVarchar(v)
      }
      t.seriesAppender.endRow()
    }
    t.seriesByRaw.set(raw, sid)
    return sid
  }

  /** Creates the DuckDB tables of a catalog table, or adds the columns the catalog has gained since. */
  private async ensureTable(dbId: number, table: TableState): Promise<BufferedTable> {
    let t = this.tables.get(table.id)
    if (t === undefined) {
      const tags = table.columns.filter((c) => c.type === "tag").map((c) => c.name)
      const fields = table.columns.filter((c) => c.type !== "tag" && c.type !== "time").map((c) => ({ name: c.name, type: c.type }))
      await this.conn.run(
        `CREATE TABLE ${rowsTableName(table.id)} (_sid INTEGER, time TIMESTAMP_NS${fields.map((f) => `, ${quote(f.name)} ${sqlType(f.type)}`).join("")});
         CREATE TABLE ${seriesTableName(table.id)} (_sid INTEGER${tags.map((n) => `, ${quote(n)} VARCHAR`).join("")})`
      )
      t = {
        dbId,
        tableId: table.id,
        fields,
        fieldIndex: new Map(fields.map((f, i) => [f.name, i])),
        tags,
        tagIndex: new Map(tags.map((n, i) => [n, i])),
        seriesByRaw: new Map(),
        seriesByCanonical: new Map(),
        lastTimeBySeries: [],
        mayHaveDuplicates: false,
        rows: 0,
        bytes: 0,
        rowsAppender: await this.conn.createAppender(`t${table.id}`, "buf"),
        seriesAppender: await this.conn.createAppender(`s${table.id}`, "buf")
      }
      this.tables.set(table.id, t)
      return t
    }
    const newFields = table.columns.filter((c) => c.type !== "tag" && c.type !== "time" && !t!.fieldIndex.has(c.name))
    const newTags = table.columns.filter((c) => c.type === "tag" && !t!.tagIndex.has(c.name))
    if (newFields.length > 0) {
      this.dirty.delete(t)
      t.seriesAppender.flushSync()
      t.rowsAppender.closeSync()
      for (const c of newFields) {
        await this.conn.run(`ALTER TABLE ${rowsTableName(table.id)} ADD COLUMN ${quote(c.name)} ${sqlType(c.type)}`)
        t.fieldIndex.set(c.name, t.fields.length)
        t.fields.push({ name: c.name, type: c.type })
      }
      t.rowsAppender = await this.conn.createAppender(`t${table.id}`, "buf")
    }
    if (newTags.length > 0) {
      t.rowsAppender.flushSync()
      t.seriesAppender.closeSync()
      for (const c of newTags) {
        await this.conn.run(`ALTER TABLE ${seriesTableName(table.id)} ADD COLUMN ${quote(c.name)} VARCHAR`)
        t.tagIndex.set(c.name, t.tags.length)
        t.tags.push(c.name)
      }
      t.seriesAppender = await this.conn.createAppender(`s${table.id}`, "buf")
    }
    return t
  }
}

const allocate = (type: ColumnType, n: number) => {
  switch (type) {
    case "float":
      return new Float64Array(n)
    case "integer":
      return new BigInt64Array(n)
    case "uinteger":
      return new BigUint64Array(n)
    case "boolean":
      return new Uint8Array(n)
    default:
      return new Array<string | undefined>(n)
  }
}

const copyTyped = (vector: duckdb.Vector, source: Int32Array | BigInt64Array | Float64Array | BigUint64Array | Uint8Array, start: number, count: number) => {
  const width = source.BYTES_PER_ELEMENT
  duckdb.copy_data_to_vector(vector, 0, source.buffer as ArrayBuffer, source.byteOffset + start * width, count * width)
}
