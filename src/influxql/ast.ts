import { Data } from "effect"

/** The InfluxQL syntax tree: what the parser produces and the planner reads. Plain values, no behaviour. */

export type BinaryOp = "+" | "-" | "*" | "/" | "%" | "&" | "|" | "^" | "AND" | "OR" | "=" | "!=" | "<" | "<=" | ">" | ">=" | "=~" | "!~"

export type Expr =
  | { readonly _tag: "ref"; readonly name: string; readonly cast?: string }
  | { readonly _tag: "call"; readonly name: string; readonly args: ReadonlyArray<Expr> }
  | { readonly _tag: "number"; readonly value: number; readonly integer: boolean; readonly raw: string }
  | { readonly _tag: "string"; readonly value: string }
  | { readonly _tag: "bool"; readonly value: boolean }
  | { readonly _tag: "duration"; readonly ns: bigint; readonly raw: string }
  | { readonly _tag: "regex"; readonly pattern: string }
  | { readonly _tag: "binary"; readonly op: BinaryOp; readonly left: Expr; readonly right: Expr }
  | { readonly _tag: "paren"; readonly expr: Expr }
  | { readonly _tag: "wildcard"; readonly only?: "field" | "tag" }

export interface Field {
  readonly expr: Expr
  readonly alias?: string
}

/** A measurement source: a name or a regex, optionally qualified by database and retention policy; or a subquery. */
export interface Source {
  readonly db?: string
  readonly rp?: string
  readonly name?: string
  readonly regex?: string
  /** `FROM (SELECT …)`: the inner statement's rows are the source. */
  readonly subquery?: SelectStatement
}

export type Fill =
  | { readonly _tag: "null" }
  | { readonly _tag: "none" }
  | { readonly _tag: "previous" }
  | { readonly _tag: "linear" }
  | { readonly _tag: "value"; readonly value: number; readonly integer: boolean }

export interface GroupBy {
  readonly time?: { readonly intervalNs: bigint; readonly offsetNs: bigint }
  readonly tags: ReadonlyArray<string>
  /** `GROUP BY *`: every tag of the measurement. */
  readonly allTags: boolean
  /** `GROUP BY /re/` patterns over tag keys. */
  readonly tagRegexes: ReadonlyArray<string>
}

export interface SelectStatement {
  readonly _tag: "select"
  readonly fields: ReadonlyArray<Field>
  readonly sources: ReadonlyArray<Source>
  readonly where?: Expr
  readonly groupBy: GroupBy
  readonly fill: Fill
  readonly descending: boolean
  readonly limit?: number
  readonly offset?: number
  readonly slimit?: number
  readonly soffset?: number
  readonly tz?: string
}

/** `WITH KEY = "k"`, `IN ("a","b")`, `=~ /re/` and their negations. */
export type KeyFilter =
  | { readonly op: "=" | "!="; readonly value: string }
  | { readonly op: "=~" | "!~"; readonly pattern: string }
  | { readonly op: "in"; readonly values: ReadonlyArray<string> }

export type ShowStatement =
  | { readonly _tag: "showDatabases" }
  | { readonly _tag: "showRetentionPolicies"; readonly on?: string }
  | { readonly _tag: "showMeasurements"; readonly on?: string; readonly measurement?: KeyFilter; readonly where?: Expr; readonly limit?: number; readonly offset?: number }
  | { readonly _tag: "showTagKeys"; readonly on?: string; readonly from: ReadonlyArray<Source>; readonly where?: Expr; readonly limit?: number; readonly offset?: number }
  | { readonly _tag: "showTagValues"; readonly on?: string; readonly from: ReadonlyArray<Source>; readonly key: KeyFilter; readonly where?: Expr; readonly limit?: number; readonly offset?: number }
  | { readonly _tag: "showFieldKeys"; readonly on?: string; readonly from: ReadonlyArray<Source>; readonly limit?: number; readonly offset?: number }
  | { readonly _tag: "showSeries"; readonly on?: string; readonly from: ReadonlyArray<Source>; readonly where?: Expr; readonly limit?: number; readonly offset?: number }

export type Statement = SelectStatement | ShowStatement

/** A parse failure, with InfluxDB 1.x's wording (`found X, expected Y at line 1, char 8`). */
export class ParseError extends Data.TaggedError("ParseError")<{ readonly message: string }> {}
