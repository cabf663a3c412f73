/**
 * Backup benchmark: the cpu set (100 hosts, one point per host every 10 s; default 144 h = six days) written through
 * /api/v3/write_lp and persisted, then a full backup, a small write (ten more minutes of the 100 hosts), an incremental
 * backup and a restore of the incremental one. Prints bytes, files and seconds of each, and the incremental/full
 * byte ratio (target < 10%).
 * usage: npx tsx scripts/bench-backup.ts [--hours N]
 */
import * as NodeFs from "node:fs"
import * as NodeReadline from "node:readline"
import { cpuData, load, startStrata, stop } from "./lib.ts"

const args = process.argv.slice(2)
const hours = args.includes("--hours") ? Number(args[args.indexOf("--hours") + 1]) || 144 : 144
const lpFile = cpuData(100, hours)
const strata = await startStrata(18391, ["--persist-interval", "2s", "--gen1-duration", "10m"])
const api = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${strata.url}${path}`, { method, ...(body === undefined ? {} : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }) })
  const text = await res.text()
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`)
  return text === "" ? null : JSON.parse(text)
}
const metric = async (name: string): Promise<number> => {
  let text: string
  try {
    text = await (await fetch(`${strata.url}/metrics`)).text()
  } catch (e) {
    // A pooled connection the server closed: once more, unless the server is gone.
    if (strata.child.exitCode !== null || strata.child.signalCode !== null) throw new Error(`the server exited (${strata.child.exitCode ?? strata.child.signalCode})`)
    await new Promise((r) => setTimeout(r, 250))
    return metric(name)
  }
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, "m").exec(text)
  return m ? Number(m[1]) : NaN
}
/** Waits until the write buffer is empty (everything persisted). */
const persisted = async () => {
  while ((await metric("strata_write_buffer_rows")) > 0) await new Promise((r) => setTimeout(r, 250))
}
const timed = async <A>(f: () => Promise<A>) => {
  const started = performance.now()
  const value = await f()
  return { value, seconds: (performance.now() - started) / 1000 }
}
const backup = async (body: Record<string, unknown>) =>
  timed(async () => {
    const { backup_name } = await api("POST", "/api/v3/enterprise/backup", body)
    for (;;) {
      const b = await api("GET", `/api/v3/enterprise/backup/${backup_name}`)
      if (b.status !== "in_progress") return b
      await new Promise((r) => setTimeout(r, 50))
    }
  })

try {
  // The loader reads its file whole: a set past 24 h is loaded a day (864,000 lines) at a time.
  const parts: Array<string> = []
  if (hours <= 24) parts.push(lpFile)
  else {
    let out: NodeFs.WriteStream | undefined
    let n = 0
    for await (const line of NodeReadline.createInterface({ input: NodeFs.createReadStream(lpFile) })) {
      if (n % 864_000 === 0) {
        out?.end()
        parts.push(`${lpFile}.part${parts.length}`)
        out = NodeFs.createWriteStream(parts.at(-1)!)
      }
      if (!out!.write(line + "\n")) await new Promise<void>((r) => out!.once("drain", () => r()))
      n++
    }
    await new Promise<void>((r) => out!.end(() => r()))
  }
  const written = { lines: 0, seconds: 0 }
  for (const part of parts) {
    const figures = load(part, `${strata.url}/api/v3/write_lp?db=bench`)
    written.lines += figures.lines
    written.seconds += figures.seconds
    if (part !== lpFile) NodeFs.rmSync(part)
  }
  console.log(`loaded ${written.lines.toLocaleString()} lines in ${written.seconds.toFixed(1)}s`)
  await persisted()
  const full = await backup({ type: "full", name: "full" })
  const mib = (n: number) => (n / 1048576).toFixed(1)
  console.log(`full backup:        ${full.value.total_files} files, ${mib(full.value.total_size_bytes)} MiB in ${full.seconds.toFixed(2)}s (${mib(full.value.total_size_bytes / full.seconds)} MiB/s; hard links)`)
  // Ten more minutes of the 100 hosts, after the data set's end.
  // The file's last 100 lines, read from its end (a six-day file is too large for one string).
  const fd = NodeFs.openSync(lpFile, "r")
  const size = NodeFs.fstatSync(fd).size
  const tail = Buffer.alloc(Math.min(size, 200_000))
  NodeFs.readSync(fd, tail, 0, tail.length, size - tail.length)
  NodeFs.closeSync(fd)
  const lastLines = tail.toString("utf8").trimEnd().split("\n").slice(-100)
  const extra = lastLines.flatMap((line) => {
    const cut = line.lastIndexOf(" ")
    const t = BigInt(line.slice(cut + 1))
    return Array.from({ length: 60 }, (_, i) => `${line.slice(0, cut)} ${t + BigInt(i + 1) * 10_000_000_000n}`)
  })
  const w = await fetch(`${strata.url}/api/v3/write_lp?db=bench`, { method: "POST", body: extra.join("\n") })
  if (!w.ok) throw new Error(`the small write answered ${w.status}: ${await w.text()}`)
  console.log(`small write: ${extra.length.toLocaleString()} lines`)
  await persisted()
  const inc = await backup({ type: "incremental", name: "inc" })
  const ratio = (100 * inc.value.total_size_bytes) / full.value.total_size_bytes
  console.log(`incremental backup: ${inc.value.total_files} files, ${mib(inc.value.total_size_bytes)} MiB in ${inc.seconds.toFixed(2)}s (${ratio.toFixed(2)}% of the full backup's bytes; target < 10%)`)
  const restore = await timed(async () => {
    const { restore_id } = await api("POST", "/api/v3/enterprise/restore", { backup_name: "inc" })
    for (;;) {
      const r = await api("GET", `/api/v3/enterprise/restore/${restore_id}`)
      if (r.status !== "in_progress") return r
      await new Promise((r) => setTimeout(r, 50))
    }
  })
  console.log(`restore of inc:     ${restore.value.status}, ${restore.value.total_files} files, ${mib(restore.value.total_size_bytes)} MiB verified and applied in ${restore.seconds.toFixed(2)}s`)
  console.log(
    JSON.stringify({
      hours,
      rows: written.lines,
      full: { files: full.value.total_files, bytes: full.value.total_size_bytes, seconds: full.seconds },
      incremental: {
        files: inc.value.total_files,
        bytes: inc.value.total_size_bytes,
        seconds: inc.seconds,
        percent_of_full: ratio
      },
      restore_seconds: restore.seconds
    })
  )
} finally {
  await stop(strata)
}
