/**
 * Which groups of a cache's rows changed since its reader last took the changes: what keeps the cache's DuckDB table
 * current (`sql.ts`) without rebuilding it on every query. A group is one key's rows (last-value cache) or one
 * combination (distinct-value cache); its id is never reused. One reader per cache: taking the changes clears them.
 */
export class ChangeLog<G> {
  /** Changed groups by id; undefined where the group went. */
  private changed = new Map<number, G | undefined>()
  /** Everything changed (new, or cleared): the reader rebuilds from every group. */
  private all = true

  /** `size` is the number of live groups: past twice as many changes (removals pile up), a rebuild is cheaper. */
  constructor(private readonly size: () => number) {}

  /** A group's rows changed, or it is new. */
  touched(id: number, group: G): void {
    if (!this.all) this.changed.set(id, group)
  }

  /** A group went. */
  removed(id: number): void {
    if (this.all) return
    this.changed.set(id, undefined)
    if (this.changed.size > 4096 && this.changed.size > 2 * this.size()) this.everything()
  }

  /** Every group changed (the cache was emptied). */
  everything(): void {
    this.all = true
    this.changed.clear()
  }

  /** The changes since the last call: the groups by id (undefined: gone), or "all"; and forgets them. */
  take(): ReadonlyMap<number, G | undefined> | "all" {
    if (this.all) {
      this.all = false
      return "all"
    }
    const taken = this.changed
    if (taken.size > 0) this.changed = new Map()
    return taken
  }
}
