import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { FlowNetwork } from '../../../sim/engine/flow-network.js';
import { propertyOptions } from '../../support/property.js';
import { ReferenceFlowNetwork } from '../../support/reference-flow-network.js';

/** Runs recompute and returns the finish time the network announces for each changed flow. */
function recompute(network: FlowNetwork, now: number): Map<number, number> {
  const finishes = new Map<number, number>();
  network.recompute(now, (flow, finish) => finishes.set(flow, finish));
  return finishes;
}

describe('FlowNetwork (max-min fair)', () => {
  test('a lone flow runs at its narrowest link', () => {
    const routes = [Int32Array.of(0, 1)];
    const network = new FlowNetwork(Float64Array.of(10, 4), 1, (f) => routes[f]!);
    network.add(0, 100, 0);
    expect(recompute(network, 0).get(0)).toBe(25);
    expect(network.rate[0]).toBe(4);
  });

  test('two flows on one link get half each', () => {
    const routes = [Int32Array.of(0), Int32Array.of(0)];
    const network = new FlowNetwork(Float64Array.of(10), 2, (f) => routes[f]!);
    network.add(0, 50, 0);
    network.add(1, 100, 0);
    const finishes = recompute(network, 0);
    expect([network.rate[0], network.rate[1]]).toEqual([5, 5]);
    expect(finishes.get(0)).toBe(10);
    // When flow 0 ends at t=10, flow 1 (50 bytes left) takes the whole link: done at 15.
    network.remove(0, 10);
    expect(recompute(network, 10).get(1)).toBe(15);
  });

  test('a flow held back elsewhere leaves its unused share to the others', () => {
    // Link 0 (cap 10) carries A and B; B also crosses link 1 (cap 3): B = 3, A = 7.
    const routes = [Int32Array.of(0), Int32Array.of(0, 1)];
    const network = new FlowNetwork(Float64Array.of(10, 3), 2, (f) => routes[f]!);
    network.add(0, 70, 0);
    network.add(1, 30, 0);
    recompute(network, 0);
    expect([network.rate[0], network.rate[1]]).toEqual([7, 3]);
  });

  test('rates are recomputed when a flow starts mid-way', () => {
    // A: 100 bytes alone at 10 B/s; B (25 bytes) joins at t=5; both get 5 B/s; B ends at t=10;
    // A has 25 bytes left and ends at t=12.5.
    const routes = [Int32Array.of(0), Int32Array.of(0)];
    const network = new FlowNetwork(Float64Array.of(10), 2, (f) => routes[f]!);
    network.add(0, 100, 0);
    expect(recompute(network, 0).get(0)).toBe(10);
    network.add(1, 25, 5);
    const finishes = recompute(network, 5);
    expect(finishes.get(1)).toBe(10);
    expect(finishes.get(0)).toBe(15);
    network.remove(1, 10);
    expect(recompute(network, 10).get(0)).toBe(12.5);
  });

  test('flows whose rate is unchanged keep their finish time (no new event)', () => {
    const routes = [Int32Array.of(0), Int32Array.of(1)];
    const network = new FlowNetwork(Float64Array.of(10, 10), 2, (f) => routes[f]!);
    network.add(0, 100, 0);
    recompute(network, 0);
    network.add(1, 10, 3);
    const finishes = recompute(network, 3);
    expect([...finishes.keys()]).toEqual([1]);
    expect(network.version[0]).toBe(1);
  });
});

describe('FlowNetwork is the reference network, faster', () => {
  // 6 resources: flows mostly share one component. 16: often several small components, so re-rating only
  // the components a change reaches is exercised (with flows that join and split them).
  test.each([6, 16])('random starts, ends and capacity changes on %i resources give the same rates, versions and finish times, bit for bit', (resources) => {
    const op = fc.oneof(
      { arbitrary: fc.record({ kind: fc.constant('add' as const), bytes: fc.double({ min: 1, max: 1e6, noNaN: true }), route: fc.uniqueArray(fc.integer({ min: 0, max: resources - 1 }), { minLength: 1, maxLength: 3 }) }), weight: 3 },
      { arbitrary: fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }), weight: 2 },
      { arbitrary: fc.record({ kind: fc.constant('capacity' as const), resource: fc.integer({ min: 0, max: resources - 1 }), capacity: fc.double({ min: 1, max: 1e3, noNaN: true }) }), weight: 1 },
    );
    // Recomputes after a start or end (no capacity change) while the flows formed two or more
    // components, one of them shared: where re-rating only the reached components matters.
    let split = 0;
    // Capacities from a few values, so that equal shares (ties between bottlenecks) are common.
    const capacity = fc.oneof(fc.double({ min: 1, max: 1e3, noNaN: true }), fc.constantFrom(10, 20, 40));
    fc.assert(
      fc.property(
        fc.array(capacity, { minLength: resources, maxLength: resources }),
        fc.array(fc.record({ dt: fc.double({ min: 0, max: 10, noNaN: true }), ops: fc.array(op, { minLength: 1, maxLength: 4 }) }), { minLength: 1, maxLength: 30 }),
        (capacities, instants) => {
          const routes: Int32Array[] = [];
          const fast = new FlowNetwork(Float64Array.from(capacities), 200, (f) => routes[f]!);
          const reference = new ReferenceFlowNetwork(Float64Array.from(capacities), 200, (f) => routes[f]!);
          const active: number[] = [];
          let now = 0;
          for (const instant of instants) {
            now += instant.dt;
            if (instant.ops.every((o) => o.kind !== 'capacity') && splitAndShared(active.map((flow) => routes[flow]!))) split += 1;
            for (const o of instant.ops) {
              if (o.kind === 'add' && routes.length < 200) {
                const flow = routes.length;
                routes.push(Int32Array.from(o.route));
                fast.add(flow, o.bytes, now);
                reference.add(flow, o.bytes, now);
                active.push(flow);
              } else if (o.kind === 'remove' && active.length > 0) {
                const [flow] = active.splice(o.pick % active.length, 1);
                fast.remove(flow!, now);
                reference.remove(flow!, now);
              } else if (o.kind === 'capacity') {
                fast.setCapacity(o.resource, o.capacity, now);
                reference.setCapacity(o.resource, o.capacity, now);
              }
            }
            expectSameRecompute(fast, reference, now);
            for (const flow of active) expect(fast.remainingBytes(flow)).toBe(reference.remaining[flow]);
          }
        },
      ),
      propertyOptions(300),
    );
    console.log(`flow network on ${resources} resources: ${split} recomputes over split, shared flows`);
    if (resources === 16) expect(split).toBeGreaterThan(150);
  });
});

describe('FlowNetwork re-rates a large component in start order', () => {
  test('50 flows on one link (each also on its own link) and 10 apart: changes re-rate the 50 as the reference does', () => {
    // Flows 0..49 cross resource 0 and their own resource 1 + f; flows 50..59 only their own.
    const capacities = Float64Array.from({ length: 61 }, (_, r) => (r === 0 ? 1000 : 10 + (r % 7)));
    const routes = Array.from({ length: 60 }, (_, f) => (f < 50 ? Int32Array.of(0, 1 + f) : Int32Array.of(1 + f)));
    const fast = new FlowNetwork(capacities.slice(), 60, (f) => routes[f]!);
    const reference = new ReferenceFlowNetwork(capacities.slice(), 60, (f) => routes[f]!);
    // Started in an order unlike their ids, so start order and id order differ.
    const starts = Array.from({ length: 60 }, (_, k) => (k * 37) % 60);
    const step = (now: number, change: (network: FlowNetwork | ReferenceFlowNetwork) => void): void => {
      change(fast);
      change(reference);
      expectSameRecompute(fast, reference, now);
    };
    step(0, (network) => starts.slice(0, 45).forEach((flow) => network.add(flow, 1e3 + flow, 0)));
    step(1, (network) => starts.slice(45).forEach((flow) => network.add(flow, 1e3 + flow, 1)));
    step(2, (network) => network.remove(starts[10]!, 2));
    step(3, (network) => network.remove(starts[50]!, 3));
    expect(fast.activeCount).toBe(58);
  });
});

/** Recomputes both networks at `now`: the same rate changes reported in the same order, the same rates and versions. */
function expectSameRecompute(fast: FlowNetwork, reference: ReferenceFlowNetwork, now: number): void {
  const a: [number, number][] = [];
  const b: [number, number][] = [];
  fast.recompute(now, (flow, finish) => a.push([flow, finish]));
  reference.recompute(now, (flow, finish) => b.push([flow, finish]));
  expect(a).toEqual(b);
  expect([...fast.rate]).toEqual([...reference.rate]);
  expect([...fast.version]).toEqual([...reference.version]);
}

/** Whether flows on these routes form two or more components (linked by shared resources), one shared. */
function splitAndShared(routes: Int32Array[]): boolean {
  const owner = new Map<number, number>();
  const parent = routes.map((_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i]!)));
  let shared = false;
  routes.forEach((route, i) => {
    for (const r of route) {
      const other = owner.get(r);
      if (other === undefined) owner.set(r, i);
      else {
        shared = true;
        parent[find(other)] = find(i);
      }
    }
  });
  return shared && new Set(routes.map((_, i) => find(i))).size >= 2;
}
