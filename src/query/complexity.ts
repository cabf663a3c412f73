/**
 * Bounds on SQL text checked before DuckDB parses it. DuckDB's parser takes time quadratic in the length of an
 * AND/OR chain (5,000 terms: ~0.1 s to parse and ~1 s to plan; 20,000: ~1 s and ~15 s; the 10 MB a body may hold:
 * hours) and in the number of distinct GROUP BY expressions (1,000: 40 ms; 4,000: ~1.4 s), and every token becomes
 * tree nodes the main thread then walks (see TREE_LIMITS in ast.ts). So the text is counted first, with DuckDB's own
 * lexical rules (Postgres' scan.l: strings, E'' strings with
 * backslash escapes, $tag$ strings, quoted identifiers, nested comments), so nothing inside a literal or comment
 * counts and nothing outside one is missed.
 */

export const SQL_LIMITS = {
  /** Tokens of the whole text (an IN list of n values is about 2n). */
  tokens: 60_000,
  /** AND and OR operators of the whole text. */
  booleanOperators: 5_000,
  /** Terms of one GROUP BY clause (its commas, nested ones included, up to the next clause). */
  groupByTerms: 1_000
} as const

/** What the check counted. */
export interface SqlCounts {
  readonly tokens: number
  readonly booleanOperators: number
  /** The most terms of any one GROUP BY clause. */
  readonly groupByTerms: number
}

/**
 * Reserved words that end a GROUP BY list at its own depth (the next clause or query). Reserved, they cannot be a
 * term of the list unless quoted or qualified (`t.order`), so no query can hide terms behind them.
 */
const CLAUSE_AFTER_GROUP_BY = new Set(["having", "order", "limit", "offset", "qualify", "window", "fetch", "union", "except", "intersect", "select"])

const isIdentStart = (c: number) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c >= 128
const isDigit = (c: number) => c >= 48 && c <= 57
const isIdentCont = (c: number) => isIdentStart(c) || isDigit(c) || c === 36
const isSpace = (c: number) => c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || c === 11

/** Where a quoted run that started at `open` ends (past its closing quote; a doubled quote does not close it). */
const skipQuoted = (sql: string, open: number, quote: string): number => {
  let i = open + 1
  for (;;) {
    const close = sql.indexOf(quote, i)
    if (close < 0) return sql.length
    if (sql[close + 1] !== quote) return close + 1
    i = close + 2
  }
}

/** The end of an E'' string: backslash escapes any character, a doubled quote is a quote. */
const skipEscapeString = (sql: string, open: number): number => {
  let i = open + 1
  while (i < sql.length) {
    const c = sql.charCodeAt(i)
    if (c === 92) i += 2
    else if (c === 39) {
      if (sql.charCodeAt(i + 1) !== 39) return i + 1
      i += 2
    } else i++
  }
  return sql.length
}

/** The end of a block comment starting at `open`; they nest, as in Postgres. */
const skipBlockComment = (sql: string, open: number): number => {
  let i = open + 2
  let level = 0
  while (i < sql.length) {
    const c = sql.charCodeAt(i)
    if (c === 47 && sql.charCodeAt(i + 1) === 42) {
      level++
      i += 2
    } else if (c === 42 && sql.charCodeAt(i + 1) === 47) {
      if (level === 0) return i + 2
      level--
      i += 2
    } else i++
  }
  return sql.length
}

const skipDigits = (sql: string, from: number): number => {
  let i = from
  for (;;) {
    const c = sql.charCodeAt(i)
    if (isDigit(c) || c === 95) i++
    else return i
  }
}

/** Counts tokens, AND/OR operators and GROUP BY terms of SQL text, in one pass. */
export const countSql = (sql: string): SqlCounts => {
  const n = sql.length
  let i = 0
  let tokens = 0
  let booleanOperators = 0
  let groupByTerms = 0
  let depth = 0
  // The open GROUP BY clause: its parenthesis depth (-1 when none) and terms so far.
  let groupDepth = -1
  let groupTerms = 0
  // The previous token, as far as keywords need it: a lower-cased short word, and whether it was a `.`.
  let previousWord = ""
  let afterDot = false
  const closeGroup = () => {
    if (groupTerms > groupByTerms) groupByTerms = groupTerms
    groupDepth = -1
    groupTerms = 0
  }
  while (i < n) {
    const c = sql.charCodeAt(i)
    if (isSpace(c)) {
      i++
      continue
    }
    const next = sql.charCodeAt(i + 1)
    if (c === 45 && next === 45) {
      while (i < n && sql.charCodeAt(i) !== 10 && sql.charCodeAt(i) !== 13) i++
      continue
    }
    if (c === 47 && next === 42) {
      i = skipBlockComment(sql, i)
      continue
    }
    tokens++
    let word = ""
    let dot = false
    if ((c === 69 || c === 101) && next === 39) {
      i = skipEscapeString(sql, i + 1)
    } else if (isIdentStart(c)) {
      const start = i++
      while (i < n && isIdentCont(sql.charCodeAt(i))) i++
      // Only the keywords below matter, none longer than `intersect`.
      if (i - start <= 9) word = sql.slice(start, i).toLowerCase()
    } else if (isDigit(c) || (c === 46 && isDigit(next))) {
      i = skipDigits(sql, i)
      if (sql.charCodeAt(i) === 46 && sql.charCodeAt(i + 1) !== 46) i = skipDigits(sql, i + 1)
      const e = sql.charCodeAt(i)
      if (e === 69 || e === 101) {
        const sign = sql.charCodeAt(i + 1)
        const at = sign === 43 || sign === 45 ? i + 2 : i + 1
        if (isDigit(sql.charCodeAt(at))) i = skipDigits(sql, at)
      }
    } else if (c === 39) {
      i = skipQuoted(sql, i, "'")
    } else if (c === 34) {
      i = skipQuoted(sql, i, '"')
    } else if (c === 36) {
      // `$tag$…$tag$` (tag optional, no digit first), `$1`, or a lone `$` (what follows is lexed afresh).
      let j = i + 1
      if (isIdentStart(sql.charCodeAt(j))) {
        while (j < n && (isIdentStart(sql.charCodeAt(j)) || isDigit(sql.charCodeAt(j)))) j++
      }
      if (sql.charCodeAt(j) === 36) {
        const delimiter = sql.slice(i, j + 1)
        const close = sql.indexOf(delimiter, j + 1)
        i = close < 0 ? n : close + delimiter.length
      } else if (isDigit(next)) i = skipDigits(sql, i + 1)
      else i++
    } else {
      i++
      if (c === 40) depth++
      else if (c === 41) {
        depth--
        if (groupDepth >= 0 && depth < groupDepth) closeGroup()
      } else if (c === 44) {
        if (groupDepth >= 0) groupTerms++
      } else if (c === 59) {
        if (groupDepth >= 0) closeGroup()
      } else if (c === 46) dot = true
    }
    if (word !== "" && !afterDot) {
      if (word === "and" || word === "or") booleanOperators++
      else if (word === "by" && previousWord === "group") {
        if (groupDepth < 0) {
          groupDepth = depth
          groupTerms = 1
        }
      } else if (groupDepth === depth && CLAUSE_AFTER_GROUP_BY.has(word)) closeGroup()
    }
    previousWord = word
    afterDot = dot
  }
  if (groupDepth >= 0) closeGroup()
  return { tokens, booleanOperators, groupByTerms }
}

const count = (n: number) => n.toLocaleString("en")

/** Why SQL text must not reach DuckDB's parser (a 400 message), or undefined when it is within SQL_LIMITS. */
export const sqlTooComplex = (sql: string): string | undefined => {
  const counts = countSql(sql)
  if (counts.booleanOperators > SQL_LIMITS.booleanOperators)
    return `query too complex: ${count(counts.booleanOperators)} AND/OR operators (at most ${count(SQL_LIMITS.booleanOperators)}; a list of values can be written as IN (…))`
  if (counts.groupByTerms > SQL_LIMITS.groupByTerms)
    return `query too complex: ${count(counts.groupByTerms)} GROUP BY terms (at most ${count(SQL_LIMITS.groupByTerms)})`
  if (counts.tokens > SQL_LIMITS.tokens) return `query too complex: ${count(counts.tokens)} tokens (at most ${count(SQL_LIMITS.tokens)})`
  return undefined
}
