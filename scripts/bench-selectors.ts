/**
 * Selector benchmark: min/max selectors (the value and the time of the point they pick) over ~1M rows of a 100-host
 * cpu table (10 tags, 10 fields, values of two decimals clamped at 100 so that the maximum ties, some NULLs) in an
 * in-process DuckDB set up as the server sets it up. Runs each query as it was planned before and as it is planned
 * now, back to back, and prints each one's CPU time (process user + system: DuckDB's threads run in-process) and
 * elapsed time, the median of the runs, and whether the two answers are equal.
 * usage: npx tsx scripts/bench-selectors.ts [--runs N] [--rows N] [--print-sql]
 */
import { DuckDBInstance } from "@duckdb/node-api"
import type { DatabaseState, TableState } from "../src/catalog/state.ts"
import type { ColumnDef } from "../src/events/common.ts"
import type { SelectStatement } from "../src/influxql/ast.ts"
import { isParseError, parseInfluxQl } from "../src/influxql/parser.ts"
import { planSelect } from "../src/influxql/planner.ts"
import { selectorPick, selectorTimeSql } from "../src/influxql/select/aggregates.ts"
import { dialectSetupSql } from "../src/query/dialect/index.ts"

const args = process.argv.slice(2)
const runs = Number(args[args.indexOf("--runs") + 1] ?? 0) || 7
const rows = Number(args[args.indexOf("--rows") + 1] ?? 0) || 1_000_000
const printSql = args.includes("--print-sql")

const tags = ["hostname", "region", "datacenter", "rack", "os", "arch", "team", "service", "service_version", "service_environment"]
const fields = ["usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"]
const columns: Array<ColumnDef> = [
  ...tags.map((n, i) => ({ id: i, name: n, type: "tag" as const })),
  { id: tags.length, name: "time", type: "time" },
  ...fields.map((n, i) => ({ id: tags.length + 1 + i, name: n, type: "float" as const }))
]
const cpu: TableState = {
  id: 1,
  name: "cpu",
  columns,
  columnsByName: new Map(columns.map((c) => [c.name, c])),
  seriesKey: tags,
  nextColumnId: columns.length,
  retentionPeriodNs: null,
  createdAtNs: 0n,
  deleted: false,
  hardDeleteAtNs: null,
  lastCaches: new Map(),
  distinctCaches: new Map()
}
const db: DatabaseState = {
  id: 1,
  name: "bench",
  retentionPeriodNs: null,
  createdAtNs: 0n,
  deleted: false,
  hardDeleteAtNs: null,
  tables: new Map([[1, cpu]]),
  tableIdsByName: new Map([["cpu", 1]]),
  nameHistory: new Map([["cpu", [{ tableId: 1, fromSeq: 0, toSeq: null }]]])
}

const instance = await DuckDBInstance.create(":memory:", { threads: "2" })
const conn = await instance.connect()
for (const statement of dialectSetupSql) await conn.run(statement)
const hosts = 100
const tagSql = tags.map((t, i) => (i === 0 ? `'host_' || (i % ${hosts}) AS hostname` : `'${t}_' || ((i % ${hosts}) % ${3 + i}) AS ${t}`))
const fieldSql = fields.map((f, i) => `CASE WHEN (i + ${i}) % 97 = 0 THEN NULL ELSE round(least(100, random() * 110), 2) END AS ${f}`)
await conn.run(`SELECT setseed(0.5)`)
await conn.run(`CREATE TABLE cpu AS SELECT ${tagSql.join(", ")}, make_timestamp_ns(1704067200000000000 + (i // ${hosts}) * 10000000000) AS time, ${fieldSql.join(", ")} FROM range(${rows}) t(i)`)

const influxql = (text: string): string => {
  const parsed = parseInfluxQl(text)
  if (isParseError(parsed)) throw new Error(parsed.message)
  const nowNs = 1704067200000000000n + BigInt(rows / hosts) * 10_000_000_000n
  const planned = planSelect(parsed[0] as SelectStatement, db, nowNs)
  if (planned._tag !== "select") throw new Error(JSON.stringify(planned))
  return planned.queries.map((x) => x.sql).join(";\n")
}

const measure = async (sql: string) => {
  const cpus: Array<number> = []
  const walls: Array<number> = []
  let answer = ""
  for (let i = 0; i < runs + 1; i++) {
    const usage = process.cpuUsage()
    const started = performance.now()
    const result = await conn.runAndReadAll(sql)
    const wall = performance.now() - started
    const used = process.cpuUsage(usage)
    if (i === 0) answer = JSON.stringify(result.getRowsJson())
    else {
      cpus.push((used.user + used.system) / 1000)
      walls.push(wall)
    }
  }
  const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  return { cpu: median(cpus), wall: median(walls), answer }
}

// The min/max selector macros as they were: the rows without a value given a NULL key by a CASE.
await conn.run(`CREATE OR REPLACE MACRO before_selector_min(v, t) AS struct_pack(
  "value" := min(v),
  "time" := CAST(arg_min(t, CASE WHEN v IS NOT NULL AND t IS NOT NULL THEN struct_pack(v := v, t := t) END) AS TIMESTAMP_NS))`)
await conn.run(`CREATE OR REPLACE MACRO before_selector_max(v, t) AS struct_pack(
  "value" := max(v),
  "time" := CAST(arg_max(t, CASE WHEN v IS NOT NULL AND t IS NOT NULL
    THEN struct_pack(v := v, t := -epoch_ns(t)) END) AS TIMESTAMP_NS))`)

/** The InfluxQL plan as it is, and as it was: a lone selector's time ordered by a key with the series' tags. */
const influxqlBoth = (text: string, name: string, field: string): { before: string; after: string } => {
  const seriesKey = `{${tags.map((_, i) => `'k${i}': __sk${i}`).join(", ")}}`
  const after = influxql(text)
  const arg = `"${field}"`
  const pick = selectorPick(name, arg, { key: seriesKey, aux: false, byTime: false })!
  const now = selectorTimeSql(name, arg)!
  if (!after.includes(now)) throw new Error(`no selector time in ${after}`)
  return { before: after.replace(now, `${pick.fn}(epoch_ns("time"), ${pick.key}) FILTER (WHERE ${arg} IS NOT NULL)`), after }
}
const sqlBoth = (sql: string) => ({ before: sql.replaceAll("strata_selector_", "before_selector_"), after: sql })

const cases: ReadonlyArray<readonly [string, { before: string; after: string }]> = [
  ["SQL selector_max per host", sqlBoth(`SELECT hostname, strata_selector_max(usage_user, time) FROM cpu GROUP BY hostname ORDER BY hostname`)],
  ["SQL selector_min per host", sqlBoth(`SELECT hostname, strata_selector_min(usage_user, time) FROM cpu GROUP BY hostname ORDER BY hostname`)],
  ["SQL selector_max, all rows", sqlBoth(`SELECT strata_selector_max(usage_user, time) FROM cpu`)],
  ["InfluxQL max() per host", influxqlBoth(`SELECT max(usage_user) FROM cpu GROUP BY hostname`, "max", "usage_user")],
  ["InfluxQL min() per host", influxqlBoth(`SELECT min(usage_user) FROM cpu GROUP BY hostname`, "min", "usage_user")],
  ["InfluxQL max(), all series", influxqlBoth(`SELECT max(usage_user) FROM cpu`, "max", "usage_user")]
]

console.log(`${rows} rows, ${hosts} hosts; CPU ms (user + system, DuckDB's threads included) and elapsed ms, median of ${runs}`)
console.log(`${"query".padEnd(32)} ${"cpu before".padStart(10)} ${"cpu after".padStart(10)} ${"ms before".padStart(10)} ${"ms after".padStart(10)}  same answer`)
for (const [name, { before, after }] of cases) {
  if (printSql) console.log(`${before}\n${after}`)
  const b = await measure(before)
  const a = await measure(after)
  const f = (x: number) => x.toFixed(1).padStart(10)
  console.log(`${name.padEnd(32)} ${f(b.cpu)} ${f(a.cpu)} ${f(b.wall)} ${f(a.wall)}  ${a.answer === b.answer}`)
}
conn.closeSync()
instance.closeSync()
