import { KvrInputError } from '../../sim/errors.js';
import { parseIntegerText } from '../../sim/input/fields.js';
import { SIMULATOR_ONLY_STRATEGIES, STRATEGY_NAMES, type Plan } from '../../sim/plan/plan.js';
import { simulate } from '../../sim/simulate.js';
import { checkPlanDocument } from '../../sim/plan/plan-document.js';
import { BACKENDS, CUDA_STRATEGIES, TRANSPORTS, executePlan, type BackendName, type ExecOptions, type TransportName } from '../../native/js/executor.js';
import { formatSeconds, renderTable } from '../format.js';
import { checkOutput, type CliIo } from '../io.js';
import { loadJsonFile, oneLine } from '../load-json.js';
import { executorPlan, resolveScenario, type ScenarioFlags } from '../scenario-flags.js';

export interface ExecFlags extends ScenarioFlags {
  backend?: string;
  transport?: string;
  warmup?: string;
  repeats?: string;
  seed?: string;
  json?: boolean;
  trace?: string;
}

/**
 * `kvr exec [PLAN.json] [scenario flags]`: runs a plan on the native executor (a plan file, or the
 * plan the simulator builds for the scenario flags) and prints the measured TTFT and per-rank
 * times; with scenario flags, the simulator's prediction for the same plan is printed beside it.
 */
export async function execCommand(planFile: string | undefined, flags: ExecFlags, io: CliIo): Promise<void> {
  let plan: Plan;
  let predicted: number | undefined;
  if (planFile !== undefined) {
    const scenarioFlags = ['model', 'gpu', 'gpus', 'topology', 'bandwidth', 'latency', 'context', 'strategy', 'partition'] as const;
    for (const key of scenarioFlags) {
      if (flags[key] !== undefined) throw new KvrInputError(`--${key}`, 'does not apply with a plan file (the plan fixes the scenario)');
    }
    const value = loadJsonFile(io, planFile, 'PLAN');
    checkPlanDocument(value);
    plan = value as Plan;
  } else {
    const simulation = simulate(resolveScenario(flags, io));
    plan = executorPlan(simulation.plan);
    predicted = simulation.result.ttft_s;
  }
  const field = planFile === undefined ? '--strategy' : 'PLAN';
  if (SIMULATOR_ONLY_STRATEGIES.includes(plan.strategy)) {
    const runnable = STRATEGY_NAMES.filter((name) => !SIMULATOR_ONLY_STRATEGIES.includes(name));
    throw new KvrInputError(field, `${plan.strategy} plans run only in the simulator; the native executor runs ${runnable.join(', ')} plans`);
  }
  const options = execOptions(flags);
  if (options.backend === 'cuda' && !CUDA_STRATEGIES.includes(plan.strategy)) {
    throw new KvrInputError(field, `${plan.strategy} plans run on the cpu backend only; the cuda backend runs ${CUDA_STRATEGIES.join(', ')} plans`);
  }
  if (flags.trace !== undefined) checkOutput(io, flags.trace, '--trace');
  const execution = await executePlan(plan, options);
  const m = execution.measurement;
  if (flags.trace !== undefined) {
    try {
      io.writeFile(flags.trace, JSON.stringify(execution.trace));
    } catch (error) {
      throw new KvrInputError('--trace', `cannot write ${JSON.stringify(flags.trace)}: ${oneLine(error)}`);
    }
  }
  if (flags.json) {
    io.stdout(`${JSON.stringify(m, null, 2)}\n`);
    return;
  }
  const header =
    `${m.model}, ${m.context} tokens, ${m.strategy} on ${m.gpus} rank(s): ${m.backend} backend (${m.device}, transport ${m.transport})\n` +
    `measured TTFT ${formatSeconds(m.ttft_s)} (median of ${m.repeats} after ${m.warmup} warm-up; runs ${m.ttft_runs_s.map(formatSeconds).join(', ')})` +
    (predicted === undefined ? '' : `; simulated ${formatSeconds(predicted)}`) +
    '\n\n';
  const rows = m.ranks.map((r) => [String(r.rank), String(m.partition[r.rank]), formatSeconds(r.compute_s), formatSeconds(r.finish_s)]);
  io.stdout(header + renderTable(['rank', 'tokens', 'compute', 'finish'], rows));
}

function execOptions(flags: ExecFlags): ExecOptions {
  const options: ExecOptions = {};
  if (flags.backend !== undefined) options.backend = choice(flags.backend, BACKENDS, '--backend');
  if (flags.transport !== undefined) options.transport = choice(flags.transport, TRANSPORTS, '--transport');
  if (flags.warmup !== undefined) options.warmup = parseIntegerText(flags.warmup, '--warmup', { min: 0, max: 100 });
  if (flags.repeats !== undefined) options.repeats = parseIntegerText(flags.repeats, '--repeats', { min: 1, max: 1000 });
  if (flags.seed !== undefined) options.seed = parseIntegerText(flags.seed, '--seed', { min: 0, max: Number.MAX_SAFE_INTEGER });
  return options;
}

function choice<T extends string>(value: string, allowed: readonly T[], flag: string): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new KvrInputError(flag, `expected one of ${allowed.join(', ')} (got ${JSON.stringify(value)})`);
  }
  return value as T;
}

export type { BackendName, TransportName };
