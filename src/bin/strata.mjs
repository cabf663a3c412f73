#!/usr/bin/env node
// Entry point of the `strata` command. It runs the bundle in dist/ (`npm run build`, done by `npm install`) while the
// bundle is newer than every source file; otherwise it loads the TypeScript sources through tsx's loader.
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"

const root = NodePath.resolve(NodePath.dirname(NodeUrl.fileURLToPath(import.meta.url)), "../..")
const bundle = NodePath.join(root, "dist", "main.mjs")

const newestSource = (dir) => {
  let newest = 0
  for (const entry of NodeFs.readdirSync(dir, { withFileTypes: true })) {
    const path = NodePath.join(dir, entry.name)
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path))
    else if (/\.(ts|mjs)$/.test(entry.name)) newest = Math.max(newest, NodeFs.statSync(path).mtimeMs)
  }
  return newest
}

const bundled = NodeFs.statSync(bundle, { throwIfNoEntry: false })
if (process.env.STRATA_NO_BUNDLE !== "1" && bundled !== undefined && bundled.mtimeMs >= newestSource(NodePath.join(root, "src"))) {
  await import(NodeUrl.pathToFileURL(bundle).href)
} else {
  const { register } = await import("tsx/esm/api")
  register()
  await import("../main.ts")
}
