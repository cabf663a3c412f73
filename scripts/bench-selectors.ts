/**
 * Selector benchmark: min/max selectors (the value and the time of the point they pick) over the 100-host x 24 h cpu
 * set (864,000 rows, 10 tags, 10 fields of two decimals, so values tie) in an in-process DuckDB set up as the server
 * sets it up. Runs each query as it was planned before and as it is planned
 * now, back to back, and prints each one's CPU time (process user + system: DuckDB's threads run in-process) and
 * elapsed time, the median of the runs, and whether the two answers are equal.
 * With `--servers BEFORE,AFTER` (two checkouts of the repo, e.g. from `git archive`, with node_modules linked) it
 * instead starts a server from each, loads the 100-host x 24 h cpu set into both write buffers and runs the SQL and
 * InfluxQL selector queries over HTTP against one then the other, printing each server's CPU time per query (from
 * /proc, over 10 runs) and the median elapsed time of 5. With `--persisted` the servers persist and compact the rows
 * into Parquet first (a 1 s persist interval and compaction delay, waited for through `system.parquet_files`).
 * usage: npx tsx scripts/bench-selectors.ts [--runs N] [--print-sql] [--servers BEFORE,AFTER [--persisted]]
 */
import { DuckDBInstance } from "@duckdb/node-api"
import { spawn } from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import type { SelectStatement } from "../src/influxql/ast.ts"
import { isParseError, parseInfluxQl } from "../src/influxql/parser.ts"
import { planSelect } from "../src/influxql/planner.ts"
import { selectorPick, selectorTimeSql } from "../src/influxql/select/aggregates.ts"
import { dialectSetupSql } from "../src/query/dialect/index.ts"
import { catalogDatabase, catalogTable } from "./catalogFixture.ts"
import { cpuData, cpuSecondsOf, load, stop, waitCompacted } from "./lib.ts"

const args = process.argv.slice(2)
const runs = Number(args[args.indexOf("--runs") + 1] ?? 0) || 7
const printSql = args.includes("--print-sql")
const servers = args.includes("--servers") ? args[args.indexOf("--servers") + 1]!.split(",") : undefined
const persisted = args.includes("--persisted")

const tags = ["hostname", "region", "datacenter", "rack", "os", "arch", "team", "service", "service_version", "service_environment"]
const fields = ["usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"]
const cpu = catalogTable(1, "cpu", tags, fields)
const db = catalogDatabase("bench", [cpu])

/** A server started from the checkout at `root`, everything kept in the write buffer. */
const startAt = async (root: string, port: number) => {
  const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "strata-bench-selectors-"))
  const storage = persisted
    ? ["--persist-interval", "1s", "--compaction-delay", "1s"]
    : ["--persist-log-threshold", "1TiB", "--write-stall-threshold", "0"]
  const serve = ["serve", "--data-dir", dir, "--http-bind", `127.0.0.1:${port}`, "--without-auth", "--log-filter", "warn"]
  const child = spawn("node", [NodePath.join(root, "src/bin/strata.mjs"), ...serve, ...storage], { stdio: ["ignore", "inherit", "inherit"] })
  const url = `http://127.0.0.1:${port}`
  for (let tries = 0; ; tries++) {
    const up = await fetch(`${url}/health`).then((r) => r.status < 500, () => false)
    if (up) break
    if (tries > 300) throw new Error(`the server from ${root} did not come up`)
    await new Promise((r) => setTimeout(r, 200))
  }
  return { child, dir, url }
}

const overHttp = async (roots: ReadonlyArray<string>) => {
  const file = cpuData(100, 24)
  const started: Array<Awaited<ReturnType<typeof startAt>>> = []
  try {
    for (const [i, root] of roots.entries()) {
      const server = await startAt(root, 18291 + i)
      started.push(server)
      const loaded = load(file, `${server.url}/api/v3/write_lp?db=bench&precision=ns`)
      console.log(`${root}: loaded ${loaded.lines.toLocaleString()} lines in ${loaded.seconds}s`)
      if (persisted) await waitCompacted(server.url, loaded.lines)
    }
    const queries: ReadonlyArray<readonly [string, string]> = [
      ["sql", "SELECT hostname, selector_max(usage_user, time) FROM cpu GROUP BY hostname ORDER BY hostname"],
      ["sql", "SELECT hostname, selector_min(usage_user, time) FROM cpu GROUP BY hostname ORDER BY hostname"],
      ["influxql", "SELECT max(usage_user) FROM cpu GROUP BY hostname"],
      ["influxql", "SELECT min(usage_user) FROM cpu"],
      ["influxql", "SELECT top(usage_user, 3) FROM cpu GROUP BY hostname"]
    ]
    console.log(`${persisted ? "persisted" : "buffer"}: server CPU ms per query (10 runs, /proc), median ms of 5, ${roots.join(" | ")}`)
    for (const [language, q] of queries) {
      const figures: Array<string> = []
      const answers = new Set<string>()
      for (const server of started) {
        const url = `${server.url}/api/v3/query_${language}?${new URLSearchParams({ db: "bench", q, format: "json" })}`
        const once = async () => {
          const t = performance.now()
          const res = await fetch(url)
          const body = await res.text()
          if (res.status !== 200) throw new Error(`${res.status}: ${body.slice(0, 300)}`)
          return { ms: performance.now() - t, body }
        }
        answers.add((await once()).body)
        const elapsed: Array<number> = []
        for (let i = 0; i < 5; i++) elapsed.push((await once()).ms)
        const cpuBefore = cpuSecondsOf(server.child.pid!)
        for (let i = 0; i < 10; i++) await once()
        const cpuMs = ((cpuSecondsOf(server.child.pid!) - cpuBefore) / 10) * 1000
        figures.push(`cpu ${cpuMs.toFixed(1).padStart(6)} ms, ${elapsed.sort((a, b) => a - b)[2]!.toFixed(1).padStart(6)} ms`)
      }
      console.log(`${language.padEnd(8)} ${q.padEnd(76)} ${figures.join(" | ")}  same answer: ${answers.size === 1}`)
    }
  } finally {
    for (const server of started) await stop(server)
  }
}

if (servers !== undefined) {
  await overHttp(servers)
  process.exit(0)
}

const instance = await DuckDBInstance.create(":memory:", { threads: "2" })
const conn = await instance.connect()
for (const statement of dialectSetupSql) await conn.run(statement)
// The 100-host x 24 h cpu set (scripts/lib.ts cpuData), its line protocol split by DuckDB's CSV reader.
const hosts = 100
const file = cpuData(hosts, 24)
const lp = `read_csv('${file}', delim = ' ', header = false, quote = '', escape = '', columns = {'k': 'VARCHAR', 'f': 'VARCHAR', 't': 'BIGINT'})`
const tagSql = tags.map((t) => `regexp_extract(k, ',${t}=([^,]*)', 1) AS ${t}`)
const fieldSql = fields.map((f) => `CAST(regexp_extract(f, '(^|,)${f}=([^,]*)', 2) AS DOUBLE) AS ${f}`)
await conn.run(`CREATE TABLE cpu AS SELECT ${tagSql.join(", ")}, make_timestamp_ns(t) AS time, ${fieldSql.join(", ")} FROM ${lp}`)
const rows = Number((await conn.runAndReadAll("SELECT count(*) FROM cpu")).getRows()[0]![0])

const influxql = (text: string): string => {
  const parsed = parseInfluxQl(text)
  if (isParseError(parsed)) throw new Error(parsed.message)
  const nowNs = 1704240000000000000n
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

/** The InfluxQL plan as it is, and as it was: a lone selector's time ordered by a key with the series' tags. */
const influxqlBoth = (text: string, name: string, field: string): { before: string; after: string } => {
  const seriesKey = `{${tags.map((_, i) => `'k${i}': __sk${i}`).join(", ")}}`
  const after = influxql(text)
  const arg = `"${field}"`
  const pick = selectorPick(name, arg, { key: seriesKey, aux: false, byTime: false })!
  const old = `${pick.fn}(epoch_ns("time"), ${pick.key}) FILTER (WHERE ${arg} IS NOT NULL)`
  // min() and max() are planned in two steps (extremeWithTimeSql); before, in one, with the time by that key.
  const twoStep = new RegExp(
    String.raw`WITH __extremes AS \(SELECT ((?:__g\d+, )*)__b, ((?:min|max)\("[^"]+"\)) AS __a0 FROM \((.+?)\) GROUP BY [^)]+\) ` +
      String.raw`SELECT .+? FROM __extremes e LEFT JOIN \(SELECT .+? FROM \(\3\) p JOIN __extremes e ON .+? GROUP BY ALL\) t ` +
      String.raw`ON (?:t\.\w+ = e\.\w+(?: AND )?)+`
  )
  const found = twoStep.exec(after)
  if (found !== null) {
    const [all, groups, extreme, src] = found as unknown as [string, string, string, string]
    const keys = `${groups}__b`
    return { before: after.replace(all, `SELECT ${groups}${old} AS __sel, __b AS __bucket, ${extreme} AS __a0 FROM (${src}) GROUP BY ${keys}`), after }
  }
  const now = selectorTimeSql(name, arg)!
  if (!after.includes(now)) throw new Error(`no selector time in ${after}`)
  return { before: after.replace(now, old), after }
}
/** top()/bottom() as planned before: the window over every point, without the bound of each partition's n-th value. */
const pointsBoth = (text: string): { before: string; after: string } => {
  const after = influxql(text)
  const candidates = /SELECT p\.\* FROM \((.*?)\) p JOIN \(.*?\) b ON .*? WHERE b\.__bound IS NULL OR p\.__x [<>]= b\.__bound/
  if (!candidates.test(after)) throw new Error(`no bound in ${after}`)
  return { before: after.replace(candidates, "$1"), after }
}
/**
 * SQL selectors: the macro (before) against the exact two-level plan the macro cannot express (after): the extreme per
 * group, then the earliest time among the rows that equal it. Shows what a rewrite at the query level would gain.
 */
const sqlBoth = (fn: "min" | "max", group: boolean) => {
  const by = group ? "hostname, " : ""
  const key = group ? "hostname" : "NULL"
  return {
    before: `SELECT ${by}strata_selector_${fn}(usage_user, time) AS s FROM cpu${group ? " GROUP BY hostname ORDER BY hostname" : ""}`,
    after: `WITH e AS (SELECT ${key} AS k, ${fn}(usage_user) AS x FROM cpu GROUP BY ALL)
      SELECT ${group ? "e.k AS hostname, " : ""}struct_pack("value" := any_value(e.x), "time" := min(c.time)) AS s
      FROM e LEFT JOIN cpu c ON ${key === "NULL" ? "" : "c.hostname = e.k AND "}c.usage_user = e.x GROUP BY e.k${group ? " ORDER BY e.k" : ""}`
  }
}

const cases: ReadonlyArray<readonly [string, { before: string; after: string }]> = [
  ["SQL selector_max per host *", sqlBoth("max", true)],
  ["SQL selector_min per host *", sqlBoth("min", true)],
  ["SQL selector_max, all rows *", sqlBoth("max", false)],
  ["InfluxQL max() per host", influxqlBoth(`SELECT max(usage_user) FROM cpu GROUP BY hostname`, "max", "usage_user")],
  ["InfluxQL min() per host", influxqlBoth(`SELECT min(usage_user) FROM cpu GROUP BY hostname`, "min", "usage_user")],
  ["InfluxQL max(), all series", influxqlBoth(`SELECT max(usage_user) FROM cpu`, "max", "usage_user")],
  ["InfluxQL top(x, 3) per host", pointsBoth(`SELECT top(usage_user, 3) FROM cpu GROUP BY hostname`)],
  ["InfluxQL bottom(x, 5)", pointsBoth(`SELECT bottom(usage_user, 5) FROM cpu`)],
  ["InfluxQL top(x, hostname, 3)", pointsBoth(`SELECT top(usage_user, hostname, 3) FROM cpu`)]
]

console.log(`${rows} rows, ${hosts} hosts; CPU ms (user + system, DuckDB's threads included) and elapsed ms, median of ${runs}`)
console.log("* before: the selector macro; after: a two-level plan (the extreme, then the earliest time equal to it)")
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
