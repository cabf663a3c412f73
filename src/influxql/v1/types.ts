import { UNIT_NS } from "../lexer.ts"

/** The v1 answer's cells, series heads and options, and the encoder every format implements. */

/** A time value, kept apart from integers so it can be rendered per `epoch`. */
export interface TimeCell {
  readonly timeNs: bigint
}

export type V1Cell = string | number | bigint | boolean | null | TimeCell

/** What a series says before its rows. */
export interface V1SeriesHead {
  /** Absent for series without a name (SHOW SERIES). */
  readonly name?: string
  readonly tags?: Readonly<Record<string, string>>
  readonly columns: ReadonlyArray<string>
}

/** Cells of consecutive rows, column by column in the series' column order. */
export type V1Columns = ReadonlyArray<ReadonlyArray<V1Cell>>

/** How times are written: RFC3339 (optionally in a zone) or integers in a unit. */
export type TimeFormat = { readonly _tag: "rfc3339"; readonly zone?: string } | { readonly _tag: "epoch"; readonly divisor: bigint }

// `epoch` takes the duration units up to hours, and `n` for nanoseconds.
const EPOCH_UNITS = new Set(["ns", "n", "u", "us", "µ", "ms", "s", "m", "h"])

/** The divisor of an `epoch` parameter; undefined for an unknown unit. */
export const epochDivisor = (epoch: string): bigint | undefined => (!EPOCH_UNITS.has(epoch) ? undefined : epoch === "n" ? 1n : UNIT_NS[epoch])

export type V1Format = "json" | "csv" | "msgpack"

export interface V1AnswerOptions {
  readonly format: V1Format
  readonly time: TimeFormat
  /** JSON indented as Go's MarshalIndent (4 spaces). */
  readonly pretty: boolean
  /** Set for a chunked answer (JSON and MessagePack; CSV is never chunked): at most this many rows per chunk. */
  readonly chunkSize?: number
}

/**
 * Writes one v1 answer as it is produced. Calls come in answer order: `statement`, then its `series` each followed
 * by `rows`, or `fail`, then `endStatement`; `end` once after the last statement.
 */
export interface V1AnswerEncoder {
  /** Starts the result of statement `id`; its RFC3339 times are written in `zone` (its `tz()`), if any. */
  statement(id: number, zone: string | undefined): void
  /** Starts a series of the current statement. */
  series(head: V1SeriesHead): void
  /** Rows `from` (inclusive) to `to` (exclusive) of `cells`, in the current series. */
  rows(cells: V1Columns, from: number, to: number): void
  /** The current statement failed: its error replaces what it answered, as far as that has not been handed out. */
  fail(message: string): void
  endStatement(): void
  end(): void
  /** The bytes ready to be sent, handed out once. */
  take(): Array<Uint8Array>
  /** False once nothing more can change the answer (a whole JSON or MessagePack answer that met ±Inf). */
  readonly wantsRows: boolean
}
