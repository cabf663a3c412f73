// Checksums of the log's rows and payloads. The commit thread computes them as it writes; readers verify them, so
// flipped bits in the SQLite file or a payload segment stop a start instead of silently changing what it rebuilds.
// CRC-32 is zlib's (native, ~2 GB/s here): it catches the bit flips and torn sectors storage produces, not tampering.
import * as NodeZlib from "node:zlib"

/** CRC-32 of a payload given in chunks, as if they were one buffer. */
export const payloadChecksum = (chunks: ReadonlyArray<Uint8Array>): number => {
  let crc = 0
  for (const chunk of chunks) crc = NodeZlib.crc32(chunk, crc)
  return crc
}

/** What a row of the `events` table says besides its payload's bytes. Integers as numbers or bigints, as read. */
export interface RowFields {
  readonly seq: number | bigint
  readonly at: bigint
  readonly node: string
  readonly kind: string
  readonly body: string
  readonly payloadSegment: number | bigint | null
  readonly payloadOffset: number | bigint | null
  readonly payloadLength: number | bigint | null
  readonly payloadCrc: number | bigint | null
}

const field = (value: number | bigint | null) => (value === null ? "-" : String(value))

/**
 * CRC-32 of a row: its seq, time, node, kind, body, where its payload lives and the payload's checksum. A flipped
 * bit in any of them (a body that still parses, a seq, an offset) shows as a mismatch.
 */
export const rowChecksum = (row: RowFields): number => {
  const head = `${field(row.seq)} ${row.at} ${field(row.payloadSegment)} ${field(row.payloadOffset)} ${field(row.payloadLength)} ${field(row.payloadCrc)} ${row.node.length}:${row.node} ${row.kind}\n`
  return NodeZlib.crc32(row.body, NodeZlib.crc32(head))
}
