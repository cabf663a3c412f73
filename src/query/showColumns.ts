/**
 * `SHOW COLUMNS FROM t`, which DataFusion accepts and DuckDB's parser does not. The statement is recognised on a
 * token stream (quotes and comments respected) and answered with the SELECT DataFusion runs for it.
 */

type Token = { readonly kind: "word" | "quoted" | "symbol"; readonly text: string }

const isWordChar = (code: number) =>
  (code >= 48 && code <= 57) ||
  (code >= 65 && code <= 90) ||
  (code >= 97 && code <= 122) ||
  code === 95 ||
  code === 36 ||
  code > 127

/** The text's tokens, or undefined when it does not lex or has more than `max` tokens (then it is no SHOW COLUMNS). */
const tokenize = (sql: string, max: number): Array<Token> | undefined => {
  const tokens: Array<Token> = []
  let i = 0
  while (i < sql.length) {
    if (tokens.length > max) return undefined
    const c = sql[i]!
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      i++
    } else if (c === "-" && sql[i + 1] === "-") {
      while (i < sql.length && sql[i] !== "\n") i++
    } else if (c === "/" && sql[i + 1] === "*") {
      const end = sql.indexOf("*/", i + 2)
      if (end < 0) return undefined
      i = end + 2
    } else if (c === '"') {
      let text = ""
      let from = i + 1
      for (;;) {
        const close = sql.indexOf('"', from)
        if (close < 0) return undefined
        text += sql.slice(from, close)
        if (sql[close + 1] !== '"') {
          i = close + 1
          break
        }
        text += '"'
        from = close + 2
      }
      tokens.push({ kind: "quoted", text })
    } else if (isWordChar(sql.charCodeAt(i))) {
      const start = i
      while (i < sql.length && isWordChar(sql.charCodeAt(i))) i++
      tokens.push({ kind: "word", text: sql.slice(start, i) })
    } else {
      tokens.push({ kind: "symbol", text: c })
      i++
    }
  }
  return tokens
}

const isWord = (t: Token | undefined, word: string) => t !== undefined && t.kind === "word" && t.text.toLowerCase() === word

const nameOf = (t: Token | undefined) => (t === undefined ? undefined : t.kind === "quoted" ? t.text : t.kind === "word" ? t.text.toLowerCase() : undefined)

/** The table a `SHOW [FULL] COLUMNS FROM|IN [schema.]table` statement names, or undefined for any other statement. */
export const showColumnsTarget = (
  sql: string
): { readonly schema: string | undefined; readonly table: string } | undefined => {
  // SHOW FULL COLUMNS FROM a.b.c and a few semicolons: any longer text is another statement, and is not lexed whole.
  const tokens = tokenize(sql, 16)
  if (tokens === undefined) return undefined
  while (tokens.length > 0 && tokens[tokens.length - 1]!.kind === "symbol" && tokens[tokens.length - 1]!.text === ";")
    tokens.pop()
  let i = 0
  if (!isWord(tokens[i++], "show")) return undefined
  if (isWord(tokens[i], "full") || isWord(tokens[i], "extended")) i++
  if (!isWord(tokens[i++], "columns")) return undefined
  if (!isWord(tokens[i], "from") && !isWord(tokens[i], "in")) return undefined
  i++
  const parts: Array<string> = []
  for (;;) {
    const name = nameOf(tokens[i++])
    if (name === undefined) return undefined
    parts.push(name)
    if (tokens[i]?.kind === "symbol" && tokens[i]!.text === ".") {
      i++
      continue
    }
    break
  }
  if (i !== tokens.length || parts.length > 3) return undefined
  const table = parts[parts.length - 1]!
  return { schema: parts.length >= 2 ? parts[parts.length - 2] : undefined, table }
}

const sqlString = (s: string) => `'${s.replace(/'/g, "''")}'`

/** The SELECT DataFusion answers `SHOW COLUMNS` with. */
export const showColumnsSql = (target: { readonly schema: string | undefined; readonly table: string }) =>
  `SELECT table_catalog, table_schema, table_name, column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = ${sqlString(target.table)}` +
  (target.schema === undefined ? "" : ` AND table_schema = ${sqlString(target.schema)}`)
