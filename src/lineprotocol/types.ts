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
  /**
   * 1-based physical line number in the body (blank and comment lines count; a multi-line string's line is where it
   * starts).
   */
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

/** A series of a parsed batch: names unescaped, tags in line order without repeats. */
export interface BatchSeries {
  readonly measurement: string
  readonly tagKeys: ReadonlyArray<string>
  readonly tagValues: ReadonlyArray<string>
  /**
   * The series text exactly as written (measurement and tags, up to the first space) when it holds no backslash;
   * equal texts mean equal series, so the write buffer can use it as a dictionary key without rebuilding one.
   */
  readonly raw: string | undefined
}

/** The field keys and kinds that lines of a batch share, in line order. */
export interface FieldShape {
  readonly keys: ReadonlyArray<string>
  readonly kinds: ReadonlyArray<FieldKind>
}

/**
 * A parsed body in columns: no object per line. Line `i` has series `series[lineSeries[i]]`, field shape
 * `shapes[lineShape[i]]`, and its field values at `fieldStart[i] + f` for the shape's `f`-th key. Only the first
 * `count` entries of the per-line arrays are meaningful (they may be longer).
 */
export interface ParsedBatch {
  /** Good lines. */
  readonly count: number
  readonly lineNumbers: Int32Array
  readonly lineSeries: Int32Array
  readonly lineShape: Int32Array
  readonly fieldStart: Int32Array
  /** The raw timestamp as written (not scaled); meaningful where `hasTime` is 1. */
  readonly times: BigInt64Array
  readonly hasTime: Uint8Array
  /** Float values, and booleans as 1 or 0. */
  readonly floats: Float64Array
  /** Integer and unsigned values as 64 bits (read unsigned ones through a BigUint64Array); absent when none. */
  readonly integers: BigInt64Array | undefined
  /** String values; absent when none. */
  readonly strings: Array<string | undefined> | undefined
  readonly series: ReadonlyArray<BatchSeries>
  readonly shapes: ReadonlyArray<FieldShape>
  readonly errors: Array<LineError>
  /** Lines that were neither blank nor comments: `count + errors.length`. */
  readonly nonEmptyLines: number
}

/** The precision a write's timestamps are given in. */
export type Precision = "auto" | "nanosecond" | "microsecond" | "millisecond" | "second" | "minute" | "hour"
