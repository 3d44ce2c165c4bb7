import { describe, expect, test } from 'vitest';
import { figure, llama405b } from '../../notebooks/strategies-at-scale.js';
import { model } from '../../notebooks/lib/setting.js';
import { weightBytes } from '../../sim/model/model-size.js';
import { MODEL_PRESETS } from '../../sim/model/presets.js';
import { STRATEGY_NAMES } from '../../sim/plan/plan.js';

describe('strategies-at-scale on a reduced grid', () => {
  // One MoE model, 8 and 16 GPUs (two nodes, so kvr-tp runs), 4k tokens, no partition search above 8.
  const fig = figure({ models: [model('mixtral-8x7b')], gpus: [8, 16], contexts: [4096], searchMaxGpus: 8 });

  test('every strategy of STRATEGY_NAMES is tried at every point (kvr as kvr-e), tp and tp-sp also with --ep, ring-kv, ring-q and pp-chunked also with TP inside nodes', () => {
    const labels = new Set(fig.data.map((r) => r.strategy as string));
    for (const name of STRATEGY_NAMES.filter((s) => s !== 'kvr' && s !== 'kvr-tp')) expect(labels).toContain(name);
    expect(labels).toContain('kvr-tp (tp 8, even)');
    // The TP-inside-nodes cases need more than one node: only on 16 GPUs here.
    for (const label of ['kvr-tp (tp 8, even)', 'ring-kv (tp 8)', 'ring-q (tp 8)', 'pp-chunked (tp 8, pp gpus/8)']) {
      expect(fig.data.filter((r) => r.strategy === label).map((r) => r.gpus)).toEqual([16]);
    }
    for (const label of ['ring-kv', 'ring-q', 'pp-chunked']) expect(fig.data.filter((r) => r.strategy === label).map((r) => r.gpus)).toEqual([8, 16]);
    // The legend lists each strategy's cases together, in STRATEGY_NAMES order.
    const legend = (fig.spec as unknown as { spec: { layer: { encoding: { color: { sort: string[] } } }[] } }).spec.layer[0]!.encoding.color.sort;
    expect(new Set(legend)).toEqual(labels);
    expect(legend.slice(legend.indexOf('ring-kv'), legend.indexOf('ring-kv') + 2)).toEqual(['ring-kv', 'ring-kv (tp 8)']);
    expect(legend.slice(-4)).toEqual(['ring-q', 'ring-q (tp 8)', 'pp-chunked', 'pp-chunked (tp 8, pp gpus/8)']);
    expect(labels).toContain('tp --ep');
    expect(labels).toContain('tp-sp --ep');
  });

  test('points the simulator refuses are rows with the reason, not crashes; skipped searches say why', () => {
    const single = fig.data.filter((r) => r.strategy === 'single');
    expect(single.map((r) => r.status)).toEqual(['refused', 'refused']);
    expect(single[0]!.reason).toMatch(/^gpus: strategy single runs on one GPU/);
    const search = fig.data.find((r) => r.strategy === 'kvr-s' && r.gpus === 16)!;
    expect(search.status).toBe('skipped');
    expect(fig.data.find((r) => r.strategy === 'kvr-s' && r.gpus === 8)!.status).not.toBe('skipped');
  });

  test('memory feasibility: replicated weights (93 GB of mixtral) never fit 80 GB; tensor-parallel shards do', () => {
    for (const row of fig.data.filter((r) => ['tsp', 'kvr-e', 'ring-kv'].includes(r.strategy as string))) {
      expect(row.status).toBe('over memory');
      expect(row.peak_mem_gb as number).toBeGreaterThan(80);
    }
    for (const row of fig.data.filter((r) => (r.strategy as string).startsWith('tp'))) {
      // Mixtral's 8 experts cannot spread over 16 expert-parallel GPUs: refused, with the reason.
      if ((row.strategy as string).endsWith('--ep') && row.gpus === 16) {
        expect(row.status).toBe('refused');
        expect(row.reason).toMatch(/^ep: must divide the 8 routed experts of mixtral-8x7b \(got 16\)/);
        continue;
      }
      expect(row.status).toBe('fits');
      expect(row.ttft_s as number).toBeGreaterThan(0);
    }
    // TP 8 inside each node shards the weights (and pp-chunked's stages split the layers): they fit.
    for (const label of ['ring-kv (tp 8)', 'ring-q (tp 8)', 'pp-chunked', 'pp-chunked (tp 8, pp gpus/8)']) {
      for (const row of fig.data.filter((r) => r.strategy === label)) expect([label, row.gpus, row.status]).toEqual([label, row.gpus, 'fits']);
    }
    expect(fig.findings[0]).toMatch(/^mixtral-8x7b: \d+ points fit, \d+ over memory, \d+ refused, \d+ skipped$/);
  });

  test('a pipeline stage holds its share of every expert: one GPU a stage, at least the weights over the stages', () => {
    const mixtral = model('mixtral-8x7b');
    for (const row of fig.data.filter((r) => r.strategy === 'pp-chunked')) {
      expect(row.peak_mem_gb as number).toBeGreaterThan(weightBytes(mixtral) / (row.gpus as number) / 1e9);
    }
  });

  test('examples/llama3.1-405b.json is the Llama-3.1-405B config: the preset read from the catalogue', () => {
    expect(llama405b()).toEqual(MODEL_PRESETS['llama3.1-405b']);
  });
});
