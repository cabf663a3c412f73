/**
 * Exports the JSON Schema of every event to schema/events/, so a change to an event's shape shows in review.
 * usage: npx tsx scripts/export-event-schemas.ts [--check]   (--check fails when the files are stale)
 */
import { JSONSchema, Schema } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { StrataEvent } from "../src/events/index.ts"

const dir = NodePath.resolve(import.meta.dirname, "../schema/events")
const check = process.argv.includes("--check")

const files = new Map<string, string>()
files.set("StrataEvent.json", JSON.stringify(JSONSchema.make(StrataEvent), null, 2) + "\n")
const members = (StrataEvent.ast as { types?: ReadonlyArray<unknown> }).types ?? []
const visit = (ast: unknown) => {
  const node = ast as {
    _tag: string
    types?: ReadonlyArray<unknown>
    to?: unknown
    annotations?: Record<symbol, unknown>
  }
  if (node._tag === "Union") for (const t of node.types ?? []) visit(t)
  else if (node._tag === "Transformation") {
    const schema = Schema.make(node as never)
    const id = (node.to as { annotations?: Record<symbol, unknown> } | undefined)?.annotations
    const title = id ? (Object.getOwnPropertySymbols(id).map((s) => id[s]).find((v) => typeof v === "string" && /^[A-Z]\w+$/.test(v)) as string | undefined) : undefined
    const json = JSONSchema.make(schema)
    const name = title ?? ((json as { $ref?: string }).$ref ?? "").split("/").pop() ?? "Event"
    files.set(`${name}.json`, JSON.stringify(json, null, 2) + "\n")
  }
}
for (const m of members) visit(m)

let stale = false
if (!check) NodeFs.mkdirSync(dir, { recursive: true })
for (const [name, text] of files) {
  const path = NodePath.join(dir, name)
  const current = NodeFs.existsSync(path) ? NodeFs.readFileSync(path, "utf8") : undefined
  if (current === text) continue
  if (check) {
    stale = true
    console.error(`schema/events/${name} is stale: run npm run schema:events`)
  } else {
    NodeFs.writeFileSync(path, text)
    console.log(`wrote schema/events/${name}`)
  }
}
if (check) {
  const extra = NodeFs.existsSync(dir) ? NodeFs.readdirSync(dir).filter((f) => !files.has(f)) : []
  for (const f of extra) console.error(`schema/events/${f} has no event: remove it or run npm run schema:events`)
  if (stale || extra.length > 0) process.exit(1)
  console.log(`schema/events is up to date (${files.size} files)`)
}
