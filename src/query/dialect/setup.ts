/**
 * Catalog objects the dialect rewrite calls into, created once per DuckDB instance in the default `main` schema.
 * Every name carries the `strata_` prefix so user SQL cannot collide with them and rewrites never shadow DuckDB's
 * own functions. Times are TIMESTAMP_NS and arithmetic runs on epoch nanoseconds, so nothing drops to
 * microseconds.
 */
export const dialectSetupSql: ReadonlyArray<string> = [
  // An interval without months as nanoseconds (days count as 24 h, as for DataFusion's time zone-less timestamps).
  `CREATE OR REPLACE MACRO strata_interval_ns(i) AS epoch_ns(TIMESTAMP_NS '1970-01-01 00:00:00' + i)`,
  `CREATE OR REPLACE MACRO strata_has_months(i) AS (datepart('year', i) <> 0 OR datepart('month', i) <> 0)`,

  // time ± interval, keeping nanoseconds (DuckDB's own + returns microsecond TIMESTAMP).
  `CREATE OR REPLACE MACRO strata_ts_add(t, i) AS CASE WHEN strata_has_months(i)
     THEN CAST(CAST(t AS TIMESTAMP_NS) + i AS TIMESTAMP_NS)
     ELSE make_timestamp_ns(epoch_ns(t) + strata_interval_ns(i)) END`,
  `CREATE OR REPLACE MACRO strata_ts_sub(t, i) AS CASE WHEN strata_has_months(i)
     THEN CAST(CAST(t AS TIMESTAMP_NS) - i AS TIMESTAMP_NS)
     ELSE make_timestamp_ns(epoch_ns(t) - strata_interval_ns(i)) END`,

  // The start of the stride-wide bin holding t_ns, bins aligned on origin_ns (all epoch nanoseconds). `%` keeps the
  // dividend's sign: at or after the origin the remainder is the distance into the bin; before it, a negative
  // remainder r takes the stride more, added by masking it with r's sign (r >> 63 is -1 or 0) rather than a second
  // `%`. The first branch alone (times after 1970) is ~10% less of a query grouped by the hour over 432,000 rows.
  `CREATE OR REPLACE MACRO strata_bin_ns(stride_ns, t_ns, origin_ns) AS CASE WHEN t_ns >= origin_ns
     THEN t_ns - (t_ns - origin_ns) % stride_ns
     ELSE t_ns - ((t_ns - origin_ns) % stride_ns) - (stride_ns & (((t_ns - origin_ns) % stride_ns) >> 63)) END`,
  // strata_bin_ns's first branch, for times known to be at or after the origin (see query/timeBins.ts).
  `CREATE OR REPLACE MACRO strata_bin_after_ns(stride_ns, t_ns, origin_ns) AS t_ns - (t_ns - origin_ns) % stride_ns`,

  // date_bin(stride, source[, origin]) -> TIMESTAMP_NS; month strides bin by calendar months like DataFusion.
  `CREATE OR REPLACE MACRO strata_date_bin(stride, t, origin) AS CASE WHEN strata_has_months(stride)
       THEN CAST(time_bucket(stride, CAST(t AS TIMESTAMP), CAST(origin AS TIMESTAMP)) AS TIMESTAMP_NS)
       ELSE make_timestamp_ns(strata_bin_ns(strata_interval_ns(stride), epoch_ns(t), epoch_ns(origin))) END`,

  // date_bin by a stride the rewrite saw is a constant without months.
  `CREATE OR REPLACE MACRO strata_date_bin_fixed(stride, t, origin) AS
     make_timestamp_ns(strata_bin_ns(strata_interval_ns(stride), epoch_ns(t), epoch_ns(origin)))`,

  // date_trunc keeps the input's type (TIMESTAMP_NS) in DataFusion.
  `CREATE OR REPLACE MACRO strata_date_trunc(unit, t) AS CAST(date_trunc(unit, t) AS TIMESTAMP_NS)`,

  // A string to TIMESTAMP_NS: the instant from the TIMESTAMPTZ cast (which honours offsets, to the microsecond)
  // plus the sub-microsecond digits of the wall clock (offsets are whole minutes, so those digits are exact).
  `CREATE OR REPLACE MACRO strata_parse_ts(s) AS make_timestamp_ns(
     epoch_us(CAST(s AS TIMESTAMPTZ)) * 1000 + ((epoch_ns(CAST(s AS TIMESTAMP_NS)) % 1000) + 1000) % 1000)`,

  // to_timestamp & co: strings parse as RFC3339, integers count `unit_ns` nanoseconds, timestamps convert.
  // typeof() is constant, so the optimiser keeps one branch; the others only need to bind.
  `CREATE OR REPLACE MACRO strata_to_timestamp(x, unit_ns) AS CASE
     WHEN typeof(x) = 'VARCHAR' THEN make_timestamp_ns(epoch_ns(strata_parse_ts(TRY_CAST(x AS VARCHAR))) // unit_ns * unit_ns)
     WHEN typeof(x) LIKE 'TIMESTAMP%' OR typeof(x) = 'DATE'
       THEN make_timestamp_ns(epoch_ns(TRY_CAST(CAST(x AS VARCHAR) AS TIMESTAMP_NS)) // unit_ns * unit_ns)
     WHEN typeof(x) IN ('DOUBLE', 'FLOAT') OR typeof(x) LIKE 'DECIMAL%'
       THEN make_timestamp_ns(CAST(floor(TRY_CAST(x AS DOUBLE) * unit_ns) AS BIGINT))
     ELSE make_timestamp_ns(TRY_CAST(x AS BIGINT) * unit_ns) END`,

  // to_unixtime: seconds since the epoch as BIGINT (truncating, as Arrow's unit cast does).
  `CREATE OR REPLACE MACRO strata_to_unixtime(x) AS CASE
     WHEN typeof(x) = 'VARCHAR' THEN epoch_ns(strata_parse_ts(TRY_CAST(x AS VARCHAR))) // 1000000000
     WHEN typeof(x) LIKE 'TIMESTAMP%' OR typeof(x) = 'DATE'
       THEN epoch_ns(TRY_CAST(CAST(x AS VARCHAR) AS TIMESTAMP_NS)) // 1000000000
     ELSE TRY_CAST(x AS BIGINT) END`,

  // tz(time, zone): InfluxDB only re-labels the instant with a zone; we render it as RFC3339 local time with the
  // zone's offset, as Arrow displays a zoned timestamp.
  `CREATE OR REPLACE MACRO strata_tz_offset_s(t, zone) AS
     (epoch_us(timezone(zone, CAST(CAST(t AS TIMESTAMP) AS TIMESTAMPTZ))) - epoch_us(CAST(t AS TIMESTAMP))) // 1000000`,
  `CREATE OR REPLACE MACRO strata_format_offset(s) AS
     CASE WHEN s < 0 THEN '-' ELSE '+' END || lpad(CAST(abs(s) // 3600 AS VARCHAR), 2, '0') || ':'
       || lpad(CAST((abs(s) % 3600) // 60 AS VARCHAR), 2, '0')`,
  `CREATE OR REPLACE MACRO strata_format_ns(t) AS strftime(t, '%Y-%m-%dT%H:%M:%S') || CASE
     WHEN epoch_ns(t) % 1000000000 = 0 THEN ''
     WHEN epoch_ns(t) % 1000000 = 0 THEN '.' || strftime(t, '%g')
     WHEN epoch_ns(t) % 1000 = 0 THEN '.' || strftime(t, '%f')
     ELSE '.' || strftime(t, '%n') END`,
  `CREATE OR REPLACE MACRO strata_tz(t, zone) AS
     strata_format_ns(make_timestamp_ns(epoch_ns(t) + strata_tz_offset_s(t, zone) * 1000000000))
       || strata_format_offset(strata_tz_offset_s(t, zone))`,

  // Selectors: a STRUCT(value, time). Rows with a NULL value never win; min/max break ties by earliest time.
  // first/last order by epoch nanoseconds: DuckDB's arg_min/arg_max have a fast path for a BIGINT key and take a
  // generic, about 5x slower one for a TIMESTAMP_NS key. arg_min/arg_max skip rows whose value is NULL themselves
  // (arg_max_null would not): a CASE guarding the key too costs ~4% of a last value per host over 864,000 rows.
  `CREATE OR REPLACE MACRO strata_selector_first(v, t) AS struct_pack(
     "value" := arg_min(v, epoch_ns(CAST(t AS TIMESTAMP_NS))),
     "time" := CAST(min(CASE WHEN v IS NOT NULL THEN t END) AS TIMESTAMP_NS))`,
  `CREATE OR REPLACE MACRO strata_selector_last(v, t) AS struct_pack(
     "value" := arg_max(v, epoch_ns(CAST(t AS TIMESTAMP_NS))),
     "time" := CAST(max(CASE WHEN v IS NOT NULL THEN t END) AS TIMESTAMP_NS))`,
  // min/max order by a (value, time) STRUCT, through DuckDB's generic path. Measured on the 100-host cpu set
  // (scripts/bench-selectors.ts), nothing a macro can say is faster: a FILTER instead of the CASE costs ~10% more
  // where no value is NULL, and a HUGEINT key packing the value's bits with the time ~70% more. The fast exact plan
  // takes a second level (the time as min(time) over the rows equal to the extreme).
  `CREATE OR REPLACE MACRO strata_selector_min(v, t) AS struct_pack(
     "value" := min(v),
     "time" := CAST(arg_min(t, CASE WHEN v IS NOT NULL AND t IS NOT NULL THEN struct_pack(v := v, t := t) END) AS TIMESTAMP_NS))`,
  `CREATE OR REPLACE MACRO strata_selector_max(v, t) AS struct_pack(
     "value" := max(v),
     "time" := CAST(arg_max(t, CASE WHEN v IS NOT NULL AND t IS NOT NULL THEN struct_pack(v := v, t := -epoch_ns(t)) END) AS TIMESTAMP_NS))`
]
