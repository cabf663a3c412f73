/**
 * Row loops written for one answer's columns: the json, jsonl and csv writers of chunkBytes.ts as JavaScript source
 * made for a list of column kinds (and, for JSON, the keys' bytes), compiled once per such shape. Each column's
 * cell code is inlined in column order, the keys become constant word stores, and no cell goes through a `switch`
 * or a per-column lookup: a generic loop over the columns spent most of a row's time deciding what to do.
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
  "otherFloatInto",
  "integerInto",
  "copyInto",
  "bigintInto",
  "secondsOf",
  "SECOND",
  "renderSecond",
  "fractionInto",
  "dayBytes",
  "slowCellInto",
  "jsonSpecial",
  "csvSpecial",
  "INLINE_MASKS",
  "NULL_JSON",
  "TRUE",
  "FALSE",
  "NAN",
  "INF",
  "NEG_INF",
  "MIN_SECONDS",
  "END_SECONDS",
  "PAIRS",
  "ENDS_IN_ZERO"
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
 * The code writing cell r of column c at pos (room made). Inline strings are three words, copied when none of their
 * bytes needs escaping (JSON) or quoting (CSV); other strings, times outside years 0000-9999 and types without a
 * writer set `done = false`.
 */
const cell = (c: number, kind: number, json: boolean): string => {
  const special = json ? "jsonSpecial" : "csvSpecial"
  const nonFinite = json ? "NULL_JSON" : "v !== v ? NAN : v > 0 ? INF : NEG_INF"
  const quote = json ? "buf[pos++] = 34;" : ""
  switch (kind) {
    case Kind.F64:
    case Kind.F32: {
      const items = kind === Kind.F64 ? `f64_${c}` : `f32_${c}`
      return `{ const v = ${items}[r]; const m = Math.round(v * 1000000)
        if (v < 1073741824 && v > -1073741824 && m / 1000000 === v) { ${SHORT_FLOAT} }
        else pos = v - v === 0 ? otherFloatInto(buf, pos, v) : copyInto(buf, pos, ${nonFinite}) }`
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
      return `{
        const at = r * 16; const length = head_${c}.getUint32(at, true)
        const a = head_${c}.getInt32(at + 4, true), b = head_${c}.getInt32(at + 8, true)
        const d = head_${c}.getInt32(at + 12, true)
        const m = 3 * length
        if (length > 12 || ((${special}(a) & INLINE_MASKS[m]) | (${special}(b) & INLINE_MASKS[m + 1]) |
            (${special}(d) & INLINE_MASKS[m + 2])) !== 0) done = false
        else { ${quote} view.setInt32(pos, a, true); view.setInt32(pos + 4, b, true); view.setInt32(pos + 8, d, true);
          pos += length; ${quote} }
      }`
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

/**
 * A finite float as arrow-rs writes it (whole numbers keep `.0`), the text of encode.ts's formatFloat, for v below
 * 2^30 whose m = round(v * 10^6) gives it back (others: numberBytes.ts's otherFloatInto). m / 10^6 === v means the
 * decimal round-trips (division is correctly rounded, so that is parsing it), and below 2^30 two six-decimal numbers
 * are further apart than a double's spacing, so m's digits without trailing zeros are the unique shortest decimal:
 * JavaScript's own digits. (Fewer decimals k round-trip exactly when 10^(6-k) divides m: below 2^30, v * 10^6 is
 * within 0.2 of the decimal's exact value.) Written as whole part, point, and the six decimals as pairs; the end is
 * after the last pair that is not 00, less its last digit if that is 0.
 */
const SHORT_FLOAT = `let a = m; if (a < 0) { buf[pos++] = 45; a = -a }
  const whole = (a / 1000000) | 0; const fraction = a - whole * 1000000
  if (whole < 10) buf[pos++] = 48 + whole
  else if (whole < 100) { buf[pos] = PAIRS[whole << 1]; buf[pos + 1] = PAIRS[(whole << 1) + 1]; pos += 2 }
  else pos = integerInto(buf, pos, whole)
  buf[pos] = 46
  const high = (fraction / 10000) | 0; const rest = fraction - high * 10000; const middle = (rest / 100) | 0
  const low = (rest - middle * 100) << 1
  buf[pos + 1] = PAIRS[high << 1]; buf[pos + 2] = PAIRS[(high << 1) + 1]
  buf[pos + 3] = PAIRS[middle << 1]; buf[pos + 4] = PAIRS[(middle << 1) + 1]
  buf[pos + 5] = PAIRS[low]; buf[pos + 6] = PAIRS[low + 1]
  pos += low !== 0 ? 7 - ENDS_IN_ZERO[low >> 1] : middle !== 0 ? 5 - ENDS_IN_ZERO[middle] :
    high !== 0 ? 3 - ENDS_IN_ZERO[high] : 2`

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
