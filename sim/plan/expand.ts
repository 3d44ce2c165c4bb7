import { TRANSFER_KIND_NAMES, opSchedule, scheduleTokens, transferBaseLatency, transferRange, type CollectiveSchedule } from './collectives.js';
import { hopLatencyScale } from './collective-tuner.js';
import type { CollectiveOp, Plan, PlanOp, TransferOp } from './plan.js';
import { planTable } from './table-plan.js';
import { OP_COLLECTIVE, type OpTable } from './op-table.js';

/**
 * A plan with its collective ops replaced, in place, by the transfers of their schedules: the op
 * sequence the engine runs. Expanded op i is plan op i when the plan has no collectives.
 */
export interface ExpandedLayout {
  count: number;
  /** Expanded index of each plan op; for a collective, of its first transfer. (With no collectives, indexOf and planOf are one array.) */
  indexOf: Int32Array;
  /** The plan op each expanded op is, or belongs to. */
  planOf: Int32Array;
  /** The schedule of each collective op, by plan op id. */
  schedules: (CollectiveSchedule | undefined)[];
  /** Whether expanded indices are plan op ids (no collectives). */
  identity: boolean;
}

export function expandedLayout(table: OpTable): ExpandedLayout {
  const schedules: (CollectiveSchedule | undefined)[] = new Array(table.count);
  let count = table.count;
  for (const [id, op] of table.collectives) {
    const schedule = opSchedule(op);
    schedules[id] = schedule;
    count += schedule.count - 1;
  }
  if (table.collectives.size === 0) return identityLayout(count);
  const indexOf = new Int32Array(table.count);
  const planOf = new Int32Array(count);
  let next = 0;
  for (let id = 0; id < table.count; id++) {
    indexOf[id] = next;
    const schedule = schedules[id];
    if (schedule === undefined) {
      planOf[next++] = id;
    } else {
      for (let k = 0; k < schedule.count; k++) planOf[next++] = id;
    }
  }
  return { count, indexOf, planOf, schedules, identity: false };
}

/** The layout of a plan of `count` ops and no collectives: engine op i is plan op i. */
export function identityLayout(count: number): ExpandedLayout {
  const iota = new Int32Array(count);
  for (let i = 0; i < count; i++) iota[i] = i;
  return { count, indexOf: iota, planOf: iota, schedules: [], identity: true };
}

/**
 * Calls `onDep(index, dep)` for every dependency of every expanded op, in op order and, within an
 * op, in the order an explicitly written plan lists them. A dependency on a collective is on the
 * depending rank's share of it (the transfers after which that member has the result); a collective
 * that starts together waits for every member's deps, one that starts per member for those on its
 * own rank.
 */
export function visitExpandedDeps(table: OpTable, layout: ExpandedLayout, onDep: (index: number, dep: number) => void): void {
  const { indexOf, schedules } = layout;
  const { kind, depOffset, deps } = table;
  const memberDone = (collective: number, member: number, visit: (dep: number) => void): void => {
    const schedule = schedules[collective]!;
    const base = indexOf[collective]!;
    for (let k = schedule.doneOffset[member]!; k < schedule.doneOffset[member + 1]!; k++) visit(base + schedule.doneList[k]!);
  };
  const memberOf = (collective: number, rank: number, who: number): number => {
    const member = table.collective(collective).ranks.indexOf(rank);
    if (member < 0) throw new Error(`plan op ${who} on rank ${rank} depends on collective ${collective}, which rank ${rank} is not a member of`);
    return member;
  };
  // Compute: its rank; transfer: its sender; collective: none.
  const rankOf = (id: number): number => (kind[id] === OP_COLLECTIVE ? -1 : table.rank[id]!);
  for (let id = 0; id < table.count; id++) {
    const schedule = schedules[id];
    if (schedule === undefined) {
      const index = indexOf[id]!;
      const rank = rankOf(id);
      for (let e = depOffset[id]!; e < depOffset[id + 1]!; e++) {
        const d = deps[e]!;
        if (kind[d] === OP_COLLECTIVE) memberDone(d, memberOf(d, rank, id), (x) => onDep(index, x));
        else onDep(index, indexOf[d]!);
      }
      continue;
    }
    const collective = table.collective(id);
    const base = indexOf[id]!;
    // Start deps: together (every member's, without repeats) or per member.
    let together: number[] | undefined;
    const startOf = (member: number): number[] => {
      const found: number[] = [];
      for (let e = depOffset[id]!; e < depOffset[id + 1]!; e++) {
        const d = deps[e]!;
        if (kind[d] === OP_COLLECTIVE) {
          if (member < 0) for (let m = 0; m < table.collective(d).ranks.length; m++) memberDone(d, m, (x) => found.push(x));
          else memberDone(d, memberOf(d, collective.ranks[member]!, id), (x) => found.push(x));
        } else if (member < 0 || rankOf(d) === collective.ranks[member]) {
          found.push(indexOf[d]!);
        }
      }
      return member < 0 ? [...new Set(found)] : found;
    };
    for (let k = 0; k < schedule.count; k++) {
      const start = schedule.start[k]!;
      if (start === -2) {
        together ??= startOf(-1);
        for (const x of together) onDep(base + k, x);
      } else if (start >= 0) {
        for (const x of startOf(start)) onDep(base + k, x);
      }
      for (let j = schedule.depOffset[k]!; j < schedule.depOffset[k + 1]!; j++) onDep(base + k, base + schedule.depList[j]!);
    }
  }
}

/** The transfers of a collective op: sender and receiver ranks, bytes, token range, step and name. */
export function collectiveTransfers(
  op: CollectiveOp,
  schedule: CollectiveSchedule,
  visit: (k: number, src: number, dst: number, bytes: number, block: readonly [number, number], step: number, name: TransferOp['name']) => void,
): void {
  const tokens = scheduleTokens(schedule, op.blocks);
  for (let k = 0; k < schedule.count; k++) {
    const block = transferRange(op.blocks, schedule, k);
    visit(k, op.ranks[schedule.src[k]!]!, op.ranks[schedule.dst[k]!]!, tokens[k]! * op.bytes_per_token, block, schedule.step[k]!, TRANSFER_KIND_NAMES[schedule.kind[k]!]!);
  }
}

/**
 * The plan with every collective written out as its transfer ops (ids renumbered to expanded
 * indices): what the engine runs, for traces, checks and tools that want every transfer.
 */
export function expandCollectives(plan: Plan): Plan {
  const table = planTable(plan);
  const layout = expandedLayout(table);
  if (layout.identity) return plan;
  const deps: number[][] = Array.from({ length: layout.count }, () => []);
  visitExpandedDeps(table, layout, (index, dep) => deps[index]!.push(dep));
  const ops: PlanOp[] = [];
  for (const op of plan.ops) {
    const schedule = layout.schedules[op.id];
    const base = layout.indexOf[op.id]!;
    if (schedule === undefined) {
      ops.push({ ...op, id: base, deps: deps[base]! } as PlanOp);
      continue;
    }
    const collective = op as CollectiveOp;
    collectiveTransfers(collective, schedule, (k, src, dst, bytes, block, step, name) => {
      const transfer: TransferOp = { id: base + k, kind: 'transfer', name, src, dst, layer: collective.layer, token_start: block[0], token_end: block[1], bytes, deps: deps[base + k]!, step, payload: 'hidden' };
      if (collective.protocol !== undefined) {
        transfer.protocol = collective.protocol;
        transfer.protocol_hop_scale = hopLatencyScale(collective.algorithm, collective.protocol, schedule.inter[k] === 1);
        const base = transferBaseLatency(collective.algorithm, collective.protocol, schedule, k);
        if (base > 0) transfer.protocol_base_s = base;
      }
      ops.push(transfer);
    });
  }
  return { ...plan, ops };
}
