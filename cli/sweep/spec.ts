/**
 * A validated sweep spec as an ordered list of scenario points: the product of the axes (later
 * keys vary fastest) with keys that do not apply to a point's strategy or topology collapsed (a
 * tsp point is not repeated for each kvr-s search method), then the listed rows. Points are made
 * lazily, so a 10^7-row product costs no memory; the count is computed without enumerating.
 */
import { parseTokens } from '../../sim/units/tokens.js';
import { dirname, isAbsolute, resolve } from 'node:path';
import { KvrInputError, describeValue } from '../../sim/errors.js';
import { parseQuantity } from '../../sim/units/quantity.js';
import { TOPOLOGY_PRESET_NAMES } from '../../sim/topology/presets.js';
import { COLLECTIVE_STRATEGIES, STRATEGY_NAMES, TP_STRATEGIES, type CollectiveChoice, type StrategyName } from '../../sim/plan/plan.js';
import { estimateSimulationBytes, MAX_SIMULATION_BYTES } from '../../sim/plan/build-plan.js';
import type { SweepAxes, SweepScenario, SweepSpec } from '../config/types.js';
import type { CliIo } from '../io.js';
import { looksLikePath } from '../load-json.js';
import { resolveModel, resolveScenario, SCENARIO_DEFAULTS, type ScenarioFlags } from '../scenario-flags.js';

/** Scenario keys in product order (outermost first); also the order of the key columns. */
export const SCENARIO_KEYS = [
  'model',
  'gpu',
  'topology',
  'gpus_per_node',
  'nic_bandwidth',
  'nic_latency',
  'oversubscription',
  'nics_per_node',
  'leaf',
  'gpus_per_switch',
  'socket_bandwidth',
  'gpus',
  'bandwidth',
  'latency',
  'attention',
  'context',
  'strategy',
  'search',
  'granularity',
  'predictor',
  'table',
  'partition',
  'collective',
  'channels',
  'protocol',
  'tp',
  'dtype',
  'ffn_dtype',
  'kv_dtype',
] as const satisfies readonly (keyof SweepScenario)[];
export type ScenarioKey = (typeof SCENARIO_KEYS)[number];

/** One scenario: the spec's values (numbers for counts, strings otherwise); absent = default. */
export type Point = Partial<Record<ScenarioKey, string | number>>;

const QUANTITY_KEYS: Partial<Record<ScenarioKey, 'bandwidth' | 'time'>> = {
  bandwidth: 'bandwidth',
  nic_bandwidth: 'bandwidth',
  latency: 'time',
  nic_latency: 'time',
  socket_bandwidth: 'bandwidth',
};

const FILE_KEYS: ScenarioKey[] = ['model', 'gpu', 'topology', 'table'];

/** Strategies that search a partition (take --search and --granularity), as `kvr simulate` has them. */
const SEARCHING_STRATEGIES: readonly string[] = ['kvr-s', 'kvr-tp'];

function isPresetTopology(point: Point): boolean {
  return (TOPOLOGY_PRESET_NAMES as readonly string[]).includes(String(point.topology ?? SCENARIO_DEFAULTS.topology));
}

/**
 * Whether a key means anything for a point, given the point's earlier keys (dependencies only
 * point backwards in SCENARIO_KEYS): mirrors the "only applies to" rules of `kvr simulate`.
 */
export function keyApplies(key: ScenarioKey, point: Point): boolean {
  const strategy = String(point.strategy ?? SCENARIO_DEFAULTS.strategy);
  const topology = String(point.topology ?? SCENARIO_DEFAULTS.topology);
  switch (key) {
    case 'gpus_per_node':
    case 'nic_bandwidth':
    case 'nic_latency':
    case 'oversubscription':
    case 'nics_per_node':
    case 'leaf':
      return topology === 'multi-node';
    case 'gpus_per_switch':
      return topology === 'pcie' || topology === 'pcie-2s';
    case 'socket_bandwidth':
      return topology === 'pcie-2s';
    case 'collective':
    case 'channels':
    case 'protocol':
      return (COLLECTIVE_STRATEGIES as readonly string[]).includes(strategy);
    case 'tp':
      return (TP_STRATEGIES as readonly string[]).includes(strategy);
    case 'bandwidth':
    case 'latency':
      return isPresetTopology(point);
    case 'search':
    case 'granularity':
      return SEARCHING_STRATEGIES.includes(strategy);
    case 'predictor':
      return strategy === 'kvr-p';
    case 'table':
      return strategy === 'kvr-p' && String(point.predictor ?? SCENARIO_DEFAULTS.predictor) === 'interpolate';
    case 'partition':
      return strategy === 'kvr';
    default:
      return true;
  }
}

export interface ExpandedSpec {
  spec: SweepSpec;
  /** Folder that relative file paths in the spec are relative to. */
  baseDir: string;
  /** Number of points (product + rows). */
  total: number;
  /** File texts the workers need (model/GPU/topology/table files named by the spec). */
  files: Record<string, string>;
  /** Points in order. */
  points(): Generator<Point>;
}

/** Rows at which a sweep asks for --yes, and above which it refuses. */
export const SWEEP_CONFIRM_ROWS = 1_000_000;
export const SWEEP_MAX_ROWS = 10_000_000;

/**
 * Checks what the schema cannot (presets and files exist, units parse, no value twice on an axis,
 * no listed row repeating another point) and returns the lazily expanded spec.
 */
export function expandSpec(spec: SweepSpec, specPath: string, io: CliIo): ExpandedSpec {
  const baseDir = dirname(specPath);
  const files: Record<string, string> = {};
  const axes = spec.axes ?? {};
  const axisKeys = SCENARIO_KEYS.filter((key) => axes[key] !== undefined);
  for (const key of axisKeys) {
    const values = axes[key] as (string | number)[];
    const seen = new Map<string, number>();
    values.forEach((value, i) => {
      const field = `spec.axes.${key}[${i}]`;
      checkValue(key, value, field, baseDir, io, files);
      const norm = normalise(key, value);
      const first = seen.get(norm);
      if (first !== undefined) throw new KvrInputError(field, `repeats ${key}[${first}] (${describeValue(values[first])}); each value once`);
      seen.set(norm, i);
    });
  }
  const rows = spec.rows ?? [];
  const rowIds = new Map<string, number>();
  rows.forEach((row, r) => {
    for (const key of SCENARIO_KEYS) {
      const value = row[key];
      if (value !== undefined) checkValue(key, value, `spec.rows[${r}].${key}`, baseDir, io, files);
    }
    const id = pointId(rowPoint(row));
    const first = rowIds.get(id);
    if (first !== undefined) throw new KvrInputError(`spec.rows[${r}]`, `is the same scenario as rows[${first}]; each scenario once`);
    rowIds.set(id, r);
  });
  const productCount = spec.axes === undefined ? 0 : countProduct(axes);
  const total = productCount + rows.length;
  if (rowIds.size > 0 && productCount > 0 && productCount <= SWEEP_MAX_ROWS) {
    for (const point of productPoints(axes)) {
      const r = rowIds.get(pointId(point));
      if (r !== undefined) throw new KvrInputError(`spec.rows[${r}]`, 'is already a point of the axes product; each scenario once');
    }
  }
  return {
    spec,
    baseDir,
    total,
    files,
    *points() {
      if (spec.axes !== undefined) yield* productPoints(axes);
      for (const row of rows) yield rowPoint(row);
    },
  };
}

/** A listed row as a point: keys that do not apply to it are dropped (as in the product). */
function rowPoint(row: SweepScenario): Point {
  const point: Point = {};
  for (const key of SCENARIO_KEYS) {
    const value = row[key];
    if (value !== undefined && keyApplies(key, point)) point[key] = value;
  }
  return point;
}

/** The product's points in order, collapsing keys that do not apply. */
export function* productPoints(axes: SweepAxes): Generator<Point> {
  const keys = SCENARIO_KEYS.filter((key) => axes[key] !== undefined);
  const values = keys.map((key) => axes[key] as (string | number)[]);
  const n = keys.length;
  const index = new Array<number>(n).fill(0);
  const point: Point = {};
  const lengthAt = (j: number): number => (keyApplies(keys[j]!, point) ? values[j]!.length : 1);
  const assign = (j: number): void => {
    if (keyApplies(keys[j]!, point)) point[keys[j]!] = values[j]![index[j]!];
    else delete point[keys[j]!];
  };
  const resetFrom = (first: number): void => {
    for (let j = first; j < n; j++) {
      index[j] = 0;
      assign(j);
    }
  };
  resetFrom(0);
  for (;;) {
    yield { ...point };
    let j = n - 1;
    while (j >= 0) {
      index[j]! += 1;
      if (index[j]! < lengthAt(j)) {
        assign(j);
        resetFrom(j + 1);
        break;
      }
      j -= 1;
    }
    if (j < 0) return;
  }
}

/** How many points the product has, without making them. */
export function countProduct(axes: SweepAxes): number {
  const len = (key: ScenarioKey): number => (axes[key] as unknown[] | undefined)?.length ?? 1;
  let independent = 1;
  for (const key of ['model', 'gpu', 'gpus', 'attention', 'dtype', 'ffn_dtype', 'kv_dtype', 'context'] as const) independent *= len(key);
  const topologies = (axes.topology ?? [SCENARIO_DEFAULTS.topology]).map(String);
  let topologyFactor = 0;
  for (const topology of topologies) {
    let f = 1;
    if (topology === 'multi-node') f *= len('gpus_per_node') * len('nic_bandwidth') * len('nic_latency') * len('oversubscription') * len('nics_per_node') * len('leaf');
    if (topology === 'pcie' || topology === 'pcie-2s') f *= len('gpus_per_switch');
    if (topology === 'pcie-2s') f *= len('socket_bandwidth');
    if ((TOPOLOGY_PRESET_NAMES as readonly string[]).includes(topology)) f *= len('bandwidth') * len('latency');
    topologyFactor += f;
  }
  const strategies = (axes.strategy ?? [SCENARIO_DEFAULTS.strategy]).map(String);
  let strategyFactor = 0;
  for (const strategy of strategies) {
    let f = 1;
    if (SEARCHING_STRATEGIES.includes(strategy)) f *= len('search') * len('granularity');
    if (strategy === 'kvr') f *= len('partition');
    if ((COLLECTIVE_STRATEGIES as readonly string[]).includes(strategy)) f *= len('collective') * len('channels') * len('protocol');
    if ((TP_STRATEGIES as readonly string[]).includes(strategy)) f *= len('tp');
    if (strategy === 'kvr-p') {
      f *= (axes.predictor ?? [SCENARIO_DEFAULTS.predictor]).reduce((sum, p) => sum + (p === 'interpolate' ? len('table') : 1), 0);
    }
    strategyFactor += f;
  }
  return independent * topologyFactor * strategyFactor;
}

/** Canonical text of a value for ids and duplicate checks: quantities in base units. */
function normalise(key: ScenarioKey, value: string | number): string {
  const kind = QUANTITY_KEYS[key];
  if (kind !== undefined) return String(parseQuantityCached(String(value), kind, key));
  if (key === 'partition') return String(value).replace(/\s+/g, '');
  // "4k" is the same scenario as 4096 (k = 1024); a count keeps the id it always had.
  if (key === 'context' && typeof value === 'string') {
    try {
      return String(parseTokens(value, key));
    } catch {
      return value;
    }
  }
  return String(value);
}

const quantityCache = new Map<string, number>();
function parseQuantityCached(text: string, kind: 'bandwidth' | 'time', field: string): number {
  const cacheKey = `${kind}|${text}`;
  let value = quantityCache.get(cacheKey);
  if (value === undefined) {
    value = parseQuantity(text, kind, field);
    quantityCache.set(cacheKey, value);
  }
  return value;
}

/**
 * The stable id of a point: a 64-bit FNV-1a hash of its canonical keys and values, as 16 hex
 * digits. The same scenario gets the same id on every machine and in every spec that lists it.
 */
export function pointId(point: Point): string {
  let text = 'kvr-sweep-row@1';
  for (const key of SCENARIO_KEYS) {
    const value = point[key];
    if (value !== undefined) text += `\u0000${key}=${normalise(key, value)}`;
  }
  return fnv1a64(text);
}

function fnv1a64(text: string): string {
  // Two 32-bit halves of the 64-bit FNV-1a state (prime 2^40 + 0x1b3), exact in doubles.
  let hi = 0xcbf29ce4;
  let lo = 0x84222325;
  for (let i = 0; i < text.length; i++) {
    lo = (lo ^ text.charCodeAt(i)) >>> 0;
    // (hi, lo) *= 0x100000001b3
    const loMul = lo * 0x1b3;
    const carry = Math.floor(loMul / 0x100000000);
    const newLo = loMul >>> 0;
    hi = (hi * 0x1b3 + (lo << 8) + carry) >>> 0;
    lo = newLo;
  }
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0');
}

/**
 * The most memory one scenario of the spec may take to simulate (sim/plan/build-plan.ts's
 * estimate), over every model, GPU count, strategy, collective, channels and tp the spec names. Scenarios
 * estimated past MAX_SIMULATION_BYTES are refused at once and do not count. Found without
 * enumerating the product: only those six keys change the estimate.
 */
export function specMemoryBound(expanded: ExpandedSpec, io: CliIo): number {
  const axes = expanded.spec.axes ?? {};
  const fileIo: CliIo = { ...io, readFile: (p) => expanded.files[p] ?? io.readFile(p) };
  const layersOf = new Map<string, { layers: number; parallel: boolean } | undefined>();
  const shape = (model: string | number | undefined): { layers: number; parallel: boolean } | undefined => {
    const name = String(model ?? SCENARIO_DEFAULTS.model);
    if (!layersOf.has(name)) {
      try {
        const spec = resolveModel(specFilePath('model', name, expanded.baseDir) ?? name, fileIo);
        layersOf.set(name, { layers: spec.layers, parallel: spec.block === 'parallel' });
      } catch {
        layersOf.set(name, undefined); // an invalid row: refused when it runs
      }
    }
    return layersOf.get(name);
  };
  let bound = 0;
  const consider = (point: Point): void => {
    const model = shape(point.model);
    const strategy = String(point.strategy ?? SCENARIO_DEFAULTS.strategy) as StrategyName;
    const gpus = Number(point.gpus ?? SCENARIO_DEFAULTS.gpus);
    if (model === undefined || !(STRATEGY_NAMES as readonly string[]).includes(strategy) || !Number.isInteger(gpus)) return;
    const tp = point.tp === undefined ? undefined : Number(point.tp);
    const collective = point.collective === undefined ? undefined : (String(point.collective) as CollectiveChoice);
    const channels = point.channels === undefined ? undefined : Number(point.channels);
    const { bytes } = estimateSimulationBytes(strategy, model.layers, gpus, {
      parallelBlock: model.parallel,
      ...((TP_STRATEGIES as readonly string[]).includes(strategy) && tp !== undefined && tp > 0 ? { tp } : {}),
      ...(collective === undefined ? {} : { collective }),
      ...(channels === undefined || !Number.isInteger(channels) ? {} : { channels }),
    });
    if (bytes <= MAX_SIMULATION_BYTES && bytes > bound) bound = bytes;
  };
  const values = (key: 'model' | 'gpus' | 'strategy' | 'collective' | 'channels' | 'tp'): (string | number | undefined)[] => (axes[key] as (string | number)[] | undefined) ?? [undefined];
  if (expanded.spec.axes !== undefined) {
    for (const model of values('model')) {
      for (const gpus of values('gpus')) {
        for (const strategy of values('strategy')) {
          for (const collective of values('collective')) {
            for (const channels of values('channels')) {
              for (const tp of values('tp')) consider({ model, gpus, strategy, collective, channels, tp });
            }
          }
        }
      }
    }
  }
  for (const row of expanded.spec.rows ?? []) consider(row);
  return bound;
}

/** Where a file named in the spec lies: relative to the spec's folder. */
export function specFilePath(key: ScenarioKey, value: string, baseDir: string): string | undefined {
  if (!FILE_KEYS.includes(key)) return undefined;
  const isFile = key === 'table' || (key === 'gpu' ? value.toLowerCase().endsWith('.json') : looksLikePath(value));
  if (!isFile) return undefined;
  return isAbsolute(value) ? value : resolve(baseDir, value);
}

function checkValue(key: ScenarioKey, value: string | number, field: string, baseDir: string, io: CliIo, files: Record<string, string>): void {
  const wrap = (run: () => void): void => {
    try {
      run();
    } catch (error) {
      if (error instanceof KvrInputError) throw new KvrInputError(field, error.detail);
      throw error;
    }
  };
  const kind = QUANTITY_KEYS[key];
  if (kind !== undefined) {
    wrap(() => {
      const quantity = parseQuantityCached(String(value), kind, field);
      if (quantity < 0 || (kind === 'bandwidth' && quantity <= 0)) {
        throw new KvrInputError(field, `must be > 0, e.g. ${kind === 'bandwidth' ? '"300 GB/s"' : '"2 us"'} (got ${describeValue(value)})`);
      }
    });
    return;
  }
  const text = String(value);
  const path = specFilePath(key, text, baseDir);
  if (path !== undefined && files[path] === undefined) {
    wrap(() => {
      try {
        files[path] = io.readFile(path);
      } catch (error) {
        throw new KvrInputError(field, `cannot read ${JSON.stringify(path)}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
      }
    });
  }
  const fileIo: CliIo = { ...io, readFile: (p) => files[p] ?? io.readFile(p) };
  const resolved = path ?? text;
  if (key === 'model') wrap(() => void resolveModel(resolved, fileIo));
  if (key === 'gpu') wrap(() => void resolveScenario({ gpu: resolved, gpus: '1', strategy: 'single', context: '1', bandwidth: '1 GB/s' }, fileIo));
  if (key === 'topology' && path === undefined && !(TOPOLOGY_PRESET_NAMES as readonly string[]).includes(text)) {
    throw new KvrInputError(field, `unknown topology ${describeValue(text)} (presets: ${TOPOLOGY_PRESET_NAMES.join(', ')}; or a JSON file)`);
  }
  if (key === 'topology' && path !== undefined) wrap(() => void resolveScenario({ topology: path, gpus: '1', strategy: 'single', context: '1' }, fileIo));
}

/** The `kvr simulate` flags of a point (file values made absolute). */
export function pointFlags(point: Point, baseDir: string): ScenarioFlags {
  const text = (key: ScenarioKey): string | undefined => {
    const value = point[key];
    if (value === undefined) return undefined;
    return specFilePath(key, String(value), baseDir) ?? String(value);
  };
  const flags: ScenarioFlags = {};
  const set = (flag: keyof ScenarioFlags, key: ScenarioKey): void => {
    const value = text(key);
    if (value !== undefined) flags[flag] = value;
  };
  set('model', 'model');
  set('gpu', 'gpu');
  set('gpus', 'gpus');
  set('topology', 'topology');
  set('bandwidth', 'bandwidth');
  set('latency', 'latency');
  set('context', 'context');
  set('strategy', 'strategy');
  set('partition', 'partition');
  set('gpusPerNode', 'gpus_per_node');
  set('nicBandwidth', 'nic_bandwidth');
  set('nicLatency', 'nic_latency');
  set('gpusPerSwitch', 'gpus_per_switch');
  set('search', 'search');
  set('granularity', 'granularity');
  set('table', 'table');
  set('predictor', 'predictor');
  set('attention', 'attention');
  set('oversubscription', 'oversubscription');
  set('socketBandwidth', 'socket_bandwidth');
  set('collective', 'collective');
  set('channels', 'channels');
  set('protocol', 'protocol');
  set('nicsPerNode', 'nics_per_node');
  set('leaf', 'leaf');
  set('tp', 'tp');
  set('dtype', 'dtype');
  set('ffnDtype', 'ffn_dtype');
  set('kvDtype', 'kv_dtype');
  return flags;
}
