import {
  DuckDBBigIntType,
  DuckDBDataChunk,
  DuckDBDoubleType,
  DuckDBTimestampNanosecondsType,
  DuckDBTimestampNanosecondsValue,
  type DuckDBType,
  DuckDBUBigIntType,
  type DuckDBValue,
  DuckDBVarCharType
} from "@duckdb/node-api"
import type { IndexedFile } from "../storage/files.ts"
import { sqlIdentifier as quote, sqlString as literal } from "./literal.ts"
import { binStartNs } from "./timeBins.ts"
import type { DecodedFile, FieldRef, FieldType, FieldValues, FileSeries } from "../storage/ParquetMemCache.ts"
import type { AggregateFunction, GroupKey, SeriesAggregateShape } from "./seriesAggregate.ts"

/**
 * A series aggregate over a table's files and, when it holds rows in range, its write buffer: no two of them overlap
 * in time and no row-delete hides rows of a file.
 */
export interface SeriesAggregatePlan extends SeriesAggregateShape {
  readonly files: ReadonlyArray<IndexedFile>
  /** The table's tags, for the files' layouts. */
  readonly tags: ReadonlyArray<string>
  /**
   * The buffered rows' part, when the buffer holds rows in range (later or earlier than every file's): DuckDB SQL of
   * their partial aggregates by group (see bufferPartialSql), merged with the files'.
   */
  readonly bufferSql?: string | undefined
}

/** The values of bufferPartialSql's parameters: the plan's time bounds that are set. */
export const bufferPartialParameters = (plan: SeriesAggregatePlan): Array<bigint> =>
  [plan.minNs, plan.maxNs].filter((ns): ns is bigint => ns !== undefined)

/** A row of bufferPartialSql: the bin (ns), the group tags, then two values per aggregate. */
export type PartialRow = ReadonlyArray<unknown>

/**
 * The partial aggregates of a source of buffered rows (the plan's fields, tags and time), one row per group: the bin's
 * start in ns (0 without bins), each grouping tag, then per aggregate two columns: max/min/sum and the count of
 * values; the count (first column NULL); for a selector the value at the latest (earliest) time and that time in ns.
 */
export const bufferPartialSql = (plan: SeriesAggregatePlan, source: string): string => {
  const bin = plan.bin === undefined ? "0" : `strata_bin_ns(${plan.bin.strideNs}, epoch_ns("time"), ${plan.bin.originNs})`
  const parts: Array<string> = []
  for (const o of plan.outputs) {
    if (o.kind !== "aggregate") continue
    const f = o.field === undefined ? "" : quote(o.field)
    const withValue = `CASE WHEN ${f} IS NOT NULL THEN "time" END`
    switch (o.fn) {
      case "max":
      case "min":
        parts.push(`${o.fn}(${f})`, `count(${f})`)
        break
      case "sum":
      case "avg":
        parts.push(`sum(${f})`, `count(${f})`)
        break
      case "count":
        parts.push("NULL", `count(${f})`)
        break
      case "count_star":
        parts.push("NULL", "count(*)")
        break
      case "last_value":
      case "last_time":
        parts.push(`arg_max(${f}, "time")`, `epoch_ns(max(${withValue}))`)
        break
      case "first_value":
      case "first_time":
        parts.push(`arg_min(${f}, "time")`, `epoch_ns(min(${withValue}))`)
    }
  }
  const where: Array<string> = []
  for (const [tag, values] of plan.equalities)
    where.push(values.size === 0 ? "false" : `${quote(tag)} IN (${[...values].map(literal).join(", ")})`)
  // The bounds are parameters (bufferPartialParameters): a query over `now() - INTERVAL …` has new ones each time,
  // and one prepared statement serves them all while the buffer is unchanged.
  if (plan.minNs !== undefined) where.push(`"time" >= make_timestamp_ns(CAST(? AS BIGINT))`)
  if (plan.maxNs !== undefined) where.push(`"time" <= make_timestamp_ns(CAST(? AS BIGINT))`)
  const keys = [`${bin} AS __b`, ...plan.groupTags.map(quote)]
  return (
    `SELECT ${[...keys, ...parts].join(", ")} FROM (${source}) AS v` +
    `${where.length > 0 ? ` WHERE ${where.join(" AND ")}` : ""} GROUP BY ${keys.map((_, i) => i + 1).join(", ")}`
  )
}

/** The answer's columns and rows, as DuckDB would type them. */
export interface SeriesAggregateAnswer {
  readonly columns: ReadonlyArray<string>
  readonly types: ReadonlyArray<DuckDBType>
  readonly chunks: ReadonlyArray<DuckDBDataChunk>
  readonly rows: number
}

interface Group {
  /** The bin's start minus the answer's origin (see runSeriesAggregate), exact as a double; 0 without bins. */
  readonly bin: number
  readonly tags: ReadonlyArray<string | null>
  /** Per aggregate: the running max/min/sum, and how many values it took (arrays: cheaper to make than typed ones). */
  readonly values: Array<number>
  readonly counts: Array<number>
  /** Per selector: the time of its value, as an offset like `bin`. */
  readonly times: Array<number>
}

const CHUNK_ROWS = 2048

/** Rows one answer may fold on the event loop (~1 ms a million, per aggregate); more are DuckDB's to read. */
const MAX_FOLDED_ROWS = 8_000_000

/** `a mod b` rounded towards negative infinity, for numbers exact as doubles. */
const floorMod = (a: number, b: number) => {
  const r = a % b
  return r < 0 ? r + b : r
}

/** The first row in [start, end) whose offset is at least `x` (offsets ascend in a series). */
const firstAtLeast = (offsets: Float64Array, start: number, end: number, x: number) => {
  let lo = start
  let hi = end
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (offsets[mid]! < x) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** A time bound as an offset from a file's base, clamped to what decides a comparison with the file's offsets. */
const offsetOf = (ns: bigint | undefined, base: bigint, span: number, open: number): number => {
  if (ns === undefined) return open
  const d = ns - base
  return d < 0n ? -1 : d > BigInt(span) ? span + 1 : Number(d)
}

/** The type DuckDB gives an aggregate: counts BIGINT, selected times TIMESTAMP_NS, others the field's own. */
const aggregateType = (fn: AggregateFunction, field: FieldType | undefined): DuckDBType => {
  if (fn === "count" || fn === "count_star") return DuckDBBigIntType.instance
  if (fn === "last_time" || fn === "first_time") return DuckDBTimestampNanosecondsType.instance
  if (fn !== "avg" && field === "integer") return DuckDBBigIntType.instance
  if (fn !== "avg" && field === "uinteger") return DuckDBUBigIntType.instance
  return DuckDBDoubleType.instance
}

/** Strings compared as UTF-8 bytes (DuckDB's VARCHAR order): by code point. */
const compareText = (a: string, b: string): number => {
  if (a === b) return 0
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!
    const y = b.codePointAt(i)!
    if (x !== y) return x - y
    if (x > 0xffff) i++
  }
  return a.length - b.length
}

/**
 * Folds rows [p, q) of a field (null or undefined: no values) into aggregate j of a group; `times` are the rows'
 * offsets and `shift` takes them to the answer's (see runSeriesAggregate). The rows ascend in time.
 */
const fold = (
  fn: AggregateFunction,
  src: FieldValues | null | undefined,
  g: Group,
  j: number,
  p: number,
  q: number,
  times: Float64Array,
  shift: number
) => {
  if (fn === "count_star") {
    g.counts[j]! += q - p
    return
  }
  if (src === null || src === undefined) return
  const values = src.values
  const valid = src.valid
  if (fn === "last_value" || fn === "last_time") {
    // The latest row with a value; a later group member replaces it only with a later time.
    let r = q - 1
    if (valid !== undefined) while (r >= p && valid[r] === 0) r--
    if (r < p) return
    const t = shift + times[r]!
    if (g.counts[j] === 0 || t > g.times[j]!) (g.values[j] = values[r]!), (g.times[j] = t)
    g.counts[j]!++
    return
  }
  if (fn === "first_value" || fn === "first_time") {
    let r = p
    if (valid !== undefined) while (r < q && valid[r] === 0) r++
    if (r >= q) return
    const t = shift + times[r]!
    if (g.counts[j] === 0 || t < g.times[j]!) (g.values[j] = values[r]!), (g.times[j] = t)
    g.counts[j]!++
    return
  }
  let acc = g.values[j]!
  let n = 0
  if (valid === undefined) {
    n = q - p
    if (fn === "max") for (let r = p; r < q; r++) acc = values[r]! > acc ? values[r]! : acc
    else if (fn === "min") for (let r = p; r < q; r++) acc = values[r]! < acc ? values[r]! : acc
    else if (fn !== "count") for (let r = p; r < q; r++) acc += values[r]!
  } else
    for (let r = p; r < q; r++) {
      if (valid[r] === 0) continue
      n++
      const v = values[r]!
      if (fn === "max") acc = v > acc ? v : acc
      else if (fn === "min") acc = v < acc ? v : acc
      else if (fn !== "count") acc += v
    }
  g.values[j] = acc
  g.counts[j]! += n
}

/** A partial aggregate's value as an exact double (integers past 2^53 are not: the answer is DuckDB's then). */
const exact = (v: unknown): number | undefined => {
  if (typeof v === "number") return v
  if (typeof v === "bigint") return v < 2n ** 53n && v > -(2n ** 53n) ? Number(v) : undefined
  return undefined
}

/**
 * Merges aggregate j's partial (a, b) from bufferPartialSql into a group; false when a value cannot be held exactly.
 */
const merge = (
  fn: AggregateFunction,
  g: Group,
  j: number,
  a: unknown,
  b: unknown,
  offsetFrom: (ns: bigint) => number | undefined
): boolean => {
  if (fn === "count" || fn === "count_star") {
    g.counts[j]! += Number(b)
    return true
  }
  if (b === null || b === undefined || b === 0n || b === 0) return true
  const v = a === null ? undefined : exact(a)
  if (v === undefined) return false
  if (fn === "max" || fn === "min" || fn === "sum" || fn === "avg") {
    g.values[j] = fn === "max" ? Math.max(g.values[j]!, v) : fn === "min" ? Math.min(g.values[j]!, v) : g.values[j]! + v
    g.counts[j]! += Number(b)
    return true
  }
  const t = offsetFrom(BigInt(b as bigint))
  if (t === undefined) return false
  const later = fn === "last_value" || fn === "last_time"
  if (g.counts[j] === 0 || (later ? t > g.times[j]! : t < g.times[j]!)) (g.values[j] = v), (g.times[j] = t)
  g.counts[j]!++
  return true
}

const initial = (fn: AggregateFunction) => (fn === "max" ? -Infinity : fn === "min" ? Infinity : 0)

/** The plan's files decoded (`decode` answers each from the cache), or undefined while some is not in memory yet. */
export const decodePlanFiles = (
  plan: SeriesAggregatePlan,
  decode: (f: IndexedFile, tags: ReadonlyArray<string>, fields: ReadonlyArray<FieldRef>) => DecodedFile | undefined
): ReadonlyArray<DecodedFile> | undefined => {
  const fields = new Map<string, FieldRef>()
  for (const o of plan.outputs)
    if (o.kind === "aggregate" && o.field !== undefined) fields.set(o.field, { name: o.field, type: o.fieldType! })
  const fieldRefs = [...fields.values()]
  const decoded: Array<DecodedFile> = []
  let complete = true
  for (const f of plan.files) {
    const d = decode(f, plan.tags, fieldRefs)
    if (d === undefined) complete = false
    else decoded.push(d)
  }
  return complete ? decoded : undefined
}

/**
 * Computes a series aggregate over the plan's decoded files and the buffer's partial aggregates (bufferPartialSql), or
 * undefined when a value cannot be held exactly or the rows are too many for the event loop. Values are taken in each
 * file's series order and, within a series, time order: a compacted file's own row order, the order DuckDB adds them
 * in.
 */
export const runSeriesAggregate = (
  plan: SeriesAggregatePlan,
  decoded: ReadonlyArray<DecodedFile>,
  partials: ReadonlyArray<PartialRow> = []
): SeriesAggregateAnswer | undefined => {
  const aggregates = plan.outputs.flatMap((o) => (o.kind === "aggregate" ? [o] : []))
  const starts = aggregates.map((a) => initial(a.fn))
  const zeros = aggregates.map(() => 0)
  // Groups by their tags' key, then by bin: a series finds its tags' bins once, and a bin by a number.
  const groups = new Map<string, Map<number, Group>>()
  const all: Array<Group> = []
  const binsOf = (tagKey: string) => {
    let bins = groups.get(tagKey)
    if (bins === undefined) groups.set(tagKey, (bins = new Map()))
    return bins
  }
  const groupOf = (bins: Map<number, Group>, bin: number, tags: ReadonlyArray<string | null>): Group => {
    let g = bins.get(bin)
    if (g === undefined) {
      g = { bin, tags, values: starts.slice(), counts: zeros.slice(), times: zeros.slice() }
      bins.set(bin, g)
      all.push(g)
    }
    return g
  }
  // Bins and times are kept as offsets from the first file's base (or the range's start): exact doubles, or the
  // answer is DuckDB's.
  const originNs = decoded[0]?.layout.baseNs ?? plan.minNs ?? 0n
  const offsetFrom = (ns: bigint) =>
    ns - originNs < 2n ** 52n && originNs - ns < 2n ** 52n ? Number(ns - originNs) : undefined
  for (const { layout } of decoded) if (offsetFrom(layout.baseNs) === undefined) return undefined
  const equalities = [...plan.equalities]
  const stride = plan.bin === undefined ? 0 : Number(plan.bin.strideNs)

  // The rows each file's matching series keep, found first: an answer that would fold more than MAX_FOLDED_ROWS
  // (milliseconds of the event loop) is left to DuckDB's threads.
  const runs: Array<{ readonly d: DecodedFile; readonly s: FileSeries; readonly a: number; readonly b: number }> = []
  let folded = 0
  for (const d of decoded) {
    const { layout } = d
    const lo = offsetOf(plan.minNs, layout.baseNs, layout.spanNs, -1)
    const hi = offsetOf(plan.maxNs, layout.baseNs, layout.spanNs, layout.spanNs + 1)
    if (lo > hi) continue
    const wanted = equalities.map(([tag, values]) => [layout.tags.indexOf(tag), values] as const)
    for (const s of layout.series) {
      if (!wanted.every(([i, values]) => i >= 0 && s.values[i] !== null && values.has(s.values[i]!))) continue
      const a = firstAtLeast(layout.offsets, s.start, s.end, lo)
      const b = firstAtLeast(layout.offsets, a, s.end, hi + 1)
      if (a >= b) continue
      runs.push({ d, s, a, b })
      folded += b - a
    }
  }
  if (folded > MAX_FOLDED_ROWS) return undefined

  let current: DecodedFile | undefined
  let sources: Array<FieldValues | null | undefined> = []
  let grouping: Array<number> = []
  let k = 0
  let shift = 0
  for (const { d, s, a, b } of runs) {
    const layout = d.layout
    if (d !== current) {
      current = d
      // Per aggregate, its field's values in this file (null: the file lacks the field).
      sources = aggregates.map((agg) => (agg.field === undefined ? undefined : d.fields.get(agg.field)))
      grouping = plan.groupTags.map((tag) => layout.tags.indexOf(tag))
      // The bin of offset x is x - ((k + x) mod stride), k the base's distance into its bin (both exact as doubles).
      const bin = plan.bin
      k = bin === undefined ? 0 : Number(layout.baseNs - binStartNs(layout.baseNs, bin.strideNs, bin.originNs))
      if (plan.bin !== undefined && (stride >= 2 ** 52 || k + layout.spanNs >= 2 ** 53)) return undefined
      shift = offsetFrom(layout.baseNs)!
    }
    const tags = grouping.map((i) => (i < 0 ? null : s.values[i]!))
    const bins = binsOf(JSON.stringify(tags))
    // Rows [a, b) in runs of one bin each (the whole range without bins), each run folded into its group.
    for (let p = a; p < b; ) {
      let q = b
      let g: Group
      if (plan.bin === undefined) g = groupOf(bins, 0, tags)
      else {
        const x = layout.offsets[p]!
        const start = x - floorMod(k + x, stride)
        q = firstAtLeast(layout.offsets, p, b, start + stride)
        g = groupOf(bins, shift + start, tags)
      }
      for (let j = 0; j < aggregates.length; j++) fold(aggregates[j]!.fn, sources[j], g, j, p, q, layout.offsets, shift)
      p = q
    }
  }
  // The buffer's partial aggregates, group by group.
  const tagCount = plan.groupTags.length
  for (const row of partials) {
    const bin = plan.bin === undefined ? 0 : offsetFrom(BigInt(row[0] as bigint))
    if (bin === undefined) return undefined
    const tags = row.slice(1, 1 + tagCount).map((t) => (t === null ? null : String(t)))
    const g = groupOf(binsOf(JSON.stringify(tags)), bin, tags)
    for (let j = 0; j < aggregates.length; j++) {
      const a = row[1 + tagCount + 2 * j]
      const b = row[2 + tagCount + 2 * j]
      if (!merge(aggregates[j]!.fn, g, j, a, b, offsetFrom)) return undefined
    }
  }

  if (!plan.grouped && all.length === 0) groupOf(binsOf(""), 0, [])

  const sorted = all.sort(compareGroups(plan))
  const types: Array<DuckDBType> = []
  for (const o of plan.outputs) {
    if (o.kind === "key") types.push(o.key.kind === "bin" ? DuckDBTimestampNanosecondsType.instance : DuckDBVarCharType.instance)
    else types.push(aggregateType(o.fn, o.fieldType))
  }
  const tagPosition = (tag: string) => plan.groupTags.indexOf(tag)
  const chunks: Array<DuckDBDataChunk> = []
  for (let from = 0; from < sorted.length; from += CHUNK_ROWS) {
    const part = sorted.slice(from, from + CHUNK_ROWS)
    const chunk = DuckDBDataChunk.create(types, part.length)
    let j = 0
    plan.outputs.forEach((o, column) => {
      let values: Array<DuckDBValue>
      if (o.kind === "key")
        values =
          o.key.kind === "bin"
            ? part.map((g) => new DuckDBTimestampNanosecondsValue(originNs + BigInt(g.bin)))
            : part.map((g) => g.tags[tagPosition((o.key as { tag: string }).tag)] ?? null)
      else {
        const index = j++
        values = part.map((g) => {
          const n = g.counts[index]!
          if (o.fn === "count" || o.fn === "count_star") return BigInt(n)
          if (n === 0) return null
          if (o.fn === "last_time" || o.fn === "first_time")
            return new DuckDBTimestampNanosecondsValue(originNs + BigInt(g.times[index]!))
          if (o.fn === "avg") return g.values[index]! / n
          // Integers' max, min and selected values are exact doubles (see ParquetMemCache).
          return o.fieldType === "integer" || o.fieldType === "uinteger" ? BigInt(g.values[index]!) : g.values[index]!
        })
      }
      chunk.setColumnValues(column, values)
    })
    chunks.push(chunk)
  }
  return { columns: plan.outputs.map((o) => o.name), types, chunks, rows: sorted.length }
}

/** The ORDER BY's terms, then every key ascending (NULLS LAST) so ties come out the same each time. */
const compareGroups = (plan: SeriesAggregatePlan) => {
  const terms: Array<{ key: GroupKey; descending: boolean; nullsFirst: boolean }> = [
    ...plan.order,
    ...(plan.bin === undefined ? [] : [{ key: { kind: "bin" } as GroupKey, descending: false, nullsFirst: false }]),
    ...plan.groupTags.map((tag) => ({ key: { kind: "tag", tag } as GroupKey, descending: false, nullsFirst: false }))
  ]
  const positions = terms.map((t) => (t.key.kind === "bin" ? -1 : plan.groupTags.indexOf(t.key.tag)))
  return (a: Group, b: Group): number => {
    for (let i = 0; i < terms.length; i++) {
      const t = terms[i]!
      let c: number
      if (positions[i] === -1) c = a.bin - b.bin
      else {
        const x = a.tags[positions[i]!] ?? null
        const y = b.tags[positions[i]!] ?? null
        if (x === null || y === null) {
          if (x === y) continue
          // Nulls' place does not turn with DESC.
          return (x === null) === t.nullsFirst ? -1 : 1
        }
        c = compareText(x, y)
      }
      if (c !== 0) return t.descending ? -c : c
    }
    return 0
  }
}
