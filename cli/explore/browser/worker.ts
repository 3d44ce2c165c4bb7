/**
 * The explorer's worker: resolves the page's flags with the CLI's own scenario code (so the page
 * and `kvr simulate` read them alike) and runs sim/ on them. kvr-s searches report progress; the
 * page cancels a run by terminating the worker.
 */
import { compareStrategies } from '../../commands/compare.js';
import type { CliIo } from '../../io.js';
import { resolveScenario, type ScenarioFlags } from '../../scenario-flags.js';
import { withSearchProgress } from '../../search-progress.js';
import { formatRate } from '../../format.js';
import { simulate } from '../../../sim/simulate.js';
import { perfettoTrace } from '../../../sim/trace/perfetto.js';
import { COLLECTIVE_STRATEGIES, type StrategyName } from '../../../sim/plan/plan.js';
import { parseTokens } from '../../../sim/units/tokens.js';
import { parseQuantity } from '../../../sim/units/quantity.js';
import { PASTED_FILES, scenarioFlagsOf, type ExplorerState, type PastedKind } from '../explorer-state.js';
import type { SimulateReply, SweepPoint, WorkerReply, WorkerRequest } from './protocol.js';
import { compactSlices, TIMELINE_RANKS, type TimelineSlice } from '../timeline-slices.js';
import { setVirtualFile, virtualDir, virtualFile } from './shims/virtual-files.js';

type Post = (reply: WorkerReply) => void;

/** Answers one request; every failure becomes an error reply of one line. */
export function handleRequest(request: WorkerRequest, post: Post): void {
  const notes: string[] = [];
  const io = browserIo(notes);
  try {
    const flags = scenarioFlags(request.state);
    const started = performance.now();
    if (request.kind === 'simulate') {
      post({ id: request.id, kind: 'simulate', reply: simulateOnce(flags, io, notes, started, (done, expected) => post({ id: request.id, kind: 'progress', done, expected, label: 'kvr-s search' })) });
    } else if (request.kind === 'compare') {
      const { strategy: _s, partition: _p, ...common } = flags;
      const reply = compareStrategies({ ...common, quiet: true }, io);
      post({ id: request.id, kind: 'compare', reply, simulateMs: performance.now() - started });
    } else {
      const points = sweep(request.state, flags, io, (done, expected, label) => post({ id: request.id, kind: 'progress', done, expected, label }));
      post({ id: request.id, kind: 'sweep', reply: { axis: request.state.sweep.axis, points }, simulateMs: performance.now() - started });
    }
  } catch (error) {
    post({ id: request.id, kind: 'error', message: error instanceof Error ? error.message.replace(/\s+/g, ' ') : String(error) });
  }
}

/** The state's flags, its pasted documents registered as the files they name. */
function scenarioFlags(state: ExplorerState): ScenarioFlags {
  for (const kind of Object.keys(PASTED_FILES) as PastedKind[]) {
    const text = state.pasted[kind];
    if (text !== undefined && text.trim() !== '') setVirtualFile(PASTED_FILES[kind], text);
  }
  return scenarioFlagsOf(state);
}

function browserIo(notes: string[]): CliIo {
  return {
    stdout: () => undefined,
    stderr: (text) => notes.push(text.trim()),
    readFile: (path) => {
      const text = virtualFile(path);
      if (text === undefined) throw new Error(`no file ${path} in the browser (paste its JSON instead)`);
      return text;
    },
    writeFile: () => {
      throw new Error('the browser writes no files');
    },
    listDir: (path) => virtualDir(path),
  };
}

function simulateOnce(flags: ScenarioFlags, io: CliIo, notes: string[], started: number, progress: (done: number, expected: number) => void): SimulateReply {
  const scenario = resolveScenario(flags, io);
  const { plan, run, result } = simulate(withSearchProgress(scenario, progress));
  const simulateMs = performance.now() - started;
  const trace = perfettoTrace(plan, run);
  const slices: TimelineSlice[] = [];
  for (const e of trace.traceEvents) if (e.ph === 'X' && e.pid < TIMELINE_RANKS) slices.push([e.pid, e.tid, e.name, e.ts!, e.dur!, 1]);
  const rates = new Set(scenario.topology.links.map((l) => formatRate(Math.min(l.bandwidth_ab, l.bandwidth_ba))));
  return {
    result,
    slices: compactSlices(slices, result.makespan_s * 1e6 / 2000),
    links: `${scenario.topology.name}, ${rates.size === 0 ? 'no links' : [...rates].join(' / ')}`,
    gpuSource: scenario.gpu.source,
    notes,
    simulateMs,
  };
}

/** Flags each strategy takes beyond the shared ones (as kvr compare hands them out). */
function takes(strategy: StrategyName, key: keyof ScenarioFlags): boolean {
  switch (key) {
    case 'partition':
      return strategy === 'kvr' || strategy === 'kvr-tp';
    case 'search':
    case 'granularity':
      return strategy === 'kvr-s' || strategy === 'kvr-tp';
    case 'tp':
      return strategy === 'kvr-tp';
    case 'collective':
    case 'channels':
    case 'protocol':
      return COLLECTIVE_STRATEGIES.includes(strategy);
    case 'predictor':
    case 'table':
      return strategy === 'kvr-p';
    default:
      return true;
  }
}

/** One simulation per (strategy, axis value); a point that cannot run records why. */
function sweep(state: ExplorerState, flags: ScenarioFlags, io: CliIo, progress: (done: number, expected: number, label: string) => void): SweepPoint[] {
  const axis = state.sweep.axis;
  const values = state.sweep.values.split(',').map((v) => v.trim()).filter((v) => v !== '');
  if (values.length === 0) throw new Error(`sweep values: list at least one ${axis} value, e.g. 4k,8k,16k`);
  if (state.sweep.strategies.length === 0) throw new Error('sweep strategies: tick at least one strategy');
  const x = (value: string): number =>
    axis === 'context' ? parseTokens(value, `sweep ${axis}`) : axis === 'gpus' ? parseTokens(value, `sweep ${axis}`) : parseQuantity(value, axis === 'bandwidth' ? 'bandwidth' : 'time', `sweep ${axis}`);
  const points: SweepPoint[] = [];
  const total = values.length * state.sweep.strategies.length;
  for (const strategy of state.sweep.strategies as StrategyName[]) {
    for (const value of values) {
      const own: ScenarioFlags = { strategy, [axis]: value };
      for (const [key, given] of Object.entries(flags) as [keyof ScenarioFlags, string][]) {
        if (key !== 'strategy' && key !== axis && takes(strategy, key)) own[key] = given;
      }
      const point: SweepPoint = { strategy, label: value, x: x(value), ttft_s: null, fits: false };
      try {
        const { result } = simulate(resolveScenario(own, io));
        point.ttft_s = result.ttft_s;
        point.fits = result.fits;
      } catch (error) {
        point.error = error instanceof Error ? error.message : String(error);
      }
      points.push(point);
      progress(points.length, total, `sweep ${strategy} ${axis} ${value}`);
    }
  }
  return points;
}
