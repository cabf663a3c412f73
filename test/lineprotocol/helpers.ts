import { expect } from "vitest"
import { type LineError, type ParsedLine, parseLineProtocol } from "../../src/lineprotocol/index.ts"

/** Parses a body that must hold exactly one good line, and returns it. */
export const one = (body: string): ParsedLine => {
  const result = parseLineProtocol(body)
  expect(result.errors).toEqual([])
  expect(result.lines).toHaveLength(1)
  return result.lines[0]!
}

/** Parses a body that must hold exactly one bad line, and returns its error. */
export const bad = (body: string): LineError => {
  const result = parseLineProtocol(body)
  expect(result.lines).toEqual([])
  expect(result.errors).toHaveLength(1)
  return result.errors[0]!
}

/** The error message for a body holding exactly one bad line. */
export const message = (body: string): string => bad(body).message

/** Deterministic PRNG (mulberry32) so fuzz and property runs are reproducible. */
export const prng = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}
