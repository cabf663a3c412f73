import { Effect, Stream } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { applyEnvelope, emptyCatalog, liveDatabase, liveTable } from "./catalog/state.ts"
import { streamEnvelopes } from "./log/EventLog.ts"
import { layerReadOnlyStore } from "./log/store.ts"
import { compactedWindows, exportEntryName } from "./storage/exportable.ts"
import { applyFileIndex, emptyFileIndex } from "./storage/files.ts"

/** What `strata export` copies. */
export interface ExportRequest {
  readonly dataDir: string
  readonly db: string
  readonly table: string
  readonly outDir: string
  /** Windows (`YYYY-MM-DD`) to copy; every compacted window when undefined. */
  readonly windows?: ReadonlyArray<string> | undefined
}

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`

/**
 * Copies a table's compacted windows from a data directory (read-only: the log through a read-only connection, the
 * files by copying) into `<out>/<table>/<YYYY-MM-DD>/<file>.parquet`, the layout of the HTTP export's archive.
 * `progress` is called after each file with the files and bytes done so far.
 */
export const exportToDirectory = (
  request: ExportRequest,
  progress: (done: number, total: number, bytes: number, totalBytes: number) => void
) =>
  Effect.gen(function* () {
    const [catalog, index] = yield* streamEnvelopes(0, undefined, { recover: false, excludeKind: "WriteBatch" }).pipe(
      Stream.runFold(
        [emptyCatalog, emptyFileIndex] as const,
        ([c, f], e) => [applyEnvelope(c, e), applyFileIndex(f, e)] as const
      )
    )
    const db = liveDatabase(catalog, request.db)
    if (db === undefined) return yield* Effect.fail(new Error(`database not found: ${request.db}`))
    const table = liveTable(db, request.table)
    if (table === undefined)
      return yield* Effect.fail(new Error(`table not found: ${request.table} in database ${request.db}`))
    const available = compactedWindows(index, table.id)
    const windows = request.windows ?? [...available.keys()]
    const missing = windows.filter((w) => !available.has(w))
    if (missing.length > 0)
      return yield* Effect.fail(
        new Error(
          `window not found: ${missing.join(", ")} (compacted windows: ${[...available.keys()].join(", ") || "none"})`
        )
      )
    if (windows.length === 0)
      return yield* Effect.fail(
        new Error(`no compacted windows to export for table ${table.name} in database ${db.name}`)
      )
    const files = windows.flatMap((w) => (available.get(w) ?? []).map((f) => ({ window: w, file: f })))
    const totalBytes = files.reduce((n, f) => n + f.file.bytes, 0)
    let bytes = 0
    for (const [i, { window, file }] of files.entries()) {
      const target = NodePath.join(request.outDir, ...exportEntryName(table.name, window, file.path).split("/"))
      yield* Effect.try({
        try: () => {
          NodeFs.mkdirSync(NodePath.dirname(target), { recursive: true })
          NodeFs.copyFileSync(NodePath.join(request.dataDir, ...file.path.split("/")), target)
        },
        catch: (e) => new Error(`copying ${file.path} to ${target}: ${e instanceof Error ? e.message : String(e)}`)
      })
      bytes += file.bytes
      progress(i + 1, files.length, bytes, totalBytes)
    }
    return { files: files.length, bytes, windows }
  }).pipe(Effect.provide(layerReadOnlyStore(request.dataDir)))

/** A one-line progress text, e.g. `3/8 files, 12.3 MiB of 40.0 MiB`. */
export const progressText = (done: number, total: number, bytes: number, totalBytes: number) => `${done}/${total} files, ${mib(bytes)} of ${mib(totalBytes)}`
