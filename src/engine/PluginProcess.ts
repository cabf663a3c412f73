// One python3 process running the shim (shim.py), driven over framed JSON on its stdin and stdout.
import * as NodeChild from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"

const here = NodePath.dirname(NodeUrl.fileURLToPath(import.meta.url))

/** The shim's source: beside this module, or (running from the dist/ bundle) in the sources. */
export const shimPath = NodeFs.existsSync(NodePath.join(here, "shim.py"))
  ? NodePath.join(here, "shim.py")
  : NodePath.join(here, "..", "src", "engine", "shim.py")

/** A request from a running plugin: a query, a synchronous write or a cache operation. */
export interface PluginRpc {
  readonly op: "query" | "write_sync" | "cache_put" | "cache_get" | "cache_delete"
  readonly [field: string]: unknown
}

/** A line a plugin logged. */
export interface PluginLog {
  readonly level: "INFO" | "WARN" | "ERROR"
  readonly msg: string
}

/** What one plugin call ended with. */
export interface PluginDone {
  readonly ok: boolean
  readonly error: string | null
  readonly traceback?: string
  /** Writes buffered by `write` / `write_to_db`, in call order. */
  readonly writes: ReadonlyArray<{ readonly db: string; readonly line: string }>
  readonly response: { readonly status: number; readonly headers: Record<string, string>; readonly body: string } | null
}

/** The hooks a call is run with: the answer to each rpc (a rejection is raised in the plugin), and its logs. */
export interface CallHooks {
  readonly rpc: (request: PluginRpc) => Promise<unknown>
  readonly log: (line: PluginLog) => void
}

/** Why a call did not finish: the process hung past the timeout, or died. */
export class PluginProcessFailed extends Error {
  constructor(
    message: string,
    readonly timedOut: boolean
  ) {
    super(message)
  }
}

/** Longest a python3 process may take to start the shim (a cold start on a loaded machine takes seconds). */
const START_TIMEOUT_MS = 60_000

const frame = (message: unknown): Buffer => {
  const body = Buffer.from(typeof message === "string" ? message : JSON.stringify(message), "utf8")
  const header = Buffer.alloc(4)
  header.writeUInt32BE(body.length)
  return Buffer.concat([header, body])
}

/**
 * A python3 process running plugins one call at a time. A call that outlasts `timeoutMs` or whose process dies is
 * rejected with `PluginProcessFailed` and the process is killed; the next call starts a new one.
 */
export class PluginProcess {
  private child: NodeChild.ChildProcessWithoutNullStreams | undefined
  /** The process the running call talks to: events of an older process (killed, dying) are ignored. */
  private active: NodeChild.ChildProcess | undefined
  private onMessage: ((message: Record<string, unknown>) => void) | undefined
  private onExit: ((why: string) => void) | undefined
  private queue: Promise<unknown> = Promise.resolve()
  private closed = false
  /** Calls queued or running on this process. */
  pending = 0
  /** Settles once the current process's shim says it is ready: its start does not count against a call's timeout. */
  private ready: Promise<void> = Promise.resolve()

  constructor(
    private readonly python: string,
    private readonly cwd: string,
    private readonly env: Readonly<Record<string, string>>,
    private readonly stderr: (text: string) => void
  ) {}

  private start(): NodeChild.ChildProcessWithoutNullStreams {
    const child = NodeChild.spawn(this.python, ["-u", shimPath], {
      cwd: this.cwd,
      env: { ...process.env, ...this.env, PYTHONDONTWRITEBYTECODE: "1" },
      stdio: ["pipe", "pipe", "pipe"]
    })
    let buffered: Buffer = Buffer.alloc(0)
    let started: () => void = () => {}
    let failed: (why: string) => void = () => {}
    this.ready = new Promise<void>((resolve, reject) => {
      started = resolve
      failed = (why) => reject(new PluginProcessFailed(why, false))
    })
    const startTimer = setTimeout(() => {
      failed(`the plugin runtime did not start within ${START_TIMEOUT_MS / 1000}s`)
      child.kill("SIGKILL")
    }, START_TIMEOUT_MS)
    child.stdout.on("data", (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
      while (buffered.length >= 4) {
        const length = buffered.readUInt32BE(0)
        if (buffered.length < 4 + length) break
        const body = buffered.subarray(4, 4 + length).toString("utf8")
        buffered = buffered.subarray(4 + length)
        const message = JSON.parse(body) as Record<string, unknown>
        if (message.t === "ready") {
          clearTimeout(startTimer)
          started()
        } else if (this.active === child) {
          this.onMessage?.(message)
        }
      }
    })
    child.stderr.on("data", (chunk: Buffer) => this.stderr(chunk.toString("utf8")))
    // A write to a process that just died fails asynchronously; the exit handler reports it.
    child.stdin.on("error", () => {})
    child.once("error", (e) => {
      clearTimeout(startTimer)
      failed(`the plugin runtime could not start (${this.python}): ${e.message}`)
      if (this.child === child) this.child = undefined
      if (this.active === child) this.onExit?.(`the plugin runtime could not start (${this.python}): ${e.message}`)
    })
    child.once("exit", (code, signal) => {
      clearTimeout(startTimer)
      failed(
        `the plugin's python process exited while starting (${signal === null ? `code ${code}` : `signal ${signal}`})`
      )
      if (this.child === child) this.child = undefined
      if (this.active === child)
        this.onExit?.(`the plugin's python process exited (${signal === null ? `code ${code}` : `signal ${signal}`})`)
    })
    return child
  }

  /** Runs one call (`message` is the `run` frame's JSON text or value); calls are queued, one at a time. */
  call(message: unknown, hooks: CallHooks, timeoutMs: number): Promise<PluginDone> {
    this.pending += 1
    const run = this.queue.then(() => this.callNow(message, hooks, timeoutMs))
    this.queue = run.catch(() => undefined)
    return run.finally(() => void (this.pending -= 1))
  }

  private async callNow(message: unknown, hooks: CallHooks, timeoutMs: number): Promise<PluginDone> {
    if (this.closed) throw new PluginProcessFailed("the plugin runtime is stopped", false)
    const child = (this.child ??= this.start())
    this.active = child
    await this.ready
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new PluginProcessFailed("the plugin's python process exited before the call", false)
    }
    return new Promise<PluginDone>((resolve, reject) => {
      let settled = false
      const finish = (f: () => void) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        this.onMessage = undefined
        this.onExit = undefined
        f()
      }
      const timer = setTimeout(() => {
        finish(() =>
          reject(
            new PluginProcessFailed(
              `the plugin did not finish within ${timeoutMs / 1000}s (--plugin-timeout) and was stopped`,
              true
            )
          )
        )
        this.kill(child)
      }, timeoutMs)
      this.onExit = (why) => finish(() => reject(new PluginProcessFailed(why, false)))
      this.onMessage = (m) => {
        if (m.t === "log") hooks.log({ level: m.level as PluginLog["level"], msg: String(m.msg) })
        else if (m.t === "done") finish(() => resolve(m as unknown as PluginDone))
        else if (m.t === "rpc") {
          hooks.rpc(m as unknown as PluginRpc).then(
            (value) => !settled && child.stdin.write(frame({ t: "reply", ok: true, value: value ?? null })),
            (e: unknown) =>
              !settled &&
              child.stdin.write(frame({ t: "reply", ok: false, error: e instanceof Error ? e.message : String(e) }))
          )
        }
      }
      child.stdin.write(frame(message))
    })
  }

  private kill(child: NodeChild.ChildProcess) {
    if (this.child === child) this.child = undefined
    child.kill("SIGKILL")
  }

  /** Stops the process; calls after this fail. */
  close() {
    this.closed = true
    if (this.child !== undefined) this.kill(this.child)
  }
}
