import { ChangeLog } from "./changes.ts"

/** One distinct combination of the cache's columns (a tag or string value, or null where a row had none). */
export type DistinctTuple = ReadonlyArray<string | null>

/** One combination (a group of the cache's DuckDB table). */
export interface Seen {
  /** Never reused within the cache. */
  readonly id: number
  readonly values: DistinctTuple
  seenAtNs: bigint
}

const tupleKey = (values: DistinctTuple): string => {
  let out = ""
  for (const v of values) out += v === null ? "\u0000n" : `\u0000s${v}`
  return out
}

const compareTuples = (a: DistinctTuple, b: DistinctTuple): number => {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]
    const y = b[i]
    if (x === y) continue
    // NULLs last, as SQL's ascending ORDER BY puts them.
    if (x === null) return 1
    if (y === null) return -1
    return x < y ? -1 : 1
  }
  return 0
}

/**
 * The distinct-value cache of one definition. Entries are kept in the order they were last seen (a Map re-inserted
 * on every sighting), so evicting by age and trimming to `maxCardinality` both take from the front: O(evicted).
 */
export class DistinctValueCache {
  private readonly seen = new Map<string, Seen>()
  private nextId = 0
  /** The combinations added or removed since the cache's table last took them (a sighting changes no row). */
  readonly changes = new ChangeLog<Seen>(() => this.seen.size)

  constructor(
    readonly maxCardinality: number,
    readonly maxAgeNs: bigint
  ) {}

  get size(): number {
    return this.seen.size
  }

  /** Records a combination as seen at `seenAtNs`; past `maxCardinality` the least recently seen goes. */
  insert(values: DistinctTuple, seenAtNs: bigint): void {
    const key = tupleKey(values)
    const known = this.seen.get(key)
    if (known !== undefined) {
      this.seen.delete(key)
      if (seenAtNs > known.seenAtNs) known.seenAtNs = seenAtNs
      this.seen.set(key, known)
      return
    }
    const added = { id: this.nextId++, values: [...values], seenAtNs }
    this.seen.set(key, added)
    this.changes.touched(added.id, added)
    while (this.seen.size > this.maxCardinality) this.dropOldest()
  }

  private dropOldest(): void {
    const [key, entry] = this.seen.entries().next().value!
    this.seen.delete(key)
    this.changes.removed(entry.id)
  }

  /** Removes combinations older than `maxAge`, then the oldest down to `maxCardinality`; returns how many went. */
  evict(nowNs: bigint): number {
    const cutoff = nowNs - this.maxAgeNs
    let removed = 0
    for (const [key, entry] of this.seen) {
      if (entry.seenAtNs >= cutoff) break
      this.seen.delete(key)
      this.changes.removed(entry.id)
      removed++
    }
    while (this.seen.size > this.maxCardinality) {
      this.dropOldest()
      removed++
    }
    return removed
  }

  /** The live combinations, sorted column by column (as InfluxDB 3 returns them). */
  values(nowNs: bigint): Array<DistinctTuple> {
    const cutoff = nowNs - this.maxAgeNs
    const out: Array<DistinctTuple> = []
    for (const entry of this.seen.values()) if (entry.seenAtNs >= cutoff) out.push(entry.values)
    return out.sort(compareTuples)
  }

  /** Every combination (ones past the max age included: evict first). */
  groups(): Iterable<Seen> {
    return this.seen.values()
  }

  clear(): void {
    this.seen.clear()
    this.changes.everything()
  }
}
