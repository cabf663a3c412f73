/**
 * InfluxDB 1.x's `holt_winters` / `holt_winters_with_fit`: the damped Holt-Winters method, its parameters fitted by
 * Nelder-Mead from a grid of starting guesses. Ported from 1.x's query package step for step (the same constants,
 * starting points, iteration limit, and the same in-place clamping of the vectors the optimizer evaluates), with Go's
 * `math.Pow`, so forecasts match 1.x to the last bit.
 */

const HW_WEIGHT = 0.5
const HW_EPSILON = 1.0e-4
const HW_GUESS_LOWER = 0.3
const HW_GUESS_UPPER = 1.0
const HW_GUESS_STEP = 0.4

const NM_MAX_ITERATIONS = 1000
const NM_ALPHA = 1.0
const NM_BETA = 0.5
const NM_GAMMA = 2.0

/** x × 2^e with one rounding, as Go's Ldexp. */
const ldexp = (x: number, e: number): number => {
  if (e > 1023) return x * 2 ** 1023 * 2 ** (e - 1023)
  if (e < -1022) return x * 2 ** (e + 53) * 2 ** -53
  return x * 2 ** e
}

/** Go's Frexp for a finite x ≠ 0: [f, e] with |f| in [0.5, 1) and x = f × 2^e. */
const frexp = (x: number): [number, number] => {
  let e = 0
  let f = Math.abs(x)
  // Subnormals: scale into the normal range first.
  if (f < 2.2250738585072014e-308) {
    f *= 2 ** 52
    e -= 52
  }
  const exp = Math.floor(Math.log2(f))
  let m = f / 2 ** exp
  let ex = exp
  // log2 may be off by one near powers of two: settle m into [1, 2).
  while (m >= 2) {
    m /= 2
    ex++
  }
  while (m < 1) {
    m *= 2
    ex--
  }
  return [(x < 0 ? -m : m) / 2, ex + 1 + e]
}

/** Go's math.Pow for a non-negative integer exponent: repeated squaring of the mantissa (not libm's pow). */
export const goPowInt = (x: number, y: number): number => {
  if (y === 0 || x === 1) return 1
  if (y === 1) return x
  if (Number.isNaN(x)) return NaN
  if (x === 0) return Object.is(x, -0) && y % 2 === 1 ? x : 0
  if (!Number.isFinite(x)) return x > 0 || y % 2 === 0 ? Infinity : -Infinity
  let a1 = 1.0
  let ae = 0
  let [x1, xe] = frexp(x)
  for (let i = y; i !== 0; i = Math.floor(i / 2)) {
    if (xe < -(1 << 12) || 1 << 12 < xe) {
      ae += xe
      break
    }
    if (i % 2 === 1) {
      a1 *= x1
      ae += xe
    }
    x1 *= x1
    xe *= 2
    if (x1 < 0.5) {
      x1 += x1
      xe--
    }
  }
  return ldexp(a1, ae)
}

/** Nelder-Mead after Michael F. Hutt, as 1.x's `neldermead` package has it; `objective` may change its argument. */
const optimize = (
  objective: (x: Array<number>) => number,
  start: ReadonlyArray<number>,
  epsilon: number,
  scale: number
): [number, Array<number>] => {
  const n = start.length
  const v = Array.from({ length: n + 1 }, () => new Array<number>(n).fill(0))
  const f = new Array<number>(n + 1).fill(0)
  const vr = new Array<number>(n).fill(0)
  const ve = new Array<number>(n).fill(0)
  const vc = new Array<number>(n).fill(0)
  const vm = new Array<number>(n).fill(0)
  const pn = (scale * (Math.sqrt(n + 1) - 1 + n)) / (n * Math.sqrt(2))
  const qn = (scale * (Math.sqrt(n + 1) - 1)) / (n * Math.sqrt(2))
  for (let i = 0; i < n; i++) v[0]![i] = start[i]!
  for (let i = 1; i <= n; i++) for (let j = 0; j < n; j++) v[i]![j] = (i - 1 === j ? pn : qn) + start[j]!
  for (let j = 0; j <= n; j++) f[j] = objective(v[j]!)
  for (let itr = 1; itr <= NM_MAX_ITERATIONS; itr++) {
    let vg = 0
    let vs = 0
    for (let i = 0; i <= n; i++) {
      if (f[i]! > f[vg]!) vg = i
      if (f[i]! < f[vs]!) vs = i
    }
    let vh = vs
    for (let i = 0; i <= n; i++) if (f[i]! > f[vh]! && f[i]! < f[vg]!) vh = i
    for (let i = 0; i <= n - 1; i++) {
      let cent = 0.0
      for (let m = 0; m <= n; m++) if (m !== vg) cent += v[m]![i]!
      vm[i] = cent / n
    }
    for (let i = 0; i <= n - 1; i++) vr[i] = vm[i]! + NM_ALPHA * (vm[i]! - v[vg]![i]!)
    const fr = objective(vr)
    if (fr < f[vh]! && fr >= f[vs]!) {
      for (let i = 0; i <= n - 1; i++) v[vg]![i] = vr[i]!
      f[vg] = fr
    }
    if (fr < f[vs]!) {
      for (let i = 0; i <= n - 1; i++) ve[i] = vm[i]! + NM_GAMMA * (vr[i]! - vm[i]!)
      const fe = objective(ve)
      if (fe < fr) {
        for (let i = 0; i <= n - 1; i++) v[vg]![i] = ve[i]!
        f[vg] = fe
      } else {
        for (let i = 0; i <= n - 1; i++) v[vg]![i] = vr[i]!
        f[vg] = fr
      }
    }
    if (fr >= f[vh]!) {
      if (fr < f[vg]! && fr >= f[vh]!) {
        for (let i = 0; i <= n - 1; i++) vc[i] = vm[i]! + NM_BETA * (vr[i]! - vm[i]!)
      } else {
        for (let i = 0; i <= n - 1; i++) vc[i] = vm[i]! - NM_BETA * (vm[i]! - v[vg]![i]!)
      }
      const fc = objective(vc)
      if (fc < f[vg]!) {
        for (let i = 0; i <= n - 1; i++) v[vg]![i] = vc[i]!
        f[vg] = fc
      } else {
        for (let row = 0; row <= n; row++) {
          if (row !== vs) for (let i = 0; i <= n - 1; i++) v[row]![i] = v[vs]![i]! + (v[row]![i]! - v[vs]![i]!) / 2.0
        }
        f[vg] = objective(v[vg]!)
        f[vh] = objective(v[vh]!)
      }
    }
    let fsum = 0.0
    for (let i = 0; i <= n; i++) fsum += f[i]!
    const favg = fsum / (n + 1)
    let s = 0.0
    for (let i = 0; i <= n; i++) s += goPowInt(f[i]! - favg, 2) / n
    s = Math.sqrt(s)
    if (s < epsilon) break
  }
  let vs = 0
  for (let i = 0; i <= n; i++) if (f[i]! < f[vs]!) vs = i
  const parameters = v[vs]!.slice()
  const min = objective(v[vs]!)
  return [min, parameters]
}

const clamp01 = (x: Array<number>) => {
  for (let i = 0; i < 4; i++) {
    if (x[i]! > 1) x[i] = 1
    if (x[i]! < 0) x[i] = 0
  }
}

/**
 * The forecast of one series' bucket values (`times` ascending), N points ahead with seasons of S; fit points too if
 * asked.
 */
export const holtWinters = (
  times: ReadonlyArray<bigint>,
  values: ReadonlyArray<number>,
  h: number,
  m: number,
  includeFitData: boolean,
  interval: bigint
): { times: Array<bigint>; values: Array<number> } => {
  const none = { times: [] as Array<bigint>, values: [] as Array<number> }
  const seasonal = m >= 2
  const l = times.length
  if (l < 2 || (seasonal && l < m) || h <= 0) return none
  const half = interval / 2n
  const roundTime = (t: bigint) => {
    const remainder = t % interval
    return remainder > half ? (t / interval + 1n) * interval : (t / interval) * interval
  }
  const start = roundTime(times[0]!)
  const stop = roundTime(times[l - 1]!)
  if ((stop - start) / interval <= 0n) return none
  // The values one per interval from the first, NaN where a bucket has none; a later point in a bucket is dropped.
  const y: Array<number> = [values[0]!]
  let t = start
  for (let i = 1; i < l; i++) {
    const rounded = roundTime(times[i]!)
    if (rounded <= t) continue
    t += interval
    while (rounded !== t) {
      y.push(NaN)
      t += interval
    }
    y.push(values[i]!)
  }

  const next = (
    alpha: number,
    beta: number,
    gamma: number,
    phi: number,
    phiH: number,
    yT: number,
    lTp: number,
    bTp: number,
    sTm: number,
    sTmh: number
  ) => {
    const lT = alpha * (yT / sTm) + (1 - alpha) * (lTp + phi * bTp)
    const bT = beta * (lT - lTp) + (1 - beta) * phi * bTp
    const sT = gamma * (yT / (lTp + phi * bTp)) + (1 - gamma) * sTm
    const yTh = (lT + phiH * bT) * sTmh
    return [yTh, lT, bT, sT] as const
  }
  // As 1.x: clamps params in place and keeps the season ring in params[6:].
  const forecast = (steps: number, params: Array<number>): Array<number> => {
    clamp01(params)
    let yT = y[0]!
    const phi = params[3]!
    let phiH = phi
    let lT = params[4]!
    let bT = params[5]!
    let ms = 0
    let so = 0
    if (seasonal) {
      ms = params.length - 6
      if (ms === 1) params[6] = 1
      so = ms - 1
    }
    const out = new Array<number>(y.length + steps).fill(0)
    out[0] = yT
    let stm = 1.0
    let stmh = 1.0
    for (let k = 1; k < y.length + steps; k++) {
      if (seasonal) {
        const hm = k % ms
        stm = params[6 + ((k - ms + so) % ms)]!
        stmh = params[6 + ((k - ms + hm + so) % ms)]!
      }
      let sT: number
      ;[yT, lT, bT, sT] = next(params[0]!, params[1]!, params[2]!, phi, phiH, yT, lT, bT, stm, stmh)
      phiH += goPowInt(phi, k)
      if (seasonal) {
        params[6 + ((k + so) % ms)] = sT
        so++
      }
      out[k] = yT
    }
    return out
  }
  const sse = (params: Array<number>): number => {
    let total = 0.0
    const forecasted = forecast(0, params)
    for (let i = 0; i < forecasted.length; i++) {
      if (Number.isNaN(y[i]!)) continue
      if (Number.isNaN(forecasted[i]!)) return Infinity
      const diff = forecasted[i]! - y[i]!
      total += diff * diff
    }
    return total
  }

  let l0 = 0.0
  if (seasonal) {
    for (let i = 0; i < m; i++) if (!Number.isNaN(y[i]!)) l0 += (1 / m) * y[i]!
  } else l0 += HW_WEIGHT * y[0]!
  let b0 = 0.0
  if (seasonal) {
    for (let i = 0; i < m && m + i < y.length; i++) {
      if (!Number.isNaN(y[i]!) && !Number.isNaN(y[m + i]!)) b0 += (1 / (m * m)) * (y[m + i]! - y[i]!)
    }
  } else if (!Number.isNaN(y[1]!)) b0 = HW_WEIGHT * (y[1]! - y[0]!)
  const s: Array<number> = []
  if (seasonal) for (let i = 0; i < m; i++) s.push(Number.isNaN(y[i]!) ? 0 : y[i]! / l0)
  const parameters = new Array<number>(6 + s.length).fill(0)
  parameters[4] = l0
  parameters[5] = b0
  for (let i = 0; i < s.length; i++) parameters[6 + i] = s[i]!

  let minSSE = Infinity
  let best: Array<number> | undefined
  for (let alpha = HW_GUESS_LOWER; alpha < HW_GUESS_UPPER; alpha += HW_GUESS_STEP) {
    for (let beta = HW_GUESS_LOWER; beta < HW_GUESS_UPPER; beta += HW_GUESS_STEP) {
      for (let gamma = HW_GUESS_LOWER; gamma < HW_GUESS_UPPER; gamma += HW_GUESS_STEP) {
        for (let phi = HW_GUESS_LOWER; phi < HW_GUESS_UPPER; phi += HW_GUESS_STEP) {
          parameters[0] = alpha
          parameters[1] = beta
          parameters[2] = gamma
          parameters[3] = phi
          const [value, params] = optimize(sse, parameters, HW_EPSILON, 1)
          if (value < minSSE || best === undefined) {
            minSSE = value
            best = params
          }
        }
      }
    }
  }
  const forecasted = forecast(h, best!)
  const out = { times: [] as Array<bigint>, values: [] as Array<number> }
  if (includeFitData) {
    const first = times[0]!
    forecasted.forEach((v, i) => {
      if (Number.isNaN(v)) return
      out.times.push(first + interval * BigInt(i))
      out.values.push(v)
    })
  } else {
    const last = times[l - 1]!
    forecasted.slice(y.length).forEach((v, i) => {
      if (Number.isNaN(v)) return
      out.times.push(last + interval * BigInt(i + 1))
      out.values.push(v)
    })
  }
  return out
}
