/** A string as a DuckDB SQL literal. A NUL is spliced in as `chr(0)`: DuckDB's parser ends the text at a raw one. */
export const sqlString = (s: string) => s.split("\0").map((part) => `'${part.replace(/'/g, "''")}'`).join(" || chr(0) || ")

/** A name as a double-quoted SQL identifier (`"a""b"`): the one quoting of table and column names. */
export const sqlIdentifier = (name: string) => `"${name.replace(/"/g, '""')}"`
