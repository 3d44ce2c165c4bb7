import type { LayerRecurrence } from '../engine/layer-recurrence.js';
import type { ComputePricer } from '../hardware/compute-pricer.js';
import type { CollectiveUse } from '../result/result.js';
import type { Router } from '../topology/routing.js';
import { builderSetup, type PlanRequest } from './build-plan.js';
import { evenPartition } from './partition.js';
import type { Plan, StrategyName } from './plan.js';
import { kvrHops, kvrRecurrence, KvrStagePricer } from './strategies/kvr-recurrence.js';
import { KvrTpLinks, kvrTpRecurrence } from './strategies/kvr-tp-recurrence.js';
import { ringKvRecurrence } from './strategies/ring-kv-recurrence.js';
import { ringKvTpRecurrence } from './strategies/ring-kv-tp-recurrence.js';
import { tspRecurrence } from './strategies/tsp-recurrence.js';

/** Where a recurrence adds what its ops do: a rank's compute (FLOPs, seconds, band shares) and bytes sent. */
export interface RecurrenceTotals {
  compute(rank: number, flops: number, seconds: number, error: number, memory: number): void;
  transfer(src: number, dst: number, bytes: number): void;
}

/** A strategy's plan as a layer recurrence, with what the result reads from the plan. */
export interface PlanRecurrence extends LayerRecurrence {
  /** The plan's fields but its ops (empty): what memory, decode and the result read. */
  header: Plan;
  /** Adds the FLOPs, compute seconds and bytes of `layers` layers and of the closing ops. */
  addTotals(totals: RecurrenceTotals, layers: number): void;
  /** The collectives of `layers` layers, as collectiveUses lists them. */
  collectives(layers: number): CollectiveUse[];
}

/** Strategies that have a recurrence (ring-kv, with or without tensor parallelism; tsp, tsp-causal; KV-Runahead's chain, and its groups with tensor parallelism). */
export const RECURRENCE_STRATEGIES: readonly StrategyName[] = ['ring-kv', 'tsp', 'tsp-causal', 'kvr', 'kvr-e', 'kvr-s', 'kvr-p', 'kvr-tp'];

/**
 * The plan of a request as a layer recurrence, or undefined when it has none: another strategy,
 * a MoE model (its layers' FFNs differ), a collective that is not a ring, or
 * channels that share a link (the recurrence holds on dedicated links only).
 */
export function planRecurrence(request: PlanRequest, router: Router, pricer: ComputePricer): PlanRecurrence | undefined {
  const { strategy, model, context, gpus } = request;
  if (model.moe !== undefined) return undefined;
  switch (strategy) {
    case 'ring-kv': {
      const t = request.tp ?? 1;
      if (t === 1) return ringKvRecurrence(model, context, gpus, router, pricer);
      const collective = request.collective ?? (request.fabric === undefined ? 'ring' : 'auto');
      return ringKvTpRecurrence(model, context, gpus, t, collective, builderSetup(request), router, pricer);
    }
    case 'tsp':
    case 'tsp-causal': {
      const collective = request.collective ?? (request.fabric === undefined ? 'ring' : 'auto');
      return tspRecurrence(model, evenPartition(context, gpus), strategy, collective, builderSetup(request), router, pricer);
    }
    case 'kvr':
    case 'kvr-e':
    case 'kvr-s':
    case 'kvr-p': {
      // Searched and predicted partitions are resolved before the plan is asked for.
      const partition = strategy === 'kvr-e' ? evenPartition(context, gpus) : request.partition;
      const hops = kvrHops(router, gpus);
      return partition === undefined || hops === undefined ? undefined : kvrRecurrence(model, partition, strategy, hops, new KvrStagePricer(pricer));
    }
    case 'kvr-tp': {
      // The group partition is searched (or given) before the plan is asked for.
      if (request.partition === undefined) return undefined;
      const links = kvrTpLinks(request, router, pricer);
      return links === undefined ? undefined : kvrTpRecurrence(request.partition, links);
    }
    default:
      return undefined;
  }
}

/** kvr-tp's chains, group routes and memos for a request (what a partition search builds once). */
export function kvrTpLinks(request: PlanRequest, router: Router, pricer: ComputePricer): KvrTpLinks | undefined {
  if (request.tp === undefined) return undefined;
  const collective = request.collective ?? (request.fabric === undefined ? 'ring' : 'auto');
  return KvrTpLinks.create(request.model, request.gpus, request.tp, collective, builderSetup(request), router, pricer);
}
