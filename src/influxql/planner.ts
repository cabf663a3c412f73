/**
 * The InfluxQL SELECT planner: one DuckDB SQL query per measurement, with InfluxDB 1.x's semantics (series by tags,
 * time buckets with fill, selectors' times, per-series LIMIT) written into the SQL. Every query answers the columns
 * `iox::measurement`, `time`, the grouping tags, then the selected columns, ordered by tags then time.
 *
 * Its stages live in `select/`: sources → where → fields → aggregates → transforms, assembled by `select/plan.ts`.
 */
export { PlanFailure } from "./select/failure.ts"
export { planSelect } from "./select/plan.ts"
export { resolveSources, sourceDatabase } from "./select/sources.ts"
export type { MeasurementQuery, SelectPlan, Stage } from "./select/stages.ts"
export { whereSql } from "./select/where.ts"
