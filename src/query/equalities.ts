import type { JsonObject } from "./ast.ts"

type Node = Record<string, unknown>

const columnOf = (n: Node | undefined): string | undefined => {
  if (n === undefined || n["class"] !== "COLUMN_REF") return undefined
  const names = n["column_names"] as ReadonlyArray<string> | undefined
  return names?.[names.length - 1]
}

const stringOf = (n: Node | undefined): string | undefined => {
  if (n === undefined || n["class"] !== "CONSTANT") return undefined
  const v = n["value"] as { type?: { id?: string }; is_null?: boolean; value?: unknown } | undefined
  return v?.type?.id === "VARCHAR" && v.is_null === false && typeof v.value === "string" ? v.value : undefined
}

/**
 * The `column = 'text'` and `column IN ('a', 'b')` conditions that every answer row of a plain single-table SELECT
 * must meet (top-level AND terms of its WHERE), by column; undefined for any other statement. Files whose index holds
 * none of a column's values can be skipped: no row of theirs can reach the answer.
 */
export const queryEqualities = (statement: JsonObject): ReadonlyMap<string, ReadonlySet<string>> | undefined => {
  const node = ((statement as Node)["node"] ?? statement) as Node
  if (node["type"] !== "SELECT_NODE" || (node["from_table"] as Node | undefined)?.["type"] !== "BASE_TABLE") return undefined
  const cte = (node["cte_map"] as { map?: ReadonlyArray<unknown> } | undefined)?.map
  if (cte !== undefined && cte.length > 0) return undefined
  const where = node["where_clause"] as Node | undefined
  if (where === undefined || where === null) return undefined
  const out = new Map<string, Set<string>>()
  const visit = (n: Node) => {
    if (n["class"] === "CONJUNCTION" && n["type"] === "CONJUNCTION_AND") {
      for (const c of n["children"] as ReadonlyArray<Node>) visit(c)
      return
    }
    if (n["class"] === "COMPARISON" && n["type"] === "COMPARE_EQUAL") {
      const l = n["left"] as Node
      const r = n["right"] as Node
      const column = columnOf(l) ?? columnOf(r)
      const value = stringOf(r) ?? stringOf(l)
      if (column !== undefined && value !== undefined) narrow(column, [value])
      return
    }
    if (n["class"] === "OPERATOR" && n["type"] === "COMPARE_IN") {
      const [first, ...rest] = n["children"] as ReadonlyArray<Node>
      const column = columnOf(first)
      const values = rest.map(stringOf)
      if (column !== undefined && values.every((v) => v !== undefined)) narrow(column, values as Array<string>)
    }
  }
  const narrow = (column: string, values: ReadonlyArray<string>) => {
    const held = out.get(column)
    out.set(column, held === undefined ? new Set(values) : new Set(values.filter((v) => held.has(v))))
  }
  visit(where)
  return out.size === 0 ? undefined : out
}
