import { Effect } from "effect"
import { Compactor } from "../../src/compactor/Compactor.ts"
import type { InProcessServer, ServerHandle, TestResponse } from "../support/server.ts"

/** Polls a backup until `done` holds of it (or fails after `timeoutMs`). */
export const waitForBackup = async (server: Pick<ServerHandle, "request">, token: string, name: string, done: (b: any) => boolean = (b) => b.status !== "in_progress", timeoutMs = 20_000) => {
  const until = Date.now() + timeoutMs
  let last: TestResponse | undefined
  while (Date.now() < until) {
    last = await server.request("GET", `/api/v3/enterprise/backup/${encodeURIComponent(name)}`, { token })
    if (last.status === 200 && done(last.json())) return last.json()
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`backup ${name} did not get there in time: ${last?.status} ${last?.text}`)
}

/** Persists the server's write buffer to Parquet now. */
export const persistNow = (server: InProcessServer) =>
  server.runtime.runPromise(Effect.flatMap(Compactor, (c) => c.persistNow))

/** Line protocol of `n` points of table `m` from index `from`, one per second. */
export const points = (from: number, n: number, table = "m") =>
  Array.from({ length: n }, (_, i) => `${table},host=h${(from + i) % 5} v=${from + i} ${1_704_067_200_000_000_000n + BigInt(from + i) * 1_000_000_000n}`).join("\n")
