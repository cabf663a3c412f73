// Serialising points back to line protocol, escaping exactly what the parser would otherwise read as syntax.
import { FieldKind, type FieldValue, type ParsedLine } from "./types.ts"

const MEASUREMENT_SPECIAL = /[, \\]/g
const NAME_SPECIAL = /[,= \\]/g
const STRING_SPECIAL = /["\\]/g
const MEASUREMENT_TEST = /[, \\]/
const NAME_TEST = /[,= \\]/
const STRING_TEST = /["\\]/

const escapeMeasurement = (s: string): string => (MEASUREMENT_TEST.test(s) ? s.replace(MEASUREMENT_SPECIAL, "\\$&") : s)
const escapeName = (s: string): string => (NAME_TEST.test(s) ? s.replace(NAME_SPECIAL, "\\$&") : s)
const escapeString = (s: string): string => (STRING_TEST.test(s) ? s.replace(STRING_SPECIAL, "\\$&") : s)

/**
 * Shortest text that parses back to the same double, -0 kept; infinities as out-of-range literals (the parser refuses
 * them).
 */
const formatFloat = (v: number): string => {
  if (Number.isFinite(v)) return Object.is(v, -0) ? "-0" : String(v)
  if (v === Infinity) return "1e999"
  if (v === -Infinity) return "-1e999"
  return "NaN" // not representable in line protocol; the parser rejects it
}

const formatValue = (kind: FieldKind, value: FieldValue): string => {
  switch (kind) {
    case FieldKind.Float:
      return formatFloat(value as number)
    case FieldKind.Integer:
      return `${value}i`
    case FieldKind.UInteger:
      return `${value}u`
    case FieldKind.String:
      return `"${escapeString(value as string)}"`
    case FieldKind.Boolean:
      return value ? "true" : "false"
  }
}

/**
 * Serialises a point to one line of line protocol. Names that cannot be expressed (empty, ending with a
 * backslash, a measurement starting with `#`, or containing tabs, newlines or NUL) come out as they are.
 */
export const formatLine = (line: Omit<ParsedLine, "lineNumber">): string => {
  let out = escapeMeasurement(line.measurement)
  const { tagKeys, tagValues, fieldKeys, fieldKinds, fieldValues } = line
  for (let i = 0; i < tagKeys.length; i++) out += "," + escapeName(tagKeys[i]!) + "=" + escapeName(tagValues[i]!)
  for (let i = 0; i < fieldKeys.length; i++) {
    out += (i === 0 ? " " : ",") + escapeName(fieldKeys[i]!) + "=" + formatValue(fieldKinds[i]!, fieldValues[i]!)
  }
  if (line.timestamp !== undefined) out += " " + line.timestamp
  return out
}
