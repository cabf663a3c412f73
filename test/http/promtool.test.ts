import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as NodeChild from "node:child_process"
import { expectOk } from "../support/expect.ts"
import { createOperatorToken, startServer, type InProcessServer } from "../support/server.ts"

/** promtool (Debian's `prometheus` package; `.ci/run` installs it), or undefined when it is not installed. */
const promtool = (() => {
  const found = NodeChild.spawnSync("sh", ["-c", "command -v promtool"], { encoding: "utf8" })
  return found.status === 0 ? found.stdout.trim() : undefined
})()

if (promtool === undefined) console.warn("promtool is not installed (apt-get install prometheus): the promtool check of /metrics is skipped")

let server: InProcessServer
let token: string

beforeAll(async () => {
  server = await startServer()
  token = await createOperatorToken(server)
  // Traffic of every kind, so that histograms, labelled counters and the write and query families have samples.
  await server.request("POST", "/api/v3/write_lp?db=prom", { token, body: "cpu,host=a usage=1\ncpu,host=b usage=2" })
  await server.request("GET", "/api/v3/query_sql?db=prom&q=SELECT%20*%20FROM%20cpu", { token })
  await server.request("GET", "/api/v3/query_sql?db=nope&q=SELECT%201", { token })
})
afterAll(() => server.stop())

describe.skipIf(promtool === undefined)("/metrics under promtool", () => {
  it("`promtool check metrics` accepts a live server's /metrics: every family has HELP and TYPE", async () => {
    const text = expectOk(await server.request("GET", "/metrics", { token })).text
    const checked = NodeChild.spawnSync(promtool!, ["check", "metrics"], { input: text, encoding: "utf8" })
    expect({ status: checked.status, stdout: checked.stdout, stderr: checked.stderr }).toEqual({ status: 0, stdout: "", stderr: "" })
  })
})
