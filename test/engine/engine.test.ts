import * as NodeFs from "node:fs"
import * as NodeOs from "node:os"
import * as NodePath from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createOperatorToken, createResourceToken, startServer, type InProcessServer } from "../support/server.ts"

let server: InProcessServer
let admin: string

const TRIGGER = "/api/v3/configure/processing_engine_trigger"
const REQUEST = "def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):"

const upload = async (name: string, content: string) => {
  const res = await server.request("POST", "/api/v3/plugins/files", {
    token: admin,
    body: { plugin_name: name, content }
  })
  expect(res.status, res.text).toBe(200)
}

const trigger = (db: string, name: string, plugin: string, spec: string, extra: Record<string, unknown> = {}) =>
  server.request("POST", TRIGGER, {
    token: admin,
    body: {
      db,
      plugin_filename: plugin,
      trigger_name: name,
      trigger_specification: spec,
      trigger_settings: { run_async: false, error_behavior: "log", ...((extra.trigger_settings as object) ?? {}) },
      trigger_arguments: extra.trigger_arguments ?? null,
      disabled: extra.disabled ?? false
    }
  })

const write = async (db: string, lp: string) => {
  const res = await server.request("POST", `/api/v3/write_lp?db=${db}`, { token: admin, body: lp })
  expect(res.status, res.text).toBe(204)
}

const query = async (db: string, sql: string): Promise<Array<Record<string, unknown>>> => {
  const res = await server.request(
    "GET",
    `/api/v3/query_sql?db=${encodeURIComponent(db)}&q=${encodeURIComponent(sql)}`,
    { token: admin }
  )
  if (res.status !== 200) return []
  return res.json()
}

/** Polls a query until `done` holds for its rows (plugins run in the background), then returns them. */
const eventually = async (db: string, sql: string, done: (rows: Array<Record<string, unknown>>) => boolean) => {
  let rows: Array<Record<string, unknown>> = []
  for (let i = 0; i < 200; i++) {
    rows = await query(db, sql)
    if (done(rows)) return rows
    await new Promise((r) => setTimeout(r, 100))
  }
  return rows
}

beforeAll(async () => {
  server = await startServer({ pluginTimeoutMs: 3000 })
  admin = await createOperatorToken(server)
  await write("src", "cpu,host=a usage=1 1")
  await write("out", "seed v=1 1")
})

afterAll(async () => {
  await server?.stop()
})

describe("processing engine", () => {
  it("a WAL trigger's plugin transforms each write and writes through the normal write path", async () => {
    await upload(
      "wal.py",
      `def process_writes(influxdb3_local, table_batches, args=None):
    for batch in table_batches:
        for row in batch["rows"]:
            kind = 1 if isinstance(row["usage"], float) else 0
            line = LineBuilder(args["table"]).tag("host", row["host"]).float64_field("double", row["usage"] * 2)
            line.int64_field("kind", kind).time_ns(row["time"])
            influxdb3_local.write_to_db("out", line)
        influxdb3_local.info("rows", len(batch["rows"]), batch["table_name"])
`
    )
    const res = await trigger("src", "doubler", "wal.py", "table:cpu", { trigger_arguments: { table: "cpu2" } })
    expect(res.status, res.text).toBe(200)
    await upload(
      "tables.py",
      `def process_writes(influxdb3_local, table_batches, args=None):
    names = ",".join(sorted(b["table_name"] for b in table_batches))
    rows = sum(len(b["rows"]) for b in table_batches)
    influxdb3_local.write_to_db("out", LineBuilder("batches").string_field("tables", names).int64_field("rows", rows))
`
    )
    expect((await trigger("src", "everything", "tables.py", "all_tables")).status).toBe(200)
    await write("src", "cpu,host=b usage=2 1000\nmem,host=b free=3 1000")
    const rows = await eventually("out", "SELECT host, double, kind, time FROM cpu2", (r) => r.length === 1)
    expect(rows).toEqual([{ host: "b", double: 4, kind: 1, time: "1970-01-01T00:16:40" }])
    expect(await eventually("out", "SELECT tables, rows FROM batches", (r) => r.length === 1)).toEqual([
      { tables: "cpu,mem", rows: 2 }
    ])
    const logs = await eventually(
      "src",
      "SELECT trigger_name, log_level, log_text FROM system.processing_engine_logs",
      (r) => r.length > 0
    )
    expect(logs).toContainEqual({ trigger_name: "doubler", log_level: "INFO", log_text: "rows 1 cpu" })
    const triggers = await query("src", "SELECT * FROM system.processing_engine_triggers")
    expect(triggers).toEqual([
      { trigger_name: "doubler", plugin_filename: "wal.py", trigger_specification: "table:cpu", disabled: false },
      { trigger_name: "everything", plugin_filename: "tables.py", trigger_specification: "all_tables", disabled: false }
    ])
    expect(
      (await server.request("DELETE", `${TRIGGER}?db=src&trigger_name=everything&force=true`, { token: admin })).status
    ).toBe(200)
    expect(await query("src", "SELECT * FROM system.processing_engine_trigger_arguments")).toEqual([
      { trigger_name: "doubler", argument_key: "table", argument_value: "cpu2" }
    ])
  })

  it("a scheduled trigger queries and writes on every tick", async () => {
    await upload(
      "sched.py",
      `def process_scheduled_call(influxdb3_local, call_time, args=None):
    rows = influxdb3_local.query("SELECT count(*) AS n FROM cpu WHERE host = $h", {"h": "a"})
    line = LineBuilder("ticks").int64_field("n", rows[0]["n"]).int64_field("second", call_time.second)
    influxdb3_local.write_to_db("out", line)
`
    )
    expect((await trigger("src", "ticker", "sched.py", "every:1s")).status).toBe(200)
    const rows = await eventually("out", "SELECT n FROM ticks", (r) => r.length >= 2)
    expect(rows.length).toBeGreaterThanOrEqual(2)
    expect(rows[0]).toEqual({ n: 1 })
    expect(
      (await server.request("POST", `${TRIGGER}/disable?db=src&trigger_name=ticker`, { token: admin })).status
    ).toBe(200)
    expect((await server.request("DELETE", `${TRIGGER}?db=src&trigger_name=ticker`, { token: admin })).status).toBe(200)
  })

  it("a request trigger answers GET and POST with JSON, text, tuples and headers; unknown paths are 404", async () => {
    await upload(
      "req.py",
      `import json
${REQUEST}
    mode = query_parameters.get("mode", "json")
    if mode == "json":
        return {"params": query_parameters, "auth": "authorization" in request_headers, "prefix": args["prefix"]}
    if mode == "text":
        return args["prefix"] + request_body.decode()
    if mode == "tuple":
        return ("made", 201, {"X-Plugin": "yes"})
    if mode == "list":
        return iter(["a", b"b"])
    if mode == "raise":
        raise ValueError("bad input")
    return 42
`
    )
    expect(
      (await trigger("src", "hello", "req.py", "request:hello", { trigger_arguments: { prefix: "hi " } })).status
    ).toBe(200)
    const json = await server.request("GET", "/api/v3/engine/hello?x=1", { token: admin })
    expect(json.status).toBe(200)
    expect(json.headers.get("content-type")).toContain("application/json")
    expect(json.json()).toEqual({ params: { x: "1" }, auth: false, prefix: "hi " })
    const text = await server.request("POST", "/api/v3/engine/hello?mode=text", { token: admin, body: "there" })
    expect([text.status, text.text, text.headers.get("content-type")]).toEqual([
      200,
      "hi there",
      "text/html; charset=utf-8"
    ])
    const tuple = await server.request("POST", "/api/v3/engine/hello?mode=tuple", { token: admin })
    expect([tuple.status, tuple.text, tuple.headers.get("x-plugin")]).toEqual([201, "made", "yes"])
    expect((await server.request("GET", "/api/v3/engine/hello?mode=list", { token: admin })).text).toBe("ab")
    const raised = await server.request("GET", "/api/v3/engine/hello?mode=raise", { token: admin })
    expect(raised.status).toBe(500)
    expect(raised.json().error).toContain("ValueError: bad input")
    expect((await server.request("GET", "/api/v3/engine/hello?mode=other", { token: admin })).status).toBe(500)
    expect((await server.request("GET", "/api/v3/engine/nowhere", { token: admin })).status).toBe(404)
  })

  it("the cache keeps values per trigger and globally, with a ttl", async () => {
    await upload(
      "cache.py",
      `${REQUEST}
    c = influxdb3_local.cache
    n = c.get("n", default=0) + 1
    c.put("n", n)
    g = c.get("g", default=0, use_global=True) + 1
    c.put("g", g, use_global=True)
    before = {"short": c.get("short"), "long": c.get("long")}
    c.put("short", {"v": [1, 2]}, ttl=0.001)
    c.put("long", {"v": (1, 2)}, ttl=3600)
    gone = c.delete("gone")
    c.put("gone", 1)
    deleted = [gone, c.delete("gone")]
    return {"n": n, "g": g, "before": before, "deleted": deleted, "obj": c.get("obj", default={"d": 1})}
`
    )
    expect((await trigger("src", "cache1", "cache.py", "request:cache1")).status).toBe(200)
    expect((await trigger("src", "cache2", "cache.py", "request:cache2")).status).toBe(200)
    expect((await server.request("GET", "/api/v3/engine/cache1", { token: admin })).json()).toEqual({
      n: 1,
      g: 1,
      before: { short: null, long: null },
      deleted: [false, true],
      obj: { d: 1 }
    })
    // The short entry's ttl (1 ms) has passed by the next request; the long one's has not.
    expect((await server.request("GET", "/api/v3/engine/cache1", { token: admin })).json()).toMatchObject({
      n: 2,
      g: 2,
      before: { short: null, long: { v: [1, 2] } }
    })
    expect((await server.request("GET", "/api/v3/engine/cache2", { token: admin })).json()).toMatchObject({
      n: 1,
      g: 3
    })
  })

  it("a run_async request trigger serves a second request while the first still runs", async () => {
    await upload(
      "async.py",
      `import time
${REQUEST}
    if query_parameters.get("mode") == "set":
        influxdb3_local.cache.put("released", True, use_global=True)
        return "set"
    for _ in range(40):
        if influxdb3_local.cache.get("released", use_global=True):
            return "released"
        time.sleep(0.05)
    return "never"
`
    )
    const settings = { trigger_settings: { run_async: true } }
    expect((await trigger("src", "async", "async.py", "request:async", settings)).status).toBe(200)
    const waiting = server.request("GET", "/api/v3/engine/async?mode=wait", { token: admin })
    expect((await server.request("GET", "/api/v3/engine/async?mode=set", { token: admin })).text).toBe("set")
    expect((await waiting).text).toBe("released")
  })

  it("error_behavior: log logs and goes on, disable disables the trigger, retry runs the input again", async () => {
    await upload(
      "fail.py",
      `def process_writes(influxdb3_local, table_batches, args=None):
    mode = args["mode"]
    if mode == "retry":
        tries = influxdb3_local.cache.get("tries", default=0) + 1
        influxdb3_local.cache.put("tries", tries)
        if tries < 2:
            raise RuntimeError("first try fails")
        influxdb3_local.write_to_db("out", LineBuilder("retried").int64_field("tries", tries))
        return
    raise RuntimeError("always " + mode)
`
    )
    for (const mode of ["log", "disable", "retry"]) {
      const res = await trigger("src", `fail_${mode}`, "fail.py", "table:errs", {
        trigger_arguments: { mode },
        trigger_settings: { error_behavior: mode }
      })
      expect(res.status, res.text).toBe(200)
    }
    await write("src", "errs v=1 5")
    const retried = await eventually("out", "SELECT tries FROM retried", (r) => r.length === 1)
    expect(retried).toEqual([{ tries: 2 }])
    const disabled = await eventually(
      "src",
      "SELECT trigger_name FROM system.processing_engine_triggers WHERE disabled",
      (r) => r.length === 1
    )
    expect(disabled).toEqual([{ trigger_name: "fail_disable" }])
    const errors = await query(
      "src",
      "SELECT trigger_name, log_text FROM system.processing_engine_logs WHERE log_level = 'ERROR' ORDER BY trigger_name"
    )
    expect(errors).toContainEqual({
      trigger_name: "fail_log",
      log_text: "error executing plugin: RuntimeError: always log"
    })
    expect(errors).toContainEqual({
      trigger_name: "fail_retry",
      log_text: "error executing plugin: RuntimeError: first try fails"
    })
  })

  it("a hanging plugin is stopped after --plugin-timeout; one killing its process leaves the server up", async () => {
    await upload(
      "bad.py",
      `import os, time
${REQUEST}
    if query_parameters.get("do") == "hang":
        time.sleep(60)
    if query_parameters.get("do") == "crash":
        os._exit(3)
    return "fine"
`
    )
    expect((await trigger("src", "bad", "bad.py", "request:bad")).status).toBe(200)
    const hang = await server.request("GET", "/api/v3/engine/bad?do=hang", { token: admin })
    expect(hang.status).toBe(500)
    expect(hang.json().error).toContain("--plugin-timeout")
    const crash = await server.request("GET", "/api/v3/engine/bad?do=crash", { token: admin })
    expect(crash.status).toBe(500)
    expect(crash.json().error).toContain("exited")
    expect((await server.request("GET", "/api/v3/engine/bad", { token: admin })).text).toBe("fine")
  }, 30_000)

  it("plugin_test/wal and /schedule run a plugin without committing, in InfluxDB 3's answer shape", async () => {
    await upload(
      "probe.py",
      `def process_writes(influxdb3_local, table_batches, args=None):
    influxdb3_local.info("saw", table_batches[0]["rows"][0])
    influxdb3_local.warn("careful")
    line = LineBuilder("probe").tag("t", "a b").string_field("s", 'say "hi"').bool_field("ok", True)
    influxdb3_local.write(line.uint64_field("u", 3).time_ns(7))
    influxdb3_local.write_to_db("other", LineBuilder("x").float64_field("f", 2))

def process_scheduled_call(influxdb3_local, call_time, args=None):
    influxdb3_local.error("scheduled", args)
    raise ValueError("nope")
`
    )
    const wal = await server.request("POST", "/api/v3/plugin_test/wal", {
      token: admin,
      body: {
        filename: "probe.py",
        database: "src",
        input_lp: 'm,host=a f=1.5,i=2i,s="x",b=true 500',
        input_arguments: null
      }
    })
    expect(wal.status, wal.text).toBe(200)
    const body = wal.json()
    expect(body.log_lines[0]).toBe("INFO: starting execution of wal plugin.")
    expect(body.log_lines[1]).toBe("INFO: saw {'host': 'a', 'f': 1.5, 'i': 2, 's': 'x', 'b': True, 'time': 500}")
    expect(body.log_lines[2]).toBe("WARN: careful")
    expect(body.log_lines[3]).toMatch(/^INFO: finished execution in /)
    expect(body.database_writes).toEqual({ src: ['probe,t=a\\ b s="say \\"hi\\"",ok=t,u=3u 7'], other: ["x f=2.0"] })
    expect(body.errors).toEqual([])
    expect(await query("src", "SELECT * FROM probe")).toEqual([])
    const badInput = await server.request("POST", "/api/v3/plugin_test/wal", {
      token: admin,
      body: { filename: "probe.py", database: "src", input_lp: "m,host=a f=1 1\nnot line protocol" }
    })
    expect(badInput.json().errors).toEqual(["input_lp line 2: No fields were provided"])

    const sched = await server.request("POST", "/api/v3/plugin_test/schedule", {
      token: admin,
      body: { filename: "probe.py", database: "src", schedule: "*/5 * * * * *", input_arguments: { a: "b" } }
    })
    expect(sched.status).toBe(200)
    const s = sched.json()
    expect(s.log_lines[1]).toBe("ERROR: scheduled {'a': 'b'}")
    expect(s.errors).toEqual(["ValueError: nope"])
    expect(s.trigger_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/)
    const noDb = await server.request("POST", "/api/v3/plugin_test/schedule", {
      token: admin,
      body: { filename: "probe.py", database: "nope" }
    })
    expect(noDb.json()).toMatchObject({ errors: ["database not found: nope"], trigger_time: null })
    expect(
      (
        await server.request("POST", "/api/v3/plugin_test/wal", {
          token: admin,
          body: { filename: "missing.py", database: "src", input_lp: "m f=1" }
        })
      ).status
    ).toBe(404)
  })

  it("LineBuilder refuses bad keys, negative uints and lines without fields", async () => {
    await upload(
      "lb.py",
      `${REQUEST}
    out = []
    for f in (lambda: LineBuilder("m").tag("a b", "x"), lambda: LineBuilder("m").int64_field("a,b", 1),
              lambda: LineBuilder("m").tag("a=b", "x"), lambda: LineBuilder("m").uint64_field("u", -1),
              lambda: LineBuilder("m").build()):
        try:
            f()
            out.append("ok")
        except Exception as e:
            out.append(type(e).__name__)
    out.append(LineBuilder("m,x y").tag("t", "a,b=c").float64_field("f", 1.25).int64_field("i", -3).build())
    return out
`
    )
    expect((await trigger("src", "lb", "lb.py", "request:lb")).status).toBe(200)
    expect((await server.request("GET", "/api/v3/engine/lb", { token: admin })).json()).toEqual([
      "InvalidLineError",
      "InvalidLineError",
      "InvalidLineError",
      "InvalidLineError",
      "InvalidLineError",
      "m\\,x\\ y,t=a\\,b\\=c f=1.25,i=-3i"
    ])
  })

  it("directory plugins load __init__.py and modules; PUT replaces a trigger's files for the next call", async () => {
    await upload("pkg/__init__.py", `from .helper import greet\n${REQUEST}\n    return greet()\n`)
    await upload("pkg/helper.py", `def greet():\n    return "v1"\n`)
    expect((await trigger("src", "pkg", "pkg", "request:pkg")).status).toBe(200)
    expect((await server.request("GET", "/api/v3/engine/pkg", { token: admin })).text).toBe("v1")
    const put = await server.request("PUT", "/api/v3/plugins/directory", {
      token: admin,
      body: {
        plugin_name: "pkg",
        files: [
          {
            relative_path: "__init__.py",
            content: `from .other import greet\n${REQUEST}\n    return greet()\n`
          },
          { relative_path: "other.py", content: "def greet():\n    return 'v2'\n" }
        ]
      }
    })
    expect(put.status, put.text).toBe(200)
    expect((await server.request("GET", "/api/v3/engine/pkg", { token: admin })).text).toBe("v2")
    const escape = await server.request("PUT", "/api/v3/plugins/directory", {
      token: admin,
      body: { plugin_name: "pkg", files: [{ relative_path: "../x.py", content: "" }] }
    })
    expect(escape.status).toBe(400)

    await upload("single.py", `${REQUEST}\n    return "one"\n`)
    expect((await trigger("src", "single", "single.py", "request:single")).status).toBe(200)
    expect((await server.request("GET", "/api/v3/engine/single", { token: admin })).text).toBe("one")
    const replaced = await server.request("PUT", "/api/v3/plugins/files", {
      token: admin,
      body: {
        plugin_name: "single",
        content: `${REQUEST}\n    return "two"\n`
      }
    })
    expect(replaced.status).toBe(200)
    expect((await server.request("GET", "/api/v3/engine/single", { token: admin })).text).toBe("two")
  })

  it("write_sync writes at once or raises; query raises QueryError; a disabled request trigger is 404", async () => {
    await upload(
      "sync.py",
      `${REQUEST}
    influxdb3_local.write_sync(LineBuilder("synced").int64_field("v", 1).time_ns(10), False)
    rows = influxdb3_local.query("SELECT v, time FROM synced")
    errors = []
    try:
        influxdb3_local.write_sync_to_db("out", LineBuilder("seed").string_field("v", "text"), False)
    except Exception as e:
        errors.append(type(e).__name__)
    try:
        influxdb3_local.query("SELECT nope FROM nowhere")
    except Exception as e:
        errors.append(type(e).__name__)
    return {"rows": rows, "errors": errors}
`
    )
    expect((await trigger("src", "sync", "sync.py", "request:sync")).status).toBe(200)
    expect((await server.request("POST", "/api/v3/engine/sync", { token: admin })).json()).toEqual({
      rows: [{ v: 1, time: 10 }],
      errors: ["WriteError", "QueryError"]
    })
    expect((await server.request("POST", `${TRIGGER}/disable?db=src&trigger_name=sync`, { token: admin })).status).toBe(
      200
    )
    expect((await server.request("POST", `${TRIGGER}/disable?db=src&trigger_name=sync`, { token: admin })).status).toBe(
      200
    )
    expect((await server.request("POST", "/api/v3/engine/sync", { token: admin })).status).toBe(404)
    expect((await server.request("POST", `${TRIGGER}/enable?db=src&trigger_name=sync`, { token: admin })).status).toBe(
      200
    )
    expect((await server.request("POST", "/api/v3/engine/sync", { token: admin })).status).toBe(200)
  })

  it("statuses: 400 bad spec or escaping path, 404 unknown plugin, trigger or database, 409 duplicate", async () => {
    expect((await trigger("src", "x", "wal.py", "sometimes")).status).toBe(400)
    expect((await trigger("src", "x", "wal.py", "cron:0 0 6 * *")).status).toBe(400)
    expect((await trigger("src", "x", "wal.py", "every:2y")).status).toBe(400)
    expect((await trigger("src", "x", "nothing.py", "all_tables")).status).toBe(404)
    expect((await trigger("src", "x", "../wal.py", "all_tables")).status).toBe(400)
    // A symlink inside the plugin directory that leads out of it is refused too.
    const outside = NodePath.join(NodeOs.tmpdir(), `strata-outside-${process.pid}.py`)
    NodeFs.writeFileSync(outside, "def process_writes(influxdb3_local, table_batches, args=None):\n    pass\n")
    NodeFs.symlinkSync(outside, NodePath.join(server.dataDir, "plugins", "link.py"))
    expect((await trigger("src", "x", "link.py", "all_tables")).status).toBe(400)
    NodeFs.rmSync(outside)
    expect((await trigger("src", "x", NodePath.join(server.dataDir, "plugins", "wal.py"), "table:none")).status).toBe(
      200
    )
    expect(
      (await server.request("DELETE", `${TRIGGER}?db=src&trigger_name=x&force=true`, { token: admin })).status
    ).toBe(200)
    expect((await trigger("nodb", "x", "wal.py", "all_tables")).status).toBe(404)
    expect((await trigger("src", "doubler", "wal.py", "all_tables")).status).toBe(409)
    expect((await trigger("src", "cron6", "sched.py", "cron:0 0 6 * * 1-5", { disabled: true })).status).toBe(200)
    const params = "db=src&plugin_filename=sched.py&trigger_name=byquery&trigger_specification=every:1h&disabled=true"
    expect((await server.request("POST", `${TRIGGER}?${params}`, { token: admin })).status).toBe(200)
    expect((await server.request("DELETE", `${TRIGGER}?db=src&trigger_name=byquery`, { token: admin })).status).toBe(
      200
    )
    expect(
      (
        await server.request("POST", "/api/v3/plugins/files", {
          token: admin,
          body: { plugin_name: "../../escape.py", content: "x" }
        })
      ).status
    ).toBe(400)
    expect(
      (
        await server.request("PUT", "/api/v3/plugins/files", {
          token: admin,
          body: { plugin_name: "no-trigger", content: "x" }
        })
      ).status
    ).toBe(404)
    expect((await server.request("POST", `${TRIGGER}/enable?db=src&trigger_name=nope`, { token: admin })).status).toBe(
      404
    )
    expect((await server.request("DELETE", `${TRIGGER}?db=src&trigger_name=doubler`, { token: admin })).status).toBe(
      400
    )
    expect(
      (await server.request("DELETE", `${TRIGGER}?db=src&trigger_name=doubler&force=true`, { token: admin })).status
    ).toBe(200)
    expect((await server.request("DELETE", `${TRIGGER}?db=src&trigger_name=cron6`, { token: admin })).status).toBe(200)
    expect((await server.request("DELETE", `${TRIGGER}?db=src&trigger_name=cron6`, { token: admin })).status).toBe(404)
  })

  it("configure endpoints need an admin token; /api/v3/engine follows the token's database permissions", async () => {
    const reader = await createResourceToken(server, admin, "reader", {
      resource_type: "db",
      resource_names: ["src"],
      actions: ["read"]
    })
    const other = await createResourceToken(server, admin, "other", {
      resource_type: "db",
      resource_names: ["out"],
      actions: ["read", "write"]
    })
    expect(
      (await server.request("POST", `${TRIGGER}/enable?db=src&trigger_name=hello`, { token: reader })).status
    ).toBe(403)
    expect(
      (
        await server.request("POST", "/api/v3/plugins/files", {
          token: reader,
          body: { plugin_name: "r.py", content: "" }
        })
      ).status
    ).toBe(403)
    expect((await server.request("GET", "/api/v3/engine/hello", { token: reader })).status).toBe(200)
    expect((await server.request("POST", "/api/v3/engine/hello?mode=text", { token: reader, body: "x" })).status).toBe(
      403
    )
    expect((await server.request("GET", "/api/v3/engine/hello", { token: other })).status).toBe(403)
    expect((await server.request("GET", "/api/v3/engine/hello")).status).toBe(401)
  })

  it("a node without --mode process keeps triggers but runs no plugins: dry runs and requests answer 503", async () => {
    const other = await startServer({ mode: ["ingest", "query"] })
    try {
      const token = await createOperatorToken(other)
      await other.request("POST", "/api/v3/write_lp?db=src", { token, body: "cpu v=1 1" })
      const file = { plugin_name: "r.py", content: `${REQUEST}\n    return "x"\n` }
      expect((await other.request("POST", "/api/v3/plugins/files", { token, body: file })).status).toBe(200)
      const settings = { run_async: false, error_behavior: "log" }
      const body = {
        db: "src",
        plugin_filename: "r.py",
        trigger_name: "r",
        trigger_specification: "request:r",
        trigger_settings: settings,
        disabled: false
      }
      expect((await other.request("POST", TRIGGER, { token, body })).status).toBe(200)
      expect((await other.request("GET", "/api/v3/engine/r", { token })).status).toBe(503)
      const test = { filename: "r.py", database: "src", input_lp: "cpu v=1" }
      expect((await other.request("POST", "/api/v3/plugin_test/wal", { token, body: test })).status).toBe(503)
    } finally {
      await other.stop()
    }
  })

  it("install_packages fails within 30 s with a clear error when no package index is reachable", async () => {
    const res = await server.request("POST", "/api/v3/configure/plugin_environment/install_packages", {
      token: admin,
      body: { packages: ["surely-not-installed-pkg-xyz"] }
    })
    expect(res.status).toBe(500)
    expect(res.json().error).toMatch(/^installing plugin packages failed: pip/)
    const missing = await server.request("POST", "/api/v3/configure/plugin_environment/install_requirements", {
      token: admin,
      body: { requirements_location: "nothing.txt" }
    })
    expect(missing.status).toBe(404)
  }, 40_000)
})
