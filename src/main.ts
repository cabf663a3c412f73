import { Effect, Either, Layer, Logger } from "effect"
import { resolveServeConfig, serveFlags } from "./config.ts"

// Each command loads only what it runs: the server (HTTP, DuckDB, …) takes seconds to import under tsx, and
// `replay`, `help` and `version` need none of it.

const usage = `strata — a time-series database server speaking the InfluxDB 3 Enterprise HTTP API

usage:
  strata serve [flags]                         start the server (defaults: ./.strata, 127.0.0.1:8181)
  strata replay --data-dir D [--until-seq N] [--json] [--recover]
                                               print the event log and the catalog projected from it
                                               (--recover: print damaged events and go on past them)
  strata export --data-dir D --db X --table T --out DIR [--windows 2024-01-01,…]
                                               copy a table's compacted windows' Parquet files from a
                                               (stopped) server's data dir into DIR/<table>/<YYYY-MM-DD>/
  strata import --database D --table T [PATH…] [--uri URI] [--format F] [--columns c:type,…]
               [--on-error abort|skip_row] [--create-table] [--source-opt k=v,…] [--host URL] [--token T] [--json]
                                               upload Parquet files or directories (one job each), or start
                                               a job from a URI (file://, http(s)://, s3://), and follow it
  strata backup create [--type full|incremental] [--name N] [--force] [--parent P] [--no-wait]
  strata backup list | show --name N | delete --name N | cancel --name N   [--host URL] [--token T] [--json]
  strata backup verify --name N [--backup-dir D | --data-dir D] [--json]
                                               start and follow backups (progress bar on a TTY); verify
                                               re-checks every checksum of a backup on disk, no server needed
  strata restore create --backup-name N [--no-wait] | list | show --id I | cancel --id I   [--host URL] [--token T] [--json]
  strata help | --help                         this text
  strata version | --version

serve flags (each also settable by environment):
${serveFlags.map((f) => `  --${f.flag.padEnd(36)}${f.describe} [${f.env.join(", ")}] (default: ${f.fallback || "none"})`).join("\n")}
`

/** Splits `--name value`, `--name=value` and boolean `--name` into a record. */
export const parseFlags = (
  args: ReadonlyArray<string>,
  booleans: ReadonlyArray<string>
): Either.Either<Record<string, string | true>, string> => {
  const out: Record<string, string | true> = {}
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (!arg.startsWith("--")) return Either.left(`unexpected argument '${arg}'`)
    const eq = arg.indexOf("=")
    const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2)
    if (eq > 0) out[name] = arg.slice(eq + 1)
    else if (booleans.includes(name)) out[name] = true
    else {
      const value = args[i + 1]
      if (value === undefined) return Either.left(`flag --${name} needs a value`)
      out[name] = value
      i++
    }
  }
  return Either.right(out)
}

const fail = (message: string): never => {
  process.stderr.write(`error: ${message}\n\n${usage}`)
  process.exit(2)
}

const serve = async (args: ReadonlyArray<string>) => {
  const flags = Either.getOrElse(parseFlags(args, serveFlags.filter((f) => f.boolean).map((f) => f.flag)), fail)
  const config = Either.getOrElse(resolveServeConfig(flags, process.env), (e) => fail(e.message))
  const [HttpServer, NodeRuntime, { layerServer }, { EventLog }, { damageSummary }] = await Promise.all([
    import("@effect/platform/HttpServer"),
    import("@effect/platform-node/NodeRuntime"),
    import("./server.ts"),
    import("./log/EventLog.ts"),
    import("./log/integrity.ts")
  ])
  const announce = Layer.effectDiscard(
    Effect.gen(function* () {
      const server = yield* HttpServer.HttpServer
      const address = server.address
      const where = address._tag === "TcpAddress" ? `http://${address.hostname}:${address.port}` : address.path
      yield* Effect.log(`strata listening on ${where} (data dir ${config.dataDir}, node ${config.nodeId}${config.withoutAuth ? ", auth off" : ""})`)
      // What --recover skipped, once more at the end of start-up (each was also logged as it was found).
      if (config.recover) {
        const damaged = yield* Effect.flatMap(EventLog, (log) => log.damaged)
        yield* damaged.length === 0 ? Effect.log(damageSummary(damaged)) : Effect.logWarning(damageSummary(damaged))
      }
    })
  )
  // A data dir the server must not start from (a damaged or missing log) is an operator's problem, not a crash.
  const refuseStart = (e: { readonly message: string }) =>
    Effect.sync(() => {
      process.stderr.write(`error: ${e.message}\n`)
      process.exit(1)
    })
  // A clean shutdown closes HTTP, drains the log and closes SQLite; if something hangs, leave anyway after 5 s.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => setTimeout(() => process.exit(1), 5000).unref())
  }
  Layer.launch(announce.pipe(Layer.provideMerge(layerServer(config)))).pipe(
    Effect.catchTags({ LogDamaged: refuseStart, LogMissing: refuseStart }),
    Effect.provide(Logger.logFmt),
    NodeRuntime.runMain({ disablePrettyLogger: true })
  )
}

const replayCommand = async (args: ReadonlyArray<string>) => {
  const flags = Either.getOrElse(parseFlags(args, ["json", "recover"]), fail)
  const dataDir = typeof flags["data-dir"] === "string" ? flags["data-dir"] : process.env["STRATA_DATA_DIR"] ?? "./.strata"
  const until = flags["until-seq"]
  const untilSeq = typeof until === "string" ? Number(until) : undefined
  if (untilSeq !== undefined && !Number.isInteger(untilSeq)) fail(`invalid --until-seq '${String(until)}'`)
  for (const name of Object.keys(flags)) if (!["data-dir", "until-seq", "json", "recover"].includes(name)) fail(`unknown flag --${name}`)
  const { replay } = await import("./replay.ts")
  const print = (line: string) => process.stdout.write(line + "\n")
  const result = await Effect.runPromise(Effect.either(replay(dataDir, untilSeq, flags["json"] === true, print, flags["recover"] === true))).catch(
    (e: unknown) => Either.left({ message: e instanceof Error ? e.message : String(e) })
  )
  if (Either.isLeft(result)) {
    process.stderr.write(`error: ${result.left.message}\n`)
    process.exit(1)
  }
}

const exportCommand = async (args: ReadonlyArray<string>) => {
  const flags = Either.getOrElse(parseFlags(args, []), fail)
  for (const name of Object.keys(flags)) if (!["data-dir", "db", "table", "out", "windows"].includes(name)) fail(`unknown flag --${name}`)
  const value = (name: string) => (typeof flags[name] === "string" ? (flags[name] as string) : undefined)
  const dataDir = value("data-dir") ?? process.env["STRATA_DATA_DIR"] ?? "./.strata"
  const db = value("db") ?? fail("missing flag --db")
  const table = value("table") ?? fail("missing flag --table")
  const outDir = value("out") ?? fail("missing flag --out")
  const windows = value("windows")?.split(",").map((w) => w.trim()).filter((w) => w !== "")
  const { exportToDirectory, progressText } = await import("./export.ts")
  const tty = process.stderr.isTTY === true
  const progress = (done: number, total: number, bytes: number, totalBytes: number) => {
    if (tty) process.stderr.write(`\r\x1b[2K${progressText(done, total, bytes, totalBytes)}`)
  }
  const result = await Effect.runPromise(
    Effect.either(exportToDirectory({ dataDir, db, table, outDir, windows }, progress))
  ).catch((e: unknown) => Either.left(e instanceof Error ? e : new Error(String(e))))
  if (tty) process.stderr.write("\n")
  if (Either.isLeft(result)) {
    process.stderr.write(`error: ${result.left.message}\n`)
    process.exit(1)
  }
  process.stdout.write(`exported ${result.right.files} file(s) of ${result.right.windows.length} window(s) (${result.right.bytes} bytes) to ${outDir}\n`)
}

const importCommand = async (args: ReadonlyArray<string>) => {
  const paths = args.filter((a, i) => !a.startsWith("--") && (i === 0 || !args[i - 1]!.startsWith("--") || ["--json", "--create-table"].includes(args[i - 1]!)))
  const flags = Either.getOrElse(parseFlags(args.filter((a) => !paths.includes(a)), ["json", "create-table"]), fail)
  const known = ["host", "token", "database", "table", "uri", "format", "columns", "on-error", "create-table", "json", "source-opt"]
  for (const name of Object.keys(flags)) if (!known.includes(name)) fail(`unknown flag --${name}`)
  const value = (name: string) => (typeof flags[name] === "string" ? (flags[name] as string) : undefined)
  const columns: Record<string, string> = {}
  for (const spec of (value("columns") ?? "").split(",").filter((s) => s.trim() !== "")) {
    const [name, type] = spec.split(":")
    if (name === undefined || type === undefined) fail(`invalid --columns entry '${spec}': expected name:type`)
    columns[name!.trim()] = type!.trim()
  }
  const sourceOptions: Record<string, string> = {}
  for (const opt of (value("source-opt") ?? "").split(",").filter((s) => s.trim() !== "")) {
    const eq = opt.indexOf("=")
    if (eq <= 0) fail(`invalid --source-opt entry '${opt}': expected key=value`)
    sourceOptions[opt.slice(0, eq).trim()] = opt.slice(eq + 1).trim()
  }
  const { runImport } = await import("./import/cli.ts")
  const code = await runImport(
    {
      host: value("host") ?? process.env["INFLUXDB3_HOST_URL"] ?? "http://127.0.0.1:8181",
      token: value("token") ?? process.env["INFLUXDB3_AUTH_TOKEN"],
      database: value("database") ?? fail("missing flag --database"),
      table: value("table") ?? fail("missing flag --table"),
      paths,
      uri: value("uri"),
      format: value("format"),
      columns,
      sourceOptions,
      onError: value("on-error"),
      createTable: flags["create-table"] === true,
      json: flags["json"] === true
    },
    (t) => process.stdout.write(t),
    (t) => process.stderr.write(t),
    process.stderr.isTTY === true
  ).catch((e: unknown) => {
    process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`)
    return 1
  })
  process.exit(code)
}

const [command, ...rest] = process.argv.slice(2)
switch (command) {
  case "serve":
    await serve(rest)
    break
  case "replay":
    await replayCommand(rest)
    break
  case "export":
    await exportCommand(rest)
    break
  case "import":
    await importCommand(rest)
    break
  case "backup":
  case "restore": {
    const { runBackupCli, runRestoreCli } = await import("./backup/cli.ts")
    const io = {
      out: (t: string) => process.stdout.write(t),
      err: (t: string) => process.stderr.write(t),
      tty: process.stderr.isTTY === true,
      env: process.env
    }
    const code = await (command === "backup" ? runBackupCli : runRestoreCli)(rest, io).catch((e: unknown) => {
      process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`)
      return 1
    })
    process.exit(code)
    break
  }
  case "version":
  case "--version":
    process.stdout.write("strata 0.1.0\n")
    break
  case undefined:
  case "help":
  case "--help":
  case "-h":
    process.stdout.write(usage)
    break
  default:
    fail(`unknown command '${command}'`)
}
