import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { CHECKPOINT, FILES_DIR, readManifest, sha256File, TAIL } from "./manifest.ts"
import { serverError } from "../cli/serverError.ts"

/** Where the CLI writes: answers to `out`, progress and errors to `err`; `tty` turns the progress bar on. */
export interface CliIo {
  readonly out: (text: string) => void
  readonly err: (text: string) => void
  readonly tty: boolean
  readonly env: Readonly<Record<string, string | undefined>>
}

const BOOLEANS = ["json", "force", "no-wait"]

/** `--name value`, `--name=value` and boolean flags into a record; throws naming a bad argument. */
const parse = (args: ReadonlyArray<string>, known: ReadonlyArray<string>): Record<string, string | true> => {
  const out: Record<string, string | true> = {}
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (!arg.startsWith("--")) throw new Error(`unexpected argument '${arg}'`)
    const eq = arg.indexOf("=")
    const name = eq > 0 ? arg.slice(2, eq) : arg.slice(2)
    if (!known.includes(name)) throw new Error(`unknown flag --${name}`)
    if (eq > 0) out[name] = arg.slice(eq + 1)
    else if (BOOLEANS.includes(name)) out[name] = true
    else {
      const value = args[i + 1]
      if (value === undefined) throw new Error(`flag --${name} needs a value`)
      out[name] = value
      i++
    }
  }
  return out
}

const str = (flags: Record<string, string | true>, name: string) => (typeof flags[name] === "string" ? (flags[name] as string) : undefined)
const required = (flags: Record<string, string | true>, name: string) => {
  const v = str(flags, name)
  if (v === undefined) throw new Error(`missing flag --${name}`)
  return v
}

/** A client of the server's backup and restore endpoints. */
const client = (flags: Record<string, string | true>, env: CliIo["env"]) => {
  const host = str(flags, "host") ?? env["INFLUXDB3_HOST_URL"] ?? "http://127.0.0.1:8181"
  const token = str(flags, "token") ?? env["INFLUXDB3_AUTH_TOKEN"]
  return async (method: string, path: string, body?: unknown): Promise<any> => {
    const res = await fetch(new URL(path, host), {
      method,
      headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) })
    })
    const text = await res.text()
    if (!res.ok) throw serverError(res.status, text)
    return text === "" ? null : JSON.parse(text)
  }
}

/** A progress bar line: done of total, with the elapsed seconds. */
export const barLine = (label: string, done: number, total: number, elapsedS: number) => {
  const width = 30
  const fraction = total > 0 ? Math.min(1, done / total) : 0
  const filled = Math.round(fraction * width)
  return `${label} [${"#".repeat(filled)}${" ".repeat(width - filled)}] ${(fraction * 100).toFixed(0).padStart(3)}%  ${elapsedS.toFixed(1)}s`
}

/** Polls `path` until its status is not in_progress, drawing a bar on a TTY. */
const follow = async (get: (m: string, p: string) => Promise<any>, path: string, label: string, io: CliIo) => {
  const started = Date.now()
  for (;;) {
    const info = await get("GET", path)
    if (info.status !== "in_progress") {
      if (io.tty) io.err(`\r\x1b[2K${barLine(label, 1, 1, (Date.now() - started) / 1000)}\n`)
      return info
    }
    if (io.tty) io.err(`\r\x1b[2K${barLine(label, 0, 1, (Date.now() - started) / 1000)}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

const backupLine = (b: any) =>
  `${String(b.name).padEnd(32)} ${String(b.type).padEnd(12)} ${String(b.status).padEnd(12)} ${String(b.total_files).padStart(6)} files ${String(b.total_size_bytes).padStart(12)} bytes  ${b.created_at}${b.parent ? `  parent ${b.parent}` : ""}${b.last_message ? `  (${b.last_message})` : ""}\n`
const restoreLine = (r: any) =>
  `${String(r.restore_id).padEnd(38)} ${String(r.backup_name).padEnd(32)} ${String(r.status).padEnd(12)} ${r.created_at}${r.completed_at ? ` → ${r.completed_at}` : ""}${r.last_message ? `  (${r.last_message})` : ""}\n`

/**
 * Re-checks every checksum of a backup in a backup directory (no server needed): its checkpoint, its log tail and
 * every file of its state, also those a parent holds. Answers what is wrong, one line each.
 */
export const verifyBackup = async (root: string, name: string, progress: (done: number, total: number) => void) => {
  const m = readManifest(root, name)
  if (m === undefined) return { ok: false, files: 0, bytes: 0, problems: [`backup ${name} has no readable manifest in ${root}`] }
  const problems: Array<string> = []
  const check = async (path: string, bytes: number, sha: string, what: string) => {
    try {
      const size = NodeFs.statSync(path).size
      if (size !== bytes) problems.push(`${what}: ${size} bytes, the manifest says ${bytes}`)
      else if ((await sha256File(path)) !== sha) problems.push(`${what}: does not match its SHA-256`)
    } catch (e) {
      problems.push(`${what}: cannot be read: ${e instanceof Error ? e.message : String(e)}`)
    }
  }
  const total = m.files.reduce((n, f) => n + f.bytes, 0) + m.checkpoint.bytes + m.tail.bytes
  let done = 0
  await check(NodePath.join(root, name, CHECKPOINT), m.checkpoint.bytes, m.checkpoint.sha256, CHECKPOINT)
  done += m.checkpoint.bytes
  await check(NodePath.join(root, name, TAIL), m.tail.bytes, m.tail.sha256, TAIL)
  done += m.tail.bytes
  progress(done, total)
  for (const f of m.files) {
    await check(NodePath.join(root, f.backup, FILES_DIR, f.path), f.bytes, f.sha256, f.backup === name ? f.path : `${f.path} (in backup ${f.backup})`)
    done += f.bytes
    progress(done, total)
  }
  return { ok: problems.length === 0, files: m.files.length, bytes: total, problems }
}

/** `strata backup create|list|show|delete|cancel|verify …`; answers the exit code. */
export const runBackupCli = async (args: ReadonlyArray<string>, io: CliIo): Promise<number> => {
  const [sub, ...rest] = args
  const common = ["host", "token", "json"]
  const print = (json: boolean, value: unknown, text: () => string) => io.out(json ? JSON.stringify(value, null, 2) + "\n" : text())
  switch (sub) {
    case "create": {
      const flags = parse(rest, [...common, "type", "name", "force", "parent", "no-wait"])
      const get = client(flags, io.env)
      const body = { type: str(flags, "type") ?? "full", ...(str(flags, "name") === undefined ? {} : { name: str(flags, "name") }), ...(flags["force"] === true ? { force: true } : {}), ...(str(flags, "parent") === undefined ? {} : { parent: str(flags, "parent") }) }
      const started = await get("POST", "/api/v3/enterprise/backup", body)
      if (flags["no-wait"] === true) return print(flags["json"] === true, started, () => `${started.backup_name}  ${started.status}\n`), 0
      const done = await follow(get, `/api/v3/enterprise/backup/${encodeURIComponent(started.backup_name)}`, `backup ${started.backup_name}`, io)
      print(flags["json"] === true, done, () => backupLine(done))
      return done.status === "completed" ? 0 : 1
    }
    case "list": {
      const flags = parse(rest, common)
      const all = await client(flags, io.env)("GET", "/api/v3/enterprise/backup")
      print(flags["json"] === true, all, () => all.backups.map(backupLine).join(""))
      return 0
    }
    case "show": {
      const flags = parse(rest, [...common, "name"])
      const b = await client(flags, io.env)("GET", `/api/v3/enterprise/backup/${encodeURIComponent(required(flags, "name"))}`)
      print(flags["json"] === true, b, () => backupLine(b))
      return 0
    }
    case "delete": {
      const flags = parse(rest, [...common, "name"])
      const r = await client(flags, io.env)("DELETE", `/api/v3/enterprise/backup/${encodeURIComponent(required(flags, "name"))}`)
      print(flags["json"] === true, r, () => `deleted ${r.backup_name} (${r.type})\n`)
      return 0
    }
    case "cancel": {
      const flags = parse(rest, [...common, "name"])
      const r = await client(flags, io.env)("DELETE", "/api/v3/enterprise/backup", { name: required(flags, "name") })
      print(flags["json"] === true, r, () => `cancelled ${r.backup_name}\n`)
      return 0
    }
    case "verify": {
      const flags = parse(rest, ["json", "name", "backup-dir", "data-dir"])
      const root = NodePath.resolve(str(flags, "backup-dir") ?? NodePath.join(str(flags, "data-dir") ?? io.env["STRATA_DATA_DIR"] ?? "./.strata", "backups"))
      const name = required(flags, "name")
      const started = Date.now()
      const result = await verifyBackup(root, name, (done, total) => {
        if (io.tty) io.err(`\r\x1b[2K${barLine(`verify ${name}`, done, total, (Date.now() - started) / 1000)}`)
      })
      if (io.tty) io.err("\n")
      print(flags["json"] === true, { name, ...result }, () =>
        result.ok ? `backup ${name}: every checksum matches (${result.files} files, ${result.bytes} bytes)\n` : result.problems.map((p) => `backup ${name}: ${p}\n`).join("")
      )
      return result.ok ? 0 : 1
    }
    default:
      throw new Error(`unknown backup command '${sub ?? ""}': expected create, list, show, delete, cancel or verify`)
  }
}

/** `strata restore create|list|show|cancel …`; answers the exit code. */
export const runRestoreCli = async (args: ReadonlyArray<string>, io: CliIo): Promise<number> => {
  const [sub, ...rest] = args
  const common = ["host", "token", "json"]
  const print = (json: boolean, value: unknown, text: () => string) => io.out(json ? JSON.stringify(value, null, 2) + "\n" : text())
  switch (sub) {
    case "create": {
      const flags = parse(rest, [...common, "backup-name", "no-wait"])
      const get = client(flags, io.env)
      const started = await get("POST", "/api/v3/enterprise/restore", { backup_name: required(flags, "backup-name") })
      if (flags["no-wait"] === true) return print(flags["json"] === true, started, () => `${started.restore_id}  ${started.status}\n`), 0
      const done = await follow(get, `/api/v3/enterprise/restore/${encodeURIComponent(started.restore_id)}`, `restore ${started.restore_id}`, io)
      print(flags["json"] === true, done, () => restoreLine(done))
      return done.status === "completed" ? 0 : 1
    }
    case "list": {
      const flags = parse(rest, common)
      const all = await client(flags, io.env)("GET", "/api/v3/enterprise/restore")
      print(flags["json"] === true, all, () => all.restores.map(restoreLine).join(""))
      return 0
    }
    case "show": {
      const flags = parse(rest, [...common, "id"])
      const r = await client(flags, io.env)("GET", `/api/v3/enterprise/restore/${encodeURIComponent(required(flags, "id"))}`)
      print(flags["json"] === true, r, () => restoreLine(r))
      return 0
    }
    case "cancel": {
      const flags = parse(rest, [...common, "id"])
      const id = required(flags, "id")
      await client(flags, io.env)("DELETE", `/api/v3/enterprise/restore/${encodeURIComponent(id)}`)
      print(flags["json"] === true, { restore_id: id, cancelled: true }, () => `cancelled ${id}\n`)
      return 0
    }
    default:
      throw new Error(`unknown restore command '${sub ?? ""}': expected create, list, show or cancel`)
  }
}
