/**
 * Planning benchmark: times `translate` (DuckDB's parse, our rewrite, DuckDB's render) for long operator chains and
 * for TSBS-like queries, against an in-memory DuckDB set up as the server sets it up. For each query it prints the
 * wall time, the main thread's busy time (event-loop utilisation: our JSON parsing, tree walks and serialising;
 * DuckDB parses and renders on its own threads) and the longest stretch the main thread was held, each the median
 * of the runs. Plans only: DuckDB does not run the queries (see bench-query.ts for that).
 * With `--only influxql` it times the InfluxQL parser and SELECT planner instead (pure TypeScript, no DuckDB).
 * usage: npx tsx scripts/bench-plan.ts [--runs N] [--only chains|typical|influxql]
 */
import { DuckDBInstance } from "@duckdb/node-api"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { monitorEventLoopDelay, performance } from "node:perf_hooks"
import type { SelectStatement } from "../src/influxql/ast.ts"
import { isParseError, parseInfluxQl } from "../src/influxql/parser.ts"
import { planSelect } from "../src/influxql/planner.ts"
import { dialectSetupSql, rewriteDialect } from "../src/query/dialect/index.ts"
import { sandboxSql } from "../src/query/sandbox.ts"
import { translate, type BufferView } from "../src/query/translate.ts"
import { catalogDatabase, catalogTable } from "./catalogFixture.ts"

const args = process.argv.slice(2)
const runs = Number(args[args.indexOf("--runs") + 1] ?? 0) || 5
const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : undefined

const cpuFields = ["usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"]
const tables = [catalogTable(1, "cpu", ["hostname", "region", "datacenter"], cpuFields), catalogTable(2, "m", ["host"], ["v"])]
const db = catalogDatabase("bench", tables)
const quote = (name: string) => `"${name.replace(/"/g, '""')}"`
// The shape of the write buffer's view (WriteBuffer.viewSql), over tables that need not exist: nothing runs.
const buffer: BufferView = {
  viewSql: (id) => {
    const t = tables.find((x) => x.id === id)!
    const tags = t.seriesKey.map((n) => `s.${quote(n)}`)
    const fields = t.columns.filter((c) => c.type === "float").map((c) => `b.${quote(c.name)}`)
    return `SELECT ${[...tags, "b.time", ...fields].join(", ")} FROM buf.rows_${id} b JOIN buf.series_${id} s USING (_sid)`
  },
  describe: () => ({ rows: 0, mayHaveDuplicates: false })
}

const from = "2024-01-01T06:00:00Z"
const to = "2024-01-01T18:00:00Z"
const typical: ReadonlyArray<readonly [string, string]> = [
  ["max per minute, one host", `SELECT date_bin(INTERVAL '1 minute', time) AS minute, max(usage_user) AS max_user FROM cpu WHERE hostname = 'host_7' AND time >= '${from}' AND time < '${to}' GROUP BY 1 ORDER BY 1`],
  ["mean per hour per host", `SELECT date_bin(INTERVAL '1 hour', time) AS hour, hostname, avg(usage_user) AS mean_user FROM cpu WHERE time >= '${from}' AND time < '${to}' GROUP BY 1, 2 ORDER BY 2, 1`],
  ["last value per host", `SELECT hostname, selector_last(usage_user, time)['value'] AS last_user, selector_last(usage_user, time)['time'] AS time FROM cpu GROUP BY hostname ORDER BY hostname`],
  ["rows over a threshold", `SELECT * FROM cpu WHERE usage_user > 90 AND time >= '${from}' AND time < '${to}'`],
  ["count and mean", `SELECT count(usage_user) AS n, avg(usage_user) AS mean_user FROM cpu`],
  ["5 maxes, 8 hosts", `SELECT date_bin(INTERVAL '1 hour', time) AS hour, max(usage_user), max(usage_system), max(usage_idle), max(usage_nice), max(usage_iowait) FROM cpu WHERE hostname IN ('host_1', 'host_2', 'host_3', 'host_4', 'host_5', 'host_6', 'host_7', 'host_8') AND time >= '${from}' AND time < '${to}' GROUP BY 1 ORDER BY 1`],
  ["gap filling", `SELECT date_bin_gapfill(INTERVAL '10 minutes', time) AS t, hostname, locf(avg(usage_user)) FROM cpu WHERE time >= '${from}' AND time < '${to}' GROUP BY 1, 2`],
  ["CTE and join", `WITH h AS (SELECT hostname, max(usage_user) AS top FROM cpu GROUP BY hostname) SELECT c.hostname, c.usage_user, h.top FROM cpu c JOIN h ON c.hostname = h.hostname WHERE c.usage_user > h.top - 5`]
]
const terms = (n: number, term: (i: number) => string, separator: string) =>
  Array.from({ length: n }, (_, i) => term(i)).join(separator)
const chains: ReadonlyArray<readonly [string, string]> = [
  ...[100, 500, 2_000].map((n) => [`v + v + … (${n} terms)`, `SELECT ${terms(n, () => "v", " + ")} FROM m`] as const),
  ...[100, 500, 2_000, 20_000].map((n) => [`OR chain (${n} terms)`, `SELECT * FROM m WHERE ${terms(n, (i) => `v = ${i}`, " OR ")}`] as const),
  ["IN list (20000 values)", `SELECT * FROM m WHERE v IN (${terms(20_000, (i) => `${i}`, ", ")})`],
  ["IN list (20000 ns integers)", `SELECT * FROM m WHERE v IN (${terms(20_000, (i) => `${1704067200000000000n + BigInt(i)}`, ", ")})`],
  // As deep as DuckDB's parser goes (1,000 levels): the deepest trees our recursive passes see.
  ["CASE nested 950 deep", `SELECT ${"CASE WHEN v > 0 THEN ".repeat(950)}v${" END".repeat(950)} FROM m`],
  ["CTEs nested 950 deep", `${"WITH a AS (".repeat(950)}SELECT * FROM m${") SELECT * FROM a".repeat(950)}`],
  ["UNION of 2000 SELECT *", terms(2_000, () => "SELECT * FROM cpu", " UNION ALL ")]
]

const scratch = mkdtempSync(join(tmpdir(), "strata-bench-plan-"))
const instance = await DuckDBInstance.create(":memory:", { threads: "2" })
const setup = await instance.connect()
for (const statement of dialectSetupSql) await setup.run(statement)
for (const statement of sandboxSql({ allowedDirectory: join(scratch, "answers"), spillDirectory: join(scratch, "spill") })) await setup.run(statement)
const conn = await instance.connect()

const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const plan = (sql: string) =>
  translate({
    conn,
    sql,
    params: {},
    db,
    buffer,
    virtualTable: () => undefined,
    needsMerge: async () => false,
    dialect: (statement) => rewriteDialect(statement, { nowNs: 1704067560000000000n })
  })

const bench = async (name: string, sql: string) => {
  const wall: Array<number> = []
  const busy: Array<number> = []
  const held: Array<number> = []
  let outcome = ""
  // One unmeasured run first: the JIT and the function allow-list warm up.
  for (let i = 0; i <= runs; i++) {
    const delay = monitorEventLoopDelay({ resolution: 1 })
    delay.enable()
    const elu = performance.eventLoopUtilization()
    const t0 = performance.now()
    try {
      const r = await plan(sql)
      outcome = "_tag" in r ? `400: ${r.message.slice(0, 70)}` : `ok, ${r.sql.length} chars`
    } catch (e) {
      outcome = `threw: ${String(e).slice(0, 70)}`
    }
    const ms = performance.now() - t0
    delay.disable()
    if (i === 0) continue
    wall.push(ms)
    busy.push(performance.eventLoopUtilization(elu).active)
    held.push(delay.max / 1e6)
  }
  console.log(
    `${name.padEnd(28)} ${String(sql.length).padStart(9)} B  wall ${median(wall).toFixed(1).padStart(8)} ms  main thread ${median(busy).toFixed(1).padStart(8)} ms  longest hold ${median(held).toFixed(1).padStart(7)} ms  ${outcome}`
  )
}

// The InfluxQL planner (pure TypeScript): parse + planSelect, many times each, microseconds per statement.
const influxql: ReadonlyArray<readonly [string, string]> = [
  ["raw with a time range", `SELECT usage_user, usage_system FROM cpu WHERE hostname = 'host_7' AND time >= '${from}' AND time < '${to}'`],
  ["mean per 10m per host", `SELECT mean(usage_user) FROM cpu WHERE time >= '${from}' AND time < '${to}' GROUP BY time(10m), hostname fill(none)`],
  ["5 maxes, fill(previous)", `SELECT max(usage_user), max(usage_system), max(usage_idle), max(usage_nice), max(usage_iowait) FROM cpu WHERE time >= '${from}' AND time < '${to}' GROUP BY time(1h) fill(previous)`],
  ["selectors with tags", `SELECT last(usage_user), first(usage_idle), percentile(usage_user, 95) FROM cpu GROUP BY hostname`],
  ["derivative of mean", `SELECT derivative(mean(usage_user), 1m) FROM cpu WHERE time >= '${from}' AND time < '${to}' GROUP BY time(5m), hostname`],
  ["subquery", `SELECT max(m) FROM (SELECT mean(usage_user) AS m FROM cpu WHERE time >= '${from}' AND time < '${to}' GROUP BY time(1m), hostname) GROUP BY time(1h)`],
  ["wildcard, regex WHERE", `SELECT * FROM cpu WHERE hostname =~ /host_[1-4]$/ AND time >= '${from}' AND time < '${to}' LIMIT 10`]
]
const benchInfluxQl = (name: string, text: string) => {
  const iterations = 200 * runs
  const once = () => {
    const parsed = parseInfluxQl(text)
    if (isParseError(parsed)) return `parse error: ${parsed.message}`
    const planned = planSelect(parsed[0] as SelectStatement, db, 1704067560000000000n)
    return planned._tag === "PlanFailure" ? `fails: ${planned.message.slice(0, 60)}` : `ok, ${planned.queries.length} query`
  }
  let outcome = once()
  const t0 = performance.now()
  for (let i = 0; i < iterations; i++) outcome = once()
  const us = ((performance.now() - t0) * 1000) / iterations
  console.log(`${name.padEnd(28)} ${String(text.length).padStart(9)} B  ${us.toFixed(1).padStart(8)} µs per parse + plan  ${outcome}`)
}

if (only === undefined || only === "influxql") {
  console.log(`InfluxQL parse + planSelect, mean of ${200 * runs} runs after one warm-up`)
  for (const [name, text] of influxql) benchInfluxQl(name, text)
}
if (only !== "influxql") console.log(`translate, median of ${runs} runs after one warm-up`)
if (only !== "chains" && only !== "influxql") for (const [name, sql] of typical) await bench(name, sql)
if (only !== "typical" && only !== "influxql") for (const [name, sql] of chains) await bench(name, sql)
conn.closeSync()
setup.closeSync()
instance.closeSync()
rmSync(scratch, { recursive: true, force: true })
