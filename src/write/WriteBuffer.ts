import { DuckDBConnection, DuckDBDataChunk, DuckDBDoubleType, DuckDBIntegerType, DuckDBTimestampNanosecondsType, type DuckDBType } from "@duckdb/node-api"
import duckdb from "@duckdb/node-bindings"
import type { TableState } from "../catalog/state.ts"
import type { ColumnType } from "../events/index.ts"
import { type BatchSeries, FieldKind, type ParsedBatch } from "../lineprotocol/index.ts"
import { sqlIdentifier as quote } from "../query/literal.ts"
import { allocate, type BufferedTable, bufferViewSql, type Equalities, copyBooleans, copyFloats, copyIntegers, copyTyped, duckType, HIGH, indexSeries, join64, lengthPrefixed, LOW, matchingSeries, type PersistTarget, rowsTableName, type ScratchColumn, seriesTableName, setHalves, type ShapeLayout, shapeLayout, sqlType, VECTOR_SIZE } from "./bufferColumns.ts"
export { rowsTableName, seriesTableName, type PersistTarget } from "./bufferColumns.ts"

/** The rows of one batch for one table: which lines of the parsed batch, and their resolved nanosecond times. */
export interface TableRows {
  readonly dbId: number
  readonly table: TableState
  readonly batch: ParsedBatch
  /** Batch line indices; the first `count` entries are the rows. */
  readonly lines: Int32Array
  readonly times: BigInt64Array
  readonly count: number
}

/**
 * Where one append put its rows (`_row` from `from` to `to`), so that a write whose commit failed can take them back.
 */
export interface AppendMark {
  readonly table: object
  readonly tableId: number
  readonly from: number
  readonly to: number
  readonly bytes: number
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
  /** Column arrays that append reuses from batch to batch (per type, the k-th column of that type), and series ids. */
  private readonly scratch = new Map<ColumnType, Array<ScratchColumn>>()
  private scratchSids = new Int32Array(0)
  private scratchRows = new Float64Array(0)

  constructor(private readonly conn: DuckDBConnection) {}

  private changes = 0

  /**
   * Counts the changes to what queries read (rows made visible or removed, tables created, altered or dropped): a
   * prepared statement is reused only while it has not moved (see statements.ts).
   */
  get version(): number {
    return this.changes
  }

  /** Bytes of buffered data (an estimate: fixed widths plus string lengths). */
  get bytes() {
    return this.totalBytes
  }

  get rows() {
    return this.totalRows
  }

  /** Buffered table state for the query engine: which tables exist and whether they need deduplication. */
  describe(
    tableId: number
  ):
    | {
        readonly tags: ReadonlyArray<string>
        readonly fields: ReadonlyArray<{ name: string; type: ColumnType }>
        readonly mayHaveDuplicates: boolean
        readonly rows: number
        /** The `_row` the next appended row gets. */
        readonly appended: number
      }
    | undefined {
    return this.tables.get(tableId)
  }

  /** Bounds of a buffered table's times (possibly wider than its rows), or undefined when it holds none. */
  timeRange(tableId: number): { readonly min: bigint; readonly max: bigint } | undefined {
    const t = this.tables.get(tableId)
    if (t === undefined || !t.hasTimes || t.rows === 0) return undefined
    return { min: join64(t.minTimeLo, t.minTimeHi), max: join64(t.maxTimeLo, t.maxTimeHi) }
  }

  /** What a persist takes: every table with rows, and the `_row` below which its rows are the ones to persist. */
  persistTargets(): ReadonlyArray<PersistTarget> {
    const out: Array<PersistTarget> = []
    for (const t of this.tables.values()) {
      if (t.rows === 0) continue
      out.push({
        table: t,
        dbId: t.dbId,
        tableId: t.tableId,
        upTo: t.appended,
        tags: [...t.tags],
        fields: [...t.fields],
        mayHaveDuplicates: t.mayHaveDuplicates
      })
    }
    return out
  }

  /**
   * SQL that ranks a target's series by series key into the temp table `ranks`, once per persist: each window's file
   * then sorts on that integer and time instead of on every tag string row by row.
   */
  persistRanksSql(target: PersistTarget, ranks: string): string {
    const tags = target.tags.map((n) => quote(n))
    const order = tags.length === 0 ? "_sid" : tags.join(", ")
    return `CREATE OR REPLACE TEMP TABLE ${ranks} AS SELECT _sid, row_number() OVER (ORDER BY ${order}) AS _rank${tags.map((n) => `, ${n}`).join("")} FROM ${seriesTableName(target.tableId)}`
  }

  /**
   * SQL answering whether a target's rows hold two for one series and time. A table is marked as possibly holding
   * duplicates once a series receives a row not after its latest, which concurrent writers cause all the time; asking
   * costs a tenth of the merge it spares.
   */
  persistDuplicatesSql(target: PersistTarget): string {
    return `SELECT EXISTS (SELECT 1 FROM ${rowsTableName(target.tableId)} WHERE _row < ${target.upTo} GROUP BY _sid, time HAVING count(*) > 1)`
  }

  /**
   * SQL that stages a target's rows in the temp table `stage`, once per persist: the gen1 window number `_w`, the
   * series rank `_rank` (from `ranks`), tags in series-key order, time, then fields, stored in window, series-key and
   * time order, so that each window's file reads only its own row groups, already sorted. Merged per series and time
   * (field by field the last non-null value wins, as queries merge) only when the table may hold duplicates: the
   * merge costs more than the rest.
   */
  persistStageSql(target: PersistTarget, ranks: string, stage: string, windowNs: bigint): string {
    const filter = `_row < ${target.upTo}`
    const rows = target.mayHaveDuplicates
      ? `SELECT _sid, time${target.fields.map((f) => `, arg_max(${quote(f.name)}, _row) FILTER (WHERE ${quote(f.name)} IS NOT NULL) AS ${quote(f.name)}`).join("")} FROM ${rowsTableName(target.tableId)} WHERE ${filter} GROUP BY _sid, time`
      : `SELECT * FROM ${rowsTableName(target.tableId)} WHERE ${filter}`
    const columns = [
      ...target.tags.map((n) => `s.${quote(n)}`),
      "d.time",
      ...target.fields.map((f) => `d.${quote(f.name)}`)
    ].join(", ")
    // Floor division: times before 1970 fall in the window that starts before them.
    const e = "epoch_ns(d.time)"
    const window = `${e} // ${windowNs} - CASE WHEN ${e} % ${windowNs} < 0 THEN 1 ELSE 0 END`
    return `CREATE OR REPLACE TEMP TABLE ${stage} AS SELECT ${window} AS _w, s._rank, ${columns} FROM (${rows}) d JOIN ${ranks} s USING (_sid) ORDER BY _w, s._rank, d.time`
  }

  /** SQL of the gen1 windows a staged target's rows fall in: window number, min and max time in ns, rows. */
  persistWindowsSql(stage: string): string {
    return `SELECT _w, epoch_ns(min(time)), epoch_ns(max(time)), count(*) FROM ${stage} GROUP BY _w ORDER BY _w`
  }

  /**
   * SQL of one gen1 window's file from a staged target: sorted by series key (its rank) then time, as the stage
   * stores its rows (a scan keeps insertion order; sorting each window again cost a third of writing its file).
   */
  persistSql(target: PersistTarget, stage: string, window: bigint): string {
    const columns = [...target.tags.map((n) => quote(n)), "time", ...target.fields.map((f) => quote(f.name))].join(", ")
    return `SELECT ${columns} FROM ${stage} WHERE _w = ${window}`
  }

  /**
   * Drops the rows a persist wrote (those below each target's `upTo`), once the persist is recorded. Tables dropped or
   * re-created since are skipped. Returns the rows dropped.
   */
  async dropPersisted(targets: ReadonlyArray<PersistTarget>): Promise<number> {
    this.changes++
    let dropped = 0
    for (const target of targets) {
      const t = this.tables.get(target.tableId)
      if (t === undefined || t !== target.table) continue
      this.flushTable(t)
      const result = await this.conn.runAndReadAll(
        `DELETE FROM ${rowsTableName(t.tableId)} WHERE _row < ${target.upTo}`
      )
      const n = Math.min(t.rows, Number(result.getRows()[0]?.[0] ?? 0))
      const bytes = t.rows === 0 ? 0 : Math.min(t.bytes, Math.round((t.bytes * n) / t.rows))
      t.rows -= n
      t.bytes -= bytes
      this.totalRows -= n
      this.totalBytes -= bytes
      dropped += n
      // The time bounds shrink to what is left (they decide whether queries must merge files with the buffer).
      const range = await this.conn.runAndReadAll(
        `SELECT epoch_ns(min(time)), epoch_ns(max(time)) FROM ${rowsTableName(t.tableId)}`
      )
      const [lo, hi] = range.getRows()[0] as [bigint | null, bigint | null]
      if (t.rows === 0 || lo === null || hi === null) {
        t.hasTimes = false
        t.mayHaveDuplicates = false
      } else {
        setHalves(t, "min", lo)
        setHalves(t, "max", hi)
      }
    }
    return dropped
  }

  /**
   * SQL reading one buffered table as the user sees it: tags, `time`, fields. When some series received rows out of
   * time order, rows with the same series and time are merged so that, field by field, the last non-null value wins.
   * `deduplicate` overrides that choice when the caller knows better (it checked the rows for duplicates).
   * Without `withTags` (a query that names no tag) the tags are NULL and the rows are not joined with the series
   * dictionary: every row has its series, so the join changes nothing else, and it costs more than the scan.
   */
  viewSql(tableId: number, deduplicate?: boolean, withTags = true, series?: ReadonlyArray<number>): string | undefined {
    const t = this.tables.get(tableId)
    return t === undefined ? undefined : bufferViewSql(t, deduplicate ?? t.mayHaveDuplicates, withTags, series)
  }

  /** Series ids of a buffered table that include every one whose tags meet the conditions (see matchingSeries). */
  seriesMatching(tableId: number, equalities: Equalities | undefined): ReadonlyArray<number> | undefined {
    const t = this.tables.get(tableId)
    return t === undefined || equalities === undefined ? undefined : matchingSeries(t, equalities)
  }

  /** Creates the tables and columns a batch's rows need, so that appending them cannot fail for want of one. */
  async prepare(tables: ReadonlyArray<TableRows>): Promise<void> {
    for (const rows of tables) if (rows.count > 0) await this.ensureTable(rows.dbId, rows.table)
  }

  /** Appends one table's rows of a batch; the mark says where they went. */
  async append(rows: TableRows): Promise<AppendMark | undefined> {
    const n = rows.count
    if (n === 0) return undefined
    const t = await this.ensureTable(rows.dbId, rows.table)
    const batch = rows.batch
    const lines = rows.lines
    const times = rows.times
    const times32 = new Int32Array(times.buffer, times.byteOffset, n * 2)
    const fieldCount = t.fields.length
    // The column arrays are scratch space: DuckDB copies them before append returns (nothing below awaits), and every
    // cell of the first n rows is either written or masked null. Reusing them keeps ArrayBuffer churn, and with it
    // the garbage collector's work, down.
    if (this.scratchSids.length < n) this.scratchSids = new Int32Array(n)
    if (this.scratchRows.length < n) this.scratchRows = new Float64Array(n)
    const sids = this.scratchSids
    const values: Array<Float64Array | BigInt64Array | BigUint64Array | Uint8Array | Array<string | undefined>> =
      new Array(fieldCount)
    const used = new Map<ColumnType, number>()
    for (let col = 0; col < fieldCount; col++) {
      const type = t.fields[col]!.type
      if (type === "string") {
        values[col] = allocate(type, n)
        continue
      }
      // The k-th column of a type uses the k-th scratch array of that type.
      const k = used.get(type) ?? 0
      used.set(type, k + 1)
      let kept = this.scratch.get(type)
      if (kept === undefined) this.scratch.set(type, (kept = []))
      const array = kept[k]
      values[col] = array !== undefined && array.length >= n ? array : (kept[k] = allocate(type, n) as ScratchColumn)
    }
    const valid: Array<Uint8Array | undefined> = new Array(fieldCount)
    // Series and field shapes repeat across lines: each is resolved once per batch, not once per line.
    const sidOfSeries = new Int32Array(batch.series.length).fill(-1)
    const layouts: Array<ShapeLayout | undefined> = new Array(batch.shapes.length)
    const lineSeries = batch.lineSeries
    const lineShape = batch.lineShape
    let bytes = n * 12
    let run = 0
    for (let r = 0; r < n; r++) {
      const line = lines[r]!
      const s = lineSeries[line]!
      let sid = sidOfSeries[s]!
      if (sid === -1) {
        sid = this.seriesOf(t, batch.series[s]!)
        sidOfSeries[s] = sid
      }
      sids[r] = sid
      const lo = times32[2 * r + LOW]! >>> 0
      const hi = times32[2 * r + HIGH]!
      this.noteTime(t, sid, lo, hi)
      if (!t.hasTimes) {
        t.hasTimes = true
        t.minTimeLo = t.maxTimeLo = lo
        t.minTimeHi = t.maxTimeHi = hi
      } else if (hi < t.minTimeHi || (hi === t.minTimeHi && lo < t.minTimeLo)) {
        t.minTimeLo = lo
        t.minTimeHi = hi
      } else if (hi > t.maxTimeHi || (hi === t.maxTimeHi && lo > t.maxTimeLo)) {
        t.maxTimeLo = lo
        t.maxTimeHi = hi
      }
      // Field values are copied column by column over each run of rows sharing a shape (usually the whole batch).
      if (r + 1 === n || lineShape[lines[r + 1]!] !== lineShape[line]) {
        const shapeId = lineShape[line]!
        const layout = (layouts[shapeId] ??= shapeLayout(t, batch.shapes[shapeId]!))
        bytes += layout.fixedBytes * (r + 1 - run) + this.copyRun(batch, layout, lines, run, r + 1, values, valid, n)
        run = r + 1
      }
    }
    const rowNumbers = this.scratchRows
    for (let r = 0; r < n; r++) rowNumbers[r] = t.appended + r
    this.appendChunks(t, n, sids, rowNumbers, times, values, valid)
    this.dirty.add(t)
    const from = t.appended
    t.appended += n
    t.rows += n
    t.bytes += bytes
    this.totalRows += n
    this.totalBytes += bytes
    return { table: t, tableId: t.tableId, from, to: t.appended, bytes }
  }

  /**
   * Takes back appended rows (of a write whose commit failed). Rows of tables dropped since are gone already. The
   * series they introduced stay in the dictionary (no query reads a series without rows), as do their times in the
   * series' latest times, which at worst makes queries check for duplicates.
   */
  async retract(marks: ReadonlyArray<AppendMark>): Promise<void> {
    this.changes++
    for (const mark of marks) {
      const t = this.tables.get(mark.tableId)
      if (t === undefined || t !== mark.table) continue
      this.flushTable(t)
      await this.conn.run(`DELETE FROM ${rowsTableName(t.tableId)} WHERE _row >= ${mark.from} AND _row < ${mark.to}`)
      const n = mark.to - mark.from
      t.rows -= n
      t.bytes -= mark.bytes
      this.totalRows -= n
      this.totalBytes -= mark.bytes
    }
  }

  /** Copies the field values of rows `from` to `to` (one field shape) into the columns; returns their string bytes. */
  private copyRun(
    batch: ParsedBatch,
    layout: ShapeLayout,
    lines: Int32Array,
    from: number,
    to: number,
    values: ReadonlyArray<Float64Array | BigInt64Array | BigUint64Array | Uint8Array | Array<string | undefined>>,
    valid: Array<Uint8Array | undefined>,
    n: number
  ): number {
    const fieldStart = batch.fieldStart
    const { columns, kinds, missing } = layout
    let bytes = 0
    for (let f = 0; f < columns.length; f++) {
      const col = columns[f]!
      if (col === -1) continue
      switch (kinds[f]) {
        case FieldKind.Float:
          copyFloats(values[col] as Float64Array, batch.floats, fieldStart, lines, f, from, to)
          break
        case FieldKind.Boolean:
          copyBooleans(values[col] as Uint8Array, batch.floats, fieldStart, lines, f, from, to)
          break
        case FieldKind.Integer:
        case FieldKind.UInteger:
          // Same 64 bits either way; a BigUint64Array column reads them back unsigned.
          copyIntegers(values[col] as BigInt64Array | BigUint64Array, batch.integers!, fieldStart, lines, f, from, to)
          break
        case FieldKind.String: {
          const target = values[col] as Array<string | undefined>
          const strings = batch.strings!
          for (let r = from; r < to; r++) {
            const v = strings[fieldStart[lines[r]!]! + f]!
            target[r] = v
            bytes += v.length + 16
          }
          break
        }
      }
    }
    for (let m = 0; m < missing.length; m++) {
      const col = missing[m]!
      let mask = valid[col]
      if (mask === undefined) {
        mask = new Uint8Array(n).fill(1)
        valid[col] = mask
      }
      mask.fill(0, from, to)
    }
    return bytes
  }

  /** Records a row's time for its series; a time not after the series' latest means queries must deduplicate. */
  private noteTime(t: BufferedTable, sid: number, lo: number, hi: number): void {
    if (sid >= t.hasLastTime.length) {
      const size = Math.max(64, sid * 2)
      const los = new Uint32Array(size)
      los.set(t.lastTimeLo)
      const his = new Int32Array(size)
      his.set(t.lastTimeHi)
      const has = new Uint8Array(size)
      has.set(t.hasLastTime)
      t.lastTimeLo = los
      t.lastTimeHi = his
      t.hasLastTime = has
    }
    if (t.hasLastTime[sid] === 1) {
      const lastHi = t.lastTimeHi[sid]!
      if (hi < lastHi || (hi === lastHi && lo <= t.lastTimeLo[sid]!)) {
        t.mayHaveDuplicates = true
        return
      }
    }
    t.hasLastTime[sid] = 1
    t.lastTimeLo[sid] = lo
    t.lastTimeHi[sid] = hi
  }

  /**
   * Makes every appended row visible to queries. Appends are flushed lazily (DuckDB's appender commits on flush,
   * which costs more than the copy itself), so the query path calls this before it reads.
   */
  flush(): void {
    if (this.dirty.size > 0) this.changes++
    for (const t of this.dirty) {
      t.seriesAppender.flushSync()
      t.rowsAppender.flushSync()
    }
    this.dirty.clear()
  }

  /** Makes one table's appended rows visible, before a statement that changes them. */
  private flushTable(t: BufferedTable): void {
    if (!this.dirty.has(t)) return
    this.changes++
    t.seriesAppender.flushSync()
    t.rowsAppender.flushSync()
    this.dirty.delete(t)
  }

  /** Drops every buffered row of a table. */
  async dropTable(tableId: number): Promise<void> {
    const t = this.tables.get(tableId)
    if (t === undefined) return
    this.changes++
    this.tables.delete(tableId)
    this.dirty.delete(t)
    t.rowsAppender.closeSync()
    t.seriesAppender.closeSync()
    this.totalBytes -= t.bytes
    this.totalRows -= t.rows
    await this.conn.run(
      `DROP TABLE IF EXISTS ${rowsTableName(tableId)}; DROP TABLE IF EXISTS ${seriesTableName(tableId)}`
    )
  }

  /** Drops every buffered row of a database. */
  /** Drops every table (a restore replaces the buffer's content). */
  async dropAll(): Promise<void> {
    for (const t of [...this.tables.values()]) await this.dropTable(t.tableId)
  }

  async dropDatabase(dbId: number): Promise<void> {
    for (const t of [...this.tables.values()]) if (t.dbId === dbId) await this.dropTable(t.tableId)
  }

  private appendChunks(
    t: BufferedTable,
    n: number,
    sids: Int32Array,
    rowNumbers: Float64Array,
    times: BigInt64Array,
    values: ReadonlyArray<Float64Array | BigInt64Array | BigUint64Array | Uint8Array | Array<string | undefined>>,
    valid: ReadonlyArray<Uint8Array | undefined>
  ) {
    const types: Array<DuckDBType> = [
      DuckDBIntegerType.instance,
      DuckDBDoubleType.instance,
      DuckDBTimestampNanosecondsType.instance,
      ...t.fields.map((f) => duckType(f.type))
    ]
    for (let start = 0; start < n; start += VECTOR_SIZE) {
      const count = Math.min(VECTOR_SIZE, n - start)
      const chunk = DuckDBDataChunk.create(types)
      chunk.rowCount = count
      const raw = chunk.chunk
      copyTyped(duckdb.data_chunk_get_vector(raw, 0), sids, start, count)
      copyTyped(duckdb.data_chunk_get_vector(raw, 1), rowNumbers, start, count)
      copyTyped(duckdb.data_chunk_get_vector(raw, 2), times, start, count)
      for (let col = 0; col < t.fields.length; col++) {
        const vector = duckdb.data_chunk_get_vector(raw, col + 3)
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

  /** The series id of a batch series, creating its dictionary row on first sight. */
  private seriesOf(t: BufferedTable, line: BatchSeries): number {
    // The series text as written is the usual key; without one, the tags in line order (after a NUL, which no
    // series text starts with). Names and values may hold any character, NULs included, so they are length-prefixed.
    let raw = line.raw
    if (raw === undefined) {
      raw = "\u0000"
      for (let i = 0; i < line.tagKeys.length; i++)
        raw += lengthPrefixed(line.tagKeys[i]!) + lengthPrefixed(line.tagValues[i]!)
    }
    const known = t.seriesByRaw.get(raw)
    if (known !== undefined) return known
    const order = line.tagKeys.map((_, i) => i).sort((a, b) => (line.tagKeys[a]! < line.tagKeys[b]! ? -1 : 1))
    const canonical = order.map((i) => lengthPrefixed(line.tagKeys[i]!) + lengthPrefixed(line.tagValues[i]!)).join("")
    let sid = t.seriesByCanonical.get(canonical)
    if (sid === undefined) {
      sid = t.seriesByCanonical.size
      t.seriesByCanonical.set(canonical, sid)
      const values = new Array<string | null>(t.tags.length).fill(null)
      for (let i = 0; i < line.tagKeys.length; i++) {
        const col = t.tagIndex.get(line.tagKeys[i]!)
        if (col === undefined) continue
        values[col] = line.tagValues[i]!
        indexSeries(t, line.tagKeys[i]!, line.tagValues[i]!, sid)
      }
      t.seriesAppender.appendInteger(sid)
      for (const v of values) {
        if (v === null) t.seriesAppender.appendNull()
        else t.seriesAppender.appendVarchar(v)
      }
      t.seriesAppender.endRow()
    }
    // A slice of a request body would keep the whole body alive: store a copy.
    t.seriesByRaw.set(raw.length < 13 ? raw : (" " + raw).slice(1), sid)
    return sid
  }

  /** Creates the DuckDB tables of a catalog table, or adds the columns the catalog has gained since. */
  private async ensureTable(dbId: number, table: TableState): Promise<BufferedTable> {
    let t = this.tables.get(table.id)
    if (t === undefined) {
      this.changes++
      const tags = table.columns.filter((c) => c.type === "tag").map((c) => c.name)
      const fields = table.columns
        .filter((c) => c.type !== "tag" && c.type !== "time")
        .map((c) => ({ name: c.name, type: c.type }))
      await this.conn.run(
        `CREATE TABLE ${rowsTableName(table.id)} (_sid INTEGER, _row DOUBLE, time TIMESTAMP_NS${fields.map((f) => `, ${quote(f.name)} ${sqlType(f.type)}`).join("")});
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
        seriesByTagValue: new Map(),
        lastTimeLo: new Uint32Array(0),
        lastTimeHi: new Int32Array(0),
        hasLastTime: new Uint8Array(0),
        mayHaveDuplicates: false,
        minTimeLo: 0,
        minTimeHi: 0,
        maxTimeLo: 0,
        maxTimeHi: 0,
        hasTimes: false,
        appended: 0,
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
    // The appender is reopened even when a column cannot be added, so that the table keeps taking rows.
    if (newFields.length > 0 || newTags.length > 0) this.changes++
    if (newFields.length > 0) {
      this.dirty.delete(t)
      t.seriesAppender.flushSync()
      t.rowsAppender.closeSync()
      try {
        for (const c of newFields) {
          await this.conn.run(`ALTER TABLE ${rowsTableName(table.id)} ADD COLUMN ${quote(c.name)} ${sqlType(c.type)}`)
          t.fieldIndex.set(c.name, t.fields.length)
          t.fields.push({ name: c.name, type: c.type })
        }
      } finally {
        t.rowsAppender = await this.conn.createAppender(`t${table.id}`, "buf")
      }
    }
    if (newTags.length > 0) {
      t.rowsAppender.flushSync()
      t.seriesAppender.closeSync()
      try {
        for (const c of newTags) {
          await this.conn.run(`ALTER TABLE ${seriesTableName(table.id)} ADD COLUMN ${quote(c.name)} VARCHAR`)
          t.tagIndex.set(c.name, t.tags.length)
          t.tags.push(c.name)
        }
      } finally {
        t.seriesAppender = await this.conn.createAppender(`s${table.id}`, "buf")
      }
    }
    return t
  }
}
