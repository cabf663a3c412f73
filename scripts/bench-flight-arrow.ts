/**
 * How a query answer becomes Arrow IPC for Flight (ADR 0011): (a) DuckDB writes Parquet and parquet-wasm reads it a
 * row group at a time into IPC (what the server does), against (b) fetching DuckDB's chunks and building Arrow in
 * JavaScript (fixed-width vectors copied whole, strings and booleans cell by cell), then encoding the batches.
 * Seven columns like a cpu table's: time, two tags, float, integer, uinteger, boolean. Prints seconds per path.
 * usage: npx tsx scripts/bench-flight-arrow.ts [--rows N]
 */
import { DuckDBInstance, DuckDBTypeId } from "@duckdb/node-api"
import {
  Bool,
  Field,
  Float64,
  Int64,
  makeData,
  RecordBatch,
  RecordBatchStreamWriter,
  Schema,
  Struct,
  TimestampNanosecond,
  Uint64,
  Utf8,
  vectorFromArray,
  type DataType
} from "apache-arrow"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { ParquetFile } from "parquet-wasm/node"

const args = process.argv.slice(2)
const rows = Number(args.includes("--rows") ? args[args.indexOf("--rows") + 1] : 10_000_000)
const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "strata-flight-arrow-"))
const instance = await DuckDBInstance.create(":memory:")
const conn = await instance.connect()
try {
  await conn.run(
    `CREATE TABLE t AS SELECT (TIMESTAMP_NS '2024-01-01' + INTERVAL (i) SECOND)::TIMESTAMP_NS AS time, ` +
      `'host_' || (i % 100) AS host, 'region_' || (i % 7) AS region, i::DOUBLE / 3 AS f, i::BIGINT AS n, ` +
      `i::UBIGINT AS u, (i % 2 = 0) AS b FROM range(${rows}) r(i)`
  )
  console.log(
    `${rows.toLocaleString()} rows of 7 columns; ${NodeOs.loadavg()[0]!.toFixed(1)} load average (shared machine)`
  )

  // (a) Parquet (snappy) by DuckDB, then parquet-wasm into IPC, a row group at a time.
  let started = performance.now()
  const file = NodePath.join(dir, "answer.parquet")
  await conn.run(`COPY t TO '${file}' (FORMAT parquet, COMPRESSION snappy)`)
  const copied = performance.now()
  const parquet = await ParquetFile.fromFile(await NodeFs.openAsBlob(file))
  let bytesA = 0
  for (let g = 0; g < parquet.metadata().numRowGroups(); g++) {
    bytesA += (await parquet.read({ rowGroups: [g], batchSize: 65_536 })).intoIPCStream().byteLength
  }
  parquet.free()
  const a = (performance.now() - started) / 1000
  console.log(
    `parquet-wasm  ${a.toFixed(1).padStart(6)} s (COPY ${((copied - started) / 1000).toFixed(1)} s)  ` +
      `${(bytesA / 1048576).toFixed(0)} MiB IPC`
  )

  // (b) DuckDB chunks into Arrow built here.
  started = performance.now()
  const result = await conn.stream("SELECT * FROM t")
  const types: Record<number, () => DataType> = {
    [DuckDBTypeId.TIMESTAMP_NS]: () => new TimestampNanosecond(),
    [DuckDBTypeId.VARCHAR]: () => new Utf8(),
    [DuckDBTypeId.DOUBLE]: () => new Float64(),
    [DuckDBTypeId.BIGINT]: () => new Int64(),
    [DuckDBTypeId.UBIGINT]: () => new Uint64(),
    [DuckDBTypeId.BOOLEAN]: () => new Bool()
  }
  const schema = new Schema(
    result.columnNames().map((n, i) => new Field(n, types[result.columnTypes()[i]!.typeId]!(), true))
  )
  const writer = new RecordBatchStreamWriter()
  let bytesB = 0
  const drained = (async () => {
    for await (const piece of writer) bytesB += (piece as Uint8Array).byteLength
  })()
  for (let chunk = await result.fetchChunk(); chunk !== null && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
    const children = schema.fields.map((field, c) => {
      const vector = chunk.getColumnVector(c)
      const items = (vector as unknown as { items?: unknown }).items
      if (items instanceof Float64Array || items instanceof BigInt64Array || items instanceof BigUint64Array) {
        return makeData({ type: field.type, length: chunk.rowCount, data: items.slice(0, chunk.rowCount) } as never)
      }
      const values: Array<unknown> = new Array(chunk.rowCount)
      for (let r = 0; r < chunk.rowCount; r++) values[r] = vector.getItem(r)
      return vectorFromArray(values, field.type).data[0]!
    })
    const data = makeData({ type: new Struct(schema.fields), length: chunk.rowCount, nullCount: 0, children })
    writer.write(new RecordBatch(schema, data))
  }
  writer.finish()
  await drained
  const b = (performance.now() - started) / 1000
  console.log(`chunks→arrow  ${b.toFixed(1).padStart(6)} s  ${(bytesB / 1048576).toFixed(0)} MiB IPC`)
} finally {
  conn.closeSync()
  NodeFs.rmSync(dir, { recursive: true, force: true })
}
