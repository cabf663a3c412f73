/**
 * The v1 `/query` answer, rendered as InfluxDB 1.x renders it — JSON with Go's number forms (whole floats as
 * integers), RFC3339 times or epoch integers, chunks, pretty JSON, CSV and MessagePack — and written as the rows
 * arrive: an encoder takes statements, series and slices of rows and hands out the bytes that are ready.
 * Each format is its own module under `v1/`; this is their public face.
 */
import { ChunkedAnswer } from "./v1/chunked.ts"
import { CsvAnswer } from "./v1/csvAnswer.ts"
import { JsonAnswer, JsonChunks, jsonLayout } from "./v1/jsonAnswer.ts"
import { MsgPackAnswer, MsgPackChunks } from "./v1/msgpackAnswer.ts"
import type { V1AnswerEncoder, V1AnswerOptions } from "./v1/types.ts"
export {
  epochDivisor,
  type TimeCell,
  type TimeFormat,
  type V1AnswerEncoder,
  type V1AnswerOptions,
  type V1Cell,
  type V1Columns,
  type V1Format,
  type V1SeriesHead
} from "./v1/types.ts"

/** An encoder of the answer in `options`' format. */
export const v1AnswerEncoder = (options: V1AnswerOptions): V1AnswerEncoder => {
  if (options.format === "csv") return new CsvAnswer(options.time)
  if (options.format === "msgpack") return options.chunkSize === undefined ? new MsgPackAnswer(options.time) : new ChunkedAnswer(new MsgPackChunks(options.time), options.chunkSize)
  const layout = jsonLayout(options.pretty)
  return options.chunkSize === undefined
    ? new JsonAnswer(options.time, layout)
    : new ChunkedAnswer(new JsonChunks(options.time, layout), options.chunkSize)
}
