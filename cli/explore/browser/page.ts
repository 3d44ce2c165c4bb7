/**
 * The explorer page: labelled controls for every scenario field (the flags of `kvr simulate`),
 * the URL kept in step with them, and the result of each change drawn as soon as the worker
 * answers: TTFT, memory fit, the per-rank table and timeline; or every strategy side by side
 * (compare); or TTFT over one axis (sweep). A running search shows progress and can be cancelled.
 */
import type { Comparison } from '../../commands/compare.js';
import { formatBytes, formatMemory, formatPartition, formatSeconds, formatTtft } from '../../format.js';
import type { ScenarioFlags } from '../../scenario-flags.js';
import { GPU_PRESET_NAMES } from '../../../sim/hardware/gpu-presets.js';
import { HF_CATALOGUE } from '../../../sim/model/hf-catalogue.js';
import { MODEL_PRESET_NAMES } from '../../../sim/model/presets.js';
import { DTYPES } from '../../../sim/model/precision.js';
import { PREDICTORS } from '../../../sim/partition/predict-partition.js';
import { SEARCH_METHODS } from '../../../sim/partition/search-partition.js';
import { COLLECTIVE_PROTOCOLS } from '../../../sim/plan/collective-tuner.js';
import { COLLECTIVE_CHOICES, COLLECTIVE_STRATEGIES, STRATEGY_NAMES, type StrategyName } from '../../../sim/plan/plan.js';
import { TOPOLOGY_PRESET_NAMES } from '../../../sim/topology/presets.js';
import { ATTENTION_IMPLEMENTATIONS } from '../../../sim/work/op-kernels.js';
import { cliCommand, EXPLORER_MODES, PASTED_FILES, stateFromQuery, stateToQuery, SWEEP_AXES, type ExplorerMode, type ExplorerState, type PastedKind, type SweepAxis } from '../explorer-state.js';
import { compareChart, sweepChart, timelineChart, type Series } from './charts.js';
import type { SimulateReply, SweepReply, WorkerReply, WorkerRequest } from './protocol.js';
import { VIRTUAL_ROOT, virtualPaths } from './shims/virtual-files.js';
import { handleRequest } from './worker.js';

/** A control's value "pasted JSON": its flag then names the pasted document's file. */
const PASTED = '(pasted JSON)';
const TINY_MODELS = ['tiny-llama', 'tiny-falcon'];

interface Control {
  key: keyof ScenarioFlags;
  label: string;
  element: HTMLInputElement | HTMLSelectElement;
  row: HTMLElement;
  /** Shown for these strategies (simulate mode) / topologies only; absent: always. */
  strategies?: readonly string[];
  topologies?: readonly string[];
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

export function startPage(): void {
  const root = document.getElementById('kvr-explorer');
  if (root === null) return;
  const page = new ExplorerPage(root, stateFromQuery(location.search));
  (window as unknown as { kvrExplorer: ExplorerPage }).kvrExplorer = page;
  page.run();
}

class ExplorerPage {
  private readonly controls: Control[] = [];
  private readonly pastedAreas = new Map<PastedKind, { area: HTMLTextAreaElement; row: HTMLElement }>();
  private readonly modeInputs = new Map<ExplorerMode, HTMLInputElement>();
  private readonly sweepAxis: HTMLSelectElement;
  private readonly sweepValues: HTMLInputElement;
  private readonly sweepStrategies = new Map<string, HTMLInputElement>();
  private readonly sweepBox: HTMLElement;
  private readonly cliLine: HTMLElement;
  private readonly status: HTMLElement;
  private readonly progress: HTMLProgressElement;
  private readonly cancel: HTMLButtonElement;
  private readonly output: HTMLElement;
  private worker: Worker | undefined;
  private workerUrl: string | undefined;
  private nextId = 1;
  private running: { id: number; sentAt: number } | undefined;
  private debounce: number | undefined;

  constructor(private readonly root: HTMLElement, private state: ExplorerState) {
    root.classList.add('kvr-explorer');
    const form = el('form', { class: 'controls', 'aria-label': 'scenario' });
    form.addEventListener('submit', (event) => event.preventDefault());
    root.append(form);

    const modes = el('fieldset', { class: 'modes' });
    modes.append(el('legend', {}, 'View'));
    for (const mode of EXPLORER_MODES) {
      const input = el('input', { type: 'radio', name: 'kvr-mode', id: `kvr-mode-${mode}`, value: mode, 'data-testid': `mode-${mode}` });
      input.checked = state.mode === mode;
      input.addEventListener('change', () => this.changed(false));
      this.modeInputs.set(mode, input);
      modes.append(input, el('label', { for: input.id }, { simulate: 'one strategy', compare: 'compare strategies', sweep: 'sweep one axis' }[mode]));
    }
    form.append(modes);

    const strategyNames = STRATEGY_NAMES as readonly string[];
    const modelBox = this.fieldset(form, 'Model');
    const hf = Object.keys(HF_CATALOGUE).map((id) => `hf:${id}`);
    this.select(modelBox, 'model', 'model', ['', ...MODEL_PRESET_NAMES, ...hf, ...TINY_MODELS, PASTED], 'scenario-model', 'llama2-7b');
    this.pasteArea(modelBox, 'model', 'Hugging Face config.json or kvr model JSON');
    this.select(modelBox, 'dtype', 'dtype', ['', ...DTYPES], undefined, 'fp16');
    this.select(modelBox, 'ffnDtype', 'FFN dtype', ['', ...DTYPES], undefined, '= dtype');
    this.select(modelBox, 'kvDtype', 'KV dtype', ['', ...DTYPES], undefined, '= dtype');

    const hardware = this.fieldset(form, 'GPUs');
    const profiles = virtualPaths(`${VIRTUAL_ROOT}/calibration/profiles`).map((p) => p.slice(`${VIRTUAL_ROOT}/calibration/profiles/`.length).replace(/\.json$/, ''));
    this.select(hardware, 'gpu', 'GPU', ['', ...GPU_PRESET_NAMES, ...profiles.filter((p) => !GPU_PRESET_NAMES.includes(p)), PASTED], 'scenario-gpu', 'a100-80g');
    this.pasteArea(hardware, 'gpu', 'kvr GPU JSON or calibrated profile');
    this.input(hardware, 'gpus', 'GPU count', 'scenario-gpus', '8', 'number');
    this.select(hardware, 'attention', 'attention', ['', ...ATTENTION_IMPLEMENTATIONS], undefined, 'flash');

    const topology = this.fieldset(form, 'Topology');
    this.select(topology, 'topology', 'topology', ['', ...TOPOLOGY_PRESET_NAMES, PASTED], 'scenario-topology', 'switch');
    this.pasteArea(topology, 'topology', 'kvr topology JSON');
    const presets = TOPOLOGY_PRESET_NAMES as readonly string[];
    this.input(topology, 'bandwidth', 'link bandwidth', 'scenario-bandwidth', "the GPU's NVLink (PCIe on pcie)", 'text', { topologies: presets });
    this.input(topology, 'latency', 'link latency', undefined, '2 us', 'text', { topologies: presets });
    const multi = ['multi-node'];
    this.input(topology, 'gpusPerNode', 'GPUs per node', undefined, '8', 'number', { topologies: multi });
    this.input(topology, 'nicBandwidth', 'NIC bandwidth', undefined, '50 GB/s', 'text', { topologies: multi });
    this.input(topology, 'nicLatency', 'NIC latency', undefined, '5 us', 'text', { topologies: multi });
    this.input(topology, 'nicsPerNode', 'NICs per node', undefined, 'one per GPU', 'number', { topologies: multi });
    this.select(topology, 'leaf', 'leaf switches', ['', 'shared', 'rails'], undefined, 'shared', { topologies: multi });
    this.input(topology, 'oversubscription', 'oversubscription', undefined, '1', 'text', { topologies: multi });
    this.input(topology, 'gpusPerSwitch', 'GPUs per PCIe switch', undefined, '2', 'number', { topologies: ['pcie', 'pcie-2s'] });
    this.input(topology, 'socketBandwidth', 'socket bandwidth', undefined, '64 GB/s', 'text', { topologies: ['pcie-2s'] });

    const work = this.fieldset(form, 'Prompt and strategy');
    this.input(work, 'context', 'context (tokens; 16k = 16384)', 'scenario-context', '16384', 'text');
    this.select(work, 'strategy', 'strategy', ['', ...strategyNames], 'scenario-strategy', 'kvr-e');
    this.input(work, 'partition', 'partition (tokens per rank, a,b,...)', undefined, 'kvr: required', 'text', { strategies: ['kvr', 'kvr-tp'] });
    this.input(work, 'tp', 'tensor-parallel group (--tp)', undefined, 'GPUs per node on multi-node', 'number', { strategies: ['kvr-tp'] });
    this.select(work, 'search', 'search', ['', ...SEARCH_METHODS], undefined, 'fast', { strategies: ['kvr-s', 'kvr-tp'] });
    this.input(work, 'granularity', 'search granularity (tokens)', undefined, '64', 'number', { strategies: ['kvr-s', 'kvr-tp'] });
    this.select(work, 'predictor', 'predictor', ['', ...PREDICTORS], undefined, 'model', { strategies: ['kvr-p'] });
    this.select(work, 'collective', 'collective', ['', ...COLLECTIVE_CHOICES], undefined, 'auto', { strategies: COLLECTIVE_STRATEGIES });
    this.input(work, 'channels', 'channels', undefined, "the tuner's", 'number', { strategies: COLLECTIVE_STRATEGIES });
    this.select(work, 'protocol', 'protocol', ['', ...COLLECTIVE_PROTOCOLS], undefined, "the tuner's", { strategies: COLLECTIVE_STRATEGIES });

    this.sweepBox = this.fieldset(form, 'Sweep');
    this.sweepAxis = el('select', { id: 'kvr-sweep-axis', 'data-testid': 'sweep-axis' });
    for (const axis of SWEEP_AXES) this.sweepAxis.append(el('option', { value: axis }, axis));
    this.sweepAxis.value = state.sweep.axis;
    this.sweepAxis.addEventListener('change', () => this.changed(false));
    this.sweepBox.append(this.row('axis', this.sweepAxis));
    this.sweepValues = el('input', { id: 'kvr-sweep-values', type: 'text', 'data-testid': 'sweep-values' });
    this.sweepValues.value = state.sweep.values;
    this.sweepValues.addEventListener('input', () => this.changed(true));
    this.sweepBox.append(this.row('values (comma-separated)', this.sweepValues));
    const ticks = el('div', { class: 'ticks', role: 'group', 'aria-label': 'strategies to sweep' });
    for (const name of strategyNames) {
      const box = el('input', { type: 'checkbox', id: `kvr-sweep-${name}`, value: name });
      box.checked = state.sweep.strategies.includes(name);
      box.addEventListener('change', () => this.changed(false));
      this.sweepStrategies.set(name, box);
      ticks.append(el('span', {}), box, el('label', { for: box.id }, name));
    }
    this.sweepBox.append(ticks);

    const actions = el('div', { class: 'actions' });
    const copy = el('button', { type: 'button', 'data-testid': 'copy-cli' }, 'Copy as CLI command');
    this.cliLine = el('code', { 'data-testid': 'cli-command', class: 'cli' });
    copy.addEventListener('click', () => {
      void navigator.clipboard?.writeText(this.cliLine.textContent ?? '').catch(() => undefined);
      copy.textContent = 'Copied';
      setTimeout(() => (copy.textContent = 'Copy as CLI command'), 1200);
    });
    this.cancel = el('button', { type: 'button', 'data-testid': 'cancel' }, 'Cancel');
    this.cancel.disabled = true;
    this.cancel.addEventListener('click', () => this.stop('cancelled'));
    this.progress = el('progress', { max: '1', value: '0', 'aria-label': 'search progress', 'data-testid': 'progress' });
    this.status = el('span', { class: 'status', role: 'status', 'data-testid': 'status' });
    actions.append(copy, this.cancel, this.progress, this.status);
    root.append(actions, el('p', {}, '').appendChild(this.cliLine).parentElement!);
    this.output = el('div', { class: 'output', 'aria-live': 'polite', 'data-testid': 'result' });
    root.append(this.output);
    this.syncVisibility();
    this.updateCli();
  }

  private fieldset(form: HTMLElement, title: string): HTMLElement {
    const box = el('fieldset');
    box.append(el('legend', {}, title));
    form.append(box);
    return box;
  }

  private row(label: string, control: HTMLElement): HTMLElement {
    const row = el('div', { class: 'row' });
    row.append(el('label', { for: control.id }, label), control);
    return row;
  }

  private select(box: HTMLElement, key: keyof ScenarioFlags, label: string, options: string[], testid: string | undefined, fallback: string, only: Partial<Control> = {}): void {
    const select = el('select', { id: `kvr-${key}`, ...(testid === undefined ? {} : { 'data-testid': testid }) });
    for (const option of options) select.append(el('option', { value: option }, option === '' ? `default (${fallback})` : option));
    const kind = key as PastedKind;
    const current = key in PASTED_FILES && this.state.pasted[kind] !== undefined ? PASTED : this.state.flags[key] ?? '';
    if (!options.includes(current)) select.append(el('option', { value: current }, current));
    select.value = current;
    select.addEventListener('change', () => this.changed(false));
    const row = this.row(label, select);
    box.append(row);
    this.controls.push({ key, label, element: select, row, ...only });
  }

  private input(box: HTMLElement, key: keyof ScenarioFlags, label: string, testid: string | undefined, placeholder: string, type: string, only: Partial<Control> = {}): void {
    const input = el('input', { id: `kvr-${key}`, type: type === 'number' ? 'text' : type, inputmode: type === 'number' ? 'numeric' : 'text', placeholder, ...(testid === undefined ? {} : { 'data-testid': testid }) });
    input.value = this.state.flags[key] ?? '';
    input.addEventListener('input', () => this.changed(true));
    input.addEventListener('change', () => this.changed(false));
    const row = this.row(label, input);
    box.append(row);
    this.controls.push({ key, label, element: input, row, ...only });
  }

  private pasteArea(box: HTMLElement, kind: PastedKind, what: string): void {
    const area = el('textarea', { id: `kvr-${kind}-json`, rows: '6', placeholder: `paste a ${what} here`, 'data-testid': `scenario-${kind}-json` });
    area.value = this.state.pasted[kind] ?? '';
    area.addEventListener('input', () => this.changed(true));
    const row = this.row(`${kind} JSON (saved as ${PASTED_FILES[kind]} by the CLI command)`, area);
    box.append(row);
    this.pastedAreas.set(kind, { area, row });
  }

  /** Reads the controls into the state (hidden controls give nothing). */
  private readState(): ExplorerState {
    const mode = [...this.modeInputs].find(([, input]) => input.checked)?.[0] ?? 'simulate';
    const flags: ScenarioFlags = {};
    const pasted: ExplorerState['pasted'] = {};
    for (const control of this.controls) {
      if (control.row.hidden) continue;
      const value = control.element.value.trim();
      if (value === PASTED) {
        const text = this.pastedAreas.get(control.key as PastedKind)!.area.value;
        if (text.trim() !== '') pasted[control.key as PastedKind] = text;
        continue;
      }
      if (value !== '') flags[control.key] = value;
    }
    const strategies = [...this.sweepStrategies].filter(([, box]) => box.checked).map(([name]) => name);
    return { mode, flags, pasted, sweep: { axis: this.sweepAxis.value as SweepAxis, values: this.sweepValues.value, strategies } };
  }

  private syncVisibility(): void {
    const mode = [...this.modeInputs].find(([, input]) => input.checked)?.[0] ?? 'simulate';
    const value = (key: keyof ScenarioFlags) => this.controls.find((c) => c.key === key)!.element.value;
    const strategy = value('strategy') || 'kvr-e';
    const topology = value('topology') || 'switch';
    for (const control of this.controls) {
      let shown = true;
      if (control.topologies !== undefined) shown &&= control.topologies.includes(topology);
      if (control.strategies !== undefined && mode === 'simulate') shown &&= control.strategies.includes(strategy);
      if (control.key === 'partition' && mode !== 'simulate') shown = false;
      if (control.key === 'strategy' && mode !== 'simulate') shown = false;
      control.row.hidden = !shown;
    }
    for (const [kind, { row }] of this.pastedAreas) row.hidden = value(kind as keyof ScenarioFlags) !== PASTED;
    this.sweepBox.hidden = mode !== 'sweep';
  }

  private updateCli(): void {
    const state = this.readState();
    const pasted = (Object.keys(state.pasted) as PastedKind[]).map((k) => PASTED_FILES[k]);
    this.cliLine.textContent = cliCommand(state);
    this.cliLine.title = pasted.length === 0 ? '' : `save the pasted JSON as ${pasted.join(', ')} first`;
  }

  private changed(typing: boolean): void {
    this.syncVisibility();
    this.state = this.readState();
    const query = stateToQuery(this.state);
    try {
      history.replaceState(null, '', `${location.pathname}${query === '' ? '' : `?${query}`}${location.hash}`);
    } catch {
      // A page opened from disk may not rewrite its URL; the CLI line below still holds the scenario.
    }
    this.updateCli();
    if (this.debounce !== undefined) clearTimeout(this.debounce);
    if (typing) {
      this.debounce = window.setTimeout(() => this.run(), 200);
      this.root.dataset.pending = 'true';
    } else this.run();
  }

  /** Starts a run for the current state, cancelling one in progress. */
  run(): void {
    if (this.debounce !== undefined) clearTimeout(this.debounce);
    this.debounce = undefined;
    delete this.root.dataset.pending;
    if (this.running !== undefined) this.stop();
    const request: WorkerRequest = { id: this.nextId++, kind: this.state.mode, state: this.state };
    this.root.dataset.requested = String(request.id);
    this.running = { id: request.id, sentAt: performance.now() };
    this.cancel.disabled = false;
    this.progress.removeAttribute('value');
    this.status.textContent = 'simulating...';
    this.root.dataset.state = 'running';
    const worker = this.ensureWorker();
    this.root.dataset.runner = worker === undefined ? 'page' : 'worker';
    if (worker !== undefined) worker.postMessage(request);
    else setTimeout(() => handleRequest(request, (reply) => this.receive(reply)), 0);
  }

  /** Ends the run in progress: the worker is terminated (a search stops at once) and restarted on the next run. */
  private stop(reason?: string): void {
    this.running = undefined;
    this.worker?.terminate();
    this.worker = undefined;
    this.cancel.disabled = true;
    this.progress.value = 0;
    if (reason !== undefined) {
      this.status.textContent = reason;
      this.root.dataset.state = reason;
    }
  }

  private ensureWorker(): Worker | undefined {
    if (this.worker !== undefined) return this.worker;
    try {
      if (this.workerUrl === undefined) {
        const source = document.getElementById('kvr-explorer-script')?.textContent ?? '';
        this.workerUrl = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
      }
      const worker = new Worker(this.workerUrl);
      worker.onmessage = (event: MessageEvent<WorkerReply>) => this.receive(event.data);
      this.worker = worker;
      return worker;
    } catch {
      return undefined; // No workers here (a locked-down file:// page): run on the page itself.
    }
  }

  private receive(reply: WorkerReply): void {
    if (this.running === undefined || reply.id !== this.running.id) return;
    if (reply.kind === 'progress') {
      this.progress.max = Math.max(1, reply.expected);
      this.progress.value = reply.done;
      this.status.textContent = `${reply.label}: ${reply.done} of ${reply.expected} simulations`;
      return;
    }
    const roundTripMs = performance.now() - this.running.sentAt;
    this.running = undefined;
    this.root.dataset.answered = String(reply.id);
    this.cancel.disabled = true;
    this.progress.max = 1;
    this.progress.value = 1;
    this.output.replaceChildren();
    const drawStart = performance.now();
    if (reply.kind === 'error') {
      this.status.textContent = 'error';
      this.output.append(el('p', { class: 'error', role: 'alert', 'data-testid': 'result-error' }, reply.message));
      this.root.dataset.state = 'error';
      return;
    }
    let simulateMs: number;
    if (reply.kind === 'simulate') {
      this.drawSimulation(reply.reply, roundTripMs);
      simulateMs = reply.reply.simulateMs;
    } else if (reply.kind === 'compare') {
      this.drawComparison(reply.reply);
      simulateMs = reply.simulateMs;
    } else {
      this.drawSweep(reply.reply);
      simulateMs = reply.simulateMs;
    }
    const drawMs = performance.now() - drawStart;
    this.status.textContent = `simulated in ${simulateMs.toFixed(1)} ms (answer after ${roundTripMs.toFixed(1)} ms), drawn in ${drawMs.toFixed(1)} ms`;
    Object.assign(this.root.dataset, { state: 'done', simulateMs: String(simulateMs), roundTripMs: String(roundTripMs), drawMs: String(drawMs) });
  }

  private drawSimulation(reply: SimulateReply, roundTripMs: number): void {
    const r = reply.result;
    const head = el('div', { class: 'headline' });
    const ttft = el('strong', { 'data-testid': 'result-ttft', 'data-ttft-s': String(r.ttft_s), 'data-simulate-ms': String(reply.simulateMs), 'data-round-trip-ms': String(roundTripMs) }, `TTFT ${formatTtft(r.ttft_s)}`);
    head.append(ttft, el('span', {}, `  all ranks idle ${formatTtft(r.makespan_s)}, partition ${formatPartition(r.partition)}, moved ${formatBytes(r.comm_bytes_total)}`));
    const about = el('p', { class: 'note' }, `${r.model} on ${r.gpus} x ${r.gpu} (${reply.links}), ${r.context} tokens, ${r.strategy}${r.uncalibrated ? '; GPU uncalibrated (published kernel efficiencies, not measured on it)' : ''}. GPU source: ${reply.gpuSource}`);
    const o = r.memory_overflow;
    const memory = el('p', { class: o === null ? 'fits' : 'overflow', 'data-testid': 'result-memory' }, o === null ? 'memory: fits on every rank' : `memory: does NOT fit: rank ${o.rank} needs ${formatMemory(o.over_by_bytes)} more than its ${formatMemory(o.capacity_bytes)}`);
    this.output.append(head, about, memory);
    for (const note of [...reply.notes, ...(r.warnings ?? [])]) this.output.append(el('p', { class: 'note' }, note));
    const table = el('table', { 'data-testid': 'rank-table' });
    const header = ['rank', 'tokens', 'compute', 'wait', 'finish', 'sent', 'KV-cache', 'peak memory', 'fits'];
    table.append(el('thead').appendChild(el('tr')).parentElement!);
    for (const h of header) table.tHead!.rows[0]!.append(el('th', { scope: 'col' }, h));
    const body = el('tbody');
    for (const rank of r.ranks) {
      const tr = el('tr');
      for (const cell of [String(rank.rank), String(rank.tokens), formatSeconds(rank.compute_s), formatSeconds(rank.wait_s), formatSeconds(rank.finish_s), formatBytes(rank.sent_bytes), formatMemory(rank.kv_cache_bytes), formatMemory(rank.peak_mem_bytes), rank.fits ? 'yes' : 'NO']) tr.append(el('td', {}, cell));
      body.append(tr);
    }
    table.append(body);
    this.output.append(timelineChart(reply.slices, r.gpus, r.ttft_s), table);
  }

  private drawComparison(c: Comparison): void {
    const best = c.best === null ? 'no strategy fits in memory' : `best: ${c.best.strategy} (${formatTtft(c.best.ttft_s)})`;
    const baseline = c.best_baseline === null ? 'no baseline fits' : `best baseline: ${c.best_baseline.strategy} (${formatTtft(c.best_baseline.ttft_s)})`;
    this.output.append(el('p', { class: 'headline', 'data-testid': 'compare-best' }, `${best}; ${baseline}`));
    this.output.append(el('p', { class: 'note' }, `${c.model} on ${c.gpus} x ${c.gpu} (${c.topology}), ${c.context} tokens, ${c.collective} collectives`));
    this.output.append(compareChart(c.rows));
    const table = el('table', { 'data-testid': 'compare-table' });
    const head = el('tr');
    for (const h of ['strategy', 'TTFT', 'vs best baseline', 'moved', 'peak memory (max rank)', 'fits']) head.append(el('th', { scope: 'col' }, h));
    table.append(el('thead').appendChild(head).parentElement!);
    const body = el('tbody');
    for (const row of c.rows) {
      const tr = el('tr', { 'data-strategy': row.strategy, 'data-ttft-s': String(row.ttft_s) });
      const speedup = row.speedup_over_best_baseline === null ? (row.fits ? '-' : 'does not fit') : `${row.speedup_over_best_baseline.toFixed(2)}x`;
      for (const cell of [row.strategy + (row.strategy === 'kvr-tp' ? ` (tp ${row.tensor_parallel})` : ''), formatTtft(row.ttft_s), speedup, formatBytes(row.comm_bytes_total), formatMemory(row.peak_mem_bytes_max), row.fits ? 'yes' : 'NO']) tr.append(el('td', {}, cell));
      body.append(tr);
    }
    table.append(body);
    this.output.append(table);
    for (const s of c.skipped) this.output.append(el('p', { class: 'note' }, `not compared: ${s.strategy}: ${s.reason}`));
  }

  private drawSweep(s: SweepReply): void {
    const axis = s.axis as SweepAxis;
    const label = { context: 'context (tokens)', gpus: 'GPUs', bandwidth: 'link bandwidth (GB/s, per direction)', latency: 'link latency (us)' }[axis];
    const scale = { context: (v: number) => v, gpus: (v: number) => v, bandwidth: (v: number) => v / 1e9, latency: (v: number) => v * 1e6 }[axis];
    const names = [...new Set(s.points.map((p) => p.strategy))];
    const series: Series[] = names.map((name) => ({ name, points: s.points.filter((p) => p.strategy === name).map((p) => ({ x: p.x, y: p.ttft_s, fits: p.fits })) }));
    this.output.append(sweepChart(series, label, scale, axis === 'context' || axis === 'gpus'));
    const labels = [...new Set(s.points.map((p) => p.label))];
    const table = el('table', { 'data-testid': 'sweep-table' });
    const head = el('tr');
    for (const h of [`${axis}`, ...names.map((n) => `${n} TTFT`)]) head.append(el('th', { scope: 'col' }, h));
    table.append(el('thead').appendChild(head).parentElement!);
    const body = el('tbody');
    for (const value of labels) {
      const tr = el('tr');
      tr.append(el('td', {}, value));
      for (const name of names) {
        const p = s.points.find((q) => q.strategy === name && q.label === value)!;
        tr.append(el('td', p.error === undefined ? { 'data-ttft-s': String(p.ttft_s) } : { title: p.error }, p.ttft_s === null ? 'cannot run' : `${formatTtft(p.ttft_s)}${p.fits ? '' : ' (does not fit)'}`));
      }
      body.append(tr);
    }
    table.append(body);
    this.output.append(table);
  }
}

export type { StrategyName };
