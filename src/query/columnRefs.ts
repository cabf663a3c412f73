import { isObject, type Json, type JsonObject } from "./ast.ts"

/**
 * The column names a statement may read, lower-cased (DuckDB binds names case-insensitively), or `"all"` when its
 * shape lets it read columns it does not name: a star (`*`, `t.*`, `COLUMNS(...)`), a positional reference, a
 * NATURAL join, a table reference renaming its columns (`t AS x(a, b)`), a PIVOT. Every part of a qualified name
 * counts (`cpu.hostname` names both), and so do USING columns, so the set errs on the side of more columns: a
 * table's part whose columns the set leaves out cannot reach the answer.
 */
export const referencedColumns = (statement: JsonObject): ReadonlySet<string> | "all" => {
  const names = new Set<string>()
  let all = false
  const visit = (value: Json): void => {
    if (all || typeof value !== "object" || value === null) return
    if (Array.isArray(value)) {
      for (const v of value) visit(v)
      return
    }
    switch (value["class"]) {
      case "STAR":
      case "POSITIONAL_REFERENCE":
        all = true
        return
      case "COLUMN_REF": {
        const parts = value["column_names"]
        if (Array.isArray(parts)) for (const p of parts) names.add(String(p).toLowerCase())
        break
      }
    }
    const type = value["type"]
    if (type === "JOIN" && value["ref_type"] === "NATURAL") all = true
    if (typeof type === "string" && type.startsWith("PIVOT")) all = true
    if (Array.isArray(value["column_name_alias"]) && value["column_name_alias"].length > 0) all = true
    if (type === "JOIN" && Array.isArray(value["using_columns"]))
      for (const c of value["using_columns"]) names.add(String(c).toLowerCase())
    for (const key in value) {
      const child = value[key]
      if (isObject(child) || Array.isArray(child)) visit(child as Json)
    }
  }
  visit(statement)
  return all ? "all" : names
}
