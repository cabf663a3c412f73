// Entry of the event log's commit thread: loads the TypeScript sources through tsx's loader (no build step), as the
// `strata` command does, then runs the commit loop.
import { register } from "tsx/esm/api"
register()
await import("./commit-worker.ts")
