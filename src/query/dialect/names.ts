import type { Json, JsonObject } from "../ast.ts"
import { parseInterval } from "./time.ts"
import { childrenOf, constantValue, explicitNullOrder, functionName, intervalLiteral, isObject, stringConstant } from "./tree.ts"

/**
 * DataFusion's names for unaliased select-list expressions (`Expr::schema_name`), which become the result's column
 * names and JSON keys: `count(*)`, `avg(cpu.usage)`, `selector_last(cpu.usage,cpu.time)[value]`,
 * `date_bin(IntervalMonthDayNano("IntervalMonthDayNano { months: 0, days: 0, nanoseconds: 60000000000 }"),cpu.time)`.
 * Column references are qualified by the query's single table; casts are transparent; literals print as
 * `Int64(1)`, `Utf8("a")`, `Float64(1.5)`.
 */

const BINARY_OPERATORS: Record<string, string> = {
  "+": "+",
  "-": "-",
  "*": "*",
  "/": "/",
  "//": "/",
  "%": "%",
  "||": "||",
  "~~": "LIKE",
  "!~~": "NOT LIKE",
  "~~*": "ILIKE",
  "!~~*": "NOT ILIKE",
  regexp_full_match: "~",
  "~*": "~*",
  "!~*": "!~*"
}

const COMPARISONS: Record<string, string> = {
  COMPARE_EQUAL: "=",
  COMPARE_NOTEQUAL: "!=",
  COMPARE_LESSTHAN: "<",
  COMPARE_GREATERTHAN: ">",
  COMPARE_LESSTHANOREQUALTO: "<=",
  COMPARE_GREATERTHANOREQUALTO: ">=",
  COMPARE_DISTINCT_FROM: "IS DISTINCT FROM",
  COMPARE_NOT_DISTINCT_FROM: "IS NOT DISTINCT FROM"
}

const literalName = (node: JsonObject): string | undefined => {
  const value = constantValue(node)
  if (value === undefined) return undefined
  switch (value.type) {
    case "NULL":
      return "NULL"
    case "VARCHAR":
      return `Utf8(${JSON.stringify(value.value)})`
    case "BOOLEAN":
      return `Boolean(${String(value.value)})`
    case "TINYINT":
    case "SMALLINT":
    case "INTEGER":
    case "BIGINT":
    case "HUGEINT":
      return `Int64(${String(value.value)})`
    case "DOUBLE":
    case "FLOAT":
      return `Float64(${String(value.value)})`
    case "DECIMAL": {
      // DuckDB keeps `1.5` as DECIMAL(2,1) holding 15; DataFusion reads it as Float64.
      const info = (node["value"] as JsonObject)["type"] as JsonObject
      const scale = isObject(info["type_info"]) ? Number(info["type_info"]["scale"] ?? 0) : 0
      return `Float64(${String(Number(value.value) / 10 ** scale)})`
    }
    default:
      return undefined
  }
}

/** The qualifier DataFusion puts on an unqualified column, when the query reads one table. */
export const singleTableQualifier = (select: JsonObject): string | undefined => {
  const from = select["from_table"]
  if (!isObject(from)) return undefined
  const alias = typeof from["alias"] === "string" ? from["alias"] : ""
  if (from["type"] === "BASE_TABLE") {
    if (alias !== "") return alias
    const schema = String(from["schema_name"] ?? "")
    return schema === "" ? String(from["table_name"]) : `${schema}.${String(from["table_name"])}`
  }
  if (from["type"] === "SUBQUERY" && alias !== "") return alias
  return undefined
}

/** DataFusion's display name of an expression, or undefined where we do not know it. */
export const dataFusionName = (node: Json | undefined, qualifier: string | undefined): string | undefined => {
  if (!isObject(node)) return undefined
  const name = (child: Json | undefined) => dataFusionName(child, qualifier)
  const list = (children: Array<JsonObject>, separator: string) => {
    const names = children.map(name)
    return names.every((n) => n !== undefined) ? names.join(separator) : undefined
  }
  switch (node["class"]) {
    case "COLUMN_REF": {
      const names = (node["column_names"] as Array<string>).map(String)
      return names.length > 1 || qualifier === undefined ? names.join(".") : `${qualifier}.${names[0]}`
    }
    case "CONSTANT":
      return literalName(node)
    case "CAST": {
      const interval = intervalLiteral(node)
      if (interval !== undefined) {
        const parts = parseInterval(interval)
        return parts === undefined
          ? undefined
          : `IntervalMonthDayNano("IntervalMonthDayNano { months: ${parts.months}, days: ${parts.days}, nanoseconds: ${parts.nanoseconds} }")`
      }
      return name(node["child"])
    }
    case "COMPARISON": {
      const op = COMPARISONS[String(node["type"])]
      const left = name(node["left"])
      const right = name(node["right"])
      return op === undefined || left === undefined || right === undefined ? undefined : `${left} ${op} ${right}`
    }
    case "CONJUNCTION": {
      const op = node["type"] === "CONJUNCTION_AND" ? " AND " : " OR "
      return list(childrenOf(node), op)
    }
    case "BETWEEN": {
      const [input, lower, upper] = [name(node["input"]), name(node["lower"]), name(node["upper"])]
      return input === undefined || lower === undefined || upper === undefined ? undefined : `${input} BETWEEN ${lower} AND ${upper}`
    }
    case "CASE": {
      const checks = (node["case_checks"] as Array<JsonObject>).map((c) => [name(c["when_expr"]), name(c["then_expr"])])
      const otherwise = constantValue(node["else_expr"])?.type === "NULL" ? "" : name(node["else_expr"])
      if (otherwise === undefined || checks.some(([w, t]) => w === undefined || t === undefined)) return undefined
      return `CASE ${checks.map(([w, t]) => `WHEN ${w} THEN ${t} `).join("")}${otherwise === "" ? "" : `ELSE ${otherwise} `}END`
    }
    case "OPERATOR": {
      const children = childrenOf(node)
      switch (node["type"]) {
        case "OPERATOR_NOT": {
          const child = children[0]
          if (functionName(child) === "regexp_full_match") {
            const [l, r] = childrenOf(child!).map(name)
            return l === undefined || r === undefined ? undefined : `${l} !~ ${r}`
          }
          const inner = name(child)
          return inner === undefined ? undefined : `NOT ${inner}`
        }
        case "OPERATOR_IS_NULL":
        case "OPERATOR_IS_NOT_NULL": {
          const inner = name(children[0])
          return inner === undefined ? undefined : `${inner} ${node["type"] === "OPERATOR_IS_NULL" ? "IS NULL" : "IS NOT NULL"}`
        }
        case "ARRAY_EXTRACT": {
          const field = stringConstant(children[1])
          const inner = name(children[0])
          return field === undefined || inner === undefined ? undefined : `${inner}[${field}]`
        }
        default:
          return undefined
      }
    }
    case "FUNCTION": {
      const fn = functionName(node)!
      const children = childrenOf(node)
      if (isObject(node["filter"])) return undefined
      const op = BINARY_OPERATORS[fn]
      if (op !== undefined && children.length === 2) {
        const [l, r] = children.map(name)
        return l === undefined || r === undefined ? undefined : `${l} ${op} ${r}`
      }
      if (fn === "-" && children.length === 1) {
        const inner = name(children[0])
        return inner === undefined ? undefined : `(- ${inner})`
      }
      if (node["is_operator"] === true) return undefined
      if (fn === "count_star") return "count(*)"
      const args = list(children, ",")
      if (args === undefined) return undefined
      const orders = isObject(node["order_bys"]) ? (node["order_bys"]["orders"] as Array<JsonObject>) : []
      let suffix = ""
      if (orders.length > 0) {
        const terms = orders.map((o) => {
          const expr = name(o["expression"])
          const descending = o["type"] === "DESCENDING"
          // DataFusion's default null order follows the direction.
          const nulls = explicitNullOrder(o) ?? (descending ? "NULLS FIRST" : "NULLS LAST")
          return expr === undefined ? undefined : `${expr} ${descending ? "DESC" : "ASC"} ${nulls}`
        })
        if (terms.some((t) => t === undefined)) return undefined
        suffix = ` ORDER BY [${terms.join(", ")}]`
      }
      return `${fn}(${node["distinct"] === true ? "DISTINCT " : ""}${args})${suffix}`
    }
    default:
      return undefined
  }
}

/**
 * Gives each unaliased select-list item of a SELECT node (the statement's result columns) DataFusion's name as
 * its alias. Bare columns and `*` keep their names, as in DataFusion.
 */
export const applyDataFusionNames = (select: JsonObject): JsonObject => {
  if (select["type"] === "SET_OPERATION_NODE") return { ...select, left: applyDataFusionNames(select["left"] as JsonObject) }
  if (select["type"] !== "SELECT_NODE") return select
  const qualifier = singleTableQualifier(select)
  const items = select["select_list"] as Array<JsonObject>
  return {
    ...select,
    select_list: items.map((item) => {
      if (item["alias"] !== "" || item["class"] === "COLUMN_REF" || item["class"] === "STAR") return item
      const name = dataFusionName(item, qualifier)
      return name === undefined ? item : { ...item, alias: name }
    })
  }
}
