import type { SeriesFunction } from "../analysis.ts"

/** What the SELECT planner produces: per-measurement queries and the point-by-point stages run before them. */

/** One measurement's query. */
export interface MeasurementQuery {
  readonly measurement: string
  readonly sql: string
  /** The grouping tags of this measurement's series, in order (their columns follow `time`). */
  readonly tags: ReadonlyArray<string>
}

/**
 * A sequential computation 1.x does point by point (the technical-analysis functions), run between two SQL steps:
 * `sql` answers the points (`__g<i>` grouping tags, `__time`, `__x`) ordered by series then time; their answers
 * (`__g<i>`, `__time`, `__v`) stand in for the table name `id` in the SQL of the queries and of later stages.
 */
export interface Stage {
  readonly id: string
  readonly sql: string
  /** How many grouping tags lead each row. */
  readonly tags: number
  readonly args: SeriesFunction
}

export interface SelectPlan {
  readonly _tag: "select"
  /** The stages to run, in order, before the queries (each may read those before it). */
  readonly stages: ReadonlyArray<Stage>
  /** The selected columns' names, in order (after `time`). */
  readonly columns: ReadonlyArray<string>
  readonly queries: ReadonlyArray<MeasurementQuery>
  readonly tz?: string
}

/** Collects a plan's stages (its subqueries' too) and names each uniquely. */
export interface StageSink {
  add(sql: string, tags: number, args: SeriesFunction): string
  readonly all: Array<Stage>
}

export const stageSink = (): StageSink => {
  const all: Array<Stage> = []
  return {
    all,
    add: (sql, tags, args) => {
      const id = `__strata_stage_${all.length}`
      all.push({ id, sql, tags, args })
      return id
    }
  }
}
