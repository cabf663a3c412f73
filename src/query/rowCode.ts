/**
 * Row loops written for one answer's columns: the json, jsonl and csv writers of chunkBytes.ts as JavaScript source
 * made for a list of column kinds (and, for JSON, the keys' bytes), compiled once per such shape. Each column's
 * cell code is written out in column order (calling shared helpers for floats and strings), the keys become constant
 * word stores, and no cell goes through a `switch` or a per-column lookup: a generic loop over the columns spent most
 * of a row's time deciding what to do.
 * Only numbers (kinds, word values, lengths) are ever spliced into the source; the helpers it calls are passed in.
 */

/** Column kinds, as chunkBytes.ts reads them. */
export const Kind = {
  F64: 0,
  F32: 1,
  I32: 2,
  SMALL_INT: 3,
  BIGINT: 4,
  BOOL: 5,
  VARCHAR: 6,
  TIME: 7,
  DATE: 8,
  OTHER: 9
} as const

/** The keys of a JSON row object's members: `"name":` when it is the first one written, `,"name":` otherwise. */
export interface KeyBytes {
  readonly first: ReadonlyArray<Uint8Array>
  readonly next: ReadonlyArray<Uint8Array>
}

/** A compiled row loop: writes rows [0, n) of a chunk's columns into the sink. */
export type RowLoop<Sink, Column, Fallback> = (
  sink: Sink,
  columns: ReadonlyArray<Column>,
  n: number,
  first: boolean,
  fallback: Fallback,
  rowMax: number
) => void

/** Names the generated code uses from its helpers object (see chunkBytes.ts). */
const HELPERS = [
  "finiteFloatInto",
  "inlineStringInto",
  "integerInto",
  "copyInto",
  "bigintInto",
  "secondsOf",
  "SECOND",
  "renderSecond",
  "fractionInto",
  "dayBytes",
  "slowCellInto",
  "NULL_JSON",
  "TRUE",
  "FALSE",
  "NAN",
  "INF",
  "NEG_INF",
  "MIN_SECONDS",
  "END_SECONDS"
]

/** Stores of constant bytes at pos as little-endian words (up to 3 bytes past them are overwritten), then pos moved. */
const constantBytes = (bytes: Uint8Array): string => {
  const stores: Array<string> = []
  for (let i = 0; i < bytes.length; i += 4) {
    const byte = (k: number) => bytes[i + k] ?? 0
    const word = byte(0) | (byte(1) << 8) | (byte(2) << 16) | (byte(3) << 24)
    stores.push(`view.setInt32(pos + ${i}, ${word | 0}, true)`)
  }
  stores.push(`pos += ${bytes.length}`)
  return stores.join("; ")
}

/** The locals a column's cell code reads, hoisted out of the row loop. */
const locals = (c: number, kind: number): string => {
  const col = `const col_${c} = columns[${c}]; const valid_${c} = col_${c}.valid;`
  switch (kind) {
    case Kind.F64:
      return `${col} const f64_${c} = col_${c}.f64;`
    case Kind.F32:
      return `${col} const f32_${c} = col_${c}.f32;`
    case Kind.I32:
    case Kind.DATE:
      return `${col} const i32_${c} = col_${c}.i32;`
    case Kind.SMALL_INT:
      return `${col} const ints_${c} = col_${c}.ints;`
    case Kind.BOOL:
      return `${col} const data_${c} = col_${c}.data;`
    case Kind.VARCHAR:
      return `${col} const head_${c} = col_${c}.view;`
    default:
      return col
  }
}

/** Kinds whose cells may leave a value to the sink's slow way (`done = false`). */
const mayDefer = (kind: number) =>
  kind === Kind.VARCHAR || kind === Kind.TIME || kind === Kind.DATE || kind === Kind.OTHER

/**
 * The code writing cell r of column c at pos (room made). Floats and inline strings go through shared helpers: inlined
 * here, they made a wide answer's loop so large that V8 took ~0.3 s to optimize it (and each new column shape is a
 * new loop). Strings the helper leaves, times outside years 0000-9999 and types without a writer set `done = false`.
 */
const cell = (c: number, kind: number, json: boolean): string => {
  const nonFinite = json ? "NULL_JSON" : "v !== v ? NAN : v > 0 ? INF : NEG_INF"
  const quote = json ? "buf[pos++] = 34;" : ""
  switch (kind) {
    case Kind.F64:
    case Kind.F32: {
      const items = kind === Kind.F64 ? `f64_${c}` : `f32_${c}`
      return `{ const v = ${items}[r]; pos = v - v === 0 ? finiteFloatInto(buf, pos, v) : copyInto(buf, pos, ${nonFinite}) }`
    }
    case Kind.I32:
      return `pos = integerInto(buf, pos, i32_${c}[r])`
    case Kind.SMALL_INT:
      return `pos = integerInto(buf, pos, ints_${c}[r])`
    case Kind.BIGINT:
      return `pos = bigintInto(buf, pos, col_${c}, r)`
    case Kind.BOOL:
      return `pos = copyInto(buf, pos, data_${c}[r] !== 0 ? TRUE : FALSE)`
    case Kind.VARCHAR:
      return `{ const w = inlineStringInto(buf, view, pos, head_${c}, r, ${json})
        if (w < 0) done = false; else pos = w }`
    case Kind.TIME:
      // `YYYY-MM-DDTHH:MM:SS` as five words (the last one's fourth byte overwritten next), then any fraction.
      return `{ const s = secondsOf(col_${c}, r); if (s !== s) done = false;
        else { ${quote} if (s !== SECOND.value) renderSecond(s)
          view.setInt32(pos, SECOND.w0, true); view.setInt32(pos + 4, SECOND.w1, true)
          view.setInt32(pos + 8, SECOND.w2, true); view.setInt32(pos + 12, SECOND.w3, true)
          view.setInt32(pos + 16, SECOND.w4, true); pos += 19
          const ns = col_${c}.nanos; if (ns !== 0) pos = fractionInto(buf, pos, ns)
          ${quote} } }`
    case Kind.DATE:
      return `{ const day = i32_${c}[r]; if (day * 86400 < MIN_SECONDS || day * 86400 >= END_SECONDS) done = false;
        else { ${quote} pos = copyInto(buf, pos, dayBytes(day)); ${quote} } }`
    default:
      return "done = false"
  }
}

/** Makes the sink's buffer, view and position the loop's again, with room for a row. */
const RESYNC = "sink.ensure(rowMax); buf = sink.buf; view = sink.view; pos = sink.pos"

const jsonMember = (c: number, kind: number, keys: KeyBytes): string => {
  const key =
    c === 0
      ? constantBytes(keys.first[c]!)
      : `if (empty) { ${constantBytes(keys.first[c]!)} } else { ${constantBytes(keys.next[c]!)} }`
  const written = mayDefer(kind)
    ? `if (done) empty = false; else {
        sink.pos = pos; const w = slowCellInto(sink, col_${c}, r, true, fallback)
        // Nothing written for a null, so nothing moved: the key goes.
        if (!w) sink.pos = mark; else empty = false
        ${RESYNC}
      }`
    : "empty = false"
  return `if (valid_${c} === null || (valid_${c}[r >> 3] & (1 << (r & 7))) !== 0) {
    ${mayDefer(kind) ? "const mark = pos; let done = true" : ""}
    ${key}
    ${cell(c, kind, true)}
    ${written}
  }`
}

const csvField = (c: number, kind: number): string => {
  const deferred = mayDefer(kind)
    ? `if (!done) { sink.pos = pos; slowCellInto(sink, col_${c}, r, false, fallback); ${RESYNC} }`
    : ""
  return `${c > 0 ? "buf[pos++] = 44" : ""}
  if (valid_${c} === null || (valid_${c}[r >> 3] & (1 << (r & 7))) !== 0) {
    ${mayDefer(kind) ? "let done = true" : ""}
    ${cell(c, kind, false)}
    ${deferred}
  }`
}

const loop = (kinds: ReadonlyArray<number>, before: string, row: string, after: string): string => `
  ${kinds.map((kind, c) => locals(c, kind)).join("\n")}
  let buf = sink.buf, view = sink.view, pos = sink.pos
  for (let r = 0; r < n; r++) {
    if (pos + rowMax > buf.length) { sink.pos = pos; ${RESYNC} }
    ${before}
    ${row}
    ${after}
  }
  sink.pos = pos`

const compile = <Sink, Column, Fallback>(body: string, helpers: object): RowLoop<Sink, Column, Fallback> =>
  // The source holds only fixed code and numbers.
  new Function(
    "helpers",
    `"use strict"; const { ${HELPERS.join(", ")} } = helpers;
    return function rows(sink, columns, n, first, fallback, rowMax) { ${body} }`
  )(helpers) as RowLoop<Sink, Column, Fallback>

/** JSON row objects, nulls left out: one per line when `lines`, else comma-separated (none before the first). */
export const jsonRowLoop = <Sink, Column, Fallback>(
  kinds: ReadonlyArray<number>,
  keys: KeyBytes,
  lines: boolean,
  helpers: object
): RowLoop<Sink, Column, Fallback> =>
  compile(
    loop(
      kinds,
      `${lines ? "" : "if (r > 0 || !first) buf[pos++] = 44;"} buf[pos++] = 123; let empty = true`,
      kinds.map((kind, c) => jsonMember(c, kind, keys)).join("\n"),
      `buf[pos++] = 125; ${lines ? "buf[pos++] = 10" : ""}`
    ),
    helpers
  )

/** CSV lines, `\n` endings, null as an empty field. */
export const csvRowLoop = <Sink, Column, Fallback>(
  kinds: ReadonlyArray<number>,
  helpers: object
): RowLoop<Sink, Column, Fallback> =>
  compile(loop(kinds, "", kinds.map((kind, c) => csvField(c, kind)).join("\n"), "buf[pos++] = 10"), helpers)
