import { Effect } from "effect"
import { InvalidRequest } from "../errors.ts"
import type { ResultFormat } from "../query/encode.ts"

const formatsByName: Readonly<Record<string, ResultFormat>> = {
  json: "json",
  jsonl: "jsonl",
  json_lines: "jsonl",
  csv: "csv",
  pretty: "pretty",
  parquet: "parquet"
}

const formatsByMime: Readonly<Record<string, ResultFormat>> = {
  "application/vnd.apache.parquet": "parquet",
  "text/csv": "csv",
  "text/plain": "pretty",
  "application/json": "json",
  "*/*": "json"
}

/** A `format` parameter's value as a result format; 400 naming the accepted values otherwise. */
export const namedFormat = (format: string): Effect.Effect<ResultFormat, InvalidRequest> => {
  const named = formatsByName[format]
  return named === undefined
    ? Effect.fail(new InvalidRequest({ message: `invalid query parameter 'format': '${format}' is not one of json, jsonl, csv, pretty, parquet` }))
    : Effect.succeed(named)
}

/**
 * The result format of a v3 query: the Accept header is read first, always (an unknown one is a 400 even when
 * `format` is given, as in InfluxDB 3), then the `format` parameter overrides it.
 */
export const resultFormat = (
  accept: string | undefined,
  format: string | undefined
): Effect.Effect<ResultFormat, InvalidRequest> => {
  let fromAccept: ResultFormat = "json"
  if (accept !== undefined && accept.trim() !== "") {
    const first = accept.split(",")[0]!.split(";")[0]!.trim().toLowerCase()
    const known = formatsByMime[first]
    if (known !== undefined) fromAccept = known
    else if (!accept.includes("text/html") && !accept.includes("*/*"))
      return Effect.fail(new InvalidRequest({ message: `invalid mime type (${accept})` }))
  }
  return format === undefined || format === "" ? Effect.succeed(fromAccept) : namedFormat(format)
}
