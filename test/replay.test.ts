import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { hashToken } from "../src/auth/tokens.ts"
import { catalogSummary } from "../src/replay.ts"
import { expectOk } from "./support/expect.ts"
import { catalogOf, createOperatorToken, runCli, startServer, tempDir, type CliResult, type InProcessServer } from "./support/server.ts"

interface EnvelopeLine {
  envelope: {
    seq: number
    at: string
    node: string
    kind: string
    body: Record<string, unknown>
    payload_bytes: number
  }
}
interface CatalogLine {
  catalog: ReturnType<typeof catalogSummary>
}

/** Splits `replay --json` output into its envelope lines and the final catalog line. */
const parseJsonReplay = (stdout: string) => {
  const lines = stdout.trimEnd().split("\n").map((l) => JSON.parse(l) as EnvelopeLine | CatalogLine)
  const last = lines.pop() as CatalogLine
  expect(Object.keys(last)).toEqual(["catalog"])
  for (const line of lines) expect(Object.keys(line)).toEqual(["envelope"])
  return { envelopes: (lines as Array<EnvelopeLine>).map((l) => l.envelope), catalog: last.catalog }
}

/** JSON round trip, so bigints and Maps compare as the CLI prints them. */
const asJson = (value: unknown) => JSON.parse(JSON.stringify(value, (_, v) => (typeof v === "bigint" ? v.toString() : v))) as unknown

let server: InProcessServer
let secrets: Array<string>
/** The seq of the envelope that soft-deleted `doomed`. */
let deleteSeq: number

beforeAll(async () => {
  server = await startServer({ nodeId: "replay-node" }, tempDir())
  const admin = await createOperatorToken(server)
  const post = (path: string, body: unknown) => server.request("POST", path, { token: admin, body })
  expectOk(await post("/api/v3/configure/table", { db: "metrics", table: "cpu", tags: ["host"], fields: [{ name: "usage", type: "float64" }] }))
  expectOk(await post("/api/v3/configure/database", { db: "doomed", retention_period: "1d" }))
  expectOk(await server.request("DELETE", "/api/v3/configure/database?db=doomed", { token: admin }))
  deleteSeq = (await catalogOf(server)).lastSeq
  const ci = expectOk(await post("/api/v3/configure/token/named_admin", { token_name: "ci" }), 201).json<{ token: string }>().token
  secrets = [admin, ci]
})
afterAll(() => server.stop())

describe("strata replay", () => {
  describe("beside a running server", () => {
    let full: CliResult
    let untilBeforeDelete: CliResult
    beforeAll(async () => {
      ;[full, untilBeforeDelete] = await Promise.all([
        runCli(["replay", "--data-dir", server.dataDir, "--json"]),
        runCli(["replay", "--data-dir", server.dataDir, "--json", "--until-seq", String(deleteSeq - 1)])
      ])
    }, 90_000)

    it("--json prints every envelope in seq order, then the same catalog the server holds", async () => {
      expect(full.stderr).toBe("")
      expect(full.code).toBe(0)
      const { envelopes, catalog } = parseJsonReplay(full.stdout)
      expect(envelopes.map((e) => e.seq)).toEqual(envelopes.map((_, i) => i + 1))
      expect(envelopes.map((e) => e.kind)).toEqual([
        "ClusterInitialized",
        "DatabaseCreated",
        "TokenCreated",
        "DatabaseCreated",
        "TableCreated",
        "DatabaseCreated",
        "DatabaseSoftDeleted",
        "TokenCreated"
      ])
      expect(envelopes.every((e) => e.node === "replay-node" && /^\d+$/.test(e.at) && e.payload_bytes === 0)).toBe(true)
      expect(envelopes[3]!.body).toMatchObject({ _tag: "DatabaseCreated", name: "metrics", version: 1 })
      const state = await catalogOf(server)
      expect(catalog).toEqual(asJson(catalogSummary(state)))
      expect(catalog.last_seq).toBe(state.lastSeq)
    })

    it("never prints a token secret, and the catalog never a token hash", () => {
      const catalogLine = full.stdout.trimEnd().split("\n").at(-1)!
      for (const secret of secrets) {
        expect(full.stdout).not.toContain(secret)
        expect(catalogLine).not.toContain(hashToken(secret))
      }
    })

    it("--until-seq stops the log there and projects the catalog as of that seq", () => {
      expect(untilBeforeDelete.code).toBe(0)
      const { envelopes, catalog } = parseJsonReplay(untilBeforeDelete.stdout)
      expect(envelopes.map((e) => e.seq).at(-1)).toBe(deleteSeq - 1)
      expect(catalog.last_seq).toBe(deleteSeq - 1)
      const doomed = catalog.databases.find((d) => d.name === "doomed")
      expect(doomed).toMatchObject({ deleted: false, retention_period_ns: "86400000000000" })
      expect(catalog.tokens.map((t) => t.name)).toEqual(["_admin"])
    })
  })

  describe("after the server has stopped", () => {
    let final: ReturnType<typeof catalogSummary>
    let text: CliResult
    let untilTwo: CliResult
    beforeAll(async () => {
      final = catalogSummary(await catalogOf(server))
      await server.stop()
      ;[text, untilTwo] = await Promise.all([
        runCli(["replay", "--data-dir", server.dataDir]),
        runCli(["replay", "--data-dir", server.dataDir, "--until-seq", "2", "--json"])
      ])
    }, 90_000)

    it("prints one tab-separated line per envelope, then the catalog as the server left it", () => {
      expect(text.code).toBe(0)
      const [log, catalogText] = text.stdout.split(`\ncatalog at seq ${final.last_seq}:\n`)
      const lines = log!.trimEnd().split("\n")
      expect(lines).toHaveLength(final.last_seq)
      lines.forEach((line, i) => {
        const [seq, at, node, kind, body] = line.split("\t")
        expect(seq).toBe(String(i + 1))
        expect(at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)
        expect(node).toBe("replay-node")
        expect(JSON.parse(body!)).toMatchObject({ _tag: kind })
      })
      expect(JSON.parse(catalogText!)).toEqual(asJson(final))
      for (const secret of secrets) expect(text.stdout).not.toContain(secret)
    })

    it("--json --until-seq 2 shows the log's first two envelopes: the cluster and _internal", () => {
      expect(untilTwo.code).toBe(0)
      const early = parseJsonReplay(untilTwo.stdout)
      expect(early.envelopes.map((e) => e.kind)).toEqual(["ClusterInitialized", "DatabaseCreated"])
      expect(early.catalog).toMatchObject({ cluster_uuid: final.cluster_uuid, last_seq: 2, tokens: [] })
      expect(early.catalog.databases.map((d) => d.name)).toEqual(["_internal"])
    })
  })

  it("fails with a message when the data dir has no event log, and on bad flags", async () => {
    const [missing, badSeq, unknown] = await Promise.all([
      runCli(["replay", "--data-dir", tempDir()]),
      runCli(["replay", "--data-dir", server.dataDir, "--until-seq", "soon"]),
      runCli(["replay", "--data-dir", server.dataDir, "--since", "3"])
    ])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/no event log at .*log\.sqlite/)
    expect(missing.stdout).toBe("")
    expect(badSeq.code).toBe(2)
    expect(badSeq.stderr).toMatch(/^error: invalid --until-seq 'soon'/)
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toMatch(/^error: unknown flag --since/)
  }, 90_000)
})
