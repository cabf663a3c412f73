/**
 * ClickHouse for the query benchmark: Debian's `clickhouse-server` (installed with apt-get when missing) started on a
 * temp dir and a free port, the cpu set loaded into a MergeTree ordered by (hostname, time), and the five queries in
 * ClickHouse's dialect. Times are whole seconds (the 18.x server has no DateTime64); the set is every 10 s.
 */
import { spawn, spawnSync } from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import * as NodeReadline from "node:readline"

const TAGS = ["hostname", "region", "datacenter", "rack", "os", "arch", "team", "service", "service_version", "service_environment"]
const FIELDS = ["usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"]

const install = () => {
  if (spawnSync("sh", ["-c", "command -v clickhouse-server"]).status === 0) return
  const r = spawnSync(
    "sh",
    ["-c", "DEBIAN_FRONTEND=noninteractive apt-get install -y clickhouse-server >/dev/null 2>&1 || (apt-get update >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y clickhouse-server >/dev/null 2>&1)"],
    { stdio: "inherit" }
  )
  if (r.status !== 0) throw new Error("could not install clickhouse-server with apt-get")
}

/** Starts ClickHouse with its HTTP interface on `port` (and its native protocol on port + 1), data in a temp dir. */
export const startClickHouse = async (port: number) => {
  install()
  const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "clickhouse-"))
  NodeFs.writeFileSync(
    NodePath.join(dir, "users.xml"),
    `<yandex><profiles><default></default></profiles><quotas><default></default></quotas>
<users><default><password></password><networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota></default></users></yandex>\n`
  )
  NodeFs.writeFileSync(
    NodePath.join(dir, "config.xml"),
    `<yandex>
  <logger><level>error</level><log>${dir}/server.log</log><errorlog>${dir}/error.log</errorlog></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>${port}</http_port>
  <tcp_port>${port + 1}</tcp_port>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>1073741824</mark_cache_size>
</yandex>\n`
  )
  const child = spawn("clickhouse-server", [`--config-file=${NodePath.join(dir, "config.xml")}`], { stdio: ["ignore", "ignore", "ignore"] })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  for (;;) {
    const ok = await fetch(`${url}/ping`).then((r) => r.ok, () => false)
    if (ok) break
    if (child.exitCode !== null || Date.now() > deadline) {
      const log = NodeFs.existsSync(NodePath.join(dir, "error.log")) ? NodeFs.readFileSync(NodePath.join(dir, "error.log"), "utf8") : ""
      throw new Error(`clickhouse-server did not start: ${log.slice(-1000)}`)
    }
    await new Promise((r) => setTimeout(r, 200))
  }
  return { child, dir, url }
}

/** Runs one statement over ClickHouse's HTTP interface; fails on a non-200. */
export const clickhouseQuery = async (url: string, sql: string, body?: string) => {
  const res = await fetch(`${url}/?${new URLSearchParams({ query: sql })}`, { method: "POST", ...(body === undefined ? {} : { body }) })
  const text = await res.text()
  if (res.status !== 200) throw new Error(`ClickHouse ${res.status}: ${text.slice(0, 500)}`)
  return text
}

/** Loads the cpu set's line protocol into table `cpu` (a MergeTree ordered by (hostname, time)); returns rows. */
export const loadClickHouse = async (url: string, lpFile: string) => {
  const columns = ["time DateTime", ...TAGS.map((t) => `${t} String`), ...FIELDS.map((f) => `${f} Float64`)]
  await clickhouseQuery(url, "DROP TABLE IF EXISTS cpu")
  await clickhouseQuery(url, `CREATE TABLE cpu (${columns.join(", ")}) ENGINE = MergeTree() ORDER BY (hostname, time)`)
  let rows: Array<string> = []
  let total = 0
  const flush = async () => {
    if (rows.length === 0) return
    await clickhouseQuery(url, "INSERT INTO cpu FORMAT TabSeparated", rows.join("\n") + "\n")
    total += rows.length
    rows = []
  }
  const lines = NodeReadline.createInterface({ input: NodeFs.createReadStream(lpFile), crlfDelay: Infinity })
  for await (const line of lines) {
    if (line === "" || line.startsWith("#")) continue
    // cpu,tag=v,... field=v,... <ns>
    const [series, fields, ns] = line.split(" ")
    const tags = new Map(series!.split(",").slice(1).map((kv) => kv.split("=") as [string, string]))
    const values = new Map(fields!.split(",").map((kv) => kv.split("=") as [string, string]))
    const seconds = Number(BigInt(ns!) / 1_000_000_000n)
    rows.push([String(seconds), ...TAGS.map((t) => tags.get(t) ?? ""), ...FIELDS.map((f) => values.get(f) ?? "0")].join("\t"))
    if (rows.length >= 100_000) await flush()
  }
  await flush()
  await clickhouseQuery(url, "OPTIMIZE TABLE cpu FINAL")
  return total
}

const at = (iso: string) => `toDateTime('${iso.slice(0, 19).replace("T", " ")}')`

/** The benchmark's five queries in ClickHouse's dialect, answered as JSONEachRow, for a [from, to) range. */
export const clickhouseQueries = (from: string, to: string): ReadonlyArray<string> => [
  `SELECT toStartOfMinute(time) AS minute, max(usage_user) AS max_user FROM cpu WHERE hostname = 'host_7' AND time >= ${at(from)} AND time < ${at(to)} GROUP BY minute ORDER BY minute FORMAT JSONEachRow`,
  `SELECT toStartOfHour(time) AS hour, hostname, avg(usage_user) AS mean_user FROM cpu WHERE time >= ${at(from)} AND time < ${at(to)} GROUP BY hour, hostname ORDER BY hostname, hour FORMAT JSONEachRow`,
  `SELECT hostname, argMax(usage_user, time) AS last_user, max(time) AS last_time FROM cpu GROUP BY hostname ORDER BY hostname FORMAT JSONEachRow`,
  `SELECT * FROM cpu WHERE usage_user > 90 AND time >= ${at(from)} AND time < ${at(to)} FORMAT JSONEachRow`,
  `SELECT count(usage_user) AS n, avg(usage_user) AS mean_user FROM cpu FORMAT JSONEachRow`
]

/** The URL that runs `sql` with GET (so a benchmark can time it like the other servers' queries). */
export const clickhouseQueryUrl = (url: string, sql: string) => `${url}/?${new URLSearchParams({ query: sql })}`
