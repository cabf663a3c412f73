/** One cached value: pickled by the plugin's runtime, so any Python value round-trips. */
interface Entry {
  readonly value: string
  readonly expiresAtMs: number | null
}

/**
 * The plugins' key-value cache (`influxdb3_local.cache`): one namespace per trigger, one global, one per test cache
 * name. Values expire after their ttl; expired entries are dropped when read or by `sweep`.
 */
export class PluginCache {
  private readonly spaces = new Map<string, Map<string, Entry>>()

  private space(name: string) {
    let space = this.spaces.get(name)
    if (space === undefined) this.spaces.set(name, (space = new Map()))
    return space
  }

  /** Stores a value; `ttlSeconds` null keeps it until deleted. */
  put(space: string, key: string, value: string, ttlSeconds: number | null, nowMs: number) {
    this.space(space).set(key, { value, expiresAtMs: ttlSeconds === null ? null : nowMs + ttlSeconds * 1000 })
  }

  /** The value, or null when absent or expired. */
  get(space: string, key: string, nowMs: number): string | null {
    const entry = this.spaces.get(space)?.get(key)
    if (entry === undefined) return null
    if (entry.expiresAtMs !== null && entry.expiresAtMs <= nowMs) {
      this.spaces.get(space)!.delete(key)
      return null
    }
    return entry.value
  }

  /** Removes a key; whether it was there (and not expired). */
  delete(space: string, key: string, nowMs: number): boolean {
    const present = this.get(space, key, nowMs) !== null
    this.spaces.get(space)?.delete(key)
    return present
  }

  /** Drops a namespace (a deleted trigger's). */
  drop(space: string) {
    this.spaces.delete(space)
  }
}
