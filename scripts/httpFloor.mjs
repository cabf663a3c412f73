// The HTTP floor of the query benchmark: a bare node:http server over an in-process DuckDB (the engine and binding
// Strata runs on) answering fixed queries over the benchmark's Parquet files, each statement prepared once and its
// answer written as JSON with its length in one write. No planning, authentication, routing or Effect runtime: what
// any Node server answering these queries through DuckDB pays at least.
// usage: node scripts/httpFloor.mjs PORT QUERIES_JSON PARQUET... — QUERIES_JSON is an array of DuckDB SQL over view
// `cpu`; GET /?q=N answers query N. Prints "ready" once it listens.
import { DuckDBInstance } from "@duckdb/node-api"
import * as NodeHttp from "node:http"

const [port, queriesJson, ...files] = process.argv.slice(2)
const db = await DuckDBInstance.create(":memory:", { threads: "2" })
const setup = await db.connect()
await setup.run(`SET GLOBAL TimeZone = 'UTC'`)
await setup.run(`SET GLOBAL parquet_metadata_cache = true`)
await setup.run(`CREATE VIEW cpu AS SELECT * FROM read_parquet([${files.map((f) => `'${f.replace(/'/g, "''")}'`).join(", ")}])`)
const conn = await db.connect()
const statements = await Promise.all(JSON.parse(queriesJson).map((sql) => conn.prepare(sql)))

NodeHttp.createServer(async (req, res) => {
  const statement = statements[Number(new URL(req.url ?? "/", "http://floor").searchParams.get("q"))]
  if (statement === undefined) {
    res.writeHead(404).end()
    return
  }
  try {
    const reader = await statement.runAndReadAll()
    const body = Buffer.from(JSON.stringify(reader.getRowObjectsJson()))
    res.writeHead(200, { "content-type": "application/json", "content-length": body.length }).end(body)
  } catch (e) {
    res.writeHead(500).end(String(e))
  }
}).listen(Number(port), "127.0.0.1", () => console.log("ready"))
