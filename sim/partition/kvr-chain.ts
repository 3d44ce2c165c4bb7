import type { Scenario } from '../simulate.js';
import type { Router } from '../topology/routing.js';

/** One hop of the KV-Runahead chain, rank i -> i+1, as its route presents it. */
export interface ChainHop {
  latency_s: number;
  /** Narrowest per-direction bandwidth on the route (bytes/s). */
  bandwidth: number;
}

/** The hops K,V travel in KV-Runahead, in rank order. */
export function kvrChainHops(scenario: Scenario, router: Router): ChainHop[] {
  const capacity = router.capacities();
  const hops: ChainHop[] = [];
  for (let i = 0; i + 1 < scenario.gpus; i++) {
    const route = router.route(i, i + 1);
    let narrowest = Infinity;
    for (const resource of route.resources) narrowest = Math.min(narrowest, capacity[resource]!);
    hops.push({ latency_s: route.latency_s, bandwidth: narrowest });
  }
  return hops;
}

/**
 * What a partition table keys on besides GPU count and context: the slowest hop's bandwidth and
 * the largest hop latency (for one GPU: no hops, reported as Infinity and 0).
 */
export function chainFeatures(scenario: Scenario, router: Router): { bandwidth: number; latency_s: number } {
  const hops = kvrChainHops(scenario, router);
  return {
    bandwidth: hops.reduce((min, hop) => Math.min(min, hop.bandwidth), Infinity),
    latency_s: hops.reduce((max, hop) => Math.max(max, hop.latency_s), 0),
  };
}
