import { holtWinters } from "./holtWinters.ts"

/**
 * InfluxDB 1.x's technical-analysis functions (`exponential_moving_average` … `kaufmans_adaptive_moving_average`),
 * as 1.x computes them with its vendored `gota` package: sequential state over a series' points in order, the same
 * float operations in the same order, so answers match 1.x to the last bit. Pure: points in, points out.
 */

export type AnalysisName =
  | "exponential_moving_average"
  | "double_exponential_moving_average"
  | "triple_exponential_moving_average"
  | "triple_exponential_derivative"
  | "relative_strength_index"
  | "chande_momentum_oscillator"
  | "kaufmans_efficiency_ratio"
  | "kaufmans_adaptive_moving_average"

export const ANALYSIS_FUNCTIONS: ReadonlySet<string> = new Set<AnalysisName>([
  "exponential_moving_average",
  "double_exponential_moving_average",
  "triple_exponential_moving_average",
  "triple_exponential_derivative",
  "relative_strength_index",
  "chande_momentum_oscillator",
  "kaufmans_efficiency_ratio",
  "kaufmans_adaptive_moving_average"
])

/**
 * How an exponential average starts: scaled alphas (`exponential`), a simple average (`simple`), or, for CMO only,
 * none.
 */
export type Warmup = "exponential" | "simple" | "none"

/** One call's arguments: period, hold period (-1: the algorithm's warm count), warmup. */
export interface AnalysisArgs {
  readonly name: AnalysisName
  readonly period: number
  readonly hold: number
  readonly warmup: Warmup
}

/** gota's EMA: during warmup the alpha is scaled (`exponential`) or the values averaged (`simple`). */
class Ema {
  count = 0
  last = 0
  alpha: number
  constructor(
    readonly period: number,
    readonly warmup: Warmup
  ) {
    this.alpha = 2 / (period + 1)
  }
  warmCount() {
    return this.period - 1
  }
  warmed() {
    return this.count === this.period
  }
  add(v: number): number {
    let avg: number
    if (this.count === 0) avg = v
    else {
      const lastAvg = this.last
      if (!this.warmed()) {
        if (this.warmup === "simple") avg = (lastAvg * this.count + v) / (this.count + 1)
        else avg = (v - lastAvg) * (2 / (this.count + 2)) + lastAvg
      } else avg = (v - lastAvg) * this.alpha + lastAvg
    }
    this.last = avg
    if (this.count < this.period) this.count++
    return avg
  }
}

interface Algorithm {
  add(v: number): number
  warmCount(): number
}

const dema = (period: number, warmup: Warmup): Algorithm => {
  const e1 = new Ema(period, warmup)
  const e2 = new Ema(period, warmup)
  return {
    warmCount: () => (warmup === "exponential" ? e1.warmCount() : e1.warmCount() + e2.warmCount()),
    add: (v) => {
      const a1 = e1.add(v)
      const a2 = e1.warmed() || warmup === "exponential" ? e2.add(a1) : a1
      return 2 * a1 - a2
    }
  }
}

const tema = (period: number, warmup: Warmup): Algorithm => {
  const e1 = new Ema(period, warmup)
  const e2 = new Ema(period, warmup)
  const e3 = new Ema(period, warmup)
  return {
    warmCount: () => (warmup === "exponential" ? e1.warmCount() : e1.warmCount() + e2.warmCount() + e3.warmCount()),
    add: (v) => {
      const a1 = e1.add(v)
      const a2 = e1.warmed() || warmup === "exponential" ? e2.add(a1) : a1
      const a3 = e2.warmed() || warmup === "exponential" ? e3.add(a2) : a2
      return 3 * a1 - 3 * a2 + a3
    }
  }
}

const trix = (period: number, warmup: Warmup): Algorithm => {
  const e1 = new Ema(period, warmup)
  const e2 = new Ema(period, warmup)
  const e3 = new Ema(period, warmup)
  let last = 0
  return {
    warmCount: () => (warmup === "exponential" ? e1.warmCount() + 1 : e1.warmCount() * 3 + 1),
    add: (v) => {
      let cur = e1.add(v)
      if (e1.warmed() || warmup === "exponential") {
        cur = e2.add(cur)
        if (e2.warmed() || warmup === "exponential") cur = e3.add(cur)
      }
      const rate = (cur / last - 1) * 100
      last = cur
      return rate
    }
  }
}

/** RSI and the smoothed CMO: averages of the ups and the downs, EMAs of period+1 with alpha 1/period. */
const upDown = (period: number, warmup: Warmup, out: (up: number, down: number) => number): Algorithm => {
  const ups = new Ema(period + 1, warmup)
  const downs = new Ema(period + 1, warmup)
  ups.alpha = downs.alpha = 1 / period
  let lastV = 0
  return {
    warmCount: () => ups.warmCount(),
    add: (v) => {
      const up = v > lastV ? v - lastV : 0
      const down = v < lastV ? lastV - v : 0
      ups.add(up)
      downs.add(down)
      lastV = v
      return out(ups.last, downs.last)
    }
  }
}

/** gota's unsmoothed CMO: sums of the ups and downs over a ring of period-1 points. */
const cmo = (period: number): Algorithm => {
  const points = Array.from({ length: period - 1 }, () => ({ price: 0, diff: 0 }))
  let sumUp = 0
  let sumDown = 0
  let count = 0
  let idx = 0
  return {
    warmCount: () => points.length,
    add: (v) => {
      let idxOldest = idx + 1
      if (idxOldest === points.length) idxOldest = 0
      let diff = 0
      if (count !== 0) {
        diff = v - points[idx]!.price
        if (diff > 0) sumUp += diff
        else if (diff < 0) sumDown -= diff
      }
      let out = 0
      if (sumUp !== 0 || sumDown !== 0) out = 100.0 * ((sumUp - sumDown) / (sumUp + sumDown))
      const oldest = points[idxOldest]!
      if (oldest.diff > 0) sumUp -= oldest.diff
      else if (oldest.diff < 0) sumDown += oldest.diff
      points[idxOldest] = { price: v, diff }
      idx = idxOldest
      if (count !== points.length + 2) count++
      return out
    }
  }
}

/** gota's KER over a ring of `period` points; `warmed` after period+1 points. */
class Ker {
  readonly points: Array<{ price: number; diff: number }>
  noise = 0
  count = 0
  idx = 0
  constructor(period: number) {
    this.points = Array.from({ length: period }, () => ({ price: 0, diff: 0 }))
  }
  warmCount() {
    return this.points.length
  }
  warmed() {
    return this.count === this.points.length + 1
  }
  add(v: number): number {
    let idxOldest = this.idx + 1
    if (idxOldest >= this.points.length) idxOldest = 0
    const signal = Math.abs(v - this.points[idxOldest]!.price)
    const kp = { price: v, diff: Math.abs(v - this.points[this.idx]!.price) }
    this.noise -= this.points[idxOldest]!.diff
    this.noise += kp.diff
    const noise = this.noise
    this.idx = idxOldest
    this.points[this.idx] = kp
    if (!this.warmed()) this.count++
    if (signal === 0 || noise === 0) return 0
    return signal / noise
  }
}

// Go folds these constant expressions exactly before rounding once: 2/3 - 2/31 = 56/93.
const KAMA_SPAN = 56 / 93
const KAMA_SLOW = 2 / 31

const kama = (period: number): Algorithm => {
  const ker = new Ker(period)
  let last = 0
  return {
    warmCount: () => ker.warmCount(),
    add: (v) => {
      if (!ker.warmed()) last = ker.points[ker.idx]!.price
      const er = ker.add(v)
      const base = er * KAMA_SPAN + KAMA_SLOW
      const sc = base * base
      last = last + sc * (v - last)
      return last
    }
  }
}

const algorithmOf = (a: AnalysisArgs): Algorithm => {
  switch (a.name) {
    case "exponential_moving_average": {
      const e = new Ema(a.period, a.warmup)
      return { add: (v) => e.add(v), warmCount: () => e.warmCount() }
    }
    case "double_exponential_moving_average":
      return dema(a.period, a.warmup)
    case "triple_exponential_moving_average":
      return tema(a.period, a.warmup)
    case "triple_exponential_derivative":
      return trix(a.period, a.warmup)
    case "relative_strength_index":
      return upDown(a.period, a.warmup, (up, down) => 100 - 100 / (1 + up / down))
    case "chande_momentum_oscillator":
      return a.warmup === "none" ? cmo(a.period) : upDown(a.period, a.warmup, (up, down) => 100.0 * ((up - down) / (up + down)))
    case "kaufmans_efficiency_ratio": {
      const k = new Ker(a.period)
      return { add: (v) => k.add(v), warmCount: () => k.warmCount() }
    }
    case "kaufmans_adaptive_moving_average":
      return kama(a.period)
  }
}

/** These drop infinite answers (TRIX's first rate, KER's and KAMA's divisions) as 1.x's reducers do. */
const DROPS_INFINITE = new Set<string>(["triple_exponential_derivative", "kaufmans_efficiency_ratio", "kaufmans_adaptive_moving_average"])

/** One series' answers: a point for each input point once more than the hold period have been seen. */
export const analyze = (
  args: AnalysisArgs,
  times: ReadonlyArray<bigint>,
  values: ReadonlyArray<number>
): { times: Array<bigint>; values: Array<number> } => {
  const alg = algorithmOf(args)
  const hold = args.hold === -1 ? alg.warmCount() : args.hold
  const out = { times: [] as Array<bigint>, values: [] as Array<number> }
  for (let i = 0; i < values.length; i++) {
    const v = alg.add(values[i]!)
    if (i + 1 <= hold) continue
    if (DROPS_INFINITE.has(args.name) && (v === Infinity || v === -Infinity)) continue
    out.times.push(times[i]!)
    out.values.push(v)
  }
  return out
}

/** holt_winters(agg, N, S) and holt_winters_with_fit: N points ahead, seasons of S, over buckets of `intervalNs`. */
export interface HoltWintersArgs {
  readonly name: "holt_winters" | "holt_winters_with_fit"
  readonly h: number
  readonly m: number
  readonly intervalNs: bigint
}

/** A function 1.x computes over each series' points in order. */
export type SeriesFunction = AnalysisArgs | HoltWintersArgs

const isHoltWinters = (args: SeriesFunction): args is HoltWintersArgs => args.name === "holt_winters" || args.name === "holt_winters_with_fit"

const runSeries = (args: SeriesFunction, times: ReadonlyArray<bigint>, values: ReadonlyArray<number>) =>
  isHoltWinters(args) ? holtWinters(times, values, args.h, args.m, args.name === "holt_winters_with_fit", args.intervalNs) : analyze(args, times, values)

/** A stage's input: its points' grouping tags (one array per tag), times and values, series after series. */
export interface StagePoints {
  readonly tags: ReadonlyArray<ReadonlyArray<string>>
  readonly times: ReadonlyArray<bigint>
  readonly values: ReadonlyArray<number>
}

/**
 * The answers of a function over each series of `points`, as SQL rows (`__g<i>`, `__time`, `__v`) for a FROM clause.
 * The values travel as a few string literals parsed by DuckDB (shortest round-trip digits, so exact), not as one
 * literal each, so a long series stays a short statement.
 */
export const analysisRowsSql = (args: SeriesFunction, points: StagePoints): string => {
  const nTags = points.tags.length
  const outTags: Array<Array<string>> = Array.from({ length: nTags }, () => [])
  const outTimes: Array<bigint> = []
  const outValues: Array<number> = []
  const n = points.times.length
  for (let start = 0; start < n; ) {
    let end = start + 1
    while (end < n && points.tags.every((column) => column[end] === column[start])) end++
    const answer = runSeries(args, points.times.slice(start, end), points.values.slice(start, end))
    for (let i = 0; i < answer.times.length; i++) {
      for (let g = 0; g < nTags; g++) outTags[g]!.push(points.tags[g]![start]!)
      outTimes.push(answer.times[i]!)
      outValues.push(answer.values[i]!)
    }
    start = end
  }
  const quote = (text: string) => `'${text.replace(/'/g, "''")}'`
  if (outTimes.length === 0) {
    return `(SELECT ${[...outTags.map((_, g) => `CAST(NULL AS VARCHAR) AS __g${g}`), "CAST(NULL AS BIGINT) AS __time", "CAST(NULL AS DOUBLE) AS __v"].join(", ")} WHERE FALSE)`
  }
  const tagColumns = outTags.map((column, g) => `unnest(from_json(${quote(JSON.stringify(column))}, '["VARCHAR"]')) AS __g${g}`)
  const times = `unnest(CAST(${quote(`[${outTimes.join(",")}]`)} AS BIGINT[])) AS __time`
  const values = `unnest(CAST(${quote(`[${outValues.map(String).join(",")}]`)} AS DOUBLE[])) AS __v`
  return `(SELECT ${[...tagColumns, times, values].join(", ")})`
}
