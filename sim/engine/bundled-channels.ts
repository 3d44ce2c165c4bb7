import type { Router } from '../topology/routing.js';

/** A recurrence's channels as the engine would drain them: each one's route latency and rate. */
export interface BundledChannels {
  latency: Float64Array;
  /**
   * The rate each channel's transfers drain at: its route's narrowest capacity, or, where its
   * bundle shares a link, its max-min fair share of the bundle's links (the flow model's rate
   * while the bundle's transfers run together).
   */
  narrowest: Float64Array;
  /**
   * 1 for a channel whose bundle shares a link inside itself: its rate holds only while every
   * transfer of the bundle leaves at the same instant with the same bytes (the recurrence checks
   * that as it runs, and stops where it fails).
   */
  together: Uint8Array;
  /** Whether any bundle shares a link. */
  anyTogether: boolean;
}

/**
 * The link facts of a recurrence's channels (src, dst pairs) grouped in bundles: the t members of
 * a tensor-parallel group sending to the next group's t members, whose transfers leave together
 * with equal bytes when the members are alike (an oversubscribed leaf uplink, or a NIC two GPUs
 * share, then carries all t).
 *
 * Why a bundle's rate is the engine's: the flow model shares links max-min fairly among the flows
 * present (flow-network.ts), recomputing rates once per instant. If no link of a bundle carries
 * any other flow (no other bundle's, no `reserved` link, no background traffic or noise) and the
 * bundle's t flows start at one instant with equal bytes, the progressive filling over the
 * bundle's links alone (the same divisions and subtractions as the engine's, which touches no
 * other flow there) gives each its rate; when those rates are all equal (and the latencies too)
 * every flow drains at one constant rate and ends at the same instant, exactly as a dedicated
 * channel of that rate. Bundles whose fair shares differ would change rates midway: undefined.
 *
 * Slack links are the exception to "no other flow": a link whose capacity covers the sum, over
 * every channel crossing it, of that channel's narrowest other link (a rail's uplink to the spine
 * sized for all its NICs) can never hold a flow below what its other links allow, whichever
 * channels are active, so it never sets a rate and channels of several bundles may cross it
 * (the engine's times then hold to rounding: at a tie the engine may divide the slack link's
 * capacity, the same rate but for its last bit).
 *
 * Undefined when two bundles share a link that is not slack, a channel uses a reserved link, a
 * bundle's shared links give its members unequal rates or latencies, or the topology has
 * background traffic or noise. Every pair its own bundle: dedicated channels (no link shared but
 * slack ones).
 */
export function bundledChannels(
  router: Router,
  pairs: readonly (readonly [number, number])[],
  bundleOf: (channel: number) => number,
  reserved?: Uint8Array,
): BundledChannels | undefined {
  if (router.backgroundFlows().length > 0 || router.noisyResources().length > 0) return undefined;
  const capacities = router.capacities();
  const routes: Int32Array[] = new Array(pairs.length);
  const latency = new Float64Array(pairs.length);
  const narrowest = new Float64Array(pairs.length);
  const together = new Uint8Array(pairs.length);
  // Per link: channels crossing it, the bundle of the first (-2 once a second bundle crosses), and
  // the sum of their narrowest other links (the most they could ever ask of it).
  const users = new Int32Array(capacities.length);
  const owner = new Int32Array(capacities.length).fill(-1);
  const demand = new Float64Array(capacities.length);
  for (let q = 0; q < pairs.length; q++) {
    const route = router.route(pairs[q]![0], pairs[q]![1]);
    const bundle = bundleOf(q);
    routes[q] = route.resources;
    latency[q] = route.latency_s;
    let rate = Infinity;
    let second = Infinity;
    for (let k = 0; k < route.resources.length; k++) {
      const resource = route.resources[k]!;
      if (reserved !== undefined && reserved[resource]) return undefined;
      users[resource]! += 1;
      if (owner[resource] === -1) owner[resource] = bundle;
      else if (owner[resource] !== bundle) owner[resource] = -2;
      const capacity = capacities[resource]!;
      if (capacity < rate) {
        second = rate;
        rate = capacity;
      } else if (capacity < second) {
        second = capacity;
      }
    }
    narrowest[q] = rate;
    // Each link's demand from this channel: its narrowest other link (the narrowest, or for the
    // narrowest link itself the second narrowest).
    for (let k = 0; k < route.resources.length; k++) {
      const resource = route.resources[k]!;
      demand[resource]! += capacities[resource] === rate ? second : rate;
    }
  }
  const slack = (resource: number): boolean => demand[resource]! <= capacities[resource]!;
  // Links that may set a rate: shared by two channels and not slack. Each within one bundle.
  const binding = new Uint8Array(capacities.length);
  for (let resource = 0; resource < capacities.length; resource++) {
    if (users[resource]! < 2 || slack(resource)) continue;
    if (owner[resource] === -2) return undefined;
    binding[resource] = 1;
  }
  // Channels of each bundle (in channel order), and the bundles with a link that may set a rate.
  const members = new Map<number, number[]>();
  const sharing = new Set<number>();
  for (let q = 0; q < pairs.length; q++) {
    const bundle = bundleOf(q);
    let list = members.get(bundle);
    if (list === undefined) members.set(bundle, (list = []));
    list.push(q);
    if (routes[q]!.some((resource) => binding[resource] === 1)) sharing.add(bundle);
  }
  let anyTogether = false;
  for (const bundle of sharing) {
    // The engine fills every channel of the bundle; slack links never set a rate.
    const list = members.get(bundle)!;
    const rates = fairShares(
      list.map((q) => routes[q]!.filter((resource) => users[resource] === 1 || !slack(resource))),
      capacities,
    );
    for (let m = 0; m < list.length; m++) {
      const q = list[m]!;
      if (rates[m] !== rates[0] || latency[q] !== latency[list[0]!]) return undefined;
      narrowest[q] = rates[m]!;
      together[q] = 1;
    }
    anyTogether = true;
  }
  return { latency, narrowest, together, anyTogether };
}

/**
 * Max-min fair rates of flows on `routes` that run alone on their links, by progressive filling
 * as FlowNetwork computes it: the link of least residual capacity per unfrozen flow (the first of
 * equals by resource index) fixes the rate of its unfrozen flows, whose share leaves every link
 * they cross; repeat.
 */
function fairShares(routes: readonly Int32Array[], capacities: Float64Array): Float64Array {
  const residual = new Map<number, number>();
  const users = new Map<number, number>();
  for (const route of routes) {
    for (const resource of route) {
      residual.set(resource, capacities[resource]!);
      users.set(resource, (users.get(resource) ?? 0) + 1);
    }
  }
  const touched = [...residual.keys()].sort((a, b) => a - b);
  const rates = new Float64Array(routes.length);
  const frozen = new Uint8Array(routes.length);
  let unfrozen = routes.length;
  while (unfrozen > 0) {
    let bottleneck = -1;
    let share = Infinity;
    for (const resource of touched) {
      const count = users.get(resource)!;
      if (count > 0 && residual.get(resource)! / count < share) {
        share = residual.get(resource)! / count;
        bottleneck = resource;
      }
    }
    for (let f = 0; f < routes.length; f++) {
      if (frozen[f] || !routes[f]!.includes(bottleneck)) continue;
      frozen[f] = 1;
      unfrozen -= 1;
      rates[f] = share;
      for (const resource of routes[f]!) {
        residual.set(resource, Math.max(0, residual.get(resource)! - share));
        users.set(resource, users.get(resource)! - 1);
      }
    }
  }
  return rates;
}
