import type { Json } from "./ast.ts"
import { constantValue, stringConstant } from "./dialect/tree.ts"
import { readerColumn, readerTableNames, type Node } from "./timeRange.ts"

/** A VARCHAR constant's text (the tree's nodes are JSON). */
const textOf = (n: unknown): string | undefined => stringConstant(n as Json)

/** `false`, as a constant or as the text `'f'`/`'false'` cast to BOOLEAN (how DuckDB writes it back). */
const isFalse = (n: Node): boolean => {
  if (n["class"] === "CAST" && (n["cast_type"] as { id?: string } | undefined)?.id === "BOOLEAN") {
    const text = textOf(n["child"])?.toLowerCase()
    return text === "f" || text === "false"
  }
  return constantValue(n as Json)?.value === false
}

/** `COALESCE(a, b)`'s two arguments, as the InfluxQL planner writes tag comparisons. */
const coalesced = (n: Node | undefined): readonly [Node, Node] | undefined => {
  if (n === undefined || n === null || n["class"] !== "OPERATOR" || n["type"] !== "OPERATOR_COALESCE") return undefined
  const children = n["children"] as ReadonlyArray<Node> | undefined
  return children?.length === 2 ? [children[0]!, children[1]!] : undefined
}

/** `col`, or `COALESCE(col, '')` compared with a non-empty text (a missing tag reads as '' in InfluxQL). */
const comparedColumn = (n: Node | undefined, value: string, tables: ReadonlySet<string>): string | undefined => {
  const direct = readerColumn(n, tables)
  if (direct !== undefined) return direct
  const parts = coalesced(n)
  return parts !== undefined && value !== "" && textOf(parts[1]) === "" ? readerColumn(parts[0], tables) : undefined
}

/**
 * One WHERE term's `column = 'text'` or `column IN ('a', 'b')` condition (the InfluxQL planner's
 * `COALESCE(COALESCE(tag, '') = 'v', false)` too): the column as the term names it, and the values it accepts.
 * Undefined for any other term.
 */
export const termEquality = (
  n: Node,
  tables: ReadonlySet<string>
): { readonly column: string; readonly values: ReadonlyArray<string> } | undefined => {
  // COALESCE(condition, false) keeps exactly the rows the condition keeps.
  const parts = coalesced(n)
  if (parts !== undefined && isFalse(parts[1])) return termEquality(parts[0], tables)
  if (n["class"] === "COMPARISON" && n["type"] === "COMPARE_EQUAL") {
    const l = n["left"] as Node
    const r = n["right"] as Node
    const right = textOf(r)
    const left = textOf(l)
    const column = right !== undefined ? comparedColumn(l, right, tables) : undefined
    if (column !== undefined) return { column, values: [right!] }
    const flipped = left !== undefined ? comparedColumn(r, left, tables) : undefined
    return flipped === undefined ? undefined : { column: flipped, values: [left!] }
  }
  if (n["class"] === "OPERATOR" && n["type"] === "COMPARE_IN") {
    const [first, ...rest] = n["children"] as ReadonlyArray<Node>
    const column = readerColumn(first, tables)
    const values = rest.map(textOf)
    if (column === undefined || values.some((v) => v === undefined)) return undefined
    return { column, values: values as Array<string> }
  }
  return undefined
}

/**
 * The `column = 'text'` and `column IN ('a', 'b')` conditions that every row a SELECT reads from its table must
 * meet (top-level AND terms of its WHERE, termEquality), by column; undefined when there are none. Rows, files or
 * series holding none of a column's values can be left out of what that SELECT reads: no row of theirs passes its
 * WHERE.
 */
export const whereEqualities = (reader: Node): ReadonlyMap<string, ReadonlySet<string>> | undefined => {
  const where = reader["where_clause"] as Node | undefined
  if (where === undefined || where === null) return undefined
  const tables = readerTableNames(reader)
  const out = new Map<string, Set<string>>()
  const visit = (n: Node) => {
    if (n["class"] === "CONJUNCTION" && n["type"] === "CONJUNCTION_AND") {
      for (const c of n["children"] as ReadonlyArray<Node>) visit(c)
      return
    }
    const parts = coalesced(n)
    if (parts !== undefined && isFalse(parts[1])) return visit(parts[0])
    const equality = termEquality(n, tables)
    if (equality !== undefined) narrowEqualities(out, equality.column, equality.values)
  }
  visit(where)
  return out.size === 0 ? undefined : out
}

/** Narrows a column's accepted values by another condition on it (all values of the first one). */
export const narrowEqualities = (
  out: Map<string, Set<string>>,
  column: string,
  values: ReadonlyArray<string>
): void => {
  const held = out.get(column)
  out.set(column, held === undefined ? new Set(values) : new Set(values.filter((v) => held.has(v))))
}
