import { DuckDBInstance } from "@duckdb/node-api"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as NodeCrypto from "node:crypto"
import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { DuckDb } from "../../src/query/DuckDb.ts"
import { expectError, expectOk } from "../support/expect.ts"
import { createOperatorToken, createResourceToken, startServer, type InProcessServer, type TestResponse } from "../support/server.ts"

// Escape attempts from a token that may only read d1: each is refused with a 400 and shows nothing it must not.
// Markers sit in files on the server, in another database and in another query's in-flight Parquet answer.
const FILE_MARKER = "FILE-SECRET-7d41"
const D2_MARKER = "D2-SECRET-93be"
const ANSWER_MARKER = "ANSWER-SECRET-c05f"
const T0 = 1_704_067_200

describe("the SQL sandbox", () => {
  let server: InProcessServer
  let admin: string
  let reader: string
  let secrets: string
  let json: string
  let csv: string
  let parquet: string
  let answers: string
  let victim: string
  let victimId: string

  /** Strings a body may show only when the query itself contains them (error messages echo the query's names). */
  const sensitive = () => [FILE_MARKER, D2_MARKER, ANSWER_MARKER, victimId, secrets, server.dataDir]
  const expectNothingLeaked = (query: string, res: TestResponse) => {
    for (const s of sensitive()) if (!query.includes(s)) expect(res.text, `the answer to ${query} shows ${s}`).not.toContain(s)
  }
  const sql = (q: string, format = "json", token = reader) =>
    server.request("GET", `/api/v3/query_sql?${new URLSearchParams({ db: "d1", q, format })}`, { token })
  /** Expects a 400 plan error and nothing leaked, in JSON and in Parquet (the path that writes files). */
  const refused = async (q: string, message?: RegExp) => {
    for (const format of ["json", "parquet"]) {
      const res = await sql(q, format)
      expectNothingLeaked(q, res)
      expectError(res, 400, message)
    }
  }

  beforeAll(async () => {
    server = await startServer()
    admin = await createOperatorToken(server)
    const write = async (db: string, lines: string) =>
      expectOk(await server.request("POST", `/api/v3/write_lp?db=${db}&precision=second`, { body: lines, token: admin }), 204)
    await write("d1", `cpu,host=a usage=1.5 ${T0}\ncpu,host=b usage=2.5 ${T0 + 60}`)
    await write("d2", `secrets,owner=admin value="${D2_MARKER}" ${T0}`)
    reader = await createResourceToken(server, admin, "reader-d1", { resource_type: "db", resource_names: ["d1"], actions: ["read"] })

    secrets = NodeFs.mkdtempSync(NodePath.join(NodeOs.tmpdir(), "strata-secrets-"))
    json = NodePath.join(secrets, "secret.json")
    csv = NodePath.join(secrets, "secret.csv")
    parquet = NodePath.join(secrets, "secret.parquet")
    NodeFs.writeFileSync(json, JSON.stringify({ secret: FILE_MARKER }))
    NodeFs.writeFileSync(csv, `secret\n${FILE_MARKER}\n`)
    // Another query's answer in flight, where DuckDB may read and write (the sandbox alone does not stop this one).
    answers = NodePath.join(server.dataDir, "duckdb", "answers")
    victimId = NodeCrypto.randomUUID()
    victim = NodePath.join(answers, `${victimId}.parquet`)
    const scratch = await DuckDBInstance.create(":memory:")
    const conn = await scratch.connect()
    await conn.run(`COPY (SELECT '${FILE_MARKER}' AS secret) TO '${parquet}' (FORMAT parquet)`)
    await conn.run(`COPY (SELECT '${ANSWER_MARKER}' AS secret) TO '${victim}' (FORMAT parquet)`)
    conn.closeSync()
    scratch.closeSync()
  }, 30_000)
  afterAll(async () => {
    await server.stop()
    for (const dir of [secrets, server.dataDir]) NodeFs.rmSync(dir, { recursive: true, force: true })
  })

  it("the CTE shadowing case of the report: a CTE in one subquery does not cover a file named in another", async () => {
    await refused(`SELECT * FROM (WITH "${json}" AS (SELECT 1) SELECT 1) s, "${json}"`, /table '.*secret\.json' not found/)
    await refused(`SELECT * FROM (WITH "${victim}" AS (SELECT 1) SELECT 1) s, "${victim}"`, /not found/)
  })

  it("CTE names are visible only in their scope", async () => {
    const attempts = [
      // A CTE in a WHERE subquery, the name in FROM.
      `SELECT * FROM "${json}" WHERE EXISTS (WITH "${json}" AS (SELECT 1) SELECT 1)`,
      // A CTE in a scalar subquery of the select list.
      `SELECT (WITH "${csv}" AS (SELECT 1) SELECT 1) AS x, * FROM "${csv}"`,
      // The left branch of a UNION has the CTE, the right one does not.
      `(WITH "${json}" AS (SELECT 1 AS secret) SELECT * FROM "${json}") UNION ALL SELECT * FROM "${json}"`,
      // A forward reference to a later CTE of the same WITH.
      `WITH a AS (SELECT * FROM "${json}"), "${json}" AS (SELECT 1) SELECT * FROM a`,
      // A non-recursive CTE naming itself in its own body.
      `WITH "${json}" AS (SELECT * FROM "${json}") SELECT * FROM "${json}"`,
      // A recursive CTE whose recursive part reads a file.
      `WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT secret FROM "${json}") SELECT * FROM r`,
      // A CTE of a lateral subquery, the name outside it.
      `SELECT * FROM cpu, LATERAL (WITH "${parquet}" AS (SELECT 1) SELECT 1) l, "${parquet}"`,
      // A CTE in a subquery of a JOIN condition.
      `SELECT * FROM cpu JOIN "${json}" ON EXISTS (WITH "${json}" AS (SELECT 1) SELECT 1)`,
      // A CTE inside a CTE body, the name outside.
      `WITH a AS (WITH "${victim}" AS (SELECT 1) SELECT 1) SELECT * FROM a, "${victim}"`
    ]
    for (const q of attempts) await refused(q, /not found/)
  })

  it("file paths as table names are refused: quoted, as string literals, globbed", async () => {
    const attempts = [
      `SELECT * FROM "${json}"`,
      `SELECT * FROM '${csv}'`,
      `FROM '${parquet}'`,
      `SELECT * FROM "${secrets}/*.json"`,
      `SELECT * FROM '${secrets}/*.csv'`,
      `SELECT * FROM '${answers}/*.parquet'`,
      `SELECT * FROM "${victim}"`,
      `SELECT * FROM (FROM "${json}")`,
      `SELECT * FROM (SELECT * FROM (SELECT * FROM "${json}"))`,
      `SELECT (SELECT count(*) FROM "${json}") AS n`,
      `SELECT * FROM cpu WHERE host IN (SELECT secret FROM "${csv}")`,
      `SELECT * FROM cpu, LATERAL (SELECT * FROM "${json}")`,
      `SELECT * FROM cpu UNION ALL SELECT * FROM "${json}"`,
      `SELECT * FROM cpu JOIN "${json}" ON true`,
      `SELECT * FROM cpu POSITIONAL JOIN "${json}"`,
      `SELECT COLUMNS(*) FROM "${json}"`,
      `SELECT * FROM "${json}" PIVOT (count(*) FOR secret IN ('x'))`,
      `SELECT * FROM cpu WHERE EXISTS (SELECT 1 FROM '${json}')`,
      `SELECT * FROM "${json.toUpperCase()}"`,
      `SELECT * FROM "secret.json"`,
      `SELECT * FROM "../../${json}"`
    ]
    for (const q of attempts) await refused(q, /not found/)
  })

  it("table functions are refused in any spelling", async () => {
    const attempts = [
      `SELECT * FROM read_json_auto('${json}')`,
      `SELECT * FROM READ_PARQUET('${parquet}')`,
      `SELECT * FROM "read_csv"('${csv}')`,
      `SELECT * FROM main.read_text('${json}')`,
      `SELECT * FROM read_blob('${json}')`,
      `SELECT * FROM read_parquet('${answers}/*.parquet')`,
      `SELECT * FROM glob('${secrets}/*')`,
      `SELECT * FROM glob('${answers}/*')`,
      `SELECT * FROM query('SELECT * FROM buf.t1')`,
      `SELECT * FROM query_table('buf.t1')`,
      `SELECT * FROM duckdb_tables()`,
      `SELECT * FROM duckdb_settings()`,
      `SELECT * FROM duckdb_temporary_files()`,
      `SELECT * FROM pragma_table_info('buf.t1')`,
      `SELECT * FROM which_secret('${json}', 's3')`,
      `SELECT * FROM sniff_csv('${csv}')`,
      `SELECT * FROM parquet_metadata('${victim}')`,
      `SELECT * FROM json_execute_serialized_sql('{}')`,
      `SELECT * FROM cpu, read_csv('${csv}')`,
      `SELECT * FROM cpu WHERE host IN (SELECT * FROM read_csv('${csv}'))`
    ]
    for (const q of attempts) await refused(q, /table function '.*' not found/)
  })

  it("functions that read settings, the catalog or SQL text are refused; table functions used as scalars too", async () => {
    const attempts = [
      `SELECT current_setting('temp_directory')`,
      `SELECT current_setting('allowed_directories')`,
      `SELECT getenv('HOME')`,
      `SELECT version()`,
      `SELECT current_database()`,
      `SELECT current_schemas(true)`,
      `SELECT current_query()`,
      `SELECT pg_catalog.current_database()`,
      `SELECT main.current_setting('temp_directory')`,
      `SELECT system.main.abs(1)`,
      `SELECT json_serialize_plan('SELECT * FROM buf.t1')`,
      `SELECT json_serialize_sql('SELECT 1')`,
      `SELECT get_block_size('memory')`,
      `SELECT getvariable('x')`,
      `SELECT setseed(0.5)`,
      `SELECT nextval('s')`,
      `SELECT write_log('x')`,
      `SELECT sleep_ms(100000)`,
      `SELECT pg_get_viewdef(1)`,
      `SELECT duckdb_tables()`,
      `SELECT read_text('${json}')`,
      `SELECT glob('${secrets}/*')`,
      `SELECT query('SELECT 1')`,
      `SELECT * FROM cpu WHERE host = current_setting('temp_directory')`,
      `SELECT count(*) FILTER (WHERE current_setting('threads') = '2') FROM cpu`,
      `SELECT list_transform([1], x -> current_setting('temp_directory'))`
    ]
    for (const q of attempts) await refused(q, /Invalid function/)
  })

  it("DuckDB's catalog, other databases' tables and the buffer schema are not tables of d1", async () => {
    const attempts = [
      "SELECT * FROM buf.t1",
      "SELECT * FROM buf.s1",
      "SELECT * FROM buf.t2",
      "SELECT * FROM memory.buf.t1",
      "SELECT * FROM memory.main.cpu",
      "SELECT * FROM main.cpu",
      "SELECT * FROM system.main.duckdb_tables",
      "SELECT * FROM temp.main.x",
      "SELECT * FROM d2.secrets",
      "SELECT * FROM d2.iox.secrets",
      "SELECT * FROM public.d2.secrets",
      "SELECT * FROM duckdb_tables",
      "SELECT * FROM duckdb_settings",
      "SELECT * FROM sqlite_master",
      "SELECT * FROM pg_catalog.pg_class",
      "SELECT * FROM pg_tables",
      "SELECT * FROM information_schema.duckdb_tables",
      "SELECT * FROM secrets"
    ]
    for (const q of attempts) await refused(q, /not found/)
    // information_schema is d1's own: d2's tables are not in it.
    const tables = expectOk(await sql("SELECT table_name FROM information_schema.tables WHERE table_schema = 'iox'")).json<Array<{ table_name: string }>>()
    expect(tables.map((t) => t.table_name)).toEqual(["cpu"])
    const columns = expectOk(await sql("SELECT DISTINCT table_name FROM information_schema.columns")).json<Array<{ table_name: string }>>()
    expect(columns.map((t) => t.table_name)).not.toContain("secrets")
  })

  it("statements other than one SELECT are refused: COPY, ATTACH, PRAGMA, SET, INSTALL, CALL, EXPORT and more", async () => {
    const attempts = [
      `COPY (SELECT 1) TO '${secrets}/out.csv'`,
      `COPY cpu TO '${answers}/out.parquet' (FORMAT parquet)`,
      `COPY cpu FROM '${csv}'`,
      `ATTACH '${secrets}/x.db' AS x`,
      `ATTACH ':memory:' AS x`,
      "DETACH memory",
      "PRAGMA version",
      "PRAGMA enable_profiling",
      "SET enable_external_access = true",
      "SET GLOBAL lock_configuration = false",
      "RESET enable_external_access",
      "INSTALL httpfs",
      "LOAD httpfs",
      "CALL duckdb_tables()",
      `EXPORT DATABASE '${secrets}/export'`,
      "CREATE TABLE x AS SELECT 1",
      "CREATE MACRO current_setting(x) AS 1",
      "CREATE SECRET s (TYPE s3)",
      "DROP TABLE buf.t1",
      "INSERT INTO buf.t1 VALUES (1)",
      "DELETE FROM buf.t1",
      "USE buf",
      "CHECKPOINT",
      "EXPLAIN SELECT * FROM buf.t1",
      "PIVOT buf.t1 ON x USING count(*)",
      "DESCRIBE buf.t1",
      `SUMMARIZE "${json}"`,
      `DESCRIBE SELECT * FROM "${json}"`,
      `SELECT 1; COPY (SELECT 1) TO '${secrets}/out.csv'`,
      `SELECT 1; SELECT * FROM "${json}"`
    ]
    for (const q of attempts) await refused(q)
    expect(NodeFs.readdirSync(secrets).sort()).toEqual(["secret.csv", "secret.json", "secret.parquet"])
  })

  it("parameters are bound as values: a path or SQL in a parameter stays a string", async () => {
    const post = (q: string, params: Record<string, unknown>) =>
      server.request("POST", "/api/v3/query_sql", { token: reader, body: { db: "d1", q, format: "json", params } })
    const injected = `a' UNION ALL SELECT * FROM read_csv('${csv}') --`
    let res = await post("SELECT host FROM cpu WHERE host = $h", { h: injected })
    expectNothingLeaked("", res)
    expect(expectOk(res).json()).toEqual([])
    res = await post("SELECT $p AS p", { p: `"${json}"` })
    expect(expectOk(res).json()).toEqual([{ p: `"${json}"` }])
    expect(res.text).not.toContain(FILE_MARKER)
    for (const q of ["SELECT * FROM read_csv($p)", "SELECT * FROM $p", "SELECT current_setting($p)", `SELECT * FROM cpu WHERE host = (SELECT secret FROM "${json}" WHERE secret = $p)`]) {
      res = await post(q, { p: json })
      expectNothingLeaked(q, res)
      expectError(res, 400)
    }
  })

  it("InfluxQL cannot name files or other databases either", async () => {
    for (const q of [`SELECT * FROM "${json}"`, `SELECT * FROM "${victim}"`, `SELECT * FROM "d2"."autogen"."secrets"`, `SELECT * FROM /.*/`, `SHOW MEASUREMENTS`]) {
      for (const path of ["/query", "/api/v3/query_influxql"]) {
        const res = await server.request("GET", `${path}?${new URLSearchParams({ db: "d1", q })}`, { token: reader })
        expectNothingLeaked(q, res)
        expect(res.status, `${path} ${q}: ${res.text}`).toBeLessThan(500)
        expect(res.text).not.toContain("secrets")
      }
    }
  })

  it("a token scoped to d1 reads d1 and nothing of d2", async () => {
    expect(expectOk(await sql("SELECT host, usage FROM cpu ORDER BY host")).json()).toEqual([
      { host: "a", usage: 1.5 },
      { host: "b", usage: 2.5 }
    ])
    const res = await server.request("GET", `/api/v3/query_sql?${new URLSearchParams({ db: "d2", q: "SELECT * FROM secrets" })}`, { token: reader })
    expectNothingLeaked("", res)
    expectError(res, 403)
  })

  it("CTEs still work where they are visible: shadowing, recursion, qualified columns, any case, in subqueries", async () => {
    const rows = async (q: string) => expectOk(await sql(q)).json()
    expect(await rows("WITH c AS (SELECT host, usage FROM cpu) SELECT c.host FROM c ORDER BY c.host")).toEqual([{ host: "a" }, { host: "b" }])
    expect(await rows("WITH cpu AS (SELECT 42 AS x) SELECT * FROM cpu")).toEqual([{ x: 42 }])
    // A CTE's own body reads the table it shadows (it is not recursive).
    expect(await rows("WITH cpu AS (SELECT * FROM cpu WHERE host = 'a') SELECT count(*) AS n FROM cpu")).toEqual([{ n: 1 }])
    expect(await rows("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT n FROM r ORDER BY n")).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }])
    expect(await rows("WITH A AS (SELECT 1 AS x), b AS (SELECT x + 1 AS y FROM a) SELECT y FROM B")).toEqual([{ y: 2 }])
    expect(await rows("WITH h AS (SELECT 'a' AS host) SELECT count(*) AS n FROM cpu WHERE host IN (SELECT host FROM h)")).toEqual([{ n: 1 }])
    expect(await rows("WITH h AS (SELECT 1 AS x) SELECT (SELECT max(x) FROM (SELECT x FROM h)) AS m")).toEqual([{ m: 1 }])
    expect(await rows("SELECT * FROM (WITH c AS (SELECT 7 AS x) SELECT x FROM c) s")).toEqual([{ x: 7 }])
    expect(await rows("SELECT host FROM cpu AS \"/etc/passwd\" WHERE \"/etc/passwd\".host = 'b'")).toEqual([{ host: "b" }])
    expect(await rows("SELECT unnest([1, 2]) AS v ORDER BY v")).toEqual([{ v: 1 }, { v: 2 }])
    expect(await rows("SELECT * FROM (VALUES (1)) AS v(x)")).toEqual([{ x: 1 }])
  })

  it("Parquet answers are written under the data directory's answer directory and removed once sent", async () => {
    const before = NodeFs.readdirSync(answers).sort()
    const written: Array<string> = []
    const watcher = NodeFs.watch(answers, (_, name) => written.push(String(name)))
    const res = await fetch(`${server.url}/api/v3/query_sql?${new URLSearchParams({ db: "d1", q: "SELECT * FROM cpu", format: "parquet" })}`, { headers: { authorization: `Bearer ${reader}` } })
    expect(res.status).toBe(200)
    expect((await res.arrayBuffer()).byteLength).toBeGreaterThan(0)
    watcher.close()
    expect(written.filter((name) => name.endsWith(".parquet") && !name.startsWith(victimId)).length).toBeGreaterThan(0)
    expect(NodeFs.readdirSync(answers).sort()).toEqual(before)
  })

  it("the instance is locked: no connection can lift the sandbox, read a file or write outside the answers", async () => {
    const duck = await server.runtime.runPromise(DuckDb)
    const conn = await duck.instance.connect()
    try {
      for (const statement of ["SET enable_external_access = true", "SET GLOBAL enable_external_access = true", "RESET allowed_directories", "SET lock_configuration = false", `SET allowed_directories = ['/']`]) {
        await expect(conn.run(statement)).rejects.toThrow(/configuration has been locked/)
      }
      await expect(conn.run(`SELECT * FROM read_text('${json}')`)).rejects.toThrow(/Permission Error/)
      await expect(conn.run(`SELECT * FROM "${csv}"`)).rejects.toThrow(/Permission Error/)
      await expect(conn.run(`COPY (SELECT 1) TO '${secrets}/out.csv'`)).rejects.toThrow(/Permission Error/)
      await expect(conn.run(`ATTACH '${secrets}/x.db'`)).rejects.toThrow(/Permission Error/)
      await expect(conn.run("LOAD httpfs")).rejects.toThrow(/Permission Error/)
      const settings = await conn.runAndReadAll(
        "SELECT current_setting('enable_external_access'), current_setting('lock_configuration'), current_setting('TimeZone'), current_setting('allowed_directories')::VARCHAR[], current_setting('temp_directory'), current_setting('parquet_metadata_cache')"
      )
      const [row] = settings.getRowsJS()
      // DuckDB adds the spill directory to the allowed ones itself; all are the server's own, under its data dir
      // (dbs/ holds persisted Parquet files, which only the server's own SQL names). Every connection, not only the
      // one that set them up, keeps persisted files' footers between queries.
      const spill = NodePath.join(server.dataDir, "duckdb", "spill")
      const dbs = NodePath.join(NodePath.resolve(server.dataDir), "dbs")
      expect(row).toEqual([false, true, "UTC", [`${dbs}/`, `${answers}/`, `${spill}/`], spill, true])
    } finally {
      conn.closeSync()
    }
    expect(NodeFs.existsSync(NodePath.join(secrets, "out.csv"))).toBe(false)
  })
})
