import { JobError } from "../jobs/Jobs.ts"
import type { ImportColumnType, ImportFormat } from "./plan.ts"
import type { S3Access } from "./s3.ts"

/** What an import job does, as its JobCreated records it. */
export interface ImportSpec {
  readonly database: string
  readonly table: string
  readonly format: ImportFormat | null
  readonly mapping: Readonly<Record<string, ImportColumnType>>
  readonly onError: "abort" | "skip_row"
  readonly createTable: boolean
  readonly precision: string
  /** What the seed's UploadedImportInfo reports of an upload (also filled for single-file sources once known). */
  readonly upload: {
    readonly filename: string
    readonly sizeBytes: number
    readonly rowCount: number
    readonly minTimestampNs: string
    readonly maxTimestampNs: string
    readonly ioxParquet: boolean
  } | null
  readonly dbId: number
  readonly tableId: number | null
  /** How an s3:// source is reached (absent for other sources). */
  readonly s3?: S3Access | undefined
}

/** A failure retrying cannot help (bad data). */
export const terminal = (message: string, cause?: unknown) => new JobError({ message, terminal: true, cause })
/** A failure a later attempt may get past (storage, network). */
export const retryable = (what: string) => (cause: unknown) =>
  new JobError({ message: `${what}: ${cause instanceof Error ? cause.message : String(cause)}`, terminal: false, cause })
