import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { type ChildProcess, spawnSync } from "node:child_process"
import { startInfluxV1, stop } from "../../scripts/lib.ts"
import { startServer, type InProcessServer } from "../support/server.ts"

// The same points written to a real InfluxDB 1.x and to Strata; the v1 JSON of each query must be identical.
const hasInfluxd = spawnSync("sh", ["-c", "command -v influxd"]).status === 0

const T0 = 1_704_067_200n * 1_000_000_000n
const lines: Array<string> = []
for (let i = 0; i < 60; i++) {
  const t = T0 + BigInt(i) * 10_000_000_000n
  for (const [h, host] of ["a", "b", "c"].entries()) {
    if (host === "c" && i % 4 !== 0) continue
    const region = host === "c" ? "" : `,region=${host === "a" ? "eu" : "us"}`
    lines.push(`cpu,host=${host}${region} usage=${((i * 7 + h * 13) % 40) * 0.25},load=${(i * 3 + h) % 11}i${i % 5 === 0 ? `,state="s${i % 3}"` : ""} ${t + BigInt(h) * 1_000_000_000n}`)
  }
  if (i % 10 === 0) lines.push(`mem,host=a free=${1000 - i}i ${t}`)
}
// disk: six series with points at the same times (written out of series-key order), values tied across series.
for (let i = 0; i < 12; i++) {
  const t = T0 + BigInt(i) * 15_000_000_000n
  for (const [h, host] of ["b", "a", "c"].entries()) {
    for (const [d, dev] of ["y", "x"].entries()) lines.push(`disk,host=${host},dev=${dev} used=${((i * 5 + h * 3 + d) % 7) * 1.5},io=${(i + h) % 4}i ${t}`)
  }
}
const RANGE = `time >= '2024-01-01T00:00:00Z' AND time < '2024-01-01T00:10:00Z'`

/** Queries no row answers: 1.x gives the statement without series. */
const EMPTY = [
  "SELECT count(usage), mean(usage) FROM cpu WHERE time > '2030-01-01T00:00:00Z'",
  "SELECT count(usage), max(load) FROM cpu WHERE host = 'nobody'",
  "SELECT count(usage) FROM cpu WHERE host = 'nobody' GROUP BY region"
]

const QUERIES = [
  "SELECT * FROM cpu WHERE host = 'c'",
  "SELECT usage, load FROM cpu WHERE usage > 8 AND host =~ /^(a|b)$/ LIMIT 5",
  "SELECT * FROM cpu GROUP BY host LIMIT 3 OFFSET 1",
  `SELECT mean(usage), max(load), count(usage) FROM cpu WHERE ${RANGE} GROUP BY time(1m)`,
  // One group: no tags, no time buckets (none when no row passes the WHERE: see EMPTY).
  "SELECT count(usage), mean(usage) FROM cpu",
  `SELECT count(usage), sum(load), spread(usage) FROM cpu WHERE ${RANGE} AND host = 'b'`,
  `SELECT mean(usage) FROM cpu WHERE ${RANGE} GROUP BY time(1m), host fill(none)`,
  `SELECT sum(load), spread(usage) FROM cpu WHERE ${RANGE} AND host = 'c' GROUP BY time(30s) fill(previous)`,
  `SELECT first(usage), last(usage) FROM cpu WHERE ${RANGE} GROUP BY time(2m, 30s), * fill(0)`,
  `SELECT mean(usage) FROM cpu WHERE ${RANGE} AND host = 'c' GROUP BY time(20s) fill(linear) LIMIT 6`,
  "SELECT max(usage) FROM cpu",
  "SELECT min(usage), load, host FROM cpu",
  "SELECT percentile(usage, 90), median(load), count(state) FROM cpu GROUP BY region",
  "SELECT distinct(state) FROM cpu",
  "SELECT usage * 2 + 1, load / 2 FROM cpu WHERE host = 'b' ORDER BY time DESC LIMIT 3",
  "SELECT last(usage) FROM cpu GROUP BY host SLIMIT 2",
  "SELECT mean(free) FROM mem, cpu",
  `SELECT count(usage) FROM cpu WHERE ${RANGE} GROUP BY time(5m) tz('America/Chicago')`,
  // Transformations, over raw points and over an aggregate per bucket (with 1.x's extra bucket before the range).
  "SELECT derivative(usage) FROM cpu WHERE time < '2024-01-01T00:02:00Z'",
  "SELECT derivative(usage, 10s), difference(load) FROM cpu WHERE host = 'c'",
  "SELECT non_negative_derivative(usage) FROM cpu WHERE host = 'c' LIMIT 4",
  `SELECT derivative(mean(usage)) FROM cpu WHERE ${RANGE} AND host = 'c' GROUP BY time(20s)`,
  `SELECT derivative(mean(usage)) FROM cpu WHERE ${RANGE} AND host = 'c' GROUP BY time(20s) fill(none)`,
  `SELECT derivative(mean(usage)) FROM cpu WHERE ${RANGE} AND host = 'c' GROUP BY time(20s) fill(0)`,
  `SELECT derivative(mean(usage)) FROM cpu WHERE time >= '2024-01-01T00:00:00Z' AND time < '2024-01-01T00:03:00Z' AND host = 'c' GROUP BY time(20s) fill(linear)`,
  `SELECT non_negative_derivative(mean(usage), 1s) FROM cpu WHERE ${RANGE} GROUP BY time(1m), "host" fill(null)`,
  `SELECT non_negative_derivative(mean(usage), 1s) FROM cpu WHERE ${RANGE} GROUP BY time(30s), host fill(none)`,
  `SELECT derivative(max(load), 1m) FROM cpu WHERE ${RANGE} GROUP BY time(30s), host`,
  "SELECT derivative(usage) FROM cpu WHERE host = 'c' ORDER BY time DESC LIMIT 3",
  "SELECT non_negative_difference(load) FROM cpu GROUP BY host LIMIT 5",
  "SELECT difference(usage) FROM cpu WHERE host = 'a' LIMIT 5 OFFSET 2",
  `SELECT difference(sum(load)) FROM cpu WHERE ${RANGE} GROUP BY time(1m)`,
  `SELECT non_negative_difference(mean(usage)) FROM cpu WHERE ${RANGE} AND host = 'c' GROUP BY time(20s) fill(0)`,
  `SELECT difference(mean(usage)) FROM cpu WHERE time >= '2024-01-01T00:00:00Z' AND time < '2024-01-01T00:03:00Z' AND host = 'c' GROUP BY time(20s) fill(previous)`,
  `SELECT derivative(mean(usage)) AS d, difference(mean(load)) FROM cpu WHERE time >= '2024-01-01T00:00:00Z' AND time < '2024-01-01T00:05:00Z' GROUP BY time(1m)`,
  // Subqueries.
  `SELECT mean(max) FROM (SELECT max(usage) FROM cpu GROUP BY time(1m), host) WHERE ${RANGE} GROUP BY time(5m)`,
  `SELECT derivative(mean(m), 1m) FROM (SELECT mean(usage) AS m FROM cpu WHERE ${RANGE} GROUP BY time(30s), host) WHERE ${RANGE} GROUP BY time(1m), host`,
  "SELECT max(m) FROM (SELECT mean(usage) AS m FROM cpu GROUP BY host)",
  "SELECT sum(l) FROM (SELECT last(load) AS l FROM cpu GROUP BY host)",
  "SELECT * FROM (SELECT usage FROM cpu WHERE host = 'c') LIMIT 3",
  `SELECT count(m) FROM (SELECT mean(usage) AS m FROM cpu WHERE ${RANGE} GROUP BY time(1m), host) WHERE m > 5 GROUP BY host`,
  `SELECT max(m) FROM (SELECT mean(usage) AS m FROM cpu GROUP BY time(1m), host) WHERE ${RANGE} GROUP BY time(2m)`,
  // Plain aggregates beside transformations of aggregates.
  `SELECT mean(usage), derivative(mean(usage)) FROM cpu WHERE ${RANGE} AND host = 'c' GROUP BY time(20s)`,
  `SELECT max(load), difference(max(load)) FROM cpu WHERE ${RANGE} GROUP BY time(1m), host`,
  `SELECT mean(usage), non_negative_derivative(mean(usage), 1s) FROM cpu WHERE ${RANGE} GROUP BY time(1m) fill(none)`,
  `SELECT count(usage), cumulative_sum(count(usage)) FROM cpu WHERE ${RANGE} GROUP BY time(2m)`,
  `SELECT moving_average(mean(usage), 2), sum(load) FROM cpu WHERE ${RANGE} AND host = 'c' GROUP BY time(30s) fill(0)`,
  // integral(): the trapezoid rule point to point, split at bucket ends as 1.x splits it.
  "SELECT integral(usage) FROM cpu WHERE host = 'a'",
  "SELECT integral(load) FROM cpu",
  `SELECT integral(usage) FROM cpu WHERE ${RANGE} AND host = 'a' GROUP BY time(1m)`,
  `SELECT integral(usage) FROM cpu WHERE ${RANGE} AND host = 'c' GROUP BY time(25s)`,
  `SELECT integral(load) FROM cpu WHERE ${RANGE} AND host = 'c' GROUP BY time(25s)`,
  `SELECT integral(usage) FROM cpu WHERE ${RANGE} GROUP BY time(2m)`,
  `SELECT integral(usage) FROM cpu WHERE time >= '2024-01-01T00:00:00Z' AND time < '2024-01-01T00:03:00Z' AND host = 'c' GROUP BY time(20s) fill(null)`,
  "SELECT moving_average(usage, 3) FROM cpu WHERE host = 'b' LIMIT 6",
  "SELECT moving_average(load, 4) FROM cpu GROUP BY host LIMIT 3",
  `SELECT moving_average(mean(usage), 3) FROM cpu WHERE ${RANGE} AND host = 'c' GROUP BY time(20s) fill(null)`,
  `SELECT moving_average(sum(load), 2) FROM cpu WHERE ${RANGE} GROUP BY time(1m), host`,
  "SELECT cumulative_sum(load) FROM cpu WHERE host = 'c'",
  "SELECT cumulative_sum(usage) FROM cpu GROUP BY host LIMIT 4",
  `SELECT cumulative_sum(sum(load)) FROM cpu WHERE ${RANGE} GROUP BY time(1m), host`,
  "SELECT elapsed(usage, 1s), elapsed(state) FROM cpu WHERE host = 'c' LIMIT 3",
  "SELECT elapsed(state, 1m) FROM cpu GROUP BY host",
  `SELECT elapsed(mean(usage), 1s) FROM cpu WHERE ${RANGE} AND host = 'c' GROUP BY time(20s)`,
  "SELECT derivative(*) FROM cpu WHERE host = 'c' LIMIT 2",
  `SELECT derivative(mean(*)) FROM cpu WHERE time >= '2024-01-01T00:00:00Z' AND time < '2024-01-01T00:03:00Z' GROUP BY time(1m)`,
  "SELECT mean(*) FROM cpu",
  "SELECT top(usage, 3) FROM cpu",
  "SELECT top(load, 3) FROM cpu",
  "SELECT bottom(load, 4) FROM cpu GROUP BY host",
  "SELECT top(load, host, 3) FROM cpu",
  "SELECT bottom(usage, host, 2) FROM cpu WHERE host != 'c'",
  `SELECT top(load, 2) FROM cpu WHERE time >= '2024-01-01T00:00:00Z' AND time < '2024-01-01T00:03:00Z' GROUP BY time(1m)`,
  // Patterns in Go's RE2 syntax (flags, Perl and POSIX classes, \Q…\E, \pL), over names and over values.
  "SELECT usage FROM cpu WHERE host =~ /(?i)^C$/ LIMIT 3",
  "SELECT usage FROM cpu WHERE host =~ /^\\pL$/ AND host !~ /\\Qa\\E/ LIMIT 3",
  "SELECT mean(usage) FROM /(?i)^CPU$/",
  "SELECT last(usage) FROM cpu GROUP BY /(?i)^HOST$/",
  "SHOW TAG VALUES FROM /\\Qcpu\\E/ WITH KEY =~ /(?i)^REGION$/",
  "SHOW MEASUREMENTS WITH MEASUREMENT =~ /^[[:alpha:]]+$/",
  "SELECT count(load) FROM /^(c|p|u)+$/",
  // Math functions: raw (strings answer null, NaN answers null), over aggregates (filled before the math is applied,
  // a selector under math keeps its point's time), around transformations, and in WHERE.
  "SELECT abs(load), sqrt(usage), pow(load, 2), round(usage), ceil(usage), floor(load) FROM cpu WHERE host = 'a' LIMIT 4",
  "SELECT sqrt(-1 * usage), abs(usage - 5), pow(2, load) FROM cpu WHERE host = 'b' AND usage > 0 LIMIT 4",
  "SELECT abs(state), abs(usage) FROM cpu WHERE host = 'c' LIMIT 3",
  "SELECT abs(*) FROM cpu WHERE host = 'b' LIMIT 2",
  "SELECT round(usage * 3), abs(usage) + 1, usage FROM cpu WHERE host = 'b' ORDER BY time DESC LIMIT 3",
  "SELECT abs(max(usage)) FROM cpu",
  "SELECT abs(max(usage)), host FROM cpu",
  "SELECT max(usage) * 2, sqrt(min(load)) FROM cpu GROUP BY host",
  "SELECT floor(mean(load)), round(sum(load)), abs(sum(load)), ceil(max(usage)) FROM cpu GROUP BY host",
  "SELECT sqrt(mean(usage)), mean(usage) FROM cpu GROUP BY region",
  `SELECT abs(mean(usage)) FROM cpu WHERE ${RANGE}`,
  `SELECT round(mean(usage)) FROM cpu WHERE ${RANGE} GROUP BY time(1m), host fill(previous)`,
  `SELECT exp(count(usage)) FROM cpu WHERE ${RANGE} AND host = 'c' GROUP BY time(20s)`,
  `SELECT pow(mean(usage), 2), sqrt(sum(load)) FROM cpu WHERE ${RANGE} AND host = 'c' GROUP BY time(30s) fill(4)`,
  `SELECT floor(mean(usage)) FROM cpu WHERE ${RANGE} AND host = 'c' GROUP BY time(20s) fill(linear)`,
  `SELECT abs(mean(*)) FROM cpu WHERE ${RANGE} GROUP BY time(5m)`,
  "SELECT abs(derivative(usage)) FROM cpu WHERE host = 'c' LIMIT 3",
  `SELECT abs(difference(mean(usage))) FROM cpu WHERE ${RANGE} AND host = 'c' GROUP BY time(20s)`,
  "SELECT abs(usage) FROM cpu WHERE abs(usage) > 9.6 OR usage - 5 > 4.5",
  "SELECT usage FROM cpu WHERE abs(usage - 5) > 4.5 OR host = 'c' LIMIT 2",
  "SELECT usage FROM cpu WHERE sqrt(load) = 3 AND host = 'a'",
  // The logarithms and trigonometric functions round as Go's math package does, to the last bit.
  "SELECT sin(usage), cos(usage), tan(usage), atan(usage), ln(usage), log2(usage), log10(usage) FROM cpu WHERE usage > 0 LIMIT 40",
  "SELECT asin(usage / 10), acos(usage / 10), atan2(usage, load), log(usage, 3) FROM cpu WHERE usage > 0 LIMIT 40",
  "SELECT sin(usage * -37.3), cos(load * 1000.7), tan(usage * 100.1), atan(usage * -3.3), asin(usage / -10), acos(usage / -9.75) FROM cpu WHERE host = 'a' AND usage > 0",
  "SELECT atan2(-1 * usage, -1 * load), atan2(usage, -1 * load), atan2(usage, 0), atan2(0, load), log2(usage / 1000), log10(load * 100 + 1) FROM cpu WHERE usage > 0 AND host = 'b'",
  "SELECT asin(usage), acos(load), sin(state), tan(load * 1000000), ln(usage * 10000000000) FROM cpu WHERE host = 'c' AND usage > 0",
  `SELECT cos(mean(usage)) FROM cpu WHERE ${RANGE} AND host = 'c' GROUP BY time(20s) fill(0)`,
  `SELECT cos(mean(usage)) FROM cpu WHERE ${RANGE} AND host = 'c' GROUP BY time(20s) fill(linear)`,
  `SELECT ln(sum(load)), log10(mean(usage)), atan2(mean(usage), max(load)) FROM cpu WHERE ${RANGE} GROUP BY time(2m), host`,
  "SELECT sin(cumulative_sum(load)) FROM cpu WHERE host = 'b' LIMIT 4",
  // Negative zero is written -0, as Go writes it.
  "SELECT round(usage * -0.1), sin(-1 * usage), usage * -1, sqrt(-1 * usage), ceil(usage / -7) FROM cpu WHERE host = 'a' LIMIT 4",
  // Float literals are float64s: an integer field times 1000.7 is a float product, not an exact decimal.
  "SELECT load * 1000.7, load / 3.3 FROM cpu WHERE host = 'a' LIMIT 5",
  // Field regexes: every field and tag whose name matches (sorted, grouped tags left out), or as a function's argument
  // every field that matches (fn_field columns), RE2's syntax.
  "SELECT /o/ FROM cpu WHERE host = 'c' LIMIT 2",
  "SELECT /^(usage|load)$/, host FROM cpu WHERE host = 'c' LIMIT 2",
  "SELECT usage, /a/ FROM cpu WHERE host = 'a' LIMIT 2",
  "SELECT /o/, /a/ FROM cpu WHERE host = 'b' LIMIT 1",
  "SELECT /(?i)USAGE/ AS x FROM cpu LIMIT 1",
  "SELECT /e/ FROM cpu GROUP BY region LIMIT 1",
  "SELECT mean(/a/) FROM cpu",
  "SELECT max(/^(usage|load)$/) FROM cpu GROUP BY host",
  "SELECT count(/e/), sum(/^l/) FROM cpu",
  "SELECT derivative(/usage/) FROM cpu WHERE host = 'c' LIMIT 2",
  `SELECT derivative(mean(/load|usage/)) FROM cpu WHERE ${RANGE} GROUP BY time(1m)`,
  `SELECT mean(/\\pL+/) FROM cpu WHERE ${RANGE} GROUP BY time(5m), host fill(none)`,
  // integral() without GROUP BY time: a float field's area at epoch 0 whatever the range, an integer field's at its
  // start.
  `SELECT integral(usage) FROM cpu WHERE ${RANGE}`,
  `SELECT integral(usage, 1m) FROM cpu WHERE ${RANGE} AND host = 'a'`,
  "SELECT integral(usage) FROM cpu WHERE time >= '2024-01-01T00:00:00Z' AND time <= '2024-01-01T00:00:00Z'",
  "SELECT integral(load) FROM cpu WHERE time >= '2024-01-01T00:01:00Z'",
  "SELECT integral(load, 1m) FROM cpu WHERE host = 'c' AND time > '2024-01-01T00:01:00Z'",
  // Several series at one time: ordered by the selected tags and string fields, by name; ORDER BY time DESC answers
  // series and measurements in reverse; LIMIT counts rows in that order.
  "SELECT * FROM disk LIMIT 8",
  "SELECT * FROM disk WHERE time <= '2024-01-01T00:00:15Z' ORDER BY time DESC",
  "SELECT used, host, dev FROM disk WHERE time <= '2024-01-01T00:00:15Z' ORDER BY time DESC",
  "SELECT dev, host, io FROM disk WHERE io = 2 LIMIT 5 OFFSET 2",
  "SELECT io, dev FROM disk WHERE host = 'b' ORDER BY time DESC LIMIT 3 OFFSET 1",
  "SELECT used FROM disk GROUP BY * ORDER BY time DESC LIMIT 1",
  "SELECT usage FROM cpu GROUP BY host ORDER BY time DESC LIMIT 2",
  `SELECT mean(used) FROM disk WHERE ${RANGE} GROUP BY time(1m), host ORDER BY time DESC`,
  "SELECT max(used) FROM disk GROUP BY host, dev ORDER BY time DESC",
  "SELECT max(io), max(load) FROM cpu, disk ORDER BY time DESC",
  `SELECT derivative(mean(used)) FROM disk WHERE ${RANGE} GROUP BY time(1m), dev ORDER BY time DESC`,
  "SELECT top(used, host, 2) FROM disk",
  "SELECT top(used, 3) FROM disk",
  "SELECT bottom(io, 4) FROM disk GROUP BY dev",
  "SELECT max(used), min(io) FROM disk GROUP BY host",
  "SHOW MEASUREMENTS",
  "SHOW TAG KEYS",
  `SHOW TAG VALUES WITH KEY IN ("host", "region")`,
  "SHOW FIELD KEYS",
  "SHOW SERIES"
]

const ERRORS = [
  "SELECT exponential_moving_average(usage) FROM cpu",
  "SELECT exponential_moving_average(usage, 0) FROM cpu",
  "SELECT exponential_moving_average(usage, 3, 1, 'none') FROM cpu",
  "SELECT kaufmans_efficiency_ratio(usage, 3, 1, 'simple') FROM cpu",
  "SELECT triple_exponential_derivative(usage, 3, 0) FROM cpu",
  "SELECT chande_momentum_oscillator(usage, 3, 1, 'bogus') FROM cpu",
  "SELECT exponential_moving_average(mean(usage), 3) FROM cpu",
  "SELECT exponential_moving_average(usage, 3) FROM cpu GROUP BY time(1m)",
  "SELECT holt_winters(usage, 3, 1) FROM cpu GROUP BY time(1m)",
  "SELECT holt_winters(mean(usage), 3) FROM cpu GROUP BY time(1m)",
  "SELECT holt_winters(mean(usage), 0, 1) FROM cpu GROUP BY time(1m)",
  "SELECT holt_winters(mean(usage), 3, 1) FROM cpu",
  "SELECT holt_winters(mean(usage), 3, 1.5) FROM cpu GROUP BY time(1m)",
  "SELECT abs(usage, 2) FROM cpu",
  "SELECT pow(usage) FROM cpu",
  "SELECT log(usage) FROM cpu",
  "SELECT atan2(usage, load, 1) FROM cpu",
  "SELECT abs(2) FROM cpu",
  "SELECT usage, log(8, 2) FROM cpu",
  "SELECT abs(usage) FROM cpu GROUP BY time(1m)",
  "SELECT abs(usage), mean(usage) FROM cpu",
  "SELECT mean(abs(usage)) FROM cpu",
  `SELECT derivative(abs(mean(usage))) FROM cpu WHERE ${RANGE} GROUP BY time(1m)`,
  "SELECT usage FROM cpu WHERE mean(usage) > 1",
  "SELECT abs(/a/) FROM cpu",
  "SELECT top(/usage/, 2) FROM cpu",
  "SELECT derivative(mean(usage)) FROM cpu",
  "SELECT derivative(usage) FROM cpu GROUP BY time(1m)",
  "SELECT moving_average(usage) FROM cpu",
  "SELECT moving_average(usage, 1) FROM cpu",
  "SELECT derivative(usage, 10) FROM cpu",
  "SELECT derivative(state) FROM cpu",
  "SELECT derivative(usage), usage FROM cpu",
  "SELECT difference(usage, 1s) FROM cpu",
  "SELECT top(usage, 3), bottom(usage, host, 2) FROM cpu",
  "SELECT top(state, 3) FROM cpu",
  "SELECT top(usage) FROM cpu",
  "SELECT top(usage, 2) FROM cpu LIMIT 1"
]

// 1.x's technical-analysis functions (gota's algorithms, point by point), raw and over aggregates, with their hold
// periods and warmup types, fill() and GROUP BY tags.
const ANALYSIS = [
  "SELECT exponential_moving_average(usage, 3) FROM cpu WHERE host = 'a' LIMIT 12",
  "SELECT exponential_moving_average(usage, 4, 0, 'simple') FROM cpu WHERE host = 'b' LIMIT 10",
  "SELECT exponential_moving_average(load, 5) FROM cpu GROUP BY host LIMIT 6",
  `SELECT exponential_moving_average(mean(usage), 3) FROM cpu WHERE ${RANGE} GROUP BY time(1m)`,
  `SELECT exponential_moving_average(mean(usage), 3) FROM cpu WHERE ${RANGE} AND host = 'c' GROUP BY time(20s) fill(0)`,
  `SELECT exponential_moving_average(mean(usage), 2, 0) FROM cpu WHERE ${RANGE} GROUP BY time(1m), host fill(none)`,
  "SELECT double_exponential_moving_average(usage, 3) FROM cpu WHERE host = 'a' LIMIT 10",
  "SELECT double_exponential_moving_average(usage, 3, 2, 'simple') FROM cpu WHERE host = 'b' LIMIT 10",
  `SELECT double_exponential_moving_average(max(load), 2) FROM cpu WHERE ${RANGE} GROUP BY time(1m), host`,
  "SELECT triple_exponential_moving_average(usage, 3) FROM cpu WHERE host = 'a' LIMIT 10",
  "SELECT triple_exponential_moving_average(usage, 2, 1, 'simple') FROM cpu WHERE host = 'c'",
  `SELECT triple_exponential_moving_average(sum(load), 2) FROM cpu WHERE ${RANGE} GROUP BY time(1m) fill(previous)`,
  "SELECT triple_exponential_derivative(usage, 3) FROM cpu WHERE host = 'a' AND usage > 0 LIMIT 10",
  "SELECT triple_exponential_derivative(load, 2, 1, 'simple') FROM cpu WHERE host = 'b' AND load > 0 LIMIT 10",
  `SELECT moving_average(mean(usage), 3) FROM cpu WHERE ${RANGE} AND host = 'c' GROUP BY time(20s) fill(0)`,
  `SELECT exponential_moving_average(mean(usage), 4) FROM cpu WHERE time >= '2024-01-01T00:03:00Z' AND time < '2024-01-01T00:08:00Z' GROUP BY time(30s), host`,
  `SELECT triple_exponential_derivative(mean(usage), 2) FROM cpu WHERE ${RANGE} GROUP BY time(1m)`,
  "SELECT relative_strength_index(usage, 3) FROM cpu WHERE host = 'a' LIMIT 12",
  "SELECT relative_strength_index(load, 4, 1, 'simple') FROM cpu WHERE host = 'b' LIMIT 10",
  `SELECT relative_strength_index(mean(usage), 2) FROM cpu WHERE ${RANGE} GROUP BY time(30s), host fill(linear)`,
  "SELECT chande_momentum_oscillator(usage, 3) FROM cpu WHERE host = 'a' LIMIT 12",
  "SELECT chande_momentum_oscillator(usage, 4, 2, 'exponential') FROM cpu WHERE host = 'b' LIMIT 10",
  "SELECT chande_momentum_oscillator(load, 3, 1, 'simple') FROM cpu WHERE host = 'c'",
  "SELECT chande_momentum_oscillator(load, 2, 0, 'none') FROM cpu WHERE host = 'c'",
  `SELECT chande_momentum_oscillator(mean(usage), 3) FROM cpu WHERE ${RANGE} GROUP BY time(1m)`,
  "SELECT kaufmans_efficiency_ratio(usage, 3) FROM cpu WHERE host = 'a' LIMIT 12",
  "SELECT kaufmans_efficiency_ratio(load, 2, 0) FROM cpu WHERE host = 'b' LIMIT 10",
  `SELECT kaufmans_efficiency_ratio(mean(usage), 2) FROM cpu WHERE ${RANGE} GROUP BY time(1m), host`,
  "SELECT kaufmans_adaptive_moving_average(usage, 3) FROM cpu WHERE host = 'a' LIMIT 12",
  "SELECT kaufmans_adaptive_moving_average(load, 2, 1) FROM cpu WHERE host = 'c'",
  `SELECT kaufmans_adaptive_moving_average(mean(usage), 2) FROM cpu WHERE ${RANGE} GROUP BY time(1m) fill(0)`,
  "SELECT exponential_moving_average(usage, 3) FROM cpu WHERE host = 'a' ORDER BY time DESC LIMIT 5",
  "SELECT exponential_moving_average(usage, 3), relative_strength_index(usage, 3) FROM cpu WHERE host = 'b' LIMIT 8",
  `SELECT mean(usage), exponential_moving_average(mean(usage), 2) FROM cpu WHERE ${RANGE} AND host = 'c' GROUP BY time(1m)`,
  "SELECT exponential_moving_average(used, 2) FROM disk GROUP BY *",
  `SELECT kaufmans_adaptive_moving_average(mean(used), 2), relative_strength_index(mean(used), 2) FROM disk WHERE time >= '2024-01-01T00:00:00Z' AND time < '2024-01-01T00:03:00Z' GROUP BY time(30s), host`,
  "SELECT abs(chande_momentum_oscillator(usage, 3)) FROM cpu WHERE host = 'a' LIMIT 5",
  `SELECT max(e) FROM (SELECT chande_momentum_oscillator(mean(usage), 3) AS e FROM cpu WHERE ${RANGE} GROUP BY time(1m), host) GROUP BY host`,
  // holt_winters: Nelder-Mead from 1.x's grid of starting guesses, seasonal and not, with and without the fit.
  `SELECT holt_winters(mean(usage), 5, 0) FROM cpu WHERE ${RANGE} GROUP BY time(1m)`,
  `SELECT holt_winters(mean(usage), 4, 3) FROM cpu WHERE ${RANGE} GROUP BY time(30s)`,
  `SELECT holt_winters_with_fit(mean(usage), 3, 4) FROM cpu WHERE ${RANGE} AND host = 'a' GROUP BY time(40s)`,
  `SELECT holt_winters_with_fit(max(load), 2, 0) FROM cpu WHERE ${RANGE} GROUP BY time(1m), host`,
  `SELECT holt_winters(sum(load), 3, 2) FROM cpu WHERE ${RANGE} AND host = 'c' GROUP BY time(20s)`,
  `SELECT holt_winters(mean(usage), 3, 2) FROM cpu WHERE ${RANGE} AND host = 'c' GROUP BY time(20s) fill(0)`,
  `SELECT holt_winters_with_fit(first(used), 2, 3) FROM disk WHERE time >= '2024-01-01T00:00:00Z' AND time < '2024-01-01T00:03:00Z' GROUP BY time(15s), host, dev`,
  // Ties across series (no GROUP BY tags): 1.x's pick among points sharing the deciding value or time.
  "SELECT first(used) FROM disk",
  "SELECT last(used) FROM disk",
  "SELECT min(used) FROM disk",
  "SELECT max(used) FROM disk",
  "SELECT min(io), host, dev FROM disk",
  "SELECT max(io), host, dev FROM disk",
  "SELECT first(used), host, dev FROM disk",
  "SELECT last(io), host, dev FROM disk",
  "SELECT last(io) FROM disk",
  "SELECT first(io), host, dev FROM disk",
  "SELECT min(used), host, dev FROM disk",
  "SELECT first(io), last(io) FROM disk WHERE time >= '2024-01-01T00:00:00Z' AND time < '2024-01-01T00:03:00Z' GROUP BY time(45s)",
  "SELECT max(used), min(used) FROM disk WHERE time >= '2024-01-01T00:00:00Z' AND time < '2024-01-01T00:03:00Z' GROUP BY time(1m), host",
  "SELECT last(used) FROM disk GROUP BY dev",
  "SELECT first(used), host FROM disk GROUP BY dev",
  "SELECT first(used), last(used) FROM disk WHERE time >= '2024-01-01T00:00:00Z' AND time < '2024-01-01T00:03:00Z' GROUP BY time(30s)",
  "SELECT min(io), max(io) FROM disk WHERE time >= '2024-01-01T00:00:00Z' AND time < '2024-01-01T00:03:00Z' GROUP BY time(1m)",
  // x / 0 answers 0 in 1.x.
  "SELECT usage / 0, load / 0, usage FROM cpu WHERE host = 'c' LIMIT 3",
  `SELECT mean(usage) / 0 FROM cpu WHERE ${RANGE} GROUP BY time(5m)`
]

// integral() over several groups: 1.x emits each group's last bucket when its reducers close, in Go map order
// (random from run to run), so these compare the rows whatever their order.
const UNORDERED = [
  "SELECT integral(usage, 1m) FROM cpu GROUP BY host",
  `SELECT integral(usage, 30s) FROM cpu WHERE ${RANGE} GROUP BY time(45s), host fill(0)`,
  `SELECT integral(load, 30s) FROM cpu WHERE ${RANGE} GROUP BY time(45s), host`,
  "SELECT integral(usage) FROM cpu WHERE time >= '2024-01-01T00:01:00Z' AND time < '2024-01-01T00:05:00Z' GROUP BY host",
  "SELECT integral(load) FROM cpu WHERE time > '2024-01-01T00:01:00Z' GROUP BY host"
]

// exp() and pow(): Strata computes them with DuckDB's (glibc's) libm, 1.x with Go's amd64 assembly (FMA instructions
// SQL cannot reproduce); the two differ in the last bit of some answers, so these compare numbers to 14 digits.
const APPROX = [
  "SELECT exp(usage), pow(usage, 1.5), pow(load, 0.25), exp(load * -0.5) FROM cpu WHERE host = 'b' AND usage > 0 LIMIT 6",
  `SELECT exp(mean(usage)), pow(sum(load), 1.5) FROM cpu WHERE ${RANGE} AND host = 'c' GROUP BY time(20s) fill(linear)`
]

/** Numbers equal to 14 significant digits, everything else exactly. */
const approximately = (actual: unknown, expected: unknown): boolean => {
  if (typeof actual === "number" && typeof expected === "number") return actual === expected || Math.abs(actual - expected) <= 1e-14 * Math.max(Math.abs(actual), Math.abs(expected))
  if (Array.isArray(actual) && Array.isArray(expected))
    return actual.length === expected.length && actual.every((a, i) => approximately(a, expected[i]))
  if (typeof actual === "object" && actual !== null && typeof expected === "object" && expected !== null) {
    const ka = Object.keys(actual)
    const ke = Object.keys(expected)
    return (
      JSON.stringify(ka) === JSON.stringify(ke) &&
      ka.every((k) => approximately((actual as Record<string, unknown>)[k], (expected as Record<string, unknown>)[k]))
    )
  }
  return actual === expected
}

// The functions added for 1.x answer the same values on /api/v3/query_influxql (flat rows, one per point).
const V3 = [
  "SELECT abs(max(usage)), sqrt(mean(usage)) FROM cpu GROUP BY host",
  `SELECT round(mean(usage)) FROM cpu WHERE ${RANGE} AND host = 'c' GROUP BY time(1m) fill(0)`,
  "SELECT exponential_moving_average(usage, 3), kaufmans_efficiency_ratio(usage, 2) FROM cpu WHERE host = 'a' LIMIT 8",
  `SELECT triple_exponential_moving_average(mean(usage), 2) FROM cpu WHERE ${RANGE} GROUP BY time(1m), host fill(0)`,
  `SELECT max(e) FROM (SELECT chande_momentum_oscillator(mean(usage), 3) AS e FROM cpu WHERE ${RANGE} GROUP BY time(1m), host) GROUP BY host`
]

// Regex fields mean nothing else: refused as 1.x refuses them while parsing.
const PARSE_ERRORS = ["SELECT /usage/ + 1 FROM cpu", "SELECT /o/ host FROM cpu"]

// Queries with `$name` parameters bound from the `params` JSON: literals of each type, and a parameter left unbound.
const BOUND: ReadonlyArray<readonly [string, string]> = [
  ["SELECT usage FROM cpu WHERE host = $host AND usage > $min LIMIT 4", '{"host":"b","min":5}'],
  ["SELECT count(usage) FROM cpu WHERE load >= $load GROUP BY host", '{"load":5}'],
  ["SELECT usage, load FROM cpu WHERE usage >= $x AND host != $h LIMIT $n", '{"x":7.5,"h":"a","n":3}'],
  ["SELECT usage FROM cpu WHERE $k = $v LIMIT 2", '{"k":{"identifier":"host"},"v":{"string":"c"}}'],
  ["SELECT usage FROM cpu WHERE host =~ $r AND load > $l LIMIT 3", '{"r":{"regex":"^(a|c)$"},"l":{"integer":4}}'],
  [`SELECT count(usage) FROM cpu WHERE ${RANGE} GROUP BY time($d)`, '{"d":{"duration":"2m"}}'],
  ["SELECT usage FROM cpu WHERE time > $t AND host = 'a' LIMIT 2", '{"t":"2024-01-01T00:05:00Z"}']
]

// Parameters 1.x cannot bind: refused with its error text (1.x answers these 400; Strata, as InfluxDB 3, puts
// parse errors in the results).
const UNBOUND: ReadonlyArray<readonly [string, string]> = [
  ["SELECT usage FROM cpu WHERE host = $nope", '{"host":"b"}'],
  ["SELECT usage FROM cpu WHERE host = $h", '{"h":[1]}'],
  ["SELECT usage FROM cpu WHERE host = $h", '{"h":null}'],
  ["SELECT usage FROM cpu WHERE host = $h", '{"h":{"colour":"b"}}'],
  ["SELECT usage FROM cpu WHERE host = $", "{}"]
]

// Patterns Go's regexp refuses: 1.x refuses them while parsing (400); Strata, as InfluxDB 3, puts the same error in
// the results.
const BAD_REGEXES = ["SELECT /a(/ FROM cpu", "SELECT mean(/a{2,1}/) FROM cpu", "SELECT * FROM /(a/", "SELECT usage FROM cpu WHERE host =~ /a{1001}/", "SHOW TAG KEYS FROM /a(?=b)/", "SELECT last(usage) FROM cpu GROUP BY /[z-a]/"]

describe.skipIf(!hasInfluxd)("InfluxQL answers match a real InfluxDB 1.x", () => {
  let server: InProcessServer
  let influx: { child: ChildProcess; dir: string; url: string }

  beforeAll(async () => {
    const port = 20_000 + Math.floor(Math.random() * 20_000)
    ;[server, influx] = await Promise.all([startServer({ withoutAuth: true }), startInfluxV1(port, "t")])
    const body = lines.join("\n")
    const a = await fetch(`${influx.url}/write?db=t`, { method: "POST", body })
    expect(a.status).toBe(204)
    const b = await server.request("POST", "/api/v3/write_lp?db=t&precision=nanosecond", { body })
    expect(b.status).toBe(204)
  }, 60_000)
  afterAll(async () => {
    await server?.stop()
    if (influx !== undefined) await stop(influx)
  })

  for (const q of QUERIES) {
    it(q, async () => {
      const params = new URLSearchParams({ db: "t", q })
      const expected = await fetch(`${influx.url}/query?${params}`).then((r) => r.json())
      const actual = (await server.request("GET", `/query?${params}`)).json()
      expect(JSON.stringify(expected)).toContain(`"series"`)
      expect(actual).toEqual(expected)
    })
  }

  for (const q of EMPTY) {
    it(`${q} (no series)`, async () => {
      const params = new URLSearchParams({ db: "t", q })
      const expected = await fetch(`${influx.url}/query?${params}`).then((r) => r.json())
      const actual = (await server.request("GET", `/query?${params}`)).json()
      expect(expected).toEqual({ results: [{ statement_id: 0 }] })
      expect(actual).toEqual(expected)
    })
  }

  for (const q of ANALYSIS) {
    it(q, async () => {
      const params = new URLSearchParams({ db: "t", q })
      const expected = await fetch(`${influx.url}/query?${params}`).then((r) => r.json())
      const actual = (await server.request("GET", `/query?${params}`)).json()
      expect(JSON.stringify(expected)).toContain(`"series"`)
      expect(actual).toEqual(expected)
    })
  }

  for (const q of UNORDERED) {
    it(`${q} (rows in any order)`, async () => {
      const params = new URLSearchParams({ db: "t", q })
      type Answer = { results: Array<{ series?: Array<{ tags?: unknown; columns: unknown; values: Array<unknown> }> }> }
      // The rows with their tags, sorted: how 1.x splits them into series objects depends on that order too.
      const sorted = (a: Answer) =>
        a.results.map((r) =>
          (r.series ?? []).flatMap((x) => x.values.map((v) => JSON.stringify([x.tags, x.columns, v]))).sort()
        )
      const expected = (await fetch(`${influx.url}/query?${params}`).then((r) => r.json())) as Answer
      const actual = (await server.request("GET", `/query?${params}`)).json<Answer>()
      expect(JSON.stringify(expected)).toContain(`"series"`)
      expect(sorted(actual)).toEqual(sorted(expected))
    })
  }

  for (const q of APPROX) {
    it(`${q} (numbers to 14 digits)`, async () => {
      const params = new URLSearchParams({ db: "t", q })
      const expected = await fetch(`${influx.url}/query?${params}`).then((r) => r.json())
      const actual = (await server.request("GET", `/query?${params}`)).json()
      expect(JSON.stringify(expected)).toContain(`"series"`)
      if (!approximately(actual, expected)) expect(actual).toEqual(expected)
    })
  }

  for (const q of V3) {
    it(`${q} on /api/v3/query_influxql: 1.x's values`, async () => {
      const params = new URLSearchParams({ db: "t", q })
      type Answer = {
        results: Array<{
          series: Array<{ tags?: Record<string, string>; columns: Array<string>; values: Array<Array<unknown>> }>
        }>
      }
      const expected = (await fetch(`${influx.url}/query?${params}`).then((r) => r.json())) as Answer
      const rows = expected.results[0]!.series.flatMap((s) =>
        s.values.map((v) => ({ ...s.tags, ...Object.fromEntries(s.columns.slice(1).map((c, i) => [c, v[i + 1]])) }))
      )
      const actual = (await server.request("GET", `/api/v3/query_influxql?${params}`)).json<Array<Record<string, unknown>>>()
      expect(actual.map(({ "iox::measurement": _, time: __, ...rest }) => rest)).toEqual(rows)
    })
  }

  for (const [q, bound] of BOUND) {
    it(`${q} with params ${bound}`, async () => {
      const params = new URLSearchParams({ db: "t", q, params: bound })
      const expected = await fetch(`${influx.url}/query?${params}`).then((r) => r.json())
      const actual = (await server.request("GET", `/query?${params}`)).json()
      expect(actual).toEqual(expected)
    })
  }

  for (const [q, bound] of UNBOUND) {
    it(`${q} with params ${bound}: the same error`, async () => {
      const params = new URLSearchParams({ db: "t", q, params: bound })
      const expected = (await fetch(`${influx.url}/query?${params}`).then((r) => r.json())) as { error: string }
      const actual = (await server.request("GET", `/query?${params}`)).json()
      expect(expected.error).toMatch(/^error parsing query: /)
      expect(actual).toEqual({ results: [{ statement_id: 0, error: expected.error }] })
    })
  }

  for (const q of PARSE_ERRORS) {
    it(`parse error: ${q}: the same error`, async () => {
      const params = new URLSearchParams({ db: "t", q })
      const expected = (await fetch(`${influx.url}/query?${params}`).then((r) => r.json())) as { error: string }
      const actual = (await server.request("GET", `/query?${params}`)).json()
      expect(expected.error).toMatch(/^error parsing query: /)
      expect(actual).toEqual({ results: [{ statement_id: 0, error: expected.error }] })
    })
  }

  for (const q of BAD_REGEXES) {
    it(`bad regex: ${q}: the same error`, async () => {
      const params = new URLSearchParams({ db: "t", q })
      const expected = (await fetch(`${influx.url}/query?${params}`).then((r) => r.json())) as { error: string }
      const actual = (await server.request("GET", `/query?${params}`)).json()
      expect(expected.error).toMatch(/^error parsing query: error parsing regexp: /)
      expect(actual).toEqual({ results: [{ statement_id: 0, error: expected.error }] })
    })
  }

  it("params that are not a JSON object are refused with 400, as by 1.x", async () => {
    for (const bound of ['{"h":', "[1]"]) {
      const params = new URLSearchParams({ db: "t", q: "SELECT usage FROM cpu WHERE host = $h", params: bound })
      const expected = await fetch(`${influx.url}/query?${params}`)
      const actual = await server.request("GET", `/query?${params}`)
      expect(actual.status).toBe(expected.status)
      expect(actual.json()).toEqual({ error: expect.stringMatching(/^error parsing query parameters: /) })
      expect(await expected.json()).toEqual({ error: expect.stringMatching(/^error parsing query parameters: /) })
    }
  })

  // Statements 1.x refuses: the same error text.
  for (const q of ERRORS) {
    it(`error: ${q}`, async () => {
      const params = new URLSearchParams({ db: "t", q })
      const expected = await fetch(`${influx.url}/query?${params}`).then((r) => r.json())
      const actual = (await server.request("GET", `/query?${params}`)).json()
      expect(JSON.stringify(expected)).toContain(`"error"`)
      expect(actual).toEqual(expected)
    })
  }
})
