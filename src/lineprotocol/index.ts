// Public face of the line-protocol unit: the parser, precisions and the serialiser. Plain TypeScript, no Effect.
export { FieldKind } from "./types.ts"
export type { BatchSeries, FieldShape, FieldValue, LineError, ParsedBatch, ParsedLine, ParseResult, Precision } from "./types.ts"
export { batchLines, codesOf, parseBatch, parseLineProtocol, type Allocate, type Codes } from "./parser.ts"
export { NANOS_PER, parsePrecision, toNanos } from "./precision.ts"
export { formatLine } from "./format.ts"
export { blankLines, type BlankedPayload } from "./blank.ts"
