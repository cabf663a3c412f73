import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import type { CommandContext, Decision } from "../../src/catalog/commands.ts"
import { applyEnvelope, emptyCatalog, nodesOf, usersOf, type CatalogState } from "../../src/catalog/state.ts"
import { decodeCheckpoint, encodeCheckpoint } from "../../src/checkpoint/codec.ts"
import { emptyFileIndex } from "../../src/storage/files.ts"
import { NodeStopped, RoleCreated, type StrataEvent } from "../../src/events/index.ts"
import { nodeRows } from "../../src/nodes/view.ts"
import { createRole, createUser, deleteUser, requirePasswordReset, setUserRoles, startSession } from "../../src/users/commands.ts"
import { hashPassword, verifyPassword } from "../../src/users/passwords.ts"
import { ADMIN_ROLE_ID, MEMBER_ROLE_ID, userGrant } from "../../src/users/roles.ts"
import { findUserToken } from "../../src/users/sessions.ts"

const NOW_NS = BigInt(Date.parse("2026-01-01T00:00:00Z")) * 1_000_000n
const SECOND_NS = 1_000_000_000n
const ctx = (nowNs = NOW_NS): CommandContext => ({
  limits: { numDatabaseLimit: 10, numTableLimit: 10, numColumnsPerTableLimit: 10, hardDeleteDefaultDurationMs: 0 },
  nowNs
})

let seq = 0
const apply = (state: CatalogState, events: ReadonlyArray<StrataEvent>, atNs = NOW_NS) =>
  events.reduce((s, event) => applyEnvelope(s, { seq: ++seq, at: atNs, node: "test", event, payload: null }), state)
const run = (state: CatalogState, decision: Decision, atNs = NOW_NS) => {
  if (Either.isLeft(decision)) throw new Error(`expected events, got ${decision.left._tag}: ${decision.left.message}`)
  return apply(state, decision.right, atNs)
}
const refused = (decision: Decision) => (Either.isLeft(decision) ? decision.left._tag : "accepted")

const user = (username: string, roleIds: ReadonlyArray<number> = [MEMBER_ROLE_ID]) => ({
  username,
  displayName: null,
  passwordHash: "scrypt$1$1$1$AA$AA",
  oauthId: null,
  roleIds,
  requiresPasswordReset: false
})

/** A catalog with users ann (1, Member) and bob (2, Member), and a session of ann's. */
const withUsers = () => {
  let s = run(emptyCatalog, createUser(emptyCatalog, user("ann")))
  s = run(s, createUser(s, user("bob")))
  return run(s, startSession(s, ctx(), 1, "ann-access", "ann-refresh"))
}

describe("users in the catalog reducer", () => {
  it("a created user is found by username; a second of the same name is a 409, an unknown role a 400", () => {
    const s = withUsers()
    expect(usersOf(s).userIdsByUsername.get("ann")).toBe(1)
    expect(refused(createUser(s, user("ann")))).toBe("AlreadyExists")
    expect(refused(createUser(s, user("cid", [42])))).toBe("InvalidRequest")
    expect(refused(setUserRoles(s, 1, [42]))).toBe("InvalidRequest")
    expect(refused(setUserRoles(s, 9, [1]))).toBe("NotFound")
  })

  it("a session's access token resolves to the user with the union of its roles, and stops at its expiry", () => {
    let s = withUsers()
    const token = findUserToken(s, "ann-access", NOW_NS)!
    expect(token.userId).toBe(1)
    expect(token.grant).toEqual({ _tag: "resource", permissions: [{ resourceType: "db", resourceNames: ["*"], actions: ["read", "write"] }] })
    expect(findUserToken(s, "ann-refresh", NOW_NS)).toBeUndefined()
    expect(findUserToken(s, "ann-access", NOW_NS + 3600n * SECOND_NS)).toBeUndefined()
    s = run(s, createRole(s, "logs-read", null, [{ resourceType: "database", actions: ["read"], identifiers: ["logs"], allResources: false }]))
    const logsRead = [...usersOf(s).roles.values()][0]!.id
    s = run(s, setUserRoles(s, 1, [logsRead, ADMIN_ROLE_ID]))
    expect(findUserToken(s, "ann-access", NOW_NS)!.grant).toEqual({ _tag: "admin" })
    s = run(s, setUserRoles(s, 1, [logsRead]))
    expect(userGrant(s, usersOf(s).users.get(1)!)).toEqual({ _tag: "resource", permissions: [{ resourceType: "db", resourceNames: ["logs"], actions: ["read"] }] })
  })

  it("a deleted user is kept soft-deleted, its name freed and its sessions ended", () => {
    let s = withUsers()
    s = run(s, deleteUser(s, 1, false))
    expect(usersOf(s).users.get(1)!.deletedAtNs).toBe(NOW_NS)
    expect(usersOf(s).userIdsByUsername.has("ann")).toBe(false)
    expect(usersOf(s).sessions.size).toBe(0)
    expect(findUserToken(s, "ann-access", NOW_NS)).toBeUndefined()
    expect(refused(deleteUser(s, 1, true))).toBe("NotFound")
    // bob is now the last one: only the operator may delete him.
    expect(refused(deleteUser(s, 2, false))).toBe("Forbidden")
    expect(refused(deleteUser(s, 2, true))).toBe("accepted")
  })

  it("requiring a password reset ends the user's sessions and refuses new ones", () => {
    let s = withUsers()
    s = run(s, requirePasswordReset(s, 1))
    expect(usersOf(s).users.get(1)!.requiresPasswordReset).toBe(true)
    expect(findUserToken(s, "ann-access", NOW_NS)).toBeUndefined()
    expect(refused(startSession(s, ctx(), 1, "a", "r"))).toBe("Forbidden")
  })

  it("sessions whose refresh token expired leave the state when a new one starts", () => {
    const s = withUsers()
    const later = NOW_NS + 8n * 24n * 3600n * SECOND_NS
    const next = run(s, startSession(s, ctx(later), 2, "bob-access", "bob-refresh"), later)
    expect([...usersOf(next).sessions.values()].map((x) => x.userId)).toEqual([2])
  })

  it("users survive a checkpoint round trip, and a checkpoint of an older server (no users, no nodes) still applies them", () => {
    const s = apply(withUsers(), [new RoleCreated({ version: 1, roleId: 100, name: "r", description: null, permissions: [] }), new NodeStopped({ version: 1, nodeId: "n" })])
    const back = decodeCheckpoint(encodeCheckpoint({ seq: s.lastSeq, catalog: s, files: emptyFileIndex })).catalog
    expect(back).toEqual(s)
    const { users: _u, nodes: _n, ...older } = emptyCatalog
    const old = older as unknown as CatalogState
    const next = run(old, createUser(old, user("ann")))
    expect(usersOf(next).users.size).toBe(1)
    expect(nodesOf(apply(old, [new NodeStopped({ version: 1, nodeId: "n" })])).has("n")).toBe(true)
  })
})

describe("passwords", () => {
  it.effect("a hash is salted and verifies only its own password", () =>
    Effect.gen(function* () {
      const a = yield* hashPassword("correct horse")
      const b = yield* hashPassword("correct horse")
      expect(a).not.toBe(b)
      expect(yield* verifyPassword("correct horse", a)).toBe(true)
      expect(yield* verifyPassword("correct horse!", a)).toBe(false)
      expect(yield* verifyPassword("correct horse", "not-a-hash")).toBe(false)
    })
  )
})

describe("system.nodes rows", () => {
  const record = (nodeId: string, startedAtNs: bigint, lastHeartbeatNs: bigint) => ({ nodeId, instanceId: "i", mode: ["query"], coreCount: 2, startedAtNs, lastHeartbeatNs })

  it("a node is running with a recent heartbeat, unresponsive without, and stopped once marked after its last start", () => {
    const s = apply(emptyCatalog, [new NodeStopped({ version: 1, nodeId: "c" }), new NodeStopped({ version: 1, nodeId: "d" })], NOW_NS)
    const rows = nodeRows(
      s,
      [record("a", NOW_NS, NOW_NS), record("b", NOW_NS - 600n * SECOND_NS, NOW_NS - 600n * SECOND_NS), record("c", NOW_NS - SECOND_NS, NOW_NS), record("d", NOW_NS + SECOND_NS, NOW_NS + SECOND_NS)],
      NOW_NS + SECOND_NS
    )
    expect(rows.map((r) => [r.nodeId, r.catalogId, r.state])).toEqual([
      ["a", 0, "running"],
      ["b", 1, "unresponsive"],
      ["c", 2, "stopped"],
      ["d", 3, "running"]
    ])
  })
})
