/**
 * What the explorer page shows, as plain strings: the scenario as `kvr simulate` flags (only
 * those the user set; the CLI's defaults fill the rest, in the browser as on the command line),
 * pasted JSON documents standing in for --model/--gpu/--topology files, the view mode and the
 * sweep. The URL's query string holds it all, and it prints as the kvr command that reproduces it.
 * Pure: the page, the worker and the tests share it.
 */
import type { ScenarioFlags } from '../scenario-flags.js';

export const EXPLORER_MODES = ['simulate', 'compare', 'sweep'] as const;
export type ExplorerMode = (typeof EXPLORER_MODES)[number];

/** Axes a sweep can run over: flags whose values the user lists. */
export const SWEEP_AXES = ['context', 'gpus', 'bandwidth', 'latency'] as const;
export type SweepAxis = (typeof SWEEP_AXES)[number];

/** Pasted documents, and the file names the CLI command gives them. */
export const PASTED_FILES = { model: 'model.json', gpu: 'gpu.json', topology: 'topology.json' } as const;
export type PastedKind = keyof typeof PASTED_FILES;

export interface ExplorerState {
  mode: ExplorerMode;
  flags: ScenarioFlags;
  /** Pasted JSON text by kind; its flag then names PASTED_FILES[kind]. */
  pasted: Partial<Record<PastedKind, string>>;
  sweep: { axis: SweepAxis; values: string; strategies: string[] };
}

/** Every scenario flag: ScenarioFlags key and its CLI name (without --), in the order printed. */
export const FLAG_NAMES: readonly [keyof ScenarioFlags, string][] = [
  ['model', 'model'],
  ['gpu', 'gpu'],
  ['gpus', 'gpus'],
  ['topology', 'topology'],
  ['bandwidth', 'bandwidth'],
  ['latency', 'latency'],
  ['gpusPerNode', 'gpus-per-node'],
  ['nicBandwidth', 'nic-bandwidth'],
  ['nicLatency', 'nic-latency'],
  ['nicsPerNode', 'nics-per-node'],
  ['leaf', 'leaf'],
  ['oversubscription', 'oversubscription'],
  ['gpusPerSwitch', 'gpus-per-switch'],
  ['socketBandwidth', 'socket-bandwidth'],
  ['context', 'context'],
  ['strategy', 'strategy'],
  ['partition', 'partition'],
  ['tp', 'tp'],
  ['collective', 'collective'],
  ['channels', 'channels'],
  ['protocol', 'protocol'],
  ['search', 'search'],
  ['granularity', 'granularity'],
  ['predictor', 'predictor'],
  ['attention', 'attention'],
  ['dtype', 'dtype'],
  ['ffnDtype', 'ffn-dtype'],
  ['kvDtype', 'kv-dtype'],
];

export const DEFAULT_SWEEP: ExplorerState['sweep'] = { axis: 'context', values: '4k,8k,16k,32k', strategies: ['tsp', 'kvr-e', 'kvr-s'] };

export function defaultState(): ExplorerState {
  return { mode: 'simulate', flags: {}, pasted: {}, sweep: { ...DEFAULT_SWEEP, strategies: [...DEFAULT_SWEEP.strategies] } };
}

/** The flags the scenario code sees: empty strings dropped (an empty control means "the default"). */
export function givenFlags(flags: ScenarioFlags): ScenarioFlags {
  const out: ScenarioFlags = {};
  for (const [key] of FLAG_NAMES) {
    const value = flags[key];
    if (value !== undefined && value.trim() !== '') out[key] = value.trim();
  }
  return out;
}

/** The flags of the state's scenario: the given ones, a pasted document's flag naming its file. */
export function scenarioFlagsOf(state: ExplorerState): ScenarioFlags {
  const flags = givenFlags(state.flags);
  for (const kind of Object.keys(PASTED_FILES) as PastedKind[]) {
    const text = state.pasted[kind];
    if (text !== undefined && text.trim() !== '') flags[kind] = PASTED_FILES[kind];
  }
  return flags;
}

/** The state as a URL query string (without "?"); defaults are left out. */
export function stateToQuery(state: ExplorerState): string {
  const params = new URLSearchParams();
  if (state.mode !== 'simulate') params.set('mode', state.mode);
  const flags = givenFlags(state.flags);
  for (const [key, name] of FLAG_NAMES) if (flags[key] !== undefined) params.set(name, flags[key]!);
  for (const kind of Object.keys(PASTED_FILES) as PastedKind[]) {
    const text = state.pasted[kind];
    if (text !== undefined && text.trim() !== '') params.set(`${kind}-json`, text);
  }
  if (state.mode === 'sweep') {
    params.set('sweep-axis', state.sweep.axis);
    params.set('sweep-values', state.sweep.values);
    params.set('sweep-strategies', state.sweep.strategies.join(','));
  }
  return params.toString();
}

/** Reads a query string back; unknown keys and values are ignored (the page then shows defaults). */
export function stateFromQuery(query: string): ExplorerState {
  const params = new URLSearchParams(query.startsWith('?') ? query.slice(1) : query);
  const state = defaultState();
  const mode = params.get('mode');
  if (mode !== null && (EXPLORER_MODES as readonly string[]).includes(mode)) state.mode = mode as ExplorerMode;
  for (const [key, name] of FLAG_NAMES) {
    const value = params.get(name);
    if (value !== null && value !== '') state.flags[key] = value;
  }
  for (const kind of Object.keys(PASTED_FILES) as PastedKind[]) {
    const text = params.get(`${kind}-json`);
    if (text !== null && text !== '') state.pasted[kind] = text;
  }
  const axis = params.get('sweep-axis');
  if (axis !== null && (SWEEP_AXES as readonly string[]).includes(axis)) state.sweep.axis = axis as SweepAxis;
  const values = params.get('sweep-values');
  if (values !== null && values !== '') state.sweep.values = values;
  const strategies = params.get('sweep-strategies');
  if (strategies !== null && strategies !== '') state.sweep.strategies = strategies.split(',').filter((s) => s !== '');
  return state;
}

/**
 * The kvr command that reproduces the state: `kvr simulate`, or `kvr compare`, which runs every
 * strategy itself. In sweep mode it is the sweep's base scenario (`kvr sweep` takes a spec file). Pasted documents are named by their file
 * (PASTED_FILES), to be saved next to where the command runs.
 */
export function cliCommand(state: ExplorerState): string {
  const flags = scenarioFlagsOf(state);
  const compare = state.mode === 'compare';
  const words = ['npx', 'kvr', compare ? 'compare' : 'simulate'];
  for (const [key, name] of FLAG_NAMES) {
    const value = flags[key];
    if (value === undefined) continue;
    if (compare && (key === 'strategy' || key === 'partition')) continue;
    words.push(`--${name}`, shellQuote(value));
  }
  return words.join(' ');
}

/** A word for a POSIX shell: left bare when safe, else single-quoted. */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_.,:/@%+=-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Splits a command line made by cliCommand back into words (bare, \-escaped and single-quoted parts). */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  for (const match of line.matchAll(/(?:[^\s'\\]+|\\.|'[^']*')+/g)) {
    words.push(match[0].replace(/'([^']*)'|\\(.)|([^'\\]+)/g, (_all, quoted?: string, escaped?: string, bare?: string) => quoted ?? escaped ?? bare ?? ''));
  }
  return words;
}
