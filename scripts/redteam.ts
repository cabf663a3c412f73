/**
 * The red-team suite of issue 9, rerunnable against the current tree: starts real `strata serve` processes on temp
 * data dirs, tries each attack as an attacker would, and prints one line per attempt (what was tried, what came back,
 * how long it took, PASS or FAIL). Exits 1 when any attempt gets through. Removes everything it writes.
 *
 *   npx tsx scripts/redteam.ts
 */
import { spawn, type ChildProcess } from "node:child_process"
import * as NodeFs from "node:fs"
import * as Net from "node:net"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { repoRoot } from "./lib.ts"

const SECRET = "STRATA-REDTEAM-SECRET-7f3a"

interface Server {
  readonly child: ChildProcess
  readonly url: string
  readonly dataDir: string
  readonly output: () => string
}

/**
 * Starts `strata serve` on `dataDir`; resolves with its URL, or with the exit code and output when it refuses to
 * start.
 */
const serve = (
  dataDir: string,
  args: ReadonlyArray<string> = []
): Promise<Server | { exitCode: number | null; output: string }> =>
  new Promise((resolve) => {
    const strata = NodePath.join(repoRoot, "src/bin/strata.mjs")
    const child = spawn(process.execPath, [strata, "serve", "--data-dir", dataDir, "--http-bind", "127.0.0.1:0", ...args], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    let done = false
    const onData = (b: Buffer) => {
      output += b.toString("utf8")
      const m = /listening on (http:\/\/[^\s"]+)/.exec(output)
      if (m !== null && !done) {
        done = true
        resolve({ child, url: m[1]!, dataDir, output: () => output })
      }
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", onData)
    child.once("exit", (code) => {
      if (!done) {
        done = true
        resolve({ exitCode: code, output })
      }
    })
    setTimeout(() => {
      if (!done) {
        done = true
        child.kill("SIGKILL")
        resolve({ exitCode: null, output: output + "\n(did not start within 30 s)" })
      }
    }, 30_000)
  })

const started = (s: Server | { exitCode: number | null; output: string }): Server => {
  if (!("url" in s)) throw new Error(`server did not start (exit ${s.exitCode}):\n${s.output}`)
  return s
}

const stop = async (s: Server) => {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return
  s.child.kill("SIGTERM")
  await new Promise((r) => s.child.once("exit", r))
}

interface Answer {
  readonly status: number
  readonly text: string
  readonly ms: number
}

const call = async (
  base: string,
  method: string,
  path: string,
  token?: string,
  body?: string | Uint8Array,
  headers: Record<string, string> = {}
): Promise<Answer> => {
  const t0 = performance.now()
  const all: Record<string, string> = { ...headers }
  if (token !== undefined) all["authorization"] = `Bearer ${token}`
  try {
    const r = await fetch(new URL(path, base), { method, headers: all, ...(body === undefined ? {} : { body }) })
    const text = await r.text()
    return { status: r.status, text, ms: performance.now() - t0 }
  } catch (e) {
    return { status: 0, text: String(e), ms: performance.now() - t0 }
  }
}

const json = (value: unknown) => JSON.stringify(value)
const sqlQuery = (db: string, q: string, params?: unknown) => `/api/v3/query_sql?${new URLSearchParams({ db, q, format: "json", ...(params === undefined ? {} : { params: json(params) }) })}`
const influxql = (db: string, q: string) => `/query?${new URLSearchParams({ db, q })}`

let failures = 0
const results: Array<string> = []
const report = (finding: string, what: string, ok: boolean, detail: string) => {
  if (!ok) failures++
  const line = `${ok ? "PASS" : "FAIL"}  [${finding}] ${what} — ${detail}`
  results.push(line)
  console.log(line)
}
const brief = (a: Answer) => `${a.status} in ${a.ms.toFixed(0)} ms: ${a.text.slice(0, 140).replace(/\s+/g, " ")}`
const refused = (finding: string, what: string, a: Answer) =>
  report(finding, what, a.status >= 400 && a.status < 500 && !a.text.includes(SECRET), brief(a))

const tempDirs: Array<string> = []
const tempDir = (prefix: string) => {
  const d = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), prefix))
  tempDirs.push(d)
  return d
}

const main = async () => {
  // Files an attacker would like to read: in a temp dir, and inside the server's own data dir.
  const loot = tempDir("strata-redteam-loot-")
  NodeFs.writeFileSync(NodePath.join(loot, "secret.csv"), `a,b\n${SECRET},1\n`)
  NodeFs.writeFileSync(NodePath.join(loot, "secret.json"), json([{ a: SECRET }]))
  const csv = NodePath.join(loot, "secret.csv")
  const jsonFile = NodePath.join(loot, "secret.json")

  const dataDir = tempDir("strata-redteam-data-")
  let server = started(await serve(dataDir, ["--http-request-timeout", "2s"]))
  NodeFs.writeFileSync(NodePath.join(dataDir, "secret.csv"), `a,b\n${SECRET},1\n`)
  const inData = NodePath.join(dataDir, "secret.csv")
  const admin = JSON.parse((await call(server.url, "POST", "/api/v3/configure/token/admin")).text).token as string
  await call(server.url, "POST", "/api/v3/write_lp?db=d1&precision=s", admin, "m,h=a v=1 1700000000")
  await call(server.url, "POST", "/api/v3/write_lp?db=d2&precision=s", admin, `other,h=b secret="${SECRET}" 1700000000`)
  const scoped = JSON.parse(
    (await call(server.url, "POST", "/api/v3/enterprise/configure/token", admin, json({ token_name: "d1-reader", permissions: [{ resource_type: "db", resource_names: ["d1"], actions: ["read", "write"] }] }), {
      "content-type": "application/json"
    })).text
  ).token as string

  // 1. SQL sandbox.
  const escapes: Array<[string, string, unknown?]> = [
    ["CTE shadowing a quoted path", `SELECT * FROM (WITH "${jsonFile}" AS (SELECT 1) SELECT 1) s, "${jsonFile}"`],
    ["CTE shadowing, CTE in a sibling subquery", `SELECT * FROM (WITH "${csv}" AS (SELECT 1 AS x) SELECT * FROM "${csv}") a, (SELECT * FROM "${csv}") b`],
    ["quoted path", `SELECT * FROM "${csv}"`],
    ["string literal path", `SELECT * FROM '${csv}'`],
    ["path under the data dir", `SELECT * FROM "${inData}"`],
    ["glob", `SELECT * FROM "${loot}/*.csv"`],
    ["read_csv_auto", `SELECT * FROM read_csv_auto('${csv}')`],
    ["READ_CSV in capitals", `SELECT * FROM READ_CSV('${csv}')`],
    ["read_text", `SELECT * FROM read_text('${csv}')`],
    ["glob()", `SELECT * FROM glob('${loot}/*')`],
    ["duckdb_tables()", "SELECT * FROM duckdb_tables()"],
    ["duckdb_settings()", "SELECT * FROM duckdb_settings()"],
    ["pragma table function", "SELECT * FROM pragma_database_list()"],
    ["buf schema (other databases' buffers)", "SELECT * FROM buf.t_2"],
    ["three-part name", "SELECT * FROM memory.main.m"],
    ["information_schema of DuckDB via catalog", "SELECT * FROM memory.information_schema.tables"],
    ["nested subquery reading a file", `SELECT * FROM (SELECT * FROM (SELECT * FROM "${csv}") x) y`],
    ["lateral join on a file", `SELECT * FROM m, LATERAL (SELECT * FROM "${csv}") f`],
    ["prepared parameter as a path", "SELECT * FROM read_csv($p)", { p: csv }],
    ["scalar getenv", "SELECT getenv('HOME') AS h"],
    ["scalar current_setting", "SELECT current_setting('allowed_directories') AS s"],
    ["query() table function", "SELECT * FROM query('SELECT 42')"],
    ["COPY to a file", `COPY (SELECT 1) TO '${loot}/out.csv'`],
    ["ATTACH", `ATTACH '${loot}/x.db' AS x`],
    ["SET enable_external_access", "SET enable_external_access = true"],
    ["PRAGMA", "PRAGMA database_list"],
    ["other database's table by name", "SELECT * FROM other"]
  ]
  for (const [what, q, params] of escapes) refused("1 sandbox", what, await call(server.url, "GET", sqlQuery("d1", q, params), scoped))
  refused("1 sandbox", "d1 token queries d2", await call(server.url, "GET", sqlQuery("d2", "SELECT * FROM other"), scoped))
  report("1 sandbox", "no file written by COPY", !NodeFs.existsSync(NodePath.join(loot, "out.csv")), "checked the target path")

  // 2. Poison writes: each refused with 400, and the server still answers and restarts afterwards.
  const poison: Array<[string, string]> = [
    ["keys differing only in case", "cs f=1,F=2 1"],
    ["case-insensitive clash with an existing column", "m,h=a V=2 1700000001"],
    ["NUL in a field key", "cs2 f\u0000x=1 1"],
    ["NUL in a tag key", "cs3,t\u0000x=a f=1 1"],
    ["field named _sid", "cs4 _sid=1 1"],
    ["tag named _sid", "cs5,_sid=a f=1 1"],
    ["field named TIME", "cs6 TIME=1 1"],
    ["tag named TIME", "cs7,TIME=a f=1 1"],
    ["float out of range", "cs8 f=1e400 1"]
  ]
  for (const [what, line] of poison) refused("2 poison", what, await call(server.url, "POST", "/api/v3/write_lp?db=d1&precision=s", admin, line))
  await stop(server)
  const restarted = await serve(dataDir, ["--http-request-timeout", "2s"])
  report("2 poison", "server restarts after the attempts", "url" in restarted, "url" in restarted ? "started" : `exit ${restarted.exitCode}`)
  server = started(restarted)
  const after = await call(server.url, "GET", sqlQuery("d1", "SELECT time, h, v FROM m"), admin)
  report("2 poison", "table m still answers with its row", after.status === 200 && after.text.includes('"v":1'), brief(after))

  // 3. ReDoS.
  await call(server.url, "POST", "/api/v3/write_lp?db=d1&precision=s", admin, `${"a".repeat(31)}! v=1 1700000000`)
  const redos = await call(server.url, "GET", influxql("d1", "SELECT * FROM /^(a+)+$/"), admin)
  report("3 regex", "FROM /^(a+)+$/ over 31 a's and a '!'", redos.status === 200 && redos.ms < 1000, brief(redos))
  const redosShow = await call(server.url, "GET", influxql("d1", "SHOW MEASUREMENTS WITH MEASUREMENT =~ /^(a+)+$/"), admin)
  report("3 regex", "SHOW MEASUREMENTS WITH MEASUREMENT =~ /^(a+)+$/", redosShow.status === 200 && redosShow.ms < 1000, brief(redosShow))
  const redosSql = await call(server.url, "GET", sqlQuery("d1", `SELECT count(*) FROM m WHERE '${"a".repeat(31)}!' ~ '^(a+)+$'`), admin)
  report("3 regex", "SQL ~ '^(a+)+$'", redosSql.status === 200 && redosSql.ms < 1000, brief(redosSql))

  // 4. A line with 100,000 tags, while another client pings.
  const wide = `wide,${Array.from({ length: 100_000 }, (_, i) => `t${i}=v`).join(",")} f=1 1700000000`
  let worstPing = 0
  let pinging = true
  const pinger = (async () => {
    while (pinging) {
      const p = await call(server.url, "GET", "/health", admin)
      worstPing = Math.max(worstPing, p.ms)
      await new Promise((r) => setTimeout(r, 20))
    }
  })()
  const wideAnswer = await call(server.url, "POST", "/api/v3/write_lp?db=d1&precision=s", admin, wide)
  pinging = false
  await pinger
  report("4 linear", "one line with 100,000 tags", wideAnswer.status > 0 && wideAnswer.status < 500 && wideAnswer.ms < 2000, brief(wideAnswer))
  report("4 linear", "health answered meanwhile", worstPing < 500, `slowest /health ${worstPing.toFixed(0)} ms`)

  // 6. Leaks to a scoped token.
  await call(server.url, "GET", sqlQuery("d2", `SELECT '${SECRET}' AS s FROM other`), admin)
  const telemetry = await call(server.url, "GET", "/api/v3/query_sql_telemetry", scoped)
  report("6 scope", "telemetry shows no other database's query", !telemetry.text.includes(SECRET), brief(telemetry))
  const queries = await call(server.url, "GET", sqlQuery("d1", "SELECT query_text FROM system.queries"), scoped)
  report("6 scope", "system.queries shows no other database's query", queries.status === 200 && !queries.text.includes(SECRET), brief(queries))
  const dbs = await call(server.url, "GET", influxql("d1", "SHOW DATABASES"), scoped)
  report("6 scope", "SHOW DATABASES lists only d1", dbs.status === 200 && dbs.text.includes("d1") && !dbs.text.includes("d2"), brief(dbs))

  // 7. The smaller ones.
  const expiry = await call(server.url, "POST", "/api/v3/enterprise/configure/token", admin, '{"token_name":"x","permissions":[{"resource_type":"db","resource_names":["d1"],"actions":["read"]}],"expiry_secs":1e300}', {
    "content-type": "application/json"
  })
  refused("7 small", "expiry_secs 1e300", expiry)
  refused("7 small", "numeric param 1e400", await call(server.url, "POST", "/api/v3/query_sql", admin, '{"db":"d1","q":"SELECT $x AS x","params":{"x":1e400}}', { "content-type": "application/json" }))
  refused("7 small", "10,000 nested brackets in SQL", await call(server.url, "POST", "/api/v3/query_sql", admin, json({ db: "d1", q: `SELECT ${"(".repeat(10_000)}1${")".repeat(10_000)} AS x` }), { "content-type": "application/json" }))
  refused("7 small", "10,000 nested brackets in InfluxQL", await call(server.url, "POST", "/api/v3/query_influxql", admin, json({ db: "d1", q: `SELECT v FROM m WHERE ${"(".repeat(10_000)}v = 1${")".repeat(10_000)}` }), { "content-type": "application/json" }))
  refused("7 small", "10,000 nested arrays in params", await call(server.url, "POST", "/api/v3/query_sql", admin, `{"db":"d1","q":"SELECT 1","params":{"x":${"[".repeat(10_000)}${"]".repeat(10_000)}}}`, { "content-type": "application/json" }))
  await call(server.url, "GET", sqlQuery("d1", "SELECT 'a\u0000b' AS x"), admin)
  const afterNul = await call(server.url, "GET", sqlQuery("d1", "SELECT count(*) AS n FROM system.queries"), admin)
  report("7 small", "system.queries after a NUL in query text", afterNul.status === 200, brief(afterNul))
  const slow = await slowBody(server.url, admin)
  report("7 small", "a body sent one byte a second is cut off", slow.status === 408 && slow.closed && slow.ms < 6000, `${slow.status} after ${slow.ms.toFixed(0)} ms, closed: ${slow.closed}`)

  // 5. Corruption: a damaged payload segment and an emptied log stop the start.
  const big = Array.from({ length: 4000 }, (_, i) => `seg,h=h${i % 10} v=${i} ${1700000000 + i}`).join("\n")
  await call(server.url, "POST", "/api/v3/write_lp?db=d1&precision=s", admin, big)
  await stop(server)
  const segments = NodeFs.existsSync(NodePath.join(dataDir, "payloads")) ? NodeFs.readdirSync(NodePath.join(dataDir, "payloads")).filter((f) => f.endsWith(".seg")) : []
  if (segments.length === 0) report("5 integrity", "a large write lands in a payload segment", false, "no segment file found")
  else {
    const file = NodePath.join(dataDir, "payloads", segments[segments.length - 1]!)
    const bytes = NodeFs.readFileSync(file)
    const at = bytes.indexOf(Buffer.from("seg,h=h5 v=2005"))
    if (at >= 0) {
      bytes[at + 13] = bytes[at + 13]! ^ 0x01
      NodeFs.writeFileSync(file, bytes)
    }
    const damaged = await serve(dataDir)
    const refusedStart = !("url" in damaged)
    const damagedOutput = "url" in damaged ? damaged.output() : damaged.output
    report("5 integrity", "a flipped bit in a segment stops the start", refusedStart && /seq/i.test(damagedOutput) && damagedOutput.includes(segments[segments.length - 1]!), refusedStart ? `exit ${(damaged as { exitCode: number | null }).exitCode}: ${lastLines(damagedOutput)}` : "it started")
    if ("url" in damaged) await stop(damaged)
    const recovered = await serve(dataDir, ["--recover"])
    report("5 integrity", "--recover starts and reports the loss", "url" in recovered, lastLines("url" in recovered ? recovered.output() : recovered.output))
    if ("url" in recovered) {
      const m = await call(recovered.url, "GET", sqlQuery("d1", "SELECT count(*) AS n FROM m"), admin)
      report("5 integrity", "other rows survive --recover", m.status === 200 && m.text.includes('"n":1'), brief(m))
      await stop(recovered)
    }
  }
  NodeFs.truncateSync(NodePath.join(dataDir, "log.sqlite"), 0)
  for (const f of ["log.sqlite-wal", "log.sqlite-shm"]) NodeFs.rmSync(NodePath.join(dataDir, f), { force: true })
  const emptied = await serve(dataDir)
  report("5 integrity", "a log truncated to 0 bytes beside segments stops the start", !("url" in emptied), "url" in emptied ? "it started (tokens gone, bootstrap open)" : lastLines(emptied.output))
  if ("url" in emptied) await stop(emptied)

  console.log(`\n${results.length - failures} held, ${failures} got through`)
}

const lastLines = (text: string) => text.trim().split("\n").slice(-2).join(" | ").slice(0, 240)

/** Sends a write whose body trickles in one byte a second; answers the status the server sent and whether it closed. */
const slowBody = (base: string, token: string) =>
  new Promise<{ status: number; closed: boolean; ms: number }>((resolve) => {
    const url = new URL(base)
    const t0 = performance.now()
    const socket = Net.connect(Number(url.port), url.hostname)
    let answer = ""
    let timer: NodeJS.Timeout | undefined
    socket.on("connect", () => {
      socket.write(`POST /api/v3/write_lp?db=d1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Length: 100\r\n\r\n`)
      timer = setInterval(() => socket.write("m"), 1000)
    })
    socket.on("data", (b) => (answer += b.toString("utf8")))
    const finish = (closed: boolean) => {
      clearInterval(timer)
      socket.destroy()
      resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(answer)?.[1] ?? 0), closed, ms: performance.now() - t0 })
    }
    socket.on("close", () => finish(true))
    socket.on("error", () => finish(true))
    setTimeout(() => finish(false), 15_000)
  })

main()
  .catch((e) => {
    console.error(e)
    failures++
  })
  .finally(() => {
    for (const d of tempDirs) NodeFs.rmSync(d, { recursive: true, force: true })
    process.exit(failures === 0 ? 0 : 1)
  })
