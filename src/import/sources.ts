import type { DuckDBConnection } from "@duckdb/node-api"
import { sqlIdentifier as quote, sqlString as literal } from "../query/literal.ts"
import { inferenceSql, inferredTypes, type ImportFormat, type SourceColumn } from "./plan.ts"

/** The source relation of a file in a format, with `__row`, its 1-based row number. */
export const sourceRelation = async (
  conn: DuckDBConnection,
  format: ImportFormat,
  path: string
): Promise<{ readonly relation: string; readonly columns: ReadonlyArray<SourceColumn> }> => {
  const p = literal(path)
  const describe = async (rel: string) =>
    (await conn.runAndReadAll(`DESCRIBE SELECT * FROM ${rel}`))
      .getRows()
      .map((r) => ({ name: String(r[0]), type: String(r[1]) }))
  switch (format) {
    case "parquet": {
      // The reader's own row numbers: a window over the whole file would cost a pass of its own.
      const rel = `read_parquet(${p})`
      return {
        relation: `(SELECT * EXCLUDE (file_row_number), file_row_number + 1 AS __row FROM read_parquet(${p}, file_row_number = true))`,
        columns: await describe(rel)
      }
    }
    case "csv": {
      // Every value read as text, so that a bad one is a row error rather than a failed file.
      const rel = `read_csv(${p}, header = true, all_varchar = true)`
      return { relation: `(SELECT *, row_number() OVER () AS __row FROM ${rel})`, columns: await describe(rel) }
    }
    case "ndjson": {
      const all = (
        await conn.runAndReadAll(
          `SELECT DISTINCT unnest(json_keys(json)) FROM read_json_objects(${p}, format = 'newline_delimited')`
        )
      )
        .getRows()
        .map((r) => String(r[0]))
      // Converted line protocol carries each point's line number as __line.
      const keys = all.filter((k) => k !== "__line")
      const cols = keys.map((k) => `json_extract_string(json, ${literal(`$.${JSON.stringify(k)}`)}) AS ${quote(k)}`)
      const row = all.includes("__line")
        ? `CAST(json_extract_string(json, '$.__line') AS BIGINT) AS __row`
        : "row_number() OVER () AS __row"
      return {
        relation: `(SELECT ${[...cols, row].join(", ")} FROM read_json_objects(${p}, format = 'newline_delimited'))`,
        columns: keys.map((name) => ({ name, type: "VARCHAR" }))
      }
    }
    case "lp":
      throw new Error("line protocol is read as its NDJSON conversion")
  }
}

/** A text source's columns with the types a sample of their values reads as. */
export const withInferredTypes = async (
  conn: DuckDBConnection,
  source: { readonly relation: string; readonly columns: ReadonlyArray<SourceColumn> }
) => {
  const text = source.columns.filter((c) => c.type === "VARCHAR" && c.name !== "time")
  if (text.length === 0) return source
  const row =
    (
      await conn.runAndReadAll(
        inferenceSql(
          source.relation,
          text.map((c) => c.name)
        )
      )
    ).getRows()[0] ?? []
  const types = new Map(text.map((c, i) => [c.name, inferredTypes(row, text.length)[i]!]))
  return {
    ...source,
    columns: source.columns.map((c) => (types.has(c.name) ? { ...c, inferred: types.get(c.name) } : c))
  }
}
