import { describe, expect, it } from "vitest"
import { decodeEvent, encodeEvent, TokenCreated } from "../../src/events/index.ts"

// Logs written before the discriminant became `_tag` store a token's grant as `{"kind": …}`; they must still replay.
const storedBody = (grant: unknown) =>
  JSON.stringify({
    _tag: "TokenCreated",
    version: 1,
    tokenId: 3,
    name: "reader",
    hash: "ab12",
    createdAtNs: "1700000000000000000",
    expiresAtNs: null,
    grant
  })

describe("token grants in the event log", () => {
  it("an admin grant stored with `kind` decodes to `_tag`", () => {
    const event = decodeEvent(storedBody({ kind: "admin" }))
    expect(event).toBeInstanceOf(TokenCreated)
    expect((event as TokenCreated).grant).toEqual({ _tag: "admin" })
  })

  it("a resource grant stored with `kind` decodes with its permissions", () => {
    const permissions = [{ resourceType: "db", resourceNames: ["metrics", "*"], actions: ["read", "write"] }]
    const event = decodeEvent(storedBody({ kind: "resource", permissions }))
    expect((event as TokenCreated).grant).toEqual({ _tag: "resource", permissions })
  })

  it("a grant is written as `kind`, so the log keeps one shape and older servers still read it", () => {
    const permissions = [{ resourceType: "system", resourceNames: ["health"], actions: ["read"] }]
    const body = storedBody({ kind: "resource", permissions })
    const written = JSON.parse(encodeEvent(decodeEvent(body)))
    expect(written.grant).toEqual(JSON.parse(body).grant)
    expect(written.grant._tag).toBeUndefined()
  })

  it("an unknown grant shape is refused", () => {
    expect(() => decodeEvent(storedBody({ _tag: "admin" }))).toThrow()
  })
})
