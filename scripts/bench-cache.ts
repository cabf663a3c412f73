/**
 * Last-value cache benchmark (issue 13, item 5): "latest usage per host" over the cpu set with many hosts (1,000 by
 * default, 2 hours every 10 s), answered by `last_cache()`, by the plain SQL it replaces, and by InfluxDB 1.x's
 * `SELECT last(usage_user) FROM cpu GROUP BY hostname` on the same data. Each is the median of 31 runs after a warm-up,
 * the whole answer read by the client, with the server's CPU time per query beside it; three interleaved rounds, the
 * best round kept. Prints the three times and the ratios (targets: plain SQL ≥ 5× last_cache(), and last_cache()
 * faster than InfluxDB 1.x).
 * usage: npx tsx scripts/bench-cache.ts [--hosts N] [--hours N] [--runs N] [--skip-influx]
 */
import * as NodeFs from "node:fs"
import { cpuData, load, startInfluxV1, startStrata, stop } from "./lib.ts"

const args = process.argv.slice(2)
const option = (name: string, fallback: number) =>
  args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback
const hosts = option("--hosts", 1000)
const hours = option("--hours", 2)
const file = cpuData(hosts, hours)

const timed = async (url: string, init?: RequestInit) => {
  const started = performance.now()
  const res = await fetch(url, init)
  const body = await res.arrayBuffer()
  if (res.status !== 200) throw new Error(`${res.status} from ${url}: ${new TextDecoder().decode(body).slice(0, 300)}`)
  return performance.now() - started
}

/** A process's CPU time (user + system) in ms, from /proc: steady where elapsed times are not, on a busy machine. */
const cpuMsOf = (pid: number) => {
  const fields = NodeFs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return ((Number(fields[11]) + Number(fields[12])) / 100) * 1000
}

/** The median elapsed time of `n` runs after a warm-up, and the server's mean CPU time per run over them. */
const median = async (run: () => Promise<number>, pid: number, n = 9) => {
  await run()
  const times: Array<number> = []
  const cpuBefore = cpuMsOf(pid)
  for (let i = 0; i < n; i++) times.push(await run())
  const cpuMs = (cpuMsOf(pid) - cpuBefore) / n
  return { ms: times.sort((a, b) => a - b)[Math.floor(n / 2)]!, cpuMs }
}

const sqlUrl = (base: string, q: string) => `${base}/api/v3/query_sql?${new URLSearchParams({ db: "bench", q, format: "json" })}`

/** Where a query's time goes in the server: the medians of system.queries' durations over its recorded runs. */
const serverSplit = async (base: string, q: string) => {
  const ms = (column: string) => `round(median(epoch_us(${column})) / 1000, 2) AS ${column}`
  const split = `SELECT ${["plan_duration", "permit_duration", "execute_duration", "end2end_duration"].map(ms).join(", ")} ` +
    `FROM system.queries WHERE query_text = '${q.replace(/'/g, "''")}' AND success`
  const [row] = (await (await fetch(sqlUrl(base, split))).json()) as Array<Record<string, number>>
  return `plan ${row!["plan_duration"]} ms, permit ${row!["permit_duration"]} ms, execute ${row!["execute_duration"]} ms, ` +
    `end to end ${row!["end2end_duration"]} ms (medians)`
}

const runs = option("--runs", 31)
const strata = await startStrata(18185)
const pid = strata.child.pid!
let cache = { ms: 0, cpuMs: 0 }
let plain = { ms: 0, cpuMs: 0 }
const figure = (f: { ms: number; cpuMs: number }) => `${f.ms.toFixed(1).padStart(7)} ms  (server CPU ${f.cpuMs.toFixed(1).padStart(5)} ms)`
try {
  const loaded = load(file, `${strata.url}/api/v3/write_lp?db=bench&precision=ns`)
  console.log(`${loaded.lines.toLocaleString()} lines of ${hosts} hosts x ${hours} h loaded; median of ${runs} runs each`)
  const created = await fetch(`${strata.url}/api/v3/configure/last_cache`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ db: "bench", table: "cpu", name: "by_host", key_columns: ["hostname"], value_columns: ["usage_user"], ttl: 86400 * 365 * 10 })
  })
  if (created.status !== 201) throw new Error(`last cache: ${created.status} ${await created.text()}`)
  const cacheSql = "SELECT hostname, usage_user, time FROM last_cache('cpu', 'by_host') ORDER BY hostname"
  const plainSql =
    "SELECT hostname, selector_last(usage_user, time)['value'] AS usage_user, max(time) AS time FROM cpu GROUP BY hostname ORDER BY hostname"
  const [a, b] = await Promise.all([
    fetch(sqlUrl(strata.url, cacheSql)).then((r) => r.json()),
    fetch(sqlUrl(strata.url, plainSql)).then((r) => r.json())
  ])
  if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error("last_cache() and the plain SQL answer differently")
  // Interleaved rounds, so both see the same load on a shared machine.
  const cacheRounds: Array<{ ms: number; cpuMs: number }> = []
  const plainRounds: Array<{ ms: number; cpuMs: number }> = []
  const oneWroteRounds: Array<{ ms: number; cpuMs: number }> = []
  const allWroteRounds: Array<{ ms: number; cpuMs: number }> = []
  // Dashboards read while hosts write: the cache query timed right after one host's line, or every host's, was written
  // (the write itself not timed; the CPU figure includes it).
  // The same query under other aliases, so system.queries tells the three apart.
  const afterOneSql = cacheSql.replace("'by_host')", "'by_host') AS after_one")
  const afterAllSql = cacheSql.replace("'by_host')", "'by_host') AS after_all")
  let tick = 0
  const writeHosts = async (n: number) => {
    tick++
    const base = 1_704_067_200_000_000_000n + BigInt(hours * 3600 + tick) * 1_000_000_000n
    const lines = Array.from({ length: n }, (_, i) => `cpu,hostname=host_${(tick * 7 + i) % hosts} usage_user=${(tick + i) % 100} ${base}`)
    const res = await fetch(`${strata.url}/api/v3/write_lp?db=bench&precision=ns`, { method: "POST", body: lines.join("\n") })
    if (res.status !== 204) throw new Error(`write: ${res.status} ${await res.text()}`)
  }
  for (let round = 0; round < 3; round++) {
    cacheRounds.push(await median(() => timed(sqlUrl(strata.url, cacheSql)), pid, runs))
    plainRounds.push(await median(() => timed(sqlUrl(strata.url, plainSql)), pid, runs))
    oneWroteRounds.push(await median(() => writeHosts(1).then(() => timed(sqlUrl(strata.url, afterOneSql))), pid, runs))
    allWroteRounds.push(
      await median(() => writeHosts(hosts).then(() => timed(sqlUrl(strata.url, afterAllSql))), pid, runs)
    )
  }
  const [a2, b2] = await Promise.all([
    fetch(sqlUrl(strata.url, cacheSql)).then((r) => r.json()),
    fetch(sqlUrl(strata.url, plainSql)).then((r) => r.json())
  ])
  if (JSON.stringify(a2) !== JSON.stringify(b2)) throw new Error("after the writes, last_cache() and the plain SQL answer differently")
  const best = (xs: Array<{ ms: number; cpuMs: number }>) => ({
    ms: Math.min(...xs.map((x) => x.ms)),
    cpuMs: Math.min(...xs.map((x) => x.cpuMs))
  })
  cache = best(cacheRounds)
  plain = best(plainRounds)
  console.log(`last_cache():                 ${figure(cache)}`)
  console.log(`  server side: ${await serverSplit(strata.url, cacheSql)}`)
  console.log(`  after 1 host wrote:         ${figure(best(oneWroteRounds))} (CPU with the write)`)
  console.log(`  server side: ${await serverSplit(strata.url, afterOneSql)}`)
  console.log(`  after every host wrote:     ${figure(best(allWroteRounds))} (CPU with the write)`)
  console.log(`  server side: ${await serverSplit(strata.url, afterAllSql)}`)
  console.log(`plain SQL (selector_last):    ${figure(plain)}`)
  console.log(`  server side: ${await serverSplit(strata.url, plainSql)}`)
  console.log(`  plain SQL / last_cache():   ${(plain.ms / cache.ms).toFixed(1)}x elapsed, ${(plain.cpuMs / cache.cpuMs).toFixed(1)}x server CPU (target ≥ 5x)`)
} finally {
  await stop(strata)
}

if (!args.includes("--skip-influx")) {
  const influx = await startInfluxV1(18087, "bench")
  try {
    load(file, `${influx.url}/write?db=bench&precision=ns`)
    const q = `${influx.url}/query?${new URLSearchParams({ db: "bench", q: "SELECT last(usage_user) FROM cpu GROUP BY hostname" })}`
    const influxRounds: Array<{ ms: number; cpuMs: number }> = []
    for (let round = 0; round < 3; round++) influxRounds.push(await median(() => timed(q), influx.child.pid!, runs))
    const influx1 = {
      ms: Math.min(...influxRounds.map((x) => x.ms)),
      cpuMs: Math.min(...influxRounds.map((x) => x.cpuMs))
    }
    console.log(`InfluxDB 1.x last() by host:  ${figure(influx1)}`)
    const verdict = cache.ms < influx1.ms ? "faster (target met)" : "slower (target: faster)"
    console.log(`  InfluxDB 1.x / last_cache(): ${(influx1.ms / cache.ms).toFixed(1)}x elapsed: last_cache() ${verdict}`)
  } finally {
    await stop(influx)
  }
}
