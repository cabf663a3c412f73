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
import type { DecodedFile, FieldRef, FieldType, FieldValues, FileSeries } from "../storage/ParquetMemCache.ts"
import type { AggregateFunction, GroupKey, SeriesAggregateShape } from "./seriesAggregate.ts"

/** A series aggregate over a table's files: the files are its whole view (no buffered rows, overlap or deletes). */
export interface SeriesAggregatePlan extends SeriesAggregateShape {
  readonly files: ReadonlyArray<IndexedFile>
  /** The table's tags, for the files' layouts. */
  readonly tags: ReadonlyArray<string>
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

const bigFloorMod = (a: bigint, b: bigint) => {
  const r = a % b
  return r < 0n ? r + b : r
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

const initial = (fn: AggregateFunction) => (fn === "max" ? -Infinity : fn === "min" ? Infinity : 0)

/**
 * Computes a series aggregate over decoded files (`decode` answers each from the cache), or undefined when some file
 * is not decoded yet. Values are taken in each file's series order and, within a series, time order: a compacted
 * file's own row order, the order DuckDB adds them in.
 */
export const runSeriesAggregate = (
  plan: SeriesAggregatePlan,
  decode: (f: IndexedFile, tags: ReadonlyArray<string>, fields: ReadonlyArray<FieldRef>) => DecodedFile | undefined
): SeriesAggregateAnswer | undefined => {
  const aggregates = plan.outputs.flatMap((o) => (o.kind === "aggregate" ? [o] : []))
  const fields = new Map<string, FieldRef>()
  for (const a of aggregates) if (a.field !== undefined) fields.set(a.field, { name: a.field, type: a.fieldType! })
  const fieldRefs = [...fields.values()]
  const decoded: Array<DecodedFile> = []
  let complete = true
  for (const f of plan.files) {
    const d = decode(f, plan.tags, fieldRefs)
    if (d === undefined) complete = false
    else decoded.push(d)
  }
  if (!complete) return undefined

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
  // Bins are kept as offsets from the first file's base: every file's bins, as doubles, stay exact.
  const originNs = decoded[0]?.layout.baseNs ?? 0n
  for (const { layout } of decoded)
    if (layout.baseNs - originNs >= 2n ** 52n || originNs - layout.baseNs >= 2n ** 52n) return undefined
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
      k = plan.bin === undefined ? 0 : Number(bigFloorMod(layout.baseNs - plan.bin.originNs, plan.bin.strideNs))
      if (plan.bin !== undefined && (stride >= 2 ** 52 || k + layout.spanNs >= 2 ** 53)) return undefined
      shift = Number(layout.baseNs - originNs)
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
