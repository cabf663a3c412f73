/**
 * Test support: real Strata servers on random ports over temp data dirs, in-process (a `ManagedRuntime` of
 * `layerServer`) or as a child process (`node src/bin/strata.mjs serve`), and a small fetch-based HTTP client.
 */
import { HttpServer } from "@effect/platform"
import { Effect, type Layer, ManagedRuntime } from "effect"
import * as NodeChild from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import * as NodeUrl from "node:url"
import { Catalog } from "../../src/catalog/Catalog.ts"
import type { CatalogState } from "../../src/catalog/state.ts"
import { testConfig, type ServerConfigShape } from "../../src/config.ts"
import { layerServer } from "../../src/server.ts"
import { afterAll } from "vitest"
import { expectOk } from "./expect.ts"

/** The repository root, so child processes run from a known directory. */
export const repoRoot = NodePath.resolve(NodePath.dirname(NodeUrl.fileURLToPath(import.meta.url)), "../..")

/** The `strata` entry point (it loads the TypeScript sources through tsx). */
export const strataBin = NodePath.join(repoRoot, "src/bin/strata.mjs")

const tempDirs = new Set<string>()
const removeTempDirs = () => {
  for (const dir of tempDirs) NodeFs.rmSync(dir, { recursive: true, force: true })
  tempDirs.clear()
}
// Vitest ends its workers without an "exit" event: each test file removes its dirs once its own hooks have run
// (registered here, first, its afterAll runs last).
afterAll(removeTempDirs)
process.once("exit", removeTempDirs)

/** A fresh empty directory under the OS temp dir, removed when the test process exits. */
export const tempDir = (prefix = "strata-test-"): string => {
  const dir = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), prefix))
  tempDirs.add(dir)
  return dir
}

/** One HTTP answer, with the body already read. */
export interface TestResponse {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  /** The body parsed as JSON; throws with the status and text when it is not JSON. */
  json<T = any>(): T
}

/** How to send one request. */
export interface RequestOptions {
  /** A string or bytes are sent as they are; anything else is sent as JSON with `Content-Type: application/json`. */
  readonly body?: unknown
  /** Sent as `Authorization: Bearer <token>` unless `headers` set an Authorization header. */
  readonly token?: string
  readonly headers?: Readonly<Record<string, string>>
}

/** Sends one request to a server at `baseUrl` and reads the whole answer. */
export const request = async (
  baseUrl: string,
  method: string,
  path: string,
  options: RequestOptions = {}
): Promise<TestResponse> => {
  const headers: Record<string, string> = {}
  let body: string | Uint8Array | undefined
  if (options.body !== undefined) {
    if (typeof options.body === "string" || options.body instanceof Uint8Array) {
      body = options.body
    } else {
      body = JSON.stringify(options.body)
      headers["content-type"] = "application/json"
    }
  }
  if (options.token !== undefined) headers["authorization"] = `Bearer ${options.token}`
  for (const [k, v] of Object.entries(options.headers ?? {})) headers[k.toLowerCase()] = v
  const response = await fetch(new URL(path, baseUrl), { method, headers, ...(body === undefined ? {} : { body }) })
  const text = await response.text()
  return {
    status: response.status,
    headers: response.headers,
    text,
    json: <T>() => {
      try {
        return JSON.parse(text) as T
      } catch {
        throw new Error(`expected a JSON body, got ${response.status} ${JSON.stringify(text)}`)
      }
    }
  }
}

/** A running server the tests talk to. */
export interface ServerHandle {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  readonly url: string
  readonly dataDir: string
  /** Sends a request to this server. */
  request(method: string, path: string, options?: RequestOptions): Promise<TestResponse>
  /** Shuts the server down cleanly (HTTP closes, the log drains, SQLite closes). */
  stop(): Promise<void>
}

/** An in-process server: the real `layerServer` on a random port over `dataDir` (a fresh temp dir by default). */
export interface InProcessServer extends ServerHandle {
  readonly config: ServerConfigShape
  /** Runs effects against the server's own services (Catalog, EventLog, ServerConfig, HttpServer, …). */
  readonly runtime: ManagedRuntime.ManagedRuntime<ServerServices, ServerStartError>
}

/** The services the server Layer provides. */
export type ServerServices = Layer.Layer.Success<ReturnType<typeof layerServer>>

/** Why the server Layer could not be built (e.g. the port is taken). */
export type ServerStartError = Layer.Layer.Error<ReturnType<typeof layerServer>>

/** Starts the whole server Layer in this process with the test configuration plus `overrides`. */
export const startServer = async (
  overrides: Partial<ServerConfigShape> = {},
  dataDir: string = tempDir(),
  objectStore?: Parameters<typeof layerServer>[1]
): Promise<InProcessServer> => {
  const config = testConfig(dataDir, { logFilter: "error", ...overrides })
  const runtime = ManagedRuntime.make(layerServer(config, objectStore))
  const address = await runtime
    .runPromise(Effect.map(HttpServer.HttpServer, (server) => server.address))
    .catch(async (e: unknown) => {
      await runtime.dispose()
      throw e
    })
  if (address._tag !== "TcpAddress") {
    await runtime.dispose()
    throw new Error(`expected a TCP address, got ${JSON.stringify(address)}`)
  }
  const url = `http://${address.hostname}:${address.port}`
  let stopped: Promise<void> | undefined
  return {
    url,
    dataDir,
    config,
    runtime,
    request: (method, path, options) => request(url, method, path, options),
    stop: () => (stopped ??= runtime.dispose())
  }
}

/** A server running as a child process (`strata serve`), for crash and CLI tests. */
export interface ChildServer extends ServerHandle {
  readonly child: NodeChild.ChildProcess
  /** Everything the child wrote to stdout and stderr so far. */
  output(): string
  /** Sends SIGKILL and waits for the process to be gone: no finalizer runs. */
  kill(): Promise<void>
  /** Sends SIGTERM and waits for the exit code. */
  stop(): Promise<void>
}

const exited = (child: NodeChild.ChildProcess): Promise<number | null> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve(child.exitCode)
    : new Promise((resolve) => child.once("exit", (code) => resolve(code)))

/**
 * Runs `node src/bin/strata.mjs serve --data-dir D --http-bind 127.0.0.1:0 [...args]` and resolves once the
 * "listening on http://…" line appears (within `timeoutMs`); rejects with the child's output otherwise.
 */
export const spawnServer = (
  dataDir: string,
  args: ReadonlyArray<string> = [],
  timeoutMs = 20_000
): Promise<ChildServer> =>
  new Promise((resolve, reject) => {
    const child = NodeChild.spawn(
      process.execPath,
      [strataBin, "serve", "--data-dir", dataDir, "--http-bind", "127.0.0.1:0", ...args],
      { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NODE_OPTIONS: "" } }
    )
    let output = ""
    let settled = false
    const timer = setTimeout(() => fail(new Error(`strata serve did not start within ${timeoutMs} ms`)), timeoutMs)
    const fail = (error: Error) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      child.kill("SIGKILL")
      reject(new Error(`${error.message}\n--- child output ---\n${output}`))
    }
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8")
      const match = /listening on (http:\/\/[^\s"]+)/.exec(output)
      if (match === null || settled) return
      settled = true
      clearTimeout(timer)
      const url = match[1]!
      resolve({
        url,
        dataDir,
        child,
        output: () => output,
        request: (method, path, options) => request(url, method, path, options),
        kill: async () => {
          child.kill("SIGKILL")
          await exited(child)
        },
        stop: async () => {
          child.kill("SIGTERM")
          const code = await exited(child)
          if (code !== 0 && code !== null) throw new Error(`strata serve exited with ${code}\n${output}`)
        }
      })
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", onData)
    child.once("error", fail)
    child.once("exit", (code, signal) => fail(new Error(`strata serve exited early (code ${code}, signal ${signal})`)))
  })

/** The result of running the `strata` CLI to completion. */
export interface CliResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `node src/bin/strata.mjs <args>` to completion. */
export const runCli = (args: ReadonlyArray<string>, timeoutMs = 60_000): Promise<CliResult> =>
  new Promise((resolve, reject) => {
    NodeChild.execFile(
      process.execPath,
      [strataBin, ...args],
      { cwd: repoRoot, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, NODE_OPTIONS: "" } },
      (error, stdout, stderr) => {
        if (error !== null && typeof error.code !== "number") reject(new Error(`${error.message}\n${stderr}`))
        else resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr })
      }
    )
  })

/** Creates the operator token (`_admin`) on a fresh server and returns its secret. */
export const createOperatorToken = async (server: Pick<ServerHandle, "request">): Promise<string> => {
  const res = await server.request("POST", "/api/v3/configure/token/admin")
  if (res.status !== 201) throw new Error(`creating the operator token answered ${res.status} ${res.text}`)
  return res.json<{ token: string }>().token
}

/** An in-process server with the operator token, and `lines` written to database `db` (a 204 expected). */
export const startServerWith = async (db: string, lines: string, precision = "nanosecond") => {
  const server = await startServer()
  const token = await createOperatorToken(server)
  const res = await server.request("POST", `/api/v3/write_lp?db=${db}&precision=${precision}`, { body: lines, token })
  expectOk(res, 204)
  return { server, token }
}

/** Creates a resource token with one permission (`db` or `system`) and returns its secret. */
export const createResourceToken = async (
  server: Pick<ServerHandle, "request">,
  adminToken: string,
  name: string,
  permission: { readonly resource_type: "db" | "system"; readonly resource_names: ReadonlyArray<string>; readonly actions: ReadonlyArray<string> }
): Promise<string> => {
  const res = await server.request("POST", "/api/v3/enterprise/configure/token", { token: adminToken, body: { token_name: name, permissions: [permission] } })
  if (res.status !== 201) throw new Error(`creating token ${name} answered ${res.status} ${res.text}`)
  return res.json<{ token: string }>().token
}

/** The catalog projection of an in-process server as of now. */
export const catalogOf = (server: InProcessServer): Promise<CatalogState> =>
  server.runtime.runPromise(Effect.flatMap(Catalog, (catalog) => catalog.current))
