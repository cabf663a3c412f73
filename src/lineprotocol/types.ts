/** The five field types of line protocol, as small integers so the write path can switch on them cheaply. */
export const FieldKind = { Float: 0, Integer: 1, UInteger: 2, String: 3, Boolean: 4 } as const
export type FieldKind = (typeof FieldKind)[keyof typeof FieldKind]

/** Float: number; Integer and UInteger: bigint; String: string; Boolean: boolean. */
export type FieldValue = number | bigint | string | boolean

/**
 * One point of a write body, with names unescaped and the timestamp as written (not scaled). The parser shares
 * the key, kind and tag arrays (and strings) between lines that repeat them, so treat them as immutable.
 */
export interface ParsedLine {
  /** 1-based physical line number in the body (blank and comment lines count; a multi-line string's line is where it starts). */
  readonly lineNumber: number
  readonly measurement: string
  /** Tag keys in line order; a repeated key keeps only its last occurrence. */
  readonly tagKeys: ReadonlyArray<string>
  readonly tagValues: ReadonlyArray<string>
  readonly fieldKeys: ReadonlyArray<string>
  readonly fieldKinds: ReadonlyArray<FieldKind>
  readonly fieldValues: ReadonlyArray<FieldValue>
  readonly timestamp: bigint | undefined
}

/** A rejected line, worded as InfluxDB 3 words it. */
export interface LineError {
  readonly lineNumber: number
  readonly message: string
  /** The whole raw text of the line as sent (a trailing `\r` removed). */
  readonly originalLine: string
}

export interface ParseResult {
  readonly lines: Array<ParsedLine>
  readonly errors: Array<LineError>
  /** Lines that were neither blank nor comments: `lines.length + errors.length`. */
  readonly nonEmptyLines: number
}

/** The precision a write's timestamps are given in. */
export type Precision = "auto" | "nanosecond" | "microsecond" | "millisecond" | "second" | "minute" | "hour"
