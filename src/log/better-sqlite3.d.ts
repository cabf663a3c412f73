// The part of better-sqlite3's API the commit thread and the log's tests use (the package ships no types of its own).
declare module "better-sqlite3" {
  interface Statement {
    run(...params: ReadonlyArray<unknown>): unknown
    all(...params: ReadonlyArray<unknown>): Array<unknown>
  }
  class Database {
    constructor(filename: string, options?: { readonly readonly?: boolean })
    pragma(source: string): unknown
    prepare(source: string): Statement
    exec(source: string): unknown
    transaction<A extends ReadonlyArray<unknown>>(fn: (...args: A) => void): (...args: A) => void
    close(): void
  }
  export default Database
}
