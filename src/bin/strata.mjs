#!/usr/bin/env node
// Entry point of the `strata` command: loads the TypeScript sources through tsx's loader (no build step).
import { register } from "tsx/esm/api"
register()
await import("../main.ts")
