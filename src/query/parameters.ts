import { constant, transform, type Json, type JsonObject } from "./ast.ts"

// ES2024's well-formed string methods, which Node 20 has and the ES2022 typings lack.
type WellFormedString = string & { toWellFormed(): string }

/** A JSON parameter value as a constant node. */
const parameterConstant = (value: Json): JsonObject => {
  if (value === null) return constant("NULL", null)
  switch (typeof value) {
    case "string":
      // A lone surrogate (`"\ud800"` in the request's JSON) is no text DuckDB can hold: U+FFFD, as UTF-8 would have it.
      return constant("VARCHAR", (value as WellFormedString).toWellFormed())
    case "boolean":
      return constant("BOOLEAN", value)
    case "bigint":
      return constant("BIGINT", value)
    case "number":
      // Whole numbers past 2^53 (`1e300`) bind as doubles, as serde_json reads them: BIGINT cannot hold them.
      return Number.isSafeInteger(value) ? constant("BIGINT", value) : constant("DOUBLE", value)
  }
  return constant("VARCHAR", JSON.stringify(value))
}

/**
 * The statement with each `$name` placeholder replaced by its value as a constant, or the first name no value was
 * given for.
 */
export const bindParameters = (
  statement: JsonObject,
  params: Readonly<Record<string, Json>>
): JsonObject | { readonly missing: string } => {
  let missing: string | undefined
  const bound = transform(statement, (node) => {
    if (node["class"] !== "PARAMETER") return undefined
    const name = String(node["identifier"])
    if (!Object.prototype.hasOwnProperty.call(params, name)) {
      missing ??= name
      return undefined
    }
    const c = parameterConstant(params[name]!)
    c["alias"] = node["alias"] ?? ""
    return c
  }) as JsonObject
  if (missing !== undefined) return { missing }
  return { ...bound, named_param_map: [] }
}
