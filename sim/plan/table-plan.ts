import { OpTable } from './op-table.js';
import type { Plan, PlanOp } from './plan.js';

/**
 * Plans whose ops live in an op table (sim/plan/op-table.ts), as buildPlan makes them: the plan
 * object carries its table under a symbol, and `ops` is written out from it only when read.
 */
const TABLE = Symbol('plan op table');
type TablePlan = Plan & { [TABLE]?: OpTable };

/**
 * A plan whose ops live in `table`: `plan.ops` writes them out as objects only when something
 * reads it (a plan file, a trace), as a frozen snapshot that is written anew after the table
 * changes. The simulator reads the columns (planTable). Assigning `plan.ops` makes it a plain plan.
 */
export function planOfTable(fields: Omit<Plan, 'ops'>, table: OpTable): Plan {
  const { schema, strategy, model, context, gpus, partition, kv_tokens, last_rank, ...rest } = fields;
  // `ops` keeps its place among the keys (after last_rank), as the plan JSON has it.
  const plan = { schema, strategy, model, context, gpus, partition, kv_tokens, last_rank, ops: [] as PlanOp[], ...rest } as TablePlan;
  let snapshot: PlanOp[] | undefined;
  let version = -1;
  Object.defineProperty(plan, 'ops', {
    enumerable: true,
    configurable: true,
    get(): PlanOp[] {
      if (snapshot === undefined || version !== table.version) {
        snapshot = table.ops();
        for (const op of snapshot) {
          Object.freeze(op.deps);
          Object.freeze(op);
        }
        Object.freeze(snapshot);
        version = table.version;
      }
      return snapshot;
    },
    set(this: TablePlan, ops: PlanOp[]) {
      Object.defineProperty(this, 'ops', { value: ops, enumerable: true, configurable: true, writable: true });
      delete this[TABLE];
    },
  });
  Object.defineProperty(plan, TABLE, { value: table, enumerable: false, configurable: true, writable: false });
  return plan;
}

/**
 * A plan's ops as columns: a built plan's own table (reading it writes out no op objects), or,
 * for a plain plan (read from a file, written by hand), a table made from its ops afresh on each
 * call (they may have changed since).
 */
export function planTable(plan: Plan): OpTable {
  return (plan as TablePlan)[TABLE] ?? OpTable.fromOps(plan.ops);
}

/**
 * The plan with some header fields changed and the same ops, without writing them out (a spread,
 * `{ ...plan }`, reads `ops` and so writes out every op).
 */
export function withPlanFields(plan: Plan, fields: Partial<Omit<Plan, 'ops'>>): Plan {
  const table = (plan as TablePlan)[TABLE];
  if (table === undefined) return { ...plan, ...fields };
  const header: Record<string, unknown> = {};
  for (const key of Object.keys(plan)) if (key !== 'ops') header[key] = (plan as unknown as Record<string, unknown>)[key];
  return planOfTable({ ...(header as Omit<Plan, 'ops'>), ...fields }, table);
}

/** A built plan's own table, which a change written to it changes (searches reshape plans in place). */
export function builtOpTable(plan: Plan): OpTable {
  const table = (plan as TablePlan)[TABLE];
  if (table === undefined) throw new Error(`plan ${plan.strategy} keeps its ops as objects; only a plan built by buildPlan can be reshaped`);
  return table;
}

/** Whether the plan keeps its ops as columns (built by buildPlan and not given other ops since). */
export function hasOpTable(plan: Plan): boolean {
  return (plan as TablePlan)[TABLE] !== undefined;
}

/** How many ops the plan has, without writing them out. */
export function planOpTotal(plan: Plan): number {
  const table = (plan as TablePlan)[TABLE];
  return table === undefined ? plan.ops.length : table.count;
}
