// The part of better-sqlite3's API the commit thread uses (the package ships no types of its own).
declare module "better-sqlite3" {
  interface Statement {
    run(...params: ReadonlyArray<unknown>): unknown
  }
  class Database {
    constructor(filename: string)
    pragma(source: string): unknown
    prepare(source: string): Statement
    transaction<A extends ReadonlyArray<unknown>>(fn: (...args: A) => void): (...args: A) => void
    close(): void
  }
  export default Database
}
