import { ChangeLog } from "./changes.ts"

/** A cell of a cached row: what a column of a table holds (null where a row has no value). */
export type CacheValue = number | bigint | string | boolean | null

/** One cached row: its time, when the cache last saw it (for the ttl), and its value columns. */
export interface CachedRow {
  readonly timeNs: bigint
  seenAtNs: bigint
  readonly values: Map<string, CacheValue>
}

/** One combination of key values and its rows (a group of the cache's DuckDB table). */
export interface KeyEntry {
  /** Never reused within the cache. */
  readonly id: number
  readonly keys: ReadonlyArray<CacheValue>
  /** Newest first, at most `count`. */
  readonly rows: Array<CachedRow>
}

/** The identity of a combination of key values (types kept apart: the tag "1" is not the integer 1). */
const keyOf = (keys: ReadonlyArray<CacheValue>): string => {
  let out = ""
  for (const k of keys) out += k === null ? "\u0000n" : `\u0000${typeof k}:${String(k)}`
  return out
}

/**
 * The last-value cache of one definition: per combination of key column values, the newest `count` rows by time.
 * Pure and synchronous: the caller passes the time, so evictions are tested with any clock. Memory and answers are
 * O(key combinations × count), independent of how many rows were written.
 */
export class LastValueCache {
  private readonly entries = new Map<string, KeyEntry>()
  private nextId = 0
  /** At most the oldest `seenAtNs` of any row (undefined: no rows since the last scan): evict skips its scan before. */
  private oldestSeenNs: bigint | undefined
  /** The key entries changed since the cache's table last took them. */
  readonly changes = new ChangeLog<KeyEntry>(() => this.entries.size)

  constructor(
    readonly count: number,
    readonly ttlNs: bigint
  ) {}

  /** Number of key combinations held. */
  get size(): number {
    return this.entries.size
  }

  /**
   * Offers one row. A row older than the `count` newest of its key is dropped; one at the time of a cached row is
   * merged into it, field by field, last write wins (as queries deduplicate).
   */
  insert(
    keys: ReadonlyArray<CacheValue>,
    timeNs: bigint,
    values: ReadonlyMap<string, CacheValue>,
    seenAtNs: bigint
  ): void {
    const id = keyOf(keys)
    let entry = this.entries.get(id)
    if (entry === undefined) {
      entry = { id: this.nextId++, keys: [...keys], rows: [] }
      this.entries.set(id, entry)
    }
    const rows = entry.rows
    let i = 0
    while (i < rows.length && rows[i]!.timeNs > timeNs) i++
    if (i < rows.length && rows[i]!.timeNs === timeNs) {
      const row = rows[i]!
      for (const [k, v] of values) if (v !== null) row.values.set(k, v)
      if (seenAtNs > row.seenAtNs) row.seenAtNs = seenAtNs
      this.changes.touched(entry.id, entry)
      return
    }
    if (i >= this.count) return
    rows.splice(i, 0, { timeNs, seenAtNs, values: new Map(values) })
    if (rows.length > this.count) rows.length = this.count
    if (this.oldestSeenNs === undefined || seenAtNs < this.oldestSeenNs) this.oldestSeenNs = seenAtNs
    this.changes.touched(entry.id, entry)
  }

  /** Removes rows not seen within the ttl (and keys left without rows); returns how many rows went. */
  evict(nowNs: bigint): number {
    const cutoff = nowNs - this.ttlNs
    // Nothing is old enough yet: no scan (every query evicts first, so this is what keeps queries O(answer)).
    if (this.oldestSeenNs === undefined || this.oldestSeenNs >= cutoff) return 0
    let removed = 0
    let oldest: bigint | undefined
    for (const [id, entry] of this.entries) {
      const kept = entry.rows.filter((r) => r.seenAtNs >= cutoff)
      removed += entry.rows.length - kept.length
      if (kept.length === 0) {
        this.entries.delete(id)
        this.changes.removed(entry.id)
        continue
      }
      if (kept.length < entry.rows.length) {
        entry.rows.splice(0, entry.rows.length, ...kept)
        this.changes.touched(entry.id, entry)
      }
      for (const r of kept) if (oldest === undefined || r.seenAtNs < oldest) oldest = r.seenAtNs
    }
    this.oldestSeenNs = oldest
    return removed
  }

  /** Every live row with its key values, newest first per key; rows past the ttl are left out even before eviction. */
  rows(nowNs: bigint): Array<{ readonly keys: ReadonlyArray<CacheValue>; readonly row: CachedRow }> {
    const cutoff = nowNs - this.ttlNs
    const out: Array<{ keys: ReadonlyArray<CacheValue>; row: CachedRow }> = []
    for (const entry of this.entries.values())
      for (const row of entry.rows) if (row.seenAtNs >= cutoff) out.push({ keys: entry.keys, row })
    return out
  }

  /** Every key entry (rows past the ttl included: evict first). */
  groups(): Iterable<KeyEntry> {
    return this.entries.values()
  }

  /** Forgets everything (the table's data was deleted). */
  clear(): void {
    this.entries.clear()
    this.oldestSeenNs = undefined
    this.changes.everything()
  }
}
