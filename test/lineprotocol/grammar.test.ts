import { describe, expect, it } from "@effect/vitest"
import { FieldKind, parseLineProtocol } from "../../src/lineprotocol/index.ts"
import { bad, message, one, prng } from "./helpers.ts"

const TSBS =
  "cpu,hostname=host_0,region=us-east-1,datacenter=us-east-1a,rack=0,os=Ubuntu15.10,arch=x86,team=SF,service=0," +
  "service_version=0,service_environment=production usage_user=58.11,usage_system=2.33,usage_idle=97.51," +
  "usage_nice=11.34,usage_iowait=75.40,usage_irq=20.87,usage_softirq=8.88,usage_steal=46.05,usage_guest=30.39," +
  "usage_guest_nice=45.34 1704067200000000000"

describe("lines and bodies", () => {
  it("a TSBS cpu line yields its measurement, tags in order, float fields and raw timestamp", () => {
    const line = one(TSBS)
    expect(line.lineNumber).toBe(1)
    expect(line.measurement).toBe("cpu")
    expect(line.tagKeys).toEqual([
      "hostname", "region", "datacenter", "rack", "os", "arch", "team", "service", "service_version",
      "service_environment"
    ])
    expect(line.tagValues).toEqual([
      "host_0", "us-east-1", "us-east-1a", "0", "Ubuntu15.10", "x86", "SF", "0", "0", "production"
    ])
    expect(line.fieldKeys).toEqual([
      "usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq", "usage_softirq",
      "usage_steal", "usage_guest", "usage_guest_nice"
    ])
    expect(line.fieldKinds).toEqual(Array(10).fill(FieldKind.Float))
    expect(line.fieldValues).toEqual([58.11, 2.33, 97.51, 11.34, 75.4, 20.87, 8.88, 46.05, 30.39, 45.34])
    expect(line.timestamp).toBe(1704067200000000000n)
  })

  it("a line without tags or timestamp parses with empty tags and an undefined timestamp", () => {
    const line = one("m f=1")
    expect(line.tagKeys).toEqual([])
    expect(line.tagValues).toEqual([])
    expect(line.timestamp).toBeUndefined()
  })

  it("an empty body yields no lines and no errors", () => {
    expect(parseLineProtocol("")).toEqual({ lines: [], errors: [], nonEmptyLines: 0 })
  })

  it("blank and comment lines are skipped but still count in physical line numbers", () => {
    const r = parseLineProtocol("# header\n\n   \nm f=1\n\t# indented comment\nm f=2\n")
    expect(r.errors).toEqual([])
    expect(r.lines.map((l) => l.lineNumber)).toEqual([4, 6])
    expect(r.nonEmptyLines).toBe(2)
  })

  it("a comment line containing a quote does not swallow the following line", () => {
    const r = parseLineProtocol('# a="open\nm f=1\n# x="\nm f=2')
    expect(r.lines.map((l) => l.lineNumber)).toEqual([2, 4])
  })

  it("leading spaces and tabs before the measurement are skipped", () => {
    expect(one(" \t  m f=1").measurement).toBe("m")
  })

  it("CRLF line endings are accepted and the \\r is not part of any value", () => {
    const r = parseLineProtocol("m f=1 10\r\nm s=\"x\"\r\nm b=t\r\n\r\nm f=2\r\n")
    expect(r.errors).toEqual([])
    expect(r.lines.map((l) => l.fieldValues[0])).toEqual([1, "x", true, 2])
    expect(r.lines.map((l) => l.lineNumber)).toEqual([1, 2, 3, 5])
    expect(r.lines[0]!.timestamp).toBe(10n)
  })

  it("a bad CRLF line reports its original text without the \\r", () => {
    expect(bad("m f=oops\r\n")).toEqual({ lineNumber: 1, message: "No fields were provided", originalLine: "m f=oops" })
  })

  it("trailing spaces and tabs after the timestamp are accepted", () => {
    expect(one("m f=1 123  \t ").timestamp).toBe(123n)
  })

  it("trailing spaces and tabs after the fields are accepted when there is no timestamp", () => {
    expect(one("m f=1 \t").timestamp).toBeUndefined()
  })

  it("several spaces may separate the series, the fields and the timestamp", () => {
    const line = one("  m,t=a   f=1i    123  ")
    expect(line.tagValues).toEqual(["a"])
    expect(line.timestamp).toBe(123n)
  })

  it("the last line needs no newline", () => {
    expect(parseLineProtocol("m f=1\nm f=2").lines).toHaveLength(2)
  })

  it("a bad line does not stop the lines after it", () => {
    const r = parseLineProtocol("cpu,host=b val=2 155\ncpu,host=a val= 123\ncpu,host=b val=5 199")
    expect(r.lines.map((l) => l.lineNumber)).toEqual([1, 3])
    expect(r.errors).toEqual([{ lineNumber: 2, message: "No fields were provided", originalLine: "cpu,host=a val= 123" }])
    expect(r.nonEmptyLines).toBe(3)
  })

  it("error line numbers are physical: comments and blank lines before the bad line count", () => {
    expect(parseLineProtocol("# c\n\ncpu v= 1").errors[0]).toEqual({
      lineNumber: 3,
      message: "No fields were provided",
      originalLine: "cpu v= 1"
    })
  })

  it("originalLine is the whole raw line, leading whitespace included and never truncated", () => {
    const long = "  m,t=" + "x".repeat(500) + " f=nope"
    expect(bad(long).originalLine).toBe(long)
  })

  it("a string field may span lines, and the next line is numbered after the lines it used", () => {
    const r = parseLineProtocol('m s="one\ntwo\nthree",f=1 5\nm f=2\n')
    expect(r.errors).toEqual([])
    expect(r.lines[0]!.fieldValues).toEqual(["one\ntwo\nthree", 1])
    expect(r.lines[0]!.lineNumber).toBe(1)
    expect(r.lines[1]!.lineNumber).toBe(4)
  })

  it("a multi-line string keeps CRLF inside it and only the line's final \\r is stripped", () => {
    const line = one('m s="a\r\nb"\r\n')
    expect(line.fieldValues).toEqual(["a\r\nb"])
  })

  it("a bad multi-line line reports the whole logical line as its original text", () => {
    const r = parseLineProtocol('m s="a\nb",s=1\nm f=1')
    expect(r.errors).toEqual([
      { lineNumber: 1, message: "invalid line protocol - multiple instances of 's' field found", originalLine: 'm s="a\nb",s=1' }
    ])
    expect(r.lines[0]!.lineNumber).toBe(3)
  })

  it("an escaped double quote does not open a multi-line string", () => {
    const r = parseLineProtocol('m f=\\"\nm f=2')
    expect(r.errors).toEqual([{ lineNumber: 1, message: "No fields were provided", originalLine: 'm f=\\"' }])
    expect(r.lines[0]!.lineNumber).toBe(2)
  })

  it("a double quote in a tag value does not open a multi-line string", () => {
    const r = parseLineProtocol('m,t=a"b f=1\nm f=2')
    expect(r.lines.map((l) => l.tagValues)).toEqual([['a"b'], []])
  })

  it("a backslash before a newline joins the two physical lines, as Go's scanner does", () => {
    const r = parseLineProtocol("m f=1\\\nm f=2\nm f=3")
    expect(r.errors).toEqual([
      { lineNumber: 1, message: "Could not parse entire line. Found trailing content: `\\\nm f=2`", originalLine: "m f=1\\\nm f=2" }
    ])
    expect(r.lines[0]!.lineNumber).toBe(3)
  })

  it("an unterminated string swallows the rest of the body into one bad line", () => {
    const r = parseLineProtocol('m s="open\nm f=1\nm f=2')
    expect(r.lines).toEqual([])
    expect(r.errors).toHaveLength(1)
    expect(r.errors[0]!.message).toBe("No fields were provided")
  })

  it("nonEmptyLines counts good and bad lines but not blanks or comments", () => {
    const r = parseLineProtocol("m f=1\n\n# x\nm f=\nm f=3\n")
    expect(r.nonEmptyLines).toBe(3)
    expect(r.lines.length + r.errors.length).toBe(3)
  })
})

describe("measurement", () => {
  it("a measurement may contain an unescaped equals sign", () => {
    expect(one("a=b f=1").measurement).toBe("a=b")
  })

  it("a measurement unescapes \\, \\space and \\\\", () => {
    expect(one("we\\,at\\ h\\\\er f=1").measurement).toBe("we,at h\\er")
  })

  it("a measurement keeps unknown escapes, including \\=, as both characters", () => {
    expect(one("a\\=b\\x\\tc f=1").measurement).toBe("a\\=b\\x\\tc")
  })

  it("a measurement may hold UTF-8 characters", () => {
    expect(one("température,lieu=Zürich 值=1,😀=2").measurement).toBe("température")
  })

  it("a line starting with a comma has an invalid measurement", () => {
    expect(message(",tag1=1,tag2=2 value=1 123")).toBe("Invalid measurement was provided")
  })

  it("a measurement starting with NUL is invalid", () => {
    expect(message("\0 field=1 1234")).toBe("Invalid measurement was provided")
  })

  it("a measurement may not end with a backslash", () => {
    expect(message("weather\\")).toBe("Measurements, tag keys and values, and field keys may not end with a backslash")
  })

  it("a measurement may not end with an escaped backslash either", () => {
    expect(message("weather\\\\ f=1")).toBe(
      "Measurements, tag keys and values, and field keys may not end with a backslash"
    )
  })

  it("a measurement alone lacks the space before the fields", () => {
    expect(message("measurement")).toBe("Expected at least one space character, got end of input")
  })

  it("a tab is not a separator after the series", () => {
    expect(message("m\tf=1")).toBe("Expected at least one space character, got `\tf=1`")
  })

  it("a measurement longer than 1 MiB is rejected", () => {
    expect(message("m".repeat(1_048_577) + " f=1")).toBe("String is greater than 1MB")
  })

  it("a measurement of exactly 1 MiB is accepted", () => {
    expect(one("m".repeat(1_048_576) + " f=1").measurement).toHaveLength(1_048_576)
  })
})

describe("tags", () => {
  it("tag keys and values unescape \\, \\= \\space and \\\\", () => {
    const line = one("m,k\\,e\\=y\\ \\\\1=v\\,a\\=l\\ \\\\1 f=1")
    expect(line.tagKeys).toEqual(["k,e=y \\1"])
    expect(line.tagValues).toEqual(["v,a=l \\1"])
  })

  it("tag keys and values keep other escapes as both characters", () => {
    expect(one("m,k\\x=v\\y f=1").tagValues).toEqual(["v\\y"])
  })

  it("a tag value may contain an unescaped equals sign", () => {
    expect(one("m,t=a=b=c f=1").tagValues).toEqual(["a=b=c"])
  })

  it("a tag key may contain an unescaped comma, as in InfluxDB 3", () => {
    expect(one("m,a,b=1 f=1").tagKeys).toEqual(["a,b"])
  })

  it("tags keep the order they were written in", () => {
    expect(one("m,z=1,a=2,m=3 f=1").tagKeys).toEqual(["z", "a", "m"])
  })

  it("a repeated tag key keeps only its last occurrence, at that position", () => {
    const line = one("m,a=1,b=2,a=3,c=4,b=5 f=1")
    expect(line.tagKeys).toEqual(["a", "c", "b"])
    expect(line.tagValues).toEqual(["3", "4", "5"])
  })

  it("many repeated tag keys are deduplicated", () => {
    const tags = Array.from({ length: 100 }, (_, i) => `k${i % 7}=${i}`).join(",")
    const line = one(`m,${tags} f=1`)
    expect(line.tagKeys).toEqual(["k2", "k3", "k4", "k5", "k6", "k0", "k1"])
    expect(line.tagValues).toEqual(["93", "94", "95", "96", "97", "98", "99"])
  })

  it("an empty tag value is an error naming what follows", () => {
    expect(message("m,a=,b=2 f=1")).toBe("Expected tag value, got `,b=2 f=1`")
    expect(message("testmeasure,foo= bar=1i")).toBe("Expected tag value, got ` bar=1i`")
  })

  it("a tag value missing at the end of the line is an error", () => {
    expect(message("0,,=")).toBe("Expected tag value, got end of input")
  })

  it("error contexts longer than 10 characters are cut with an ellipsis", () => {
    expect(message("metrics,bananas=,platanos=great value=1.000000 1725629157696678000")).toBe(
      "Expected tag value, got `,platanos=...`"
    )
  })

  it("error contexts are cut by UTF-8 length but keep whole characters", () => {
    expect(message("m,a=,ééééé")).toBe("Expected tag value, got `,ééééé...`")
  })

  it("a comma followed by a space has no tag key", () => {
    expect(message("testmeasure, bar=1i")).toBe("Expected tag key, got ` bar=1i`")
  })

  it("a trailing comma after the measurement has no tag key", () => {
    expect(message("m,")).toBe("Expected tag key, got end of input")
  })

  it("a tag without an equals sign names the whole tag set", () => {
    expect(message("J,#")).toBe("Tag set malformed: could not find equals sign in `#`")
    expect(message("m,a=1,b f=1")).toBe("Tag set malformed: could not find equals sign in `a=1,b f=1`")
    expect(message(`J,${"a".repeat(200)}`)).toBe("Tag set malformed: could not find equals sign in `aaaaaaaaaa...`")
  })

  it("a tag set without fields lacks the space before the fields", () => {
    expect(message("m,t=a")).toBe("Expected at least one space character, got end of input")
  })

  it("a tag key or value may not end with a backslash", () => {
    const msg = "Measurements, tag keys and values, and field keys may not end with a backslash"
    expect(message("m,t\\")).toBe(msg)
    expect(message("m,t=v\\")).toBe(msg)
    expect(message("m,t=v\\\\ f=1")).toBe(msg)
  })

  it("NUL characters are allowed inside tag keys and values", () => {
    expect(one("m,t\0a=o\0ne f=1").tagValues).toEqual(["o\0ne"])
  })

  it("a tag value longer than 1 MiB is rejected", () => {
    expect(message(`m,t=${"v".repeat(1_048_577)} f=1`)).toBe("String is greater than 1MB")
  })
})

describe("fields", () => {
  const value = (text: string) => {
    const line = one(`m f=${text}`)
    return [line.fieldKinds[0], line.fieldValues[0]]
  }

  it("a bare integer is a float", () => {
    expect(value("5")).toEqual([FieldKind.Float, 5])
    expect(value("-1")).toEqual([FieldKind.Float, -1])
  })

  it("floats take decimals and exponents", () => {
    expect(value("1.5")).toEqual([FieldKind.Float, 1.5])
    expect(value("1e5")).toEqual([FieldKind.Float, 1e5])
    expect(value("-1.5E-3")).toEqual([FieldKind.Float, -1.5e-3])
    expect(value("1.e5")).toEqual([FieldKind.Float, 1e5])
    expect(value("-1.234456e+06")).toEqual([FieldKind.Float, -1.234456e6])
    expect(value("1.234456E06")).toEqual([FieldKind.Float, 1.234456e6])
    expect(value("1e-0")).toEqual([FieldKind.Float, 1])
    expect(value("-0")).toEqual([FieldKind.Float, -0])
    expect(value("007.50")).toEqual([FieldKind.Float, 7.5])
  })

  it("decimal floats are read exactly like Number() reads them", () => {
    for (const text of ["0.1", "58.11", "97.51", "123456789012.345", "1234567890123456789.5", "0.000000000000000000000001"]) {
      expect(value(text)).toEqual([FieldKind.Float, Number(text)])
    }
    const rand = prng(5)
    const digits = (n: number) => Array.from({ length: n }, () => Math.floor(rand() * 10)).join("")
    const texts = Array.from({ length: 20_000 }, () => {
      const sign = rand() < 0.3 ? "-" : ""
      const whole = digits(1 + Math.floor(rand() * 12))
      const frac = rand() < 0.2 ? "" : "." + digits(1 + Math.floor(rand() * 10))
      const exp = rand() < 0.1 ? `e${rand() < 0.5 ? "-" : ""}${Math.floor(rand() * 30)}` : ""
      return sign + whole + frac + exp
    })
    const r = parseLineProtocol(texts.map((t) => `m f=${t}`).join("\n"))
    expect(r.errors).toEqual([])
    expect(r.lines.map((l) => l.fieldValues[0])).toEqual(texts.map(Number))
  })

  it("a float literal beyond the largest double is an error naming it (InfluxDB 1.x refuses it too), not infinity", () => {
    expect(message("m f=1e400")).toBe("Unable to parse floating-point value `1e400`: value out of range")
    expect(message("m f=-1.5E+309,g=1")).toBe("Unable to parse floating-point value `-1.5E+309`: value out of range")
    expect(message(`m f=${"9".repeat(400)}.5`)).toBe(`Unable to parse floating-point value \`${"9".repeat(400)}.5\`: value out of range`)
    expect(value("1.7976931348623157e308")).toEqual([FieldKind.Float, Number.MAX_VALUE])
    expect(value("1e-400")).toEqual([FieldKind.Float, 0])
  })

  it("a float may not end with a dot or start with one", () => {
    expect(message("m f=1.")).toBe("Could not parse entire line. Found trailing content: `.`")
    expect(message("m f=.5")).toBe("No fields were provided")
  })

  it("an exponent needs digits", () => {
    expect(message("m0 field=-1.234456e 1615869152385000000")).toBe(
      "Could not parse entire line. Found trailing content: `e 16158691...`"
    )
    expect(message("m f=1e+")).toBe("Could not parse entire line. Found trailing content: `e+`")
  })

  it("a float with two dots leaves the rest as trailing content", () => {
    expect(message("foo,tag0=value1 asdf=23.1.22,jkl=4")).toBe(
      "Could not parse entire line. Found trailing content: `.22,jkl=4`"
    )
  })

  it("NaN and infinity are not float literals", () => {
    expect(message("m f=NaN")).toBe("No fields were provided")
    expect(message("m f=inf")).toBe("No fields were provided")
  })

  it("integers end in i and cover the int64 range", () => {
    expect(value("5i")).toEqual([FieldKind.Integer, 5n])
    expect(value("-5i")).toEqual([FieldKind.Integer, -5n])
    expect(value("9223372036854775807i")).toEqual([FieldKind.Integer, 9223372036854775807n])
    expect(value("-9223372036854775808i")).toEqual([FieldKind.Integer, -9223372036854775808n])
    expect(value("0000000000000000000000012i")).toEqual([FieldKind.Integer, 12n])
  })

  it("an integer outside int64 is an error naming the digits", () => {
    expect(message("m f=9223372036854775808i")).toBe("Unable to parse integer value `9223372036854775808`")
    expect(message("m f=-9223372036854775809i")).toBe("Unable to parse integer value `-9223372036854775809`")
  })

  it("unsigned integers end in u and cover the uint64 range", () => {
    expect(value("5u")).toEqual([FieldKind.UInteger, 5n])
    expect(value("18446744073709551615u")).toEqual([FieldKind.UInteger, 18446744073709551615n])
  })

  it("an unsigned integer outside uint64 is an error naming the digits", () => {
    expect(message("m f=18446744073709551616u")).toBe("Unable to parse unsigned integer value `18446744073709551616`")
  })

  it("a negative unsigned integer is a float followed by trailing content", () => {
    expect(message("m f=-1u")).toBe("Could not parse entire line. Found trailing content: `u`")
  })

  it("strings unescape only \\\" and \\\\", () => {
    expect(value('"The \\"string\\" val"')).toEqual([FieldKind.String, 'The "string" val'])
    expect(value('"too hot\\cold"')).toEqual([FieldKind.String, "too hot\\cold"])
    expect(value('"too hot\\\\cold"')).toEqual([FieldKind.String, "too hot\\cold"])
    expect(value('"too hot\\\\\\cold"')).toEqual([FieldKind.String, "too hot\\\\cold"])
    expect(value('"a\\nb"')).toEqual([FieldKind.String, "a\\nb"])
  })

  it("a string may be empty and may hold separators and UTF-8", () => {
    expect(value('""')).toEqual([FieldKind.String, ""])
    expect(value('"a, b=c d"')).toEqual([FieldKind.String, "a, b=c d"])
    expect(value('"日本 😀"')).toEqual([FieldKind.String, "日本 😀"])
  })

  it("a string of 1 MiB is accepted and one byte more is rejected", () => {
    expect(value(`"${"x".repeat(1_048_576)}"`)[1]).toHaveLength(1_048_576)
    expect(message(`m f="${"x".repeat(1_048_577)}"`)).toBe("String is greater than 1MB")
  })

  it("the 1 MiB string limit counts UTF-8 bytes", () => {
    // 349526 three-byte characters are 1048578 bytes.
    expect(message(`m f="${"€".repeat(349_526)}"`)).toBe("String is greater than 1MB")
    expect(value(`"${"€".repeat(349_525)}"`)[0]).toBe(FieldKind.String)
  })

  it("booleans take all ten spellings", () => {
    for (const t of ["t", "T", "true", "True", "TRUE"]) expect(value(t)).toEqual([FieldKind.Boolean, true])
    for (const f of ["f", "F", "false", "False", "FALSE"]) expect(value(f)).toEqual([FieldKind.Boolean, false])
  })

  it("a partial boolean leaves trailing content", () => {
    expect(message("m v=fals")).toBe("Could not parse entire line. Found trailing content: `als`")
    expect(message("m v=trueish")).toBe("Could not parse entire line. Found trailing content: `ish`")
  })

  it("an unparsable first value means no fields were provided", () => {
    expect(message("cpu,host=a val= 123")).toBe("No fields were provided")
    expect(message("m val=abc")).toBe("No fields were provided")
    expect(message("m val=\0 1")).toBe("No fields were provided")
    expect(message("foo 1234")).toBe("No fields were provided")
    expect(message("m =1")).toBe("No fields were provided")
  })

  it("a line with only a series and a space has no fields", () => {
    expect(message("m,t=a ")).toBe("No fields were provided")
  })

  it("a bad second field leaves the text after its comma as trailing content", () => {
    expect(message("testmeasure,foo=f bar=1i,baz=")).toBe("Could not parse entire line. Found trailing content: `baz=`")
  })

  it("a bad later field leaves the text from its comma as trailing content", () => {
    expect(message("m a=1,b=2,c=x")).toBe("Could not parse entire line. Found trailing content: `,c=x`")
  })

  it("a trailing comma after a single field is tolerated, as in InfluxDB 3", () => {
    expect(one("m a=1,").fieldKeys).toEqual(["a"])
    expect(one("m a=1, 123").timestamp).toBe(123n)
    expect(message("m a=1,b=2,")).toBe("Could not parse entire line. Found trailing content: `,`")
  })

  it("mixed field kinds keep their order", () => {
    const line = one('foo asdf=23.1,bar=-5i,qux=9u,baz="the string",frab=false 1234')
    expect(line.fieldKeys).toEqual(["asdf", "bar", "qux", "baz", "frab"])
    expect(line.fieldKinds).toEqual([
      FieldKind.Float,
      FieldKind.Integer,
      FieldKind.UInteger,
      FieldKind.String,
      FieldKind.Boolean
    ])
    expect(line.fieldValues).toEqual([23.1, -5n, 9n, "the string", false])
  })

  it("field keys unescape \\, \\= \\space and \\\\", () => {
    expect(one("m a\\,b\\=c\\ d\\\\e=1").fieldKeys).toEqual(["a,b=c d\\e"])
  })

  it("a field key may not end with a backslash", () => {
    expect(message("m f\\")).toBe("Measurements, tag keys and values, and field keys may not end with a backslash")
    expect(message("m f\\\\=1")).toBe("Measurements, tag keys and values, and field keys may not end with a backslash")
  })

  it("the same field twice in a line is an error", () => {
    expect(message("cpu usage=1,idle=2,usage=3")).toBe("invalid line protocol - multiple instances of 'usage' field found")
  })

  it("a field repeated among many is found", () => {
    const fields = Array.from({ length: 40 }, (_, i) => `f${i}=1`).join(",")
    expect(message(`m ${fields},f17=2`)).toBe("invalid line protocol - multiple instances of 'f17' field found")
  })

  it("lines that repeat the previous line's field keys still get their own values", () => {
    const r = parseLineProtocol("m a=1,b=2\nm a=3,b=4i\nm a=5\nm a=6,b=7,c=8\nm b=1,a=2")
    expect(r.lines.map((l) => [l.fieldKeys, l.fieldKinds, l.fieldValues])).toEqual([
      [["a", "b"], [0, 0], [1, 2]],
      [["a", "b"], [0, 1], [3, 4n]],
      [["a"], [0], [5]],
      [["a", "b", "c"], [0, 0, 0], [6, 7, 8]],
      [["b", "a"], [0, 0], [1, 2]]
    ])
  })

  it("a repeated field is caught even when the keys before it match the previous line", () => {
    const r = parseLineProtocol("m a=1,b=2\nm a=1,a=2")
    expect(r.errors.map((e) => e.message)).toEqual(["invalid line protocol - multiple instances of 'a' field found"])
  })
})

describe("lines that resemble the line before", () => {
  it("tag keys that change from line to line are read afresh", () => {
    const r = parseLineProtocol("m,a=1,b=2 f=1\nm,a=3,b=4 f=1\nm,a=5 f=1\nm,a=6,b=7,c=8 f=1\nm,b=1,a=2 f=1\nm f=1\nm,a=9,a=10 f=1")
    expect(r.errors).toEqual([])
    expect(r.lines.map((l) => [l.tagKeys, l.tagValues])).toEqual([
      [["a", "b"], ["1", "2"]],
      [["a", "b"], ["3", "4"]],
      [["a"], ["5"]],
      [["a", "b", "c"], ["6", "7", "8"]],
      [["b", "a"], ["1", "2"]],
      [[], []],
      [["a"], ["10"]]
    ])
  })

  it("a key that is a prefix of the previous line's key is read whole", () => {
    const r = parseLineProtocol("m,host=a usage=1\nm,hostname=b usage_user=2\nm,host=c usage=3")
    expect(r.lines.map((l) => [l.tagKeys[0], l.fieldKeys[0]])).toEqual([
      ["host", "usage"],
      ["hostname", "usage_user"],
      ["host", "usage"]
    ])
  })

  it("escaped keys after plain ones, and plain after escaped, unescape correctly", () => {
    const r = parseLineProtocol("m,a\\ b=1 x\\ y=1\nm,a\\ b=2 x\\ y=2\nm,a=3 x=3\nm,a\\,b=4 x\\=y=4\nm,a,b=5 x,y=5")
    expect(r.errors).toEqual([])
    expect(r.lines.map((l) => [l.tagKeys[0], l.fieldKeys[0]])).toEqual([
      ["a b", "x y"],
      ["a b", "x y"],
      ["a", "x"],
      ["a,b", "x=y"],
      ["a,b", "x,y"]
    ])
  })

  it("a line whose series was seen before gets the same measurement and tags", () => {
    const r = parseLineProtocol("cpu,host=a,dc=x u=1 1\ncpu,host=b,dc=x u=2 1\ncpu,host=a,dc=x u=3 2\ncpu,host=a,dc=y u=4 2")
    expect(r.lines.map((l) => [l.measurement, l.tagValues, l.fieldValues[0]])).toEqual([
      ["cpu", ["a", "x"], 1],
      ["cpu", ["b", "x"], 2],
      ["cpu", ["a", "x"], 3],
      ["cpu", ["a", "y"], 4]
    ])
  })

  it("a remembered series does not hide an error in a later line's series", () => {
    const r = parseLineProtocol("cpu,host=a u=1\ncpu,host=a\tu=1\ncpu,host= u=1\ncpu,host=a u=2")
    expect(r.errors.map((e) => [e.lineNumber, e.message])).toEqual([
      [2, "Expected at least one space character, got `\tu=1`"],
      [3, "Expected tag value, got ` u=1`"]
    ])
    expect(r.lines.map((l) => l.lineNumber)).toEqual([1, 4])
  })

  it("many distinct series in one body all parse correctly", () => {
    const body = Array.from({ length: 20_000 }, (_, i) => `cpu,host=h${i % 7919},rack=${i % 13} u=${i}i ${i % 5}`).join("\n")
    const r = parseLineProtocol(body)
    expect(r.errors).toEqual([])
    r.lines.forEach((l, i) => {
      expect(l.tagValues).toEqual([`h${i % 7919}`, `${i % 13}`])
      expect(l.fieldValues).toEqual([BigInt(i)])
      expect(l.timestamp).toBe(BigInt(i % 5))
    })
  })
})

describe("timestamps", () => {
  it("a timestamp is kept raw, not scaled", () => {
    expect(one("m f=1 1708473600").timestamp).toBe(1708473600n)
  })

  it("a timestamp may be negative", () => {
    expect(one("foo value1=1i -123").timestamp).toBe(-123n)
  })

  it("timestamps cover the int64 range", () => {
    expect(one("m f=1 9223372036854775807").timestamp).toBe(9223372036854775807n)
    expect(one("m f=1 -9223372036854775808").timestamp).toBe(-9223372036854775808n)
  })

  it("a timestamp outside int64 is an error naming it", () => {
    expect(message("m f=1 9223372036854775808")).toBe("Unable to parse timestamp value `9223372036854775808`")
  })

  it("a decimal timestamp leaves its fraction as trailing content", () => {
    expect(message("m f=1 1.5")).toBe("Could not parse entire line. Found trailing content: `.5`")
  })

  it("text after the timestamp is trailing content", () => {
    expect(message("m f=1 123 456")).toBe("Could not parse entire line. Found trailing content: `456`")
    expect(message("m f=1 123abc")).toBe("Could not parse entire line. Found trailing content: `abc`")
  })

  it("text that is not a timestamp is trailing content, with the spaces before it", () => {
    expect(message("m f=1 abc")).toBe("Could not parse entire line. Found trailing content: ` abc`")
    expect(message("m f=1 -")).toBe("Could not parse entire line. Found trailing content: ` -`")
  })

  it("lines sharing a timestamp each get it", () => {
    const r = parseLineProtocol("m f=1 100\nm f=2 100\nm f=3 101\nm f=4 100")
    expect(r.lines.map((l) => l.timestamp)).toEqual([100n, 100n, 101n, 100n])
  })
})
