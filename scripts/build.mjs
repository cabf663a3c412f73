#!/usr/bin/env node
// Bundles the server's TypeScript into dist/ (one module for the server and one per worker thread), so that a start
// loads three files instead of compiling ~250 through tsx's loader (measured: ready in 6.1 s instead of 10.3 s on a
// busy 2-core machine, replaying 216,000 rows). Native packages stay external. `src/bin/strata.mjs` runs dist/ only
// while it is newer than every source file, and tsx otherwise. Runs on `npm install` / `npm ci` (prepare) and
// `npm run build`.
import * as esbuild from "esbuild"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"

const root = NodePath.resolve(NodePath.dirname(NodeUrl.fileURLToPath(import.meta.url)), "..")

// `import { Effect, Schema } from "effect"` loads the package's index, and esbuild keeps every module an index
// re-exports: @effect/platform's alone brought 5.2 MB of embedded Swagger and Scalar pages into the bundle, whose
// compile was a third of an empty start. Our sources import only modules by name from these packages, so each
// named import is loaded from the module's own entry (`import * as Effect from "effect/Effect"`) instead.
const barrels = ["effect", "@effect/platform", "@effect/platform-node", "@effect/sql", "@effect/sql-sqlite-node"]
const barrelImport = new RegExp(`import\\s*(type\\s+)?\\{([^}]*)\\}\\s*from\\s*"(${barrels.join("|")})"`, "g")
const hasModule = (pkg, name) => NodeFs.existsSync(NodePath.join(root, "node_modules", pkg, "dist", "esm", `${name}.js`))
const deepImports = {
  name: "deep-imports",
  setup(build) {
    build.onLoad({ filter: /[\\/]src[\\/].*\.ts$/ }, async (args) => {
      const source = await NodeFs.promises.readFile(args.path, "utf8")
      const contents = source.replace(barrelImport, (whole, typeOnly, names, pkg) => {
        if (typeOnly !== undefined) return whole
        const specifiers = names.split(",").map((n) => n.trim()).filter((n) => n !== "")
        const deep = []
        const kept = []
        for (const s of specifiers) {
          if (/^[A-Z]\w*$/.test(s) && hasModule(pkg, s)) deep.push(`import * as ${s} from "${pkg}/${s}"`)
          else kept.push(s)
        }
        return [...deep, ...(kept.length > 0 ? [`import { ${kept.join(", ")} } from "${pkg}"`] : [])].join("; ")
      })
      return { contents, loader: "ts" }
    })
  }
}
// An ES import of a CommonJS package makes Node scan its source (and every file it re-exports) for export names:
// @duckdb/node-api re-exports ~40 files, which cost 0.2 s of CPU at each start. These packages are loaded by
// `require` instead, through a one-line CommonJS module per package that esbuild wraps as it does bundled ones.
const requiredPackages = /^(@duckdb\/node-api|@duckdb\/node-bindings|better-sqlite3)$/
const requireExternals = {
  name: "require-externals",
  setup(build) {
    build.onResolve({ filter: requiredPackages }, (args) =>
      args.kind === "require-call" ? { path: args.path, external: true } : { path: args.path, namespace: "required" }
    )
    build.onLoad({ filter: /.*/, namespace: "required" }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)})`,
      loader: "js"
    }))
  }
}

// Chunk names carry a hash: the previous build's would otherwise pile up.
NodeFs.rmSync(NodePath.join(root, "dist"), { recursive: true, force: true })
await esbuild.build({
  absWorkingDir: root,
  // The workers' names match the URLs the server opens them by (`new URL("./commit-worker.mjs", import.meta.url)`).
  entryPoints: { main: "src/main.ts", "commit-worker": "src/log/commit-worker.ts", "parse-worker": "src/write/parse-worker.ts" },
  outdir: "dist",
  outExtension: { ".js": ".mjs" },
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  // Dynamic imports (the S3 client, the CLI commands) become chunks of their own, loaded when first used.
  splitting: true,
  // In dist/ itself: the worker URLs are relative to the module that opens them.
  chunkNames: "[name]-[hash]",
  // Pure-JS packages are bundled too: loading effect's ~1,000 modules one by one took ~2 s of a start and ~200 MiB of
  // RSS. Native and WebAssembly packages stay external; bundled CommonJS code gets a `require`.
  external: ["@duckdb/*", "better-sqlite3", "parquet-wasm", "tsx", "tsx/*", "esbuild", "msgpackr-extract"],
  banner: { js: 'import { createRequire as __strataRequire } from "node:module"; const require = __strataRequire(import.meta.url);' },
  sourcemap: "linked",
  plugins: [deepImports, requireExternals],
  logLevel: "warning"
})
