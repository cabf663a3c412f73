import { HttpServerResponse } from "@effect/platform"
import { Clock, Effect, Either, Option, Schema } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { Catalog, decide } from "../catalog/Catalog.ts"
import { liveDatabase } from "../catalog/state.ts"
import { ServerConfig } from "../config.ts"
import { createTrigger, deleteTrigger, findTrigger, requestTrigger, setTriggerEnabled } from "../engine/commands.ts"
import { installPackages, installRequirements } from "../engine/environment.ts"
import { resolvePlugin, pluginPath, writePluginFile } from "../engine/plugins.ts"
import { ProcessingEngine, type CallOutcome, type CallTarget } from "../engine/ProcessingEngine.ts"
import { parseCron } from "../engine/cron.ts"
import { parseTriggerSpec, nextFireTime } from "../engine/spec.ts"
import { addWrite, type TableBatch } from "../engine/walBatches.ts"
import { ExecutionFailed, InvalidRequest, NotFound, Unavailable } from "../errors.ts"
import { BooleanParam, readBody, readJsonBody, readQueryParams } from "./body.ts"
import { errorResponse, jsonResponse, okEmpty } from "./respond.ts"
import { admin, anyToken, type RequestContext, type RouteDef } from "./route.ts"

const bodyLimit = Effect.map(ServerConfig, (c) => c.maxHttpRequestSize)

/** The engine service; it is part of every server, so its absence is a wiring bug answered 503. */
const engine = Effect.flatMap(Effect.serviceOption(ProcessingEngine), (e) =>
  Option.isSome(e)
    ? Effect.succeed(e.value)
    : Effect.fail(new Unavailable({ message: "the processing engine is not running on this node" }))
)

/** The engine where it runs plugins: a node whose --mode has process (503 elsewhere). */
const runningEngine = Effect.flatMap(engine, (e) =>
  e.enabled
    ? Effect.succeed(e)
    : Effect.flatMap(ServerConfig, (c) =>
        Effect.fail(
          new Unavailable({
            message:
              "the processing engine does not run plugins on this node: it runs them only with --mode process " +
              `(or all); this node runs ${c.mode.join(",")}`
          })
        )
      )
)

const ErrorBehaviorField = Schema.transform(Schema.String, Schema.Literal("log", "retry", "disable"), {
  strict: false,
  decode: (s) => s.toLowerCase(),
  encode: (s) => s
})

/** `trigger_arguments` values are strings to the plugin; numbers and booleans are taken as their text. */
const Arguments = Schema.optional(
  Schema.NullOr(
    Schema.Record({ key: Schema.String, value: Schema.Union(Schema.String, Schema.Number, Schema.Boolean) })
  )
)

const CreateTriggerBody = Schema.Struct({
  db: Schema.String,
  plugin_filename: Schema.String,
  trigger_name: Schema.String,
  trigger_specification: Schema.String,
  trigger_settings: Schema.Struct({ run_async: Schema.Boolean, error_behavior: ErrorBehaviorField }),
  trigger_arguments: Arguments,
  disabled: Schema.Boolean
})

const CreateTriggerParams = Schema.Struct({
  db: Schema.String,
  plugin_filename: Schema.String,
  trigger_name: Schema.String,
  trigger_specification: Schema.String,
  run_async: Schema.optional(BooleanParam),
  error_behavior: Schema.optional(ErrorBehaviorField),
  disabled: Schema.optional(BooleanParam)
})

const TriggerParams = Schema.Struct({
  db: Schema.String,
  trigger_name: Schema.String,
  force: Schema.optional(BooleanParam)
})

const stringArgs = (args: Readonly<Record<string, string | number | boolean>> | null | undefined) =>
  args === null || args === undefined ? null : Object.fromEntries(Object.entries(args).map(([k, v]) => [k, String(v)]))

/** A resolved path, or the failure resolving it gave. */
const pathOr = (v: string | InvalidRequest | NotFound) => (typeof v === "string" ? Effect.succeed(v) : Effect.fail(v))

const create = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const t =
      [...ctx.query.keys()].length > 0
        ? yield* Effect.map(readQueryParams(ctx.query, CreateTriggerParams), (p) => ({
            ...p,
            trigger_settings: { run_async: p.run_async ?? false, error_behavior: p.error_behavior ?? ("log" as const) },
            trigger_arguments: null,
            disabled: p.disabled ?? false
          }))
        : yield* readJsonBody(ctx.request, CreateTriggerBody, yield* bodyLimit)
    const { pluginDir } = yield* engine
    // A bad specification is the first thing reported, as InfluxDB 3 parses it first.
    const spec = parseTriggerSpec(t.trigger_specification)
    if (typeof spec === "string") return yield* Effect.fail(new InvalidRequest({ message: spec }))
    yield* pathOr(resolvePlugin(pluginDir, t.plugin_filename))
    yield* (yield* Catalog).execute(
      decide((s) =>
        createTrigger(s, {
          db: t.db,
          name: t.trigger_name,
          pluginFilename: t.plugin_filename,
          specification: t.trigger_specification,
          arguments: stringArgs(t.trigger_arguments),
          runAsync: t.trigger_settings.run_async,
          errorBehavior: t.trigger_settings.error_behavior,
          disabled: t.disabled
        })
      )
    )
    return okEmpty
  })

const remove = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const p = yield* readQueryParams(ctx.query, TriggerParams)
    yield* (yield* Catalog).execute(decide((s) => deleteTrigger(s, p.db, p.trigger_name, p.force ?? false)))
    return okEmpty
  })

const setEnabled = (enabled: boolean) => (ctx: RequestContext) =>
  Effect.gen(function* () {
    const p = yield* readQueryParams(ctx.query, TriggerParams)
    yield* (yield* Catalog).execute(decide((s) => setTriggerEnabled(s, p.db, p.trigger_name, enabled)))
    return okEmpty
  })

const PluginFileBody = Schema.Struct({ plugin_name: Schema.String, content: Schema.String })
const PluginDirectoryBody = Schema.Struct({
  plugin_name: Schema.String,
  files: Schema.Array(Schema.Struct({ relative_path: Schema.String, content: Schema.String }))
})

/** The trigger named `name` (in any database): PUT names plugins by their trigger. */
const triggerNamed = (name: string) =>
  Effect.flatMap(
    Effect.flatMap(Catalog, (c) => c.current),
    (state) => {
      for (const db of state.databases.values()) {
        if (db.deleted) continue
        const found = findTrigger(state, db.name, name)
        if (Either.isRight(found)) return Effect.succeed(found.right)
      }
      return Effect.fail(new NotFound({ message: `plugin not found: no trigger named ${name}` }))
    }
  )

const createFile = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const body = yield* readJsonBody(ctx.request, PluginFileBody, yield* bodyLimit)
    const path = yield* pathOr(pluginPath((yield* engine).pluginDir, body.plugin_name))
    writePluginFile(path, body.content)
    return okEmpty
  })

const replaceFile = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const body = yield* readJsonBody(ctx.request, PluginFileBody, yield* bodyLimit)
    const trigger = yield* triggerNamed(body.plugin_name)
    const path = yield* pathOr(pluginPath((yield* engine).pluginDir, trigger.pluginFilename))
    if (NodeFs.statSync(path, { throwIfNoEntry: false })?.isDirectory() === true) {
      return yield* Effect.fail(
        new InvalidRequest({
          message: `plugin ${trigger.pluginFilename} is a directory: use PUT /api/v3/plugins/directory`
        })
      )
    }
    writePluginFile(path, body.content)
    return okEmpty
  })

const replaceDirectory = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const body = yield* readJsonBody(ctx.request, PluginDirectoryBody, yield* bodyLimit)
    const trigger = yield* triggerNamed(body.plugin_name)
    const dir = yield* pathOr(pluginPath((yield* engine).pluginDir, trigger.pluginFilename))
    if (NodeFs.statSync(dir, { throwIfNoEntry: false })?.isFile() === true) {
      return yield* Effect.fail(
        new InvalidRequest({
          message: `plugin ${trigger.pluginFilename} is a single file: use PUT /api/v3/plugins/files`
        })
      )
    }
    const files: Array<[string, string]> = []
    for (const f of body.files) files.push([yield* pathOr(pluginPath(dir, f.relative_path)), f.content])
    NodeFs.rmSync(dir, { recursive: true, force: true })
    for (const [path, content] of files) writePluginFile(path, content)
    return okEmpty
  })

const TestWalBody = Schema.Struct({
  filename: Schema.String,
  database: Schema.String,
  input_lp: Schema.String,
  input_arguments: Arguments,
  cache_name: Schema.optional(Schema.NullOr(Schema.String))
})

const TestScheduleBody = Schema.Struct({
  filename: Schema.String,
  database: Schema.String,
  schedule: Schema.optional(Schema.NullOr(Schema.String)),
  input_arguments: Arguments,
  cache_name: Schema.optional(Schema.NullOr(Schema.String))
})

const elapsedText = (ns: bigint) => {
  const us = ns / 1000n
  return us >= 1000n ? `${us / 1000n}ms ${us % 1000n}us` : `${us}us`
}

/** InfluxDB 3's dry-run answer: log lines framed by start and finish, writes by database, errors. */
const testAnswer = (
  kind: string,
  outcome: CallOutcome,
  elapsedNs: bigint,
  validate: (lines: ReadonlyArray<string>) => ReadonlyArray<string>,
  inputErrors: ReadonlyArray<string> = []
) => {
  const writes: Record<string, Array<string>> = {}
  for (const w of outcome.writes) (writes[w.db] ??= []).push(w.line)
  const errors: Array<string> = [...inputErrors]
  if (!outcome.ok && outcome.error !== null) errors.push(outcome.error)
  for (const [db, lines] of Object.entries(writes)) for (const e of validate(lines)) errors.push(`database ${db}: ${e}`)
  return {
    log_lines: [
      `INFO: starting execution of ${kind} plugin.`,
      ...outcome.logs.map((l) => `${l.level}: ${l.msg}`),
      `INFO: finished execution in ${elapsedText(elapsedNs)}`
    ],
    database_writes: writes,
    errors
  }
}

const testTarget = (
  pluginDir: string,
  filename: string,
  db: string,
  args: Readonly<Record<string, string | number | boolean>> | null | undefined,
  cacheName: string | null | undefined
) =>
  Effect.map(pathOr(resolvePlugin(pluginDir, filename)), (plugin): CallTarget => ({
    db,
    plugin,
    args: stringArgs(args),
    trigger: null,
    key: null,
    runAsync: false,
    cacheSpace: `test:${cacheName ?? "_shared_test"}`
  }))

const testWal = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const body = yield* readJsonBody(ctx.request, TestWalBody, yield* bodyLimit)
    const e = yield* runningEngine
    const target = yield* testTarget(e.pluginDir, body.filename, body.database, body.input_arguments, body.cache_name)
    const batches = new Map<string, TableBatch>()
    const nowNs = BigInt(yield* Clock.currentTimeMillis) * 1_000_000n
    addWrite(
      batches,
      { payload: Buffer.from(body.input_lp, "utf8"), precision: "nanosecond", defaultTimeNs: nowNs, rejectedLines: [] },
      undefined
    )
    const inputErrors = e.validateLines([body.input_lp]).map((m) => `input_lp ${m}`)
    const started = process.hrtime.bigint()
    const outcome = yield* e.dryRun(target, { kind: "wal", batches: [...batches.values()] })
    return jsonResponse(testAnswer("wal", outcome, process.hrtime.bigint() - started, e.validateLines, inputErrors))
  })

/** RFC3339 with `Z`, the fraction only when not zero. */
const rfc3339 = (ms: number) => new Date(ms).toISOString().replace(/\.000Z$/, "Z")

const testSchedule = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const body = yield* readJsonBody(ctx.request, TestScheduleBody, yield* bodyLimit)
    const e = yield* runningEngine
    const target = yield* testTarget(e.pluginDir, body.filename, body.database, body.input_arguments, body.cache_name)
    const raw = (body.schedule ?? "* * * * * *").trim()
    const spec = parseTriggerSpec(raw.startsWith("every:") || raw.startsWith("cron:") ? raw : `cron:${raw}`)
    if (typeof spec === "string" || (spec._tag !== "Every" && spec._tag !== "Cron")) {
      const cron = parseCron(raw)
      return yield* Effect.fail(
        new InvalidRequest({
          message: `invalid schedule '${raw}': ${
            typeof cron === "string" ? cron : "expected a cron expression or every:<duration>"
          }`
        })
      )
    }
    const state = yield* (yield* Catalog).current
    if (liveDatabase(state, body.database) === undefined) {
      return jsonResponse({
        log_lines: [],
        database_writes: {},
        errors: [`database not found: ${body.database}`],
        trigger_time: null
      })
    }
    const nowMs = yield* Clock.currentTimeMillis
    const triggerMs = nextFireTime(spec, nowMs) ?? nowMs
    const started = process.hrtime.bigint()
    const outcome = yield* e.dryRun(target, { kind: "schedule", call_time_ms: triggerMs })
    return jsonResponse({
      ...testAnswer("schedule", outcome, process.hrtime.bigint() - started, e.validateLines),
      trigger_time: rfc3339(triggerMs)
    })
  })

const PackagesBody = Schema.Struct({ packages: Schema.Array(Schema.String) })
const RequirementsBody = Schema.Struct({ requirements_location: Schema.String })

const install = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const body = yield* readJsonBody(ctx.request, PackagesBody, yield* bodyLimit)
    if (body.packages.length === 0)
      return yield* Effect.fail(new InvalidRequest({ message: "packages must name at least one package" }))
    yield* installPackages((yield* runningEngine).pluginDir, body.packages)
    return okEmpty
  })

const installFromFile = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const body = yield* readJsonBody(ctx.request, RequirementsBody, yield* bodyLimit)
    const { pluginDir } = yield* runningEngine
    const file = NodePath.isAbsolute(body.requirements_location)
      ? body.requirements_location
      : NodePath.join(pluginDir, body.requirements_location)
    if (!NodeFs.existsSync(file))
      return yield* Effect.fail(new NotFound({ message: `requirements file not found: ${body.requirements_location}` }))
    yield* installRequirements(pluginDir, file)
    return okEmpty
  })

/** `GET|POST /api/v3/engine/<path>`: the request trigger serving the path, with the token's rights on its database. */
const engineRequest = (ctx: RequestContext) =>
  Effect.gen(function* () {
    const url = new URL(ctx.request.url, "http://localhost")
    const path = decodeURIComponent(url.pathname.slice("/api/v3/engine/".length))
    const state = yield* (yield* Catalog).current
    const trigger = requestTrigger(state, path)
    if (trigger === undefined || trigger.disabled) return errorResponse(404, "not found")
    const db = state.databases.get(trigger.dbId)!
    yield* ctx.authorize({ _tag: "db", action: ctx.request.method === "GET" ? "read" : "write", db: db.name })
    const body = ctx.request.method === "GET" ? Buffer.alloc(0) : yield* readBody(ctx.request, yield* bodyLimit)
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(ctx.request.headers))
      if (k !== "authorization" && typeof v === "string") headers[k] = v
    const params: Record<string, string> = {}
    for (const [k, v] of url.searchParams) params[k] = v
    const outcome = yield* (yield* runningEngine).request(trigger, { params, headers, body })
    if (!outcome.ok || outcome.response === null) {
      return yield* Effect.fail(
        new ExecutionFailed({ message: `error executing plugin: ${outcome.error ?? "no response"}` })
      )
    }
    const r = outcome.response
    const contentType = Object.entries(r.headers).find(([k]) => k.toLowerCase() === "content-type")?.[1]
    const others = Object.fromEntries(
      Object.entries(r.headers).filter(
        ([k]) => k.toLowerCase() !== "content-type" && k.toLowerCase() !== "content-length"
      )
    )
    return HttpServerResponse.uint8Array(Buffer.from(r.body, "base64"), {
      status: r.status,
      headers: others,
      ...(contentType === undefined ? {} : { contentType })
    })
  })

/** The processing engine's endpoints: triggers, plugin files, dry runs, the plugin environment, request triggers. */
export const engineRoutes: ReadonlyArray<RouteDef> = [
  { method: "POST", path: "/api/v3/configure/processing_engine_trigger", access: admin, handler: create },
  { method: "DELETE", path: "/api/v3/configure/processing_engine_trigger", access: admin, handler: remove },
  {
    method: "POST",
    path: "/api/v3/configure/processing_engine_trigger/enable",
    access: admin,
    handler: setEnabled(true)
  },
  {
    method: "POST",
    path: "/api/v3/configure/processing_engine_trigger/disable",
    access: admin,
    handler: setEnabled(false)
  },
  { method: "POST", path: "/api/v3/plugins/files", access: admin, handler: createFile },
  { method: "PUT", path: "/api/v3/plugins/files", access: admin, handler: replaceFile },
  { method: "PUT", path: "/api/v3/plugins/directory", access: admin, handler: replaceDirectory },
  { method: "POST", path: "/api/v3/plugin_test/wal", access: admin, handler: testWal },
  { method: "POST", path: "/api/v3/plugin_test/schedule", access: admin, handler: testSchedule },
  { method: "POST", path: "/api/v3/configure/plugin_environment/install_packages", access: admin, handler: install },
  {
    method: "POST",
    path: "/api/v3/configure/plugin_environment/install_requirements",
    access: admin,
    handler: installFromFile
  },
  { method: "GET", path: "/api/v3/engine/*", access: anyToken, handler: engineRequest },
  { method: "POST", path: "/api/v3/engine/*", access: anyToken, handler: engineRequest }
]
