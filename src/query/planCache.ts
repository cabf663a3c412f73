import { sameValidity, type Validity } from "./statements.ts"

/**
 * Plans by query, kept while what they were made from is unchanged (the caller's `Validity`). Dashboards send the
 * same queries again and again over data that has not changed; planning one (its parse tree read, table views built,
 * the tree rendered back to SQL) is ~0.6 ms of the main thread, as much as the rest of a small query's own work.
 * The most recently used plans are kept.
 */
export class PlanCache<P> {
  private readonly entries = new Map<string, { readonly plan: P; readonly validity: Validity }>()
  constructor(private readonly capacity: number) {}

  /** The plan kept for the key under the same validity, or undefined (a stale one is dropped). */
  get(key: string, validity: Validity): P | undefined {
    const kept = this.entries.get(key)
    if (kept === undefined) return undefined
    this.entries.delete(key)
    if (!sameValidity(kept.validity, validity)) return undefined
    this.entries.set(key, kept)
    return kept.plan
  }

  set(key: string, validity: Validity, plan: P): void {
    this.entries.delete(key)
    this.entries.set(key, { plan, validity })
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!)
  }
}
