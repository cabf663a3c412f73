import { Effect } from "effect"
import * as NodeChild from "node:child_process"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { ExecutionFailed } from "../errors.ts"

/** How long an install may take in all: with no reachable package index it fails well within this. */
const INSTALL_TIMEOUT_MS = 30_000

const run = (command: string, args: ReadonlyArray<string>, timeoutMs: number) =>
  Effect.async<string, ExecutionFailed>((resume) => {
    const child = NodeChild.spawn(command, args, {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, PIP_NO_INPUT: "1" }
    })
    let output = ""
    const collect = (chunk: Buffer) => void (output = (output + chunk.toString("utf8")).slice(-8192))
    child.stdout.on("data", collect)
    child.stderr.on("data", collect)
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
    child.once("error", (e) => {
      clearTimeout(timer)
      resume(Effect.fail(new ExecutionFailed({ message: `could not run ${command}: ${e.message}` })))
    })
    child.once("exit", (code, signal) => {
      clearTimeout(timer)
      if (code === 0) return resume(Effect.succeed(output))
      const why = signal === "SIGKILL" ? `did not finish within ${timeoutMs / 1000}s` : `exited with code ${code}`
      const tail = output
        .trim()
        .split("\n")
        .filter((l) => l.trim() !== "")
        .slice(-3)
        .join(" | ")
      resume(
        Effect.fail(
          new ExecutionFailed({
            message: `installing plugin packages failed: pip ${why}${tail === "" ? "" : `: ${tail}`}`
          })
        )
      )
    })
    return Effect.sync(() => {
      clearTimeout(timer)
      child.kill("SIGKILL")
    })
  })

/** The plugin venv (`<plugin-dir>/.venv`), created without pip (the system python3's pip installs into it). */
const ensureVenv = (pluginDir: string, deadline: number) =>
  Effect.suspend(() => {
    const python = NodePath.join(pluginDir, ".venv", "bin", "python3")
    if (NodeFs.existsSync(python)) return Effect.succeed(python)
    return Effect.as(
      run("python3", ["-m", "venv", "--without-pip", NodePath.join(pluginDir, ".venv")], deadline - performance.now()),
      python
    )
  })

const pip = (pluginDir: string, args: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const deadline = performance.now() + INSTALL_TIMEOUT_MS
    const python = yield* ensureVenv(pluginDir, deadline)
    yield* run(
      "python3",
      [
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--timeout",
        "5",
        "--retries",
        "1",
        ...args
      ],
      Math.max(1000, deadline - performance.now())
    )
  })

/** Installs packages into the plugin venv with pip; fails within 30 s saying why (e.g. no reachable index). */
export const installPackages = (pluginDir: string, packages: ReadonlyArray<string>) =>
  pip(pluginDir, ["--", ...packages])

/** Installs a requirements file into the plugin venv with pip. */
export const installRequirements = (pluginDir: string, file: string) => pip(pluginDir, ["-r", file])
