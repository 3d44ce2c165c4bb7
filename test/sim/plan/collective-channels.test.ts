import { describe, expect, test } from 'vitest';
import { collectiveSchedule, transferTokens } from '../../../sim/plan/collectives.js';
import { tuneCollective, topologyFabric } from '../../../sim/plan/collective-tuner.js';
import { presetTopology } from '../../../sim/topology/presets.js';

const blocks = (p: number, tokens: number): [number, number][] => Array.from({ length: p }, (_, m) => [m * tokens, (m + 1) * tokens]);
const total = (schedule: ReturnType<typeof collectiveSchedule>, b: [number, number][]): number => {
  let sum = 0;
  for (let k = 0; k < schedule.count; k++) sum += transferTokens(b, schedule, k);
  return sum;
};

describe('ring over n channels across nodes (2 nodes x 4 members, 4 channels)', () => {
  const p = 8;
  const g = 4;
  const merged = collectiveSchedule('allreduce', 'ring', p, 'together', { channels: 4, node_size: g });
  const single = collectiveSchedule('allreduce', 'ring', p, 'together');

  test('member (k, y) sends each step one transfer to (k, y+1) and one to (k+1, y+1): 2p a step', () => {
    expect(merged.count).toBe(2 * p * 2 * (p - 1));
    for (let k = 0; k < merged.count; k++) {
      const src = merged.src[k]!;
      const dst = merged.dst[k]!;
      const [ks, ys] = [Math.floor(src / g), src % g];
      const [kd, yd] = [Math.floor(dst / g), dst % g];
      expect(yd).toBe((ys + 1) % g);
      expect(merged.inter[k]).toBe(kd !== ks ? 1 : 0);
      if (kd !== ks) expect(kd).toBe((ks + 1) % 2);
    }
  });

  test('channel c leaves a node through local member c-1: every member crosses on exactly one channel, so every NIC works', () => {
    const crossingSenders = new Set<number>();
    for (let k = 0; k < merged.count; k++) if (merged.inter[k] === 1) crossingSenders.add(merged.src[k]!);
    expect([...crossingSenders].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  test('it moves the same bytes as one ring (2(p-1)/p of the data per member), split 3:1 between NVLink and NIC per step', () => {
    const b = blocks(p, 100);
    expect(total(merged, b)).toBe(total(single, b));
    let inter = 0;
    for (let k = 0; k < merged.count; k++) if (merged.inter[k] === 1) inter += transferTokens(b, merged, k);
    expect(inter * 4).toBe(total(merged, b));
  });

  test('each member has the result after its last receive on each kind of hop', () => {
    for (let m = 0; m < p; m++) expect(merged.doneOffset[m + 1]! - merged.doneOffset[m]!).toBe(2);
  });
});

describe('hierarchical all-reduce (2 nodes x 4)', () => {
  test('moves the data of a reduce-scatter and all-gather in each node plus an all-reduce of 1/g per rail', () => {
    const s = collectiveSchedule('allreduce', 'hierarchical', 8, 'together', { channels: 1, node_size: 4 });
    const b = blocks(8, 96);
    let intra = 0;
    let inter = 0;
    for (let k = 0; k < s.count; k++) (s.inter[k] === 1 ? (inter += transferTokens(b, s, k)) : (intra += transferTokens(b, s, k)));
    // 768 tokens: inside a node each member sends 2 x 3/4 x 768 (reduce-scatter + all-gather);
    // across nodes 2 x 1/2 x 768/4 (an all-reduce of its column over 2 nodes).
    expect(intra).toBe(8 * 2 * (3 / 4) * 768);
    expect(inter).toBe(8 * 2 * (1 / 2) * (768 / 4));
  });
});

describe('the tuner (NCCL tuning.cc in kvr terms)', () => {
  const multi = presetTopology('multi-node', { gpus: 16, bandwidth: 450e9, latency_s: 2e-6, gpus_per_node: 8, nic_bandwidth: 50e9, nic_latency_s: 5e-6, gpus_per_switch: 2 });
  const one = presetTopology('switch', { gpus: 8, bandwidth: 300e9, latency_s: 2e-6, gpus_per_node: 8, nic_bandwidth: 50e9, nic_latency_s: 5e-6, gpus_per_switch: 2 });

  test('the multi-node fabric: 8 GPUs and 8 NICs a node, NVLink and NIC bandwidths', () => {
    expect(topologyFabric(multi, 16)).toMatchObject({ node_size: 8, nics_per_node: 8, intra_bandwidth: 450e9, nic_bandwidth: 50e9 });
    expect(topologyFabric(one, 8)).toMatchObject({ node_size: 8, intra_bandwidth: 300e9 });
  });

  test('across nodes: a ring of one channel per NIC; inside one node: one channel', () => {
    expect(tuneCollective('allreduce', 1 << 30, 16, 0, topologyFabric(multi, 16))).toMatchObject({ algorithm: 'ring', channels: 8, protocol: 'simple' });
    expect(tuneCollective('allreduce', 1 << 30, 8, 0, topologyFabric(one, 8))).toMatchObject({ algorithm: 'ring', channels: 1, protocol: 'simple' });
    // A group inside one node of a multi-node machine (kvr-tp's groups) is one node.
    expect(tuneCollective('allreduce', 1 << 30, 8, 8, topologyFabric(multi, 16))).toMatchObject({ channels: 1, node_size: 8 });
  });

  test('small messages take LL (lower step latency at half the bandwidth), large ones Simple', () => {
    expect(tuneCollective('allreduce', 1024, 8, 0, topologyFabric(one, 8)).protocol).toBe('ll');
    expect(tuneCollective('allreduce', 1 << 30, 8, 0, topologyFabric(one, 8)).protocol).toBe('simple');
  });
});

describe('tree all-reduce (4 nodes x 2 members, 2 channels)', () => {
  const s = collectiveSchedule('allreduce', 'tree', 8, 'together', { channels: 2, node_size: 2 });

  test('each channel reduces up a chain and a binary tree of leaders and broadcasts down: 2((g-1)N + N-1) transfers a chunk', () => {
    expect(s.count).toBe(4 * 2 * 2 * ((2 - 1) * 4 + 4 - 1));
  });

  test('the two channels use different leaders (NICs): local 0 and local 1', () => {
    const senders = [new Set<number>(), new Set<number>()];
    for (let k = 0; k < s.count; k++) if (s.inter[k] === 1) senders[s.lane[k]! >> 1]!.add(s.src[k]! % 2);
    expect([...senders[0]!]).toEqual([0]);
    expect([...senders[1]!]).toEqual([1]);
  });

  test('every member ends with every piece: one done transfer per chunk and channel', () => {
    for (let m = 0; m < 8; m++) expect(s.doneOffset[m + 1]! - s.doneOffset[m]!).toBeGreaterThanOrEqual(8);
  });
});
