// Checks that package-lock.json holds every optional package its packages name (each platform's DuckDB, rollup
// and esbuild binaries), so `npm ci` accepts the lock on any platform. An `npm install` that pruned the other
// platforms' entries fails here instead of in a fresh clone. usage: node scripts/check-lock.mjs
import { readFileSync } from "node:fs"

const lock = JSON.parse(readFileSync(new URL("../package-lock.json", import.meta.url), "utf8"))
const packages = lock.packages ?? {}
const missing = []
for (const [path, pkg] of Object.entries(packages)) {
  for (const name of Object.keys(pkg.optionalDependencies ?? {})) {
    // npm resolves a dependency in the package's own node_modules, then in each enclosing one.
    const parts = path === "" ? [] : path.split("node_modules/").filter(Boolean).map((p) => p.replace(/\/$/, ""))
    let found = false
    for (let i = parts.length; i >= 0 && !found; i--) {
      const prefix = parts.slice(0, i).map((p) => `node_modules/${p}/`).join("")
      found = `${prefix}node_modules/${name}` in packages
    }
    if (!found) missing.push(`${path || "(root)"} -> ${name}`)
  }
}
if (missing.length > 0) {
  console.error(`package-lock.json lacks ${missing.length} optional package(s); regenerate it with every platform's:`)
  for (const m of missing) console.error(`  ${m}`)
  process.exit(1)
}
console.log("package-lock.json holds every optional package")
