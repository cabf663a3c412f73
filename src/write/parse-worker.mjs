// Entry of a parse worker thread: loads the TypeScript sources through tsx's loader (no build step), as the
// `strata` command does, then runs the worker loop.
import { register } from "tsx/esm/api"
register()
await import("./parse-worker.ts")
