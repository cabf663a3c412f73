import { describe, expect, it } from "@effect/vitest"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { segmentDir, SegmentReader, SegmentWriter, type PayloadRef } from "../../src/log/segments.ts"
import { tempDir } from "../support/server.ts"

const readPayload = (dir: string, ref: PayloadRef) => {
  const reader = new SegmentReader(dir)
  try {
    return reader.read(ref)
  } finally {
    reader.close()
  }
}

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) % 251)

describe("payload segments", () => {
  it("reads back every payload of a commit exactly, across chunks, commits and a reopened writer", () => {
    const dir = tempDir()
    const writer = new SegmentWriter(dir)
    const first = [
      [bytes(70_000, 1), bytes(5, 2)],
      [bytes(1, 3)],
      [bytes(200_000, 4), bytes(64 * 1024, 5), bytes(3, 6)]
    ]
    const refs1 = writer.write(first)
    writer.sync()
    // A payload larger than the staging area is written in several pieces.
    const big = [[bytes(9 * 1024 * 1024 + 17, 7)]]
    const refs2 = writer.write(big)
    writer.sync()
    writer.close()
    const reopened = new SegmentWriter(dir)
    const refs3 = reopened.write([[bytes(100_001, 8)]])
    reopened.sync()
    reopened.close()

    const expectPayload = (
      ref: { segment: number; offset: number; length: number },
      chunks: ReadonlyArray<Uint8Array>
    ) => expect(Buffer.from(readPayload(dir, ref)).equals(Buffer.concat(chunks))).toBe(true)
    refs1.forEach((ref, i) => expectPayload(ref, first[i]!))
    expectPayload(refs2[0]!, big[0]!)
    expectPayload(refs3[0]!, [bytes(100_001, 8)])
    // Payloads never overlap: each starts at or after the end of the one before.
    const all = [...refs1, ...refs2, ...refs3]
    for (let i = 1; i < all.length; i++)
      expect(all[i]!.offset).toBeGreaterThanOrEqual(all[i - 1]!.offset + all[i - 1]!.length)
    expect(NodeFs.readdirSync(segmentDir(dir))).toEqual(["00000001.seg"])
  })

  it("a full segment is closed and the next one started; a reopened writer appends to the newest", () => {
    const dir = tempDir()
    const writer = new SegmentWriter(dir, 256 * 1024)
    const payloads = Array.from({ length: 6 }, (_, i) => [bytes(100_000 + i, i)])
    const refs = payloads.flatMap((p) => writer.write([p]))
    writer.sync()
    writer.close()
    const reopened = new SegmentWriter(dir, 256 * 1024)
    const [last] = reopened.write([[bytes(10, 9)]])
    reopened.sync()
    reopened.close()
    expect(refs.map((r) => r.segment)).toEqual([1, 1, 2, 2, 3, 3])
    expect(last!.segment).toBe(3)
    refs.forEach((ref, i) =>
      expect(Buffer.from(readPayload(dir, ref)).equals(Buffer.from(payloads[i]![0]!))).toBe(true)
    )
    expect(Buffer.from(readPayload(dir, last!)).equals(Buffer.from(bytes(10, 9)))).toBe(true)
    expect(NodeFs.readdirSync(segmentDir(dir)).sort()).toEqual(["00000001.seg", "00000002.seg", "00000003.seg"])
  })

  it("a reference past the end of its segment is an error, not a short payload", () => {
    const dir = tempDir()
    const writer = new SegmentWriter(dir)
    const [ref] = writer.write([[bytes(10, 1)]])
    writer.sync()
    writer.close()
    NodeFs.truncateSync(NodePath.join(segmentDir(dir), "00000001.seg"), 4)
    expect(() => readPayload(dir, ref!)).toThrow(/ends before byte 10/)
  })
})
