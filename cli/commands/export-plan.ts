import { expandCollectives } from '../../sim/plan/expand.js';
import { simulate } from '../../sim/simulate.js';
import type { CliIo } from '../io.js';
import { executorPlan, resolveScenario, type ScenarioFlags } from '../scenario-flags.js';

/**
 * `kvr export-plan`: the plan the simulator runs for a scenario, as kvr-plan@1 JSON, so the native
 * executor (`kvr exec PLAN.json`, `kvr-exec run PLAN.json`) runs exactly the same thing. Collective
 * ops (tp, tp-sp, kvr-tp) are written out as the transfers the engine runs them as
 * (sim/plan/expand.ts): the executor reads transfers only, and its op ids are those of this plan.
 */
export function exportPlanCommand(flags: ScenarioFlags, io: CliIo): void {
  io.stdout(`${JSON.stringify(expandCollectives(executorPlan(simulate(resolveScenario(flags, io)).plan)))}\n`);
}
