import { describe, expect, it } from "@effect/vitest"
import {
  FieldKind,
  type FieldValue,
  formatLine,
  type ParsedLine,
  parseLineProtocol
} from "../../src/lineprotocol/index.ts"
import { prng } from "./helpers.ts"

type Rand = () => number
type Point = Omit<ParsedLine, "lineNumber">

const NAME_CHARS = [
  "a", "b", "z", "Q", "0", "7", "_", "-", ".", " ", ",", "=", "\\", "\"", "'", "#", "é", "ü", "中", "😀", "\r", "/"
]
const STRING_CHARS = [...NAME_CHARS, "\n", "\t", "\0", "\r\n"]

const pick = <A>(rand: Rand, xs: ReadonlyArray<A>): A => xs[Math.floor(rand() * xs.length)]!
const int = (rand: Rand, n: number): number => Math.floor(rand() * n)

const randomText = (rand: Rand, chars: ReadonlyArray<string>, max: number): string => {
  let s = ""
  const n = int(rand, max + 1)
  for (let i = 0; i < n; i++) s += pick(rand, chars)
  return s
}

/** A non-empty name that does not end with a backslash (line protocol cannot express that). */
const randomName = (rand: Rand): string => {
  let s = randomText(rand, NAME_CHARS, 12)
  while (s.endsWith("\\")) s = s.slice(0, -1)
  return s === "" ? pick(rand, ["a", "é", "x y", "😀"]) : s
}

const randomMeasurement = (rand: Rand): string => {
  const s = randomName(rand)
  return s.startsWith("#") ? "m" + s : s // a leading # would make the line a comment
}

const uniqueNames = (rand: Rand, n: number): Array<string> => {
  const names = new Set<string>()
  while (names.size < n) names.add(randomName(rand))
  return [...names]
}

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n
const UINT64_MAX = 2n ** 64n - 1n

const randomBigInt = (rand: Rand, min: bigint, max: bigint): bigint => {
  switch (int(rand, 5)) {
    case 0:
      return min
    case 1:
      return max
    case 2: {
      const small = BigInt(int(rand, 2001) - 1000)
      return small < min ? min : small > max ? max : small
    }
    default: {
      let v = 0n
      for (let i = 0; i < 4; i++) v = (v << 16n) | BigInt(int(rand, 65536))
      const span = max - min + 1n
      return min + (v % span)
    }
  }
}

const randomFloat = (rand: Rand): number => {
  switch (int(rand, 8)) {
    case 0:
      return int(rand, 1000) - 500
    case 1:
      return Math.round((rand() - 0.5) * 1e6) / 100
    case 2:
      return (rand() - 0.5) * 10 ** (int(rand, 600) - 300)
    case 3:
      return pick(rand, [0, -0, Number.MAX_VALUE, -Number.MIN_VALUE, 5e-324, 1e21, 1e-7])
    case 4:
      return new Float64Array(new BigUint64Array([BigInt.asUintN(64, randomBigInt(rand, 0n, 2n ** 63n))]).buffer)[0]!
    default:
      return rand() * 100
  }
}

const randomValue = (rand: Rand, kind: FieldKind): FieldValue => {
  switch (kind) {
    case FieldKind.Float: {
      const v = randomFloat(rand)
      return Number.isFinite(v) ? v : 1 // NaN and infinities have no line-protocol literal
    }
    case FieldKind.Integer:
      return randomBigInt(rand, INT64_MIN, INT64_MAX)
    case FieldKind.UInteger:
      return randomBigInt(rand, 0n, UINT64_MAX)
    case FieldKind.String:
      return randomText(rand, STRING_CHARS, 20)
    case FieldKind.Boolean:
      return rand() < 0.5
  }
}

const randomPoint = (rand: Rand): Point => {
  const tagKeys = uniqueNames(rand, int(rand, 5))
  const fieldKeys = uniqueNames(rand, 1 + int(rand, 6))
  const fieldKinds = fieldKeys.map(() => int(rand, 5) as FieldKind)
  return {
    measurement: randomMeasurement(rand),
    tagKeys,
    tagValues: tagKeys.map(() => randomName(rand)),
    fieldKeys,
    fieldKinds,
    fieldValues: fieldKinds.map((k) => randomValue(rand, k)),
    timestamp: rand() < 0.3 ? undefined : randomBigInt(rand, INT64_MIN, INT64_MAX)
  }
}

describe("round trip", () => {
  it("formatLine then parseLineProtocol gives back each of 5,000 random points", () => {
    const rand = prng(7)
    for (let i = 0; i < 5000; i++) {
      const point = randomPoint(rand)
      const text = formatLine(point)
      const result = parseLineProtocol(text)
      expect(result.errors, text).toEqual([])
      expect(result.lines, text).toEqual([{ ...point, lineNumber: 1 }])
    }
  }, 60_000)

  it("a body of formatted points parses back in order with physical line numbers", () => {
    const rand = prng(11)
    for (let b = 0; b < 50; b++) {
      const points = Array.from({ length: 100 }, () => randomPoint(rand))
      const texts = points.map(formatLine)
      const eol = rand() < 0.5 ? "\n" : "\r\n"
      const result = parseLineProtocol(texts.join(eol) + eol)
      expect(result.errors).toEqual([])
      let lineNumber = 1
      const expected = points.map((p, i) => {
        const line = { ...p, lineNumber }
        lineNumber += texts[i]!.split("\n").length
        return line
      })
      expect(result.lines).toEqual(expected)
    }
  }, 60_000)

  it("formatLine escapes what each part needs and nothing more", () => {
    const text = formatLine({
      measurement: "a b,c=d\\e",
      tagKeys: ["k ,=\\"],
      tagValues: ["v ,=\\"],
      fieldKeys: ["f ,=\\", "s", "i", "u", "b", "x"],
      fieldKinds: [
        FieldKind.Float,
        FieldKind.String,
        FieldKind.Integer,
        FieldKind.UInteger,
        FieldKind.Boolean,
        FieldKind.Float
      ],
      fieldValues: [1.5, 'say "hi" \\ there', -3n, 4n, true, -0],
      timestamp: 42n
    })
    expect(text).toBe(
      'a\\ b\\,c=d\\\\e,k\\ \\,\\=\\\\=v\\ \\,\\=\\\\ f\\ \\,\\=\\\\=1.5,s="say \\"hi\\" \\\\ there",i=-3i,u=4u,b=true,x=-0 42'
    )
  })

  it("formatLine writes infinities as out-of-range literals, which the parser refuses", () => {
    const point: Point = {
      measurement: "m",
      tagKeys: [],
      tagValues: [],
      fieldKeys: ["a", "b"],
      fieldKinds: [FieldKind.Float, FieldKind.Float],
      fieldValues: [Infinity, -Infinity],
      timestamp: undefined
    }
    expect(formatLine(point)).toBe("m a=1e999,b=-1e999")
    expect(parseLineProtocol(formatLine(point)).errors.map((e) => e.message)).toEqual(["Unable to parse floating-point value `1e999`: value out of range"])
  })
})
