// Blanking a deleted table's lines out of a logged write: the write's other lines keep their line numbers (a write
// event names its refused lines by number), and the parser skips empty lines.

const LF = 10
const CR = 13
const SP = 32
const TAB = 9
const HASH = 35
const COMMA = 44
const EQ = 61
const DQ = 34
const BSL = 92

/** Where the logical line starting at `s` ends (its newline, or the end): a quoted field value may span newlines. */
const logicalLineEnd = (bytes: Uint8Array, s: number): number => {
  let quoted = false
  let fields = false
  let equals = 0
  let commas = 0
  let i = s
  for (; i < bytes.length; i++) {
    const c = bytes[i]!
    if (c === BSL) i++
    else if (c === SP) fields = true
    else if (c === LF) {
      if (!quoted) break
    } else if (fields) {
      if (quoted) {
        if (c === DQ) quoted = false
      } else if (c === EQ) equals++
      else if (c === COMMA) commas++
      else if (c === DQ && equals > commas) quoted = true
    }
  }
  return Math.min(i, bytes.length)
}

/** The measurement of the line at `s` (up to `e`), unescaped as the parser does (`\,` `\ ` `\\`). */
const measurementOf = (bytes: Uint8Array, s: number, e: number): string => {
  const out: Array<number> = []
  for (let i = s; i < e; i++) {
    const c = bytes[i]!
    if (c === COMMA || c === SP) break
    if (c === BSL && i + 1 < e) {
      const n = bytes[i + 1]!
      if (n === COMMA || n === SP || n === BSL) {
        out.push(n)
        i++
        continue
      }
    }
    out.push(c)
  }
  return Buffer.from(out).toString("utf8")
}

/** A payload with some lines blanked: how many lines were blanked and how many lines are left. */
export interface BlankedPayload {
  readonly payload: Uint8Array
  readonly blanked: number
  readonly kept: number
}

/**
 * Blanks every line whose measurement `drop` names, keeping its newlines (a quoted value's too), so every other line
 * keeps its number. Comments and empty lines stay as they are and count as no line.
 */
export const blankLines = (payload: Uint8Array, drop: (measurement: string) => boolean): BlankedPayload => {
  const out = Buffer.allocUnsafe(payload.length)
  let o = 0
  let blanked = 0
  let kept = 0
  let pos = 0
  const n = payload.length
  while (pos < n) {
    let s = pos
    while (s < n && (payload[s] === SP || payload[s] === TAB)) s++
    let nl = payload.indexOf(LF, s)
    if (nl === -1) nl = n
    const c = payload[s]
    const empty = s >= nl || c === HASH || (c === CR && s === nl - 1)
    const end = empty ? nl : logicalLineEnd(payload, s)
    if (!empty && drop(measurementOf(payload, s, end))) {
      for (let i = pos; i < end; i++) if (payload[i] === LF) out[o++] = LF
      blanked++
    } else {
      out.set(payload.subarray(pos, end), o)
      o += end - pos
      if (!empty) kept++
    }
    if (end < n) out[o++] = LF
    pos = end + 1
  }
  return { payload: out.subarray(0, o), blanked, kept }
}
