import { describe, expect, it } from "@effect/vitest"
import { formatLine, type ParsedLine, parseLineProtocol, type ParseResult } from "../../src/lineprotocol/index.ts"
import { prng } from "./helpers.ts"

const SEEDS = [1, 2, 3, 4]
const BODIES_PER_SEED = 100
const LINES_PER_BODY = 50 // 4 x 100 x 50 = 20,000 lines
const SLOW_TEST_MS = 60_000

const VALID: ReadonlyArray<string> = [
  "cpu,hostname=host_0,region=us-east-1,rack=0 usage_user=58.11,usage_system=2.33,usage_idle=97.51 1704067200000000000",
  "mem,host=a used=5i,free=18446744073709551615u,ok=t,name=\"x y\" -12",
  "disk\\ io,dev\\,ice=sd\\=a,path=/ r=1e5,w=-1.5E-3,q=1.e5",
  "net,t=v=w bytes=0i,msg=\"a \\\"quoted\\\" \\\\ back\\slash\" 9223372036854775807",
  "température,lieu=Zürich 值=1,😀=\"日本\" 1",
  "m f=1",
  "  m,t=a   f=FALSE,g=True   5  ",
  "# a comment",
  "",
  "m s=\"multi\nline\",f=1 2",
  "weather,location=us-midwest temperature=82 1465839830100400200",
  "a=b,c=d e=f"
]

const ALPHABET = [
  ",", "=", " ", " ", "\\", "\"", "\n", "\r", "\t", "#", "-", ".", "0", "9", "e", "E", "i", "u", "t", "F", "\0",
  "é", "😀", "\ud800", "x", "ü"
]

type Rand = () => number

const pick = <A>(rand: Rand, xs: ReadonlyArray<A>): A => xs[Math.floor(rand() * xs.length)]!

const mutate = (rand: Rand, line: string): string => {
  let s = line
  const edits = Math.floor(rand() * 4)
  for (let k = 0; k < edits; k++) {
    const at = Math.floor(rand() * (s.length + 1))
    switch (Math.floor(rand() * 6)) {
      case 0:
        s = s.slice(0, at) + pick(rand, ALPHABET) + s.slice(at)
        break
      case 1:
        s = s.slice(0, at) + s.slice(at + 1 + Math.floor(rand() * 3))
        break
      case 2: {
        const len = Math.floor(rand() * 12)
        s = s.slice(0, at) + s.slice(at, at + len) + s.slice(at)
        break
      }
      case 3:
        s = s.slice(0, at)
        break
      case 4:
        s = s.slice(0, at) + pick(rand, ALPHABET) + s.slice(at + 1)
        break
      default:
        s = s.slice(0, at) + pick(rand, VALID).slice(0, Math.floor(rand() * 20)) + s.slice(at)
    }
  }
  return s
}

/** Names that line protocol cannot express, so a reparsed line cannot match. */
const inexpressible = (line: ParsedLine): boolean =>
  [line.measurement, ...line.tagKeys, ...line.tagValues, ...line.fieldKeys].some((n) => /[\t\n\0]/.test(n))

const checkInvariants = (body: string, result: ParseResult): void => {
  expect(result.nonEmptyLines).toBe(result.lines.length + result.errors.length)
  const physical = body.split("\n").length
  const numbers = [...result.lines.map((l) => l.lineNumber), ...result.errors.map((e) => e.lineNumber)]
  expect(new Set(numbers).size).toBe(numbers.length)
  for (const n of numbers) {
    expect(n).toBeGreaterThanOrEqual(1)
    expect(n).toBeLessThanOrEqual(physical)
  }
  for (const error of result.errors) {
    expect(error.message.length).toBeGreaterThan(0)
    expect(body).toContain(error.originalLine)
  }
  for (const line of result.lines) {
    expect(line.fieldKeys.length).toBeGreaterThan(0)
    expect(line.fieldKinds).toHaveLength(line.fieldKeys.length)
    expect(line.fieldValues).toHaveLength(line.fieldKeys.length)
    expect(line.tagValues).toHaveLength(line.tagKeys.length)
    expect(new Set(line.fieldKeys).size).toBe(line.fieldKeys.length)
    expect(new Set(line.tagKeys).size).toBe(line.tagKeys.length)
    // Whatever the parser accepts, it must read back the same after serialising.
    if (!inexpressible(line)) {
      const { lineNumber: _, ...point } = line
      const again = parseLineProtocol(formatLine(point))
      expect(again.errors).toEqual([])
      expect(again.lines).toEqual([{ ...point, lineNumber: 1 }])
    }
  }
}

/** Physical lines that are neither blank nor comments, when no line can join another. */
const expectedLineCount = (lines: ReadonlyArray<string>): number =>
  lines.filter((l) => {
    const t = l.replace(/\r$/, "").replace(/^[ \t]+/, "")
    return t !== "" && !t.startsWith("#")
  }).length

describe("fuzzing", () => {
  for (const seed of SEEDS) {
    it(`randomly mutated lines never throw and each yields a line or an error (seed ${seed})`, () => {
      const rand = prng(seed)
      let total = 0
      for (let b = 0; b < BODIES_PER_SEED; b++) {
        const lines = Array.from({ length: LINES_PER_BODY }, () => {
          const base = pick(rand, VALID)
          return rand() < 0.3 ? base : mutate(rand, base)
        })
        const body = lines.join(rand() < 0.2 ? "\r\n" : "\n")
        const result = parseLineProtocol(body)
        checkInvariants(body, result)
        // Without quotes, backslashes or newlines inside lines, each physical line is one logical line.
        if (!/["\\]/.test(body) && lines.every((l) => !l.includes("\n"))) {
          expect(result.nonEmptyLines).toBe(expectedLineCount(body.split("\n")))
        }
        total += LINES_PER_BODY
      }
      expect(total).toBe(BODIES_PER_SEED * LINES_PER_BODY)
    }, SLOW_TEST_MS)
  }

  it("mutated lines without quotes, backslashes or newlines map one to one onto results", () => {
    const rand = prng(99)
    const plain = VALID.filter((l) => !/["\\\n]/.test(l))
    const alphabet = ALPHABET.filter((c) => !/["\\\n]/.test(c))
    for (let b = 0; b < 200; b++) {
      const lines = Array.from({ length: 50 }, () => {
        let s = pick(rand, plain)
        for (let k = 0; k < 3; k++) {
          const at = Math.floor(rand() * (s.length + 1))
          s = s.slice(0, at) + pick(rand, alphabet) + s.slice(at + (rand() < 0.5 ? 1 : 0))
        }
        return s
      })
      const result = parseLineProtocol(lines.join("\n"))
      const expected = lines.flatMap((l, i) => {
        const t = l.replace(/\r$/, "").replace(/^[ \t]+/, "")
        return t === "" || t.startsWith("#") ? [] : [i + 1]
      })
      const got = [...result.lines.map((l) => l.lineNumber), ...result.errors.map((e) => e.lineNumber)].sort(
        (x, y) => x - y
      )
      expect(got).toEqual(expected)
      for (const e of result.errors) expect(e.originalLine).toBe(lines[e.lineNumber - 1]!.replace(/\r$/, ""))
    }
  }, SLOW_TEST_MS)
})

describe("pathological bodies finish quickly", { timeout: SLOW_TEST_MS }, () => {
  const quick = (body: string) => {
    const t0 = performance.now()
    const result = parseLineProtocol(body)
    const ms = performance.now() - t0
    expect(ms).toBeLessThan(3000) // a quadratic path would take minutes
    return result
  }

  it("many short lines without any space", () => {
    expect(quick("m\n".repeat(200_000)).errors).toHaveLength(200_000)
  })

  it("a line with a huge number of repeated tags", () => {
    const tags = Array.from({ length: 100_000 }, (_, i) => `k${i % 1000}=v`).join(",")
    expect(quick(`m,${tags} f=1`).lines[0]!.tagKeys).toHaveLength(1000)
  })

  it("a line with a huge number of fields", () => {
    const fields = Array.from({ length: 100_000 }, (_, i) => `f${i}=1`).join(",")
    expect(quick(`m ${fields}`).lines[0]!.fieldKeys).toHaveLength(100_000)
  })

  it("many lines with an unterminated string", () => {
    expect(quick('m,t=a f="x\\"\n'.repeat(50_000)).nonEmptyLines).toBeGreaterThan(0)
  })

  it("many escaped names and a long tail without backslashes", () => {
    const head = Array.from({ length: 20_000 }, (_, i) => `m\\ ${i},t\\ =v\\,${i} f\\ x=1`).join("\n")
    const tail = "\nm f=1".repeat(200_000)
    expect(quick(head + tail).lines).toHaveLength(220_000)
  })

  it("a long run of backslashes and quotes", () => {
    quick("m f=" + '\\"'.repeat(500_000))
    quick('m s="' + "\\".repeat(1_000_001) + '"')
  })
})
