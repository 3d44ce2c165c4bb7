import { KvrInputError } from '../../sim/errors.js';
import { Router } from '../../sim/topology/routing.js';
import type { Topology } from '../../sim/topology/topology.js';

/** A route of the emulated interconnect: latency, then the directed link resources it drains over. */
export interface LinkEmulationRoute {
  src: number;
  dst: number;
  latency_s: number;
  /** Indices into LinkEmulation.capacity. */
  resources: number[];
}

/**
 * Links the native executor paces transfers on (native/include/kvr/link_emulation.hpp): the
 * simulator's fluid model (max-min fair sharing of directed link resources) in real time.
 */
export interface LinkEmulation {
  /** Per-direction capacity (bytes/s) of every directed link resource. */
  capacity: number[];
  routes: LinkEmulationRoute[];
}

/**
 * The links a plan simulated on `topology` meets: the router's resources and capacities, and its
 * route between every ordered pair of distinct ranks 0..gpus-1, so executing the plan with these
 * links emulated reproduces the simulated transfers. Pass the simulation's router when it is not a
 * plain `new Router(topology)` (a calibrated per-transfer latency, for one).
 */
export function linkEmulationFor(topology: Topology, gpus: number, router: Router = new Router(topology)): LinkEmulation {
  if (!Number.isInteger(gpus) || gpus < 1 || gpus > router.gpuCount) {
    throw new KvrInputError('gpus', `expected an integer in 1..${router.gpuCount}, the GPUs of topology ${topology.name} (got ${gpus})`);
  }
  const routes: LinkEmulationRoute[] = [];
  for (let src = 0; src < gpus; src++) {
    for (let dst = 0; dst < gpus; dst++) {
      if (src === dst) continue;
      const route = router.route(src, dst);
      routes.push({ src, dst, latency_s: route.latency_s, resources: Array.from(route.resources) });
    }
  }
  return { capacity: Array.from(router.capacities()), routes };
}
