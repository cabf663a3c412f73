import { formatRfc3339 } from "../time.ts"
import type { TimeFormat, V1Cell } from "./types.ts"

/** What the text formats share: Go's number and string forms, JSON cells, and output gathered into pieces. */

/** A value Go's encoding/json refuses (±Inf): InfluxDB 1.x answers `{"error":"json: unsupported value: +Inf"}`. */
export class Unsupported {
  constructor(readonly message: string) {}
}

export const infinity = (n: number) => new Unsupported(`json: unsupported value: ${n > 0 ? "+Inf" : "-Inf"}`)

export const utf8 = new TextEncoder()

/** Output is handed out in pieces of about this size; a response stream writes each piece separately. */
export const PIECE_BYTES = 64 * 1024

/** Small pieces (headers, separators) joined into pieces of about PIECE_BYTES. */
export const coalesce = (pieces: ReadonlyArray<Uint8Array>): Array<Uint8Array> => {
  const out: Array<Uint8Array> = []
  let run: Array<Uint8Array> = []
  let runBytes = 0
  const close = () => {
    if (run.length === 1) out.push(run[0]!)
    else if (run.length > 1) {
      const joined = new Uint8Array(runBytes)
      let at = 0
      for (const p of run) {
        joined.set(p, at)
        at += p.length
      }
      out.push(joined)
    }
    run = []
    runBytes = 0
  }
  for (const p of pieces) {
    if (p.length === 0) continue
    if (runBytes + p.length > PIECE_BYTES && run.length > 0) close()
    run.push(p)
    runBytes += p.length
  }
  close()
  return out
}

/** Text written in order and encoded in pieces; a mark can be returned to while its text has not been handed out. */
export class TextOutput {
  private pieces: Array<Uint8Array> = []
  private taken = 0
  private text = ""

  write(s: string) {
    this.text += s
    if (this.text.length >= PIECE_BYTES) this.flush()
  }

  private flush() {
    if (this.text === "") return
    this.pieces.push(utf8.encode(this.text))
    this.text = ""
  }

  mark(): readonly [number, string] {
    return [this.taken + this.pieces.length, this.text]
  }

  /** Drops what was written after `mark`; false when part of it was handed out already. */
  reset(mark: readonly [number, string]): boolean {
    if (mark[0] < this.taken) return false
    this.pieces.length = mark[0] - this.taken
    this.text = mark[1]
    return true
  }

  take(): Array<Uint8Array> {
    this.flush()
    const out = this.pieces
    this.taken += out.length
    this.pieces = []
    return out
  }
}

// ---------------------------------------------------------------------------------------------------------------
// JSON

/** A string as Go's JSON writes it here (JSON.stringify's escapes); the common case without JSON.stringify. */
export const quote = (s: string): string => {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || c === 34 || c === 92 || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s)
  }
  return '"' + s + '"'
}

/** A number as Go's encoding/json writes a float64: shortest form, whole numbers without `.0`, NaN as null. */
const goFloat = (n: number): string => {
  if (Number.isNaN(n)) return "null"
  if (!Number.isFinite(n)) throw infinity(n)
  // Go writes negative zero (round(-0.4), sin(-0)) as -0; String(-0) is "0".
  return n === 0 && Object.is(n, -0) ? "-0" : String(n)
}

export const cellJson = (v: V1Cell, time: TimeFormat, zone: string | undefined): string => {
  if (v === null) return "null"
  switch (typeof v) {
    case "string":
      return quote(v)
    case "number":
      return goFloat(v)
    case "bigint":
      return v.toString()
    case "boolean":
      return v ? "true" : "false"
  }
  if (time._tag === "epoch") return (v.timeNs / time.divisor).toString()
  // RFC3339 text has nothing to escape.
  return '"' + formatRfc3339(v.timeNs, time.zone ?? zone) + '"'
}

export const concat = (pieces: ReadonlyArray<Uint8Array>): Uint8Array => {
  let length = 0
  for (const p of pieces) length += p.length
  const out = new Uint8Array(length)
  let at = 0
  for (const p of pieces) {
    out.set(p, at)
    at += p.length
  }
  return out
}

// ---------------------------------------------------------------------------------------------------------------
// MessagePack
