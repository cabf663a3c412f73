import { Chunk, Clock, Effect, Fiber, Runtime, Stream, SubscriptionRef } from "effect"
import * as NodeFs from "node:fs"
import * as NodePath from "node:path"
import { Catalog, decide } from "../catalog/Catalog.ts"
import type { CatalogState } from "../catalog/state.ts"
import { ServerConfig } from "../config.ts"
import { TriggerBatchProcessed, type StrataEvent, type WriteBatch } from "../events/index.ts"
import { EventLog, type Envelope } from "../log/EventLog.ts"
import { parseLineProtocol } from "../lineprotocol/index.ts"
import { QueryEngine } from "../query/QueryEngine.ts"
import { Ingester, type WriteOutcome } from "../write/Ingester.ts"
import { PluginCache } from "./cache.ts"
import { setTriggerEnabled } from "./commands.ts"
import { EngineLogs } from "./EngineLogs.ts"
import { PluginProcess, PluginProcessFailed, type PluginDone, type PluginLog, type PluginRpc } from "./PluginProcess.ts"
import { pluginDirOf, resolvePlugin } from "./plugins.ts"
import { Scheduler } from "./Scheduler.ts"
import { isWalSpec, parseTriggerSpec, type TriggerSpec } from "./spec.ts"
import { engineOf, triggerKey, type TriggerDef } from "./state.ts"
import { addWrite, pythonJson, type TableBatch } from "./walBatches.ts"

/** Who a plugin call runs for: a trigger (its process, cache and logs) or a dry run (a fresh process, nothing kept). */
export interface CallTarget {
  readonly db: string
  readonly plugin: string
  readonly args: Readonly<Record<string, string>> | null
  /** The trigger's name and key (`dbId/name`, its process); null for a dry run. */
  readonly trigger: string | null
  readonly key: string | null
  /** `run_async`: calls may run at once, on up to `ASYNC_PROCESSES` processes of the trigger. */
  readonly runAsync: boolean
  /** `trigger:<db>/<name>` or `test:<cache name>`. */
  readonly cacheSpace: string
}

/** How a call ended: the plugin's outcome (or why it never finished), its log lines, and, dry runs, all its writes. */
export interface CallOutcome {
  readonly ok: boolean
  readonly error: string | null
  readonly writes: ReadonlyArray<{ readonly db: string; readonly line: string }>
  readonly response: PluginDone["response"]
  readonly logs: ReadonlyArray<PluginLog>
  readonly timedOut: boolean
}

/** Most python3 processes a `run_async` trigger runs calls on at once. */
const ASYNC_PROCESSES = 4

/** The outcome's writes grouped by database, in the order each database was first written. */
const byDatabase = (writes: CallOutcome["writes"]) => {
  const out = new Map<string, Array<string>>()
  for (const w of writes) {
    let lines = out.get(w.db)
    if (lines === undefined) out.set(w.db, (lines = []))
    lines.push(w.line)
  }
  return out
}

/** Whether a write's event was logged: some line was written. */
const logged = (outcome: WriteOutcome, lines: number) =>
  outcome._tag === "Written" || (outcome._tag === "Partial" && outcome.errors.length < lines)

const outcomeErrors = (outcome: WriteOutcome) =>
  outcome._tag === "Written" ? [] : outcome.errors.map((e) => `line ${e.lineNumber}: ${e.message}`)

/**
 * The processing engine: runs Python plugins for the catalog's triggers — WAL triggers from committed writes (one
 * runner per trigger, resuming after its durable `processedSeq`), schedules through the Scheduler, requests on
 * demand — each trigger in its own python3 process, and dry runs in a fresh one.
 */
export class ProcessingEngine extends Effect.Service<ProcessingEngine>()("strata/ProcessingEngine", {
  dependencies: [
    Catalog.Default,
    EngineLogs.Default,
    EventLog.Default,
    Ingester.Default,
    QueryEngine.Default,
    Scheduler.Default
  ],
  scoped: Effect.gen(function* () {
    const config = yield* ServerConfig
    const log = yield* EventLog
    const catalog = yield* Catalog
    const ingester = yield* Ingester
    const queries = yield* QueryEngine
    const engineLogs = yield* EngineLogs
    const scheduler = yield* Scheduler
    const runtime = yield* Effect.runtime<never>()
    const runPromise = Runtime.runPromise(runtime)
    const runFork = Runtime.runFork(runtime)
    // Plugin callbacks arrive outside any fiber: they read the time through the runtime's Clock all the same.
    const nowMs = () => Runtime.runSync(runtime)(Clock.currentTimeMillis)
    const pluginDir = pluginDirOf(config)
    NodeFs.mkdirSync(pluginDir, { recursive: true })
    const cache = new PluginCache()
    const processes = new Map<string, Array<PluginProcess>>()
    const closeAll = (key: string) => {
      processes.get(key)?.forEach((p) => p.close())
      processes.delete(key)
    }
    yield* Effect.addFinalizer(() => Effect.sync(() => [...processes.keys()].forEach(closeAll)))
    /** A trigger's process for the next call: its only one, or with run_async the least busy (a new one if all are). */
    const processFor = (key: string, runAsync: boolean) => {
      let pool = processes.get(key)
      if (pool === undefined) processes.set(key, (pool = []))
      const idlest = pool.reduce<PluginProcess | undefined>(
        (a, p) => (a === undefined || p.pending < a.pending ? p : a),
        undefined
      )
      if (idlest !== undefined && (!runAsync || idlest.pending === 0 || pool.length >= ASYNC_PROCESSES)) return idlest
      const fresh = newProcess(key)
      pool.push(fresh)
      return fresh
    }

    /** The venv's python when `install_packages` made one, else python3 from PATH. */
    const python = () => {
      const venv = NodePath.join(pluginDir, ".venv", "bin", "python3")
      return NodeFs.existsSync(venv) ? venv : "python3"
    }
    const newProcess = (label: string) =>
      new PluginProcess(python(), pluginDir, {}, (text) =>
        runFork(Effect.logDebug(`plugin ${label} stderr: ${text.trimEnd()}`))
      )

    const recordLog = (target: CallTarget, line: PluginLog) => {
      if (target.trigger === null) return
      engineLogs.add({
        eventTimeNs: BigInt(nowMs()) * 1_000_000n,
        db: target.db,
        triggerName: target.trigger,
        logLevel: line.level,
        logText: line.msg
      })
      const text = `processing engine trigger ${target.trigger} (${target.db}): ${line.msg}`
      runFork(
        line.level === "ERROR"
          ? Effect.logError(text)
          : line.level === "WARN"
            ? Effect.logWarning(text)
            : Effect.logInfo(text)
      )
    }

    /** Writes line protocol through the Ingester (the normal write path), at nanosecond precision. */
    const writeLines = (
      db: string,
      lines: ReadonlyArray<string>,
      noSync: boolean,
      alsoLog?: ReadonlyArray<StrataEvent>
    ) => {
      const body = Buffer.from(lines.join("\n"), "utf8")
      return ingester.write({
        db,
        body: [body],
        size: body.length,
        precision: "nanosecond",
        acceptPartial: true,
        noSync,
        ...(alsoLog === undefined ? {} : { alsoLog })
      })
    }

    const spaceOf = (target: CallTarget, useGlobal: unknown) => (useGlobal === true ? "global" : target.cacheSpace)

    /** Answers a plugin's rpc; a rejection is raised in the plugin as an exception. */
    const answer =
      (target: CallTarget, dryRun: boolean, syncWrites: Array<{ db: string; line: string }>) =>
      (rpc: PluginRpc): Promise<unknown> => {
        const now = nowMs()
        switch (rpc.op) {
          case "cache_put":
            cache.put(
              spaceOf(target, rpc.use_global),
              String(rpc.key),
              String(rpc.value),
              rpc.ttl === null ? null : Number(rpc.ttl),
              now
            )
            return Promise.resolve(null)
          case "cache_get":
            return Promise.resolve(cache.get(spaceOf(target, rpc.use_global), String(rpc.key), now))
          case "cache_delete":
            return Promise.resolve(cache.delete(spaceOf(target, rpc.use_global), String(rpc.key), now))
          case "query": {
            const params = (rpc.args ?? {}) as Record<string, string>
            const run = Effect.flatMap(
              queries.sql({ db: String(rpc.db), sql: String(rpc.sql), params, format: "jsonl" }),
              (a) => Stream.runCollect(a.body)
            ).pipe(
              Effect.map((chunks) => Buffer.concat(Chunk.toReadonlyArray(chunks)).toString("utf8")),
              Effect.mapError((e) => new Error(e.message))
            )
            return runPromise(run)
          }
          case "write_sync": {
            const lines = (rpc.lines as ReadonlyArray<string>) ?? []
            if (dryRun) {
              for (const line of lines) syncWrites.push({ db: String(rpc.db), line })
              return Promise.resolve(null)
            }
            const run = Effect.flatMap(writeLines(String(rpc.db), lines, rpc.no_sync === true), (outcome) =>
              outcome._tag === "Written"
                ? Effect.succeed(null)
                : Effect.fail(new Error(`write failed: ${outcomeErrors(outcome).join("; ")}`))
            ).pipe(Effect.mapError((e) => new Error(e.message)))
            return runPromise(run)
          }
        }
      }

    /** Runs one plugin call; never fails: a raise, a timeout or a dead process is an outcome that is not ok. */
    const call = (target: CallTarget, message: Record<string, unknown>, dryRun: boolean) =>
      Effect.gen(function* () {
        const logs: Array<PluginLog> = []
        const syncWrites: Array<{ db: string; line: string }> = []
        const key = target.key
        const process = dryRun || key === null ? newProcess(`test ${target.plugin}`) : processFor(key, target.runAsync)
        const hooks = {
          rpc: answer(target, dryRun, syncWrites),
          log: (line: PluginLog) => {
            logs.push(line)
            recordLog(target, line)
          }
        }
        const text = pythonJson({ t: "run", plugin: target.plugin, db: target.db, args: target.args, ...message })
        const result = yield* Effect.tryPromise({
          try: () => process.call(text, hooks, config.pluginTimeoutMs),
          catch: (e) => (e instanceof PluginProcessFailed ? e : new PluginProcessFailed(String(e), false))
        }).pipe(
          Effect.map((done): CallOutcome => ({
            ok: done.ok,
            error: done.error,
            writes: [...syncWrites, ...done.writes],
            response: done.response,
            logs,
            timedOut: false
          })),
          Effect.catchAll((e) =>
            Effect.succeed<CallOutcome>({
              ok: false,
              error: e.message,
              writes: syncWrites,
              response: null,
              logs,
              timedOut: e.timedOut
            })
          ),
          Effect.ensuring(Effect.sync(() => (dryRun || key === null) && process.close()))
        )
        return result
      })

    /** The trigger's call target; `missing` says why its plugin cannot be found now (it was removed). */
    const targetOf = (state: CatalogState, def: TriggerDef): CallTarget & { readonly missing?: string } => {
      const db = state.databases.get(def.dbId)
      const plugin = resolvePlugin(pluginDir, def.pluginFilename)
      return {
        ...(typeof plugin === "string" ? {} : { missing: plugin.message }),
        db: db?.name ?? String(def.dbId),
        plugin: typeof plugin === "string" ? plugin : def.pluginFilename,
        args: def.arguments,
        trigger: def.name,
        key: triggerKey(def.dbId, def.name),
        runAsync: def.runAsync,
        cacheSpace: `trigger:${def.dbId}/${def.name}`
      }
    }

    /** Logs an engine line about a trigger (as the plugin's own lines are logged). */
    const engineLine = (target: CallTarget, level: PluginLog["level"], msg: string) =>
      Effect.sync(() => recordLog(target, { level, msg }))

    /** A failed call, handled by the trigger's error_behavior: whether to run the same input again. */
    const onFailure = (def: TriggerDef, target: CallTarget, outcome: CallOutcome, attempt: number) =>
      Effect.gen(function* () {
        yield* engineLine(target, "ERROR", `error executing plugin: ${outcome.error}`)
        if (def.errorBehavior === "retry") {
          yield* Effect.sleep(Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5)))
          return true
        }
        if (def.errorBehavior === "disable") {
          yield* catalog
            .execute(
              decide((s) =>
                setTriggerEnabled(s, target.db, def.name, false, `error_behavior=disable: ${outcome.error}`)
              )
            )
            .pipe(Effect.catchAll((e) => Effect.logWarning(`could not disable trigger ${def.name}: ${e.message}`)))
        }
        return false
      })

    /** Runs a call for a trigger until it succeeds or its error_behavior lets it go; the successful outcome, if any. */
    const runTrigger = (def: TriggerDef, message: Record<string, unknown>) =>
      Effect.gen(function* () {
        for (let attempt = 0; ; attempt++) {
          // Resolved on every attempt: a retry finds a plugin put back meanwhile.
          const target = targetOf(yield* catalog.current, def)
          const outcome =
            target.missing === undefined
              ? yield* call(target, message, false)
              : { ok: false, error: target.missing, writes: [], response: null, logs: [], timedOut: false }
          if (outcome.ok) return { target, outcome }
          if (!(yield* onFailure(def, target, outcome, attempt))) return { target, outcome: undefined }
        }
      })

    /** Applies a successful call's buffered writes, the last one committed with `progress` (logged alone otherwise). */
    const applyWrites = (target: CallTarget, outcome: CallOutcome, progress: ReadonlyArray<StrataEvent>) =>
      Effect.gen(function* () {
        const groups = [...byDatabase(outcome.writes)]
        let pending = progress
        for (let i = 0; i < groups.length; i++) {
          const [db, lines] = groups[i]!
          const last = i === groups.length - 1
          const result = yield* Effect.either(
            writeLines(db, lines, false, last && pending.length > 0 ? pending : undefined)
          )
          if (result._tag === "Left") {
            yield* engineLine(target, "ERROR", `error writing to database ${db}: ${result.left.message}`)
            continue
          }
          for (const e of outcomeErrors(result.right))
            yield* engineLine(target, "ERROR", `error writing to database ${db}: ${e}`)
          if (last && logged(result.right, lines.length)) pending = []
        }
        if (pending.length > 0) yield* log.append(pending.map((event) => ({ event })))
      })

    // The newest committed write seq, for WAL runners to wait on.
    const lastWriteSeq = yield* SubscriptionRef.make(yield* log.committedSeq)
    yield* log.project("processing-engine", (envelopes) => {
      let newest = -1
      for (const e of envelopes) if (e.event._tag === "WriteBatch") newest = e.seq
      return newest < 0 ? Effect.void : SubscriptionRef.set(lastWriteSeq, newest)
    })

    /** A WAL trigger's runner: the writes of its database after its processed seq, batch by batch, for ever. */
    const walRunner = (def: TriggerDef, spec: Extract<TriggerSpec, { _tag: "Table" | "AllTables" }>) =>
      Effect.gen(function* () {
        let processed = def.processedSeq
        const table = spec._tag === "Table" ? spec.table : undefined
        while (true) {
          yield* lastWriteSeq.changes.pipe(
            Stream.filter((seq) => seq > processed),
            Stream.take(1),
            Stream.runDrain
          )
          const envelopes: ReadonlyArray<Envelope> = yield* log.read(processed, 1000)
          if (envelopes.length === 0) continue
          const through = envelopes[envelopes.length - 1]!.seq
          const batches = new Map<string, TableBatch>()
          for (const e of envelopes) {
            if (e.event._tag !== "WriteBatch" || e.event.dbId !== def.dbId) continue
            if (e.payload === null) {
              yield* Effect.logWarning(
                `WAL trigger ${def.name}: the write at seq ${e.seq} was truncated from the log before it was ` +
                  "processed; skipped"
              )
              continue
            }
            const w = e.event as WriteBatch
            addWrite(
              batches,
              {
                payload: e.payload,
                precision: w.precision,
                defaultTimeNs: w.defaultTimeNs,
                rejectedLines: w.rejectedLines
              },
              table
            )
          }
          if (batches.size > 0) {
            const progress = [
              new TriggerBatchProcessed({ version: 1, dbId: def.dbId, name: def.name, throughSeq: through })
            ]
            const ran = yield* runTrigger(def, { kind: "wal", batches: [...batches.values()] })
            if (ran.outcome === undefined) {
              // error_behavior=log: the batch counts as processed; disable: the runner stops (the trigger is disabled).
              if (def.errorBehavior === "disable") return
              yield* log.append(progress.map((event) => ({ event })))
            } else {
              yield* applyWrites(ran.target, ran.outcome, progress)
            }
          }
          processed = through
        }
      }).pipe(Effect.catchAllCause((cause) => Effect.logError(`WAL trigger ${def.name} stopped`, cause)))

    /** A scheduled call of a trigger at `scheduledMs`. */
    const scheduledCall = (key: string) => (scheduledMs: number) =>
      Effect.gen(function* () {
        const def = engineOf(yield* catalog.current).triggers.get(key)
        if (def === undefined || def.disabled) return
        const ran = yield* runTrigger(def, { kind: "schedule", call_time_ms: scheduledMs })
        if (ran?.outcome !== undefined) yield* applyWrites(ran.target, ran.outcome, [])
      }).pipe(Effect.catchAllCause((cause) => Effect.logError(`scheduled trigger ${key} failed`, cause)))

    // Runners follow the catalog: a WAL runner or a schedule per enabled trigger of a live database.
    const running = new Map<string, { readonly signature: string; readonly fiber?: Fiber.RuntimeFiber<void> }>()
    const scope = yield* Effect.scope
    const reconcile = (state: CatalogState) =>
      Effect.gen(function* () {
        const wanted = new Map<string, TriggerDef>()
        for (const [key, def] of engineOf(state).triggers) {
          const db = state.databases.get(def.dbId)
          if (!def.disabled && db !== undefined && !db.deleted) wanted.set(key, def)
        }
        for (const [key, run] of [...running]) {
          const def = wanted.get(key)
          if (
            def !== undefined &&
            run.signature === JSON.stringify([def.specification, def.pluginFilename, def.runAsync, def.errorBehavior])
          )
            continue
          running.delete(key)
          if (run.fiber !== undefined) yield* Fiber.interrupt(run.fiber)
          else yield* scheduler.remove(key)
          closeAll(key)
          if (!engineOf(state).triggers.has(key)) cache.drop(`trigger:${key}`)
        }
        for (const [key, def] of wanted) {
          if (running.has(key)) continue
          const signature = JSON.stringify([def.specification, def.pluginFilename, def.runAsync, def.errorBehavior])
          const spec = parseTriggerSpec(def.specification)
          if (typeof spec === "string" || spec._tag === "Request") {
            running.set(key, { signature })
          } else if (isWalSpec(spec)) {
            running.set(key, { signature, fiber: yield* Effect.forkIn(walRunner(def, spec), scope) })
          } else {
            yield* scheduler.set(key, spec, def.runAsync, scheduledCall(key))
            running.set(key, { signature })
          }
        }
      })
    const reconcileLock = yield* Effect.makeSemaphore(1)
    // Triggers run on nodes whose --mode has `process` (or all); the others only keep their definitions.
    const enabled = config.mode.includes("process")
    if (enabled) yield* catalog.changes.pipe(
      Stream.runForEach((state) => reconcileLock.withPermits(1)(reconcile(state))),
      Effect.catchAllCause((cause) => Effect.logError("the processing engine stopped following the catalog", cause)),
      Effect.forkScoped
    )

    /** Runs a request trigger's plugin for one HTTP request. */
    const request = (
      def: TriggerDef,
      input: {
        readonly params: Record<string, string>
        readonly headers: Record<string, string>
        readonly body: Uint8Array
      }
    ) =>
      Effect.gen(function* () {
        const target = targetOf(yield* catalog.current, def)
        if (target.missing !== undefined) {
          yield* engineLine(target, "ERROR", `error executing plugin: ${target.missing}`)
          return {
            ok: false,
            error: target.missing,
            writes: [],
            response: null,
            logs: [],
            timedOut: false
          } satisfies CallOutcome
        }
        const outcome = yield* call(
          target,
          {
            kind: "request",
            params: input.params,
            headers: input.headers,
            body: Buffer.from(input.body).toString("base64")
          },
          false
        )
        if (outcome.ok) yield* applyWrites(target, outcome, [])
        else yield* engineLine(target, "ERROR", `error executing plugin: ${outcome.error}`)
        return outcome
      })

    /** Runs a plugin without committing anything (plugin_test): real queries, writes only reported. */
    const dryRun = (target: CallTarget, message: Record<string, unknown>) => call(target, message, true)

    return {
      /** Whether this node runs plugins (`--mode` has `process`). */
      enabled,
      pluginDir,
      python,
      request,
      dryRun,
      /** Parses line protocol as a dry run reports its would-be writes' errors. */
      validateLines: (lines: ReadonlyArray<string>) =>
        parseLineProtocol(lines.join("\n")).errors.map((e) => `line ${e.lineNumber}: ${e.message}`),
      /** The schedules currently running, by trigger key. */
      scheduled: scheduler.scheduled
    } as const
  })
}) {}
