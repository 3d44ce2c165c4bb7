/**
 * Fluid model of concurrent transfers on directed link resources. Flows share every resource
 * max-min fairly (progressive filling): the most contended resource fixes the rate of the flows
 * crossing it, their share is removed from the other resources on their routes, and so on.
 * Rates are recomputed whenever a flow starts or ends; between changes each flow drains its
 * remaining bytes at a constant rate, and data crosses every link of a route at once (no
 * store-and-forward).
 *
 * Speed (the results are the same bits as recomputing everything eagerly):
 * - While no resource carries two flows, every flow runs at its route's narrowest link and a flow
 *   starting or ending changes no other flow's rate; recompute then rates only the new flows.
 * - A flow's remaining bytes are brought up to date only when its rate changes (the only time they
 *   are read), by replaying the same subtractions, interval by interval, that draining every flow
 *   at every event would have done (the instants are logged).
 * - Progressive filling walks per-resource flow lists instead of every flow per bottleneck.
 * - Only the flows a change can reach are re-rated: those linked to a started or ended flow by a
 *   chain of shared resources (its connected component). Progressive filling never lets one
 *   component's bottlenecks touch another's resources, and picks each component's bottlenecks in
 *   the same order whether or not the others are present (lowest share, then lowest resource
 *   index), so a component's rates are the same bits either way; flows are re-rated in the order
 *   they started, so rate changes are reported in the same order too.
 */
export class FlowNetwork {
  private readonly capacity: Float64Array;
  private readonly routeOf: (flow: number) => Int32Array;
  /** Route of each flow that has started (looked up once, when it starts). */
  private readonly routes: Int32Array[];
  /** Per flow id (op id). */
  readonly rate: Float64Array;
  /** Bytes left as of the instant logged at `synced[flow]` (see remainingAt). */
  private readonly remaining: Float64Array;
  readonly version: Int32Array;
  private readonly newRate: Float64Array;
  // Flows draining now, in the order they started: a doubly linked list over flow ids.
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private head = -1;
  private tail = -1;
  private activeLength = 0;
  private activeScratch: Int32Array;
  // Instants at which time advanced (a flow drains rate x (t_k - t_{k-1}) per logged interval).
  private times = new Float64Array(256);
  private timeCount = 1;
  private readonly synced: Int32Array;
  // Incremental state: flows per resource, resources carrying two or more flows.
  private readonly load: Int32Array;
  private shared = 0;
  /** Whether the rates of the present flows are known to be their narrowest links. */
  private clean = true;
  private capacityChanged = false;
  private readonly added: Int32Array;
  private addedLength = 0;
  // Scratch, per resource.
  private readonly residual: Float64Array;
  private readonly users: Int32Array;
  private readonly mark: Int32Array;
  private readonly listStart: Int32Array;
  private readonly listFill: Int32Array;
  private listFlows = new Int32Array(64);
  private readonly frozen: Uint8Array;
  private readonly isActive: Uint8Array;
  private epoch = 0;
  // Components: the active flows on each resource (unordered), each flow's start sequence number,
  // and the flows removed since the last recompute (their resources seed the search).
  private readonly flowsOn: number[][];
  private readonly startOrder: Int32Array;
  private started = 0;
  private removed = new Int32Array(64);
  private removedLength = 0;
  private readonly reachedFlow: Int32Array;
  private readonly reachedResource: Int32Array;
  private reachEpoch = 0;
  private reachStack: number[] = [];

  constructor(capacity: Float64Array, flowCount: number, routeOf: (flow: number) => Int32Array) {
    this.capacity = capacity;
    this.routeOf = routeOf;
    this.routes = new Array<Int32Array>(flowCount);
    this.rate = new Float64Array(flowCount);
    this.remaining = new Float64Array(flowCount);
    this.version = new Int32Array(flowCount);
    this.newRate = new Float64Array(flowCount);
    this.synced = new Int32Array(flowCount);
    this.next = new Int32Array(flowCount);
    this.prev = new Int32Array(flowCount);
    this.activeScratch = new Int32Array(64);
    this.added = new Int32Array(Math.max(1, flowCount));
    this.frozen = new Uint8Array(flowCount);
    this.isActive = new Uint8Array(flowCount);
    this.residual = new Float64Array(capacity.length);
    this.users = new Int32Array(capacity.length);
    this.mark = new Int32Array(capacity.length);
    this.load = new Int32Array(capacity.length);
    this.listStart = new Int32Array(capacity.length);
    this.listFill = new Int32Array(capacity.length);
    this.flowsOn = Array.from({ length: capacity.length }, () => []);
    this.startOrder = new Int32Array(flowCount);
    this.reachedFlow = new Int32Array(flowCount);
    this.reachedResource = new Int32Array(capacity.length);
    this.times[0] = 0;
  }

  get activeCount(): number {
    return this.activeLength;
  }

  /** Bytes `flow` has left at the latest instant the network was told of. */
  remainingBytes(flow: number): number {
    this.sync(flow);
    return this.remaining[flow]!;
  }

  /** Starts draining `bytes` at time `now`; its rate is set by the next recompute. */
  add(flow: number, bytes: number, now: number): void {
    this.advance(now);
    this.remaining[flow] = bytes;
    this.synced[flow] = this.timeCount - 1;
    this.rate[flow] = 0;
    this.prev[flow] = this.tail;
    this.next[flow] = -1;
    if (this.tail === -1) this.head = flow;
    else this.next[this.tail] = flow;
    this.tail = flow;
    this.activeLength += 1;
    this.isActive[flow] = 1;
    this.added[this.addedLength++] = flow;
    this.startOrder[flow] = this.started++;
    const route = this.routeOf(flow);
    this.routes[flow] = route;
    for (let k = 0; k < route.length; k++) {
      const r = route[k]!;
      this.flowsOn[r]!.push(flow);
      if (++this.load[r]! === 2) this.shared += 1;
    }
  }

  /** Changes a resource's capacity at time `now` (noisy links); rates follow at the next recompute. */
  setCapacity(resource: number, capacity: number, now: number): void {
    this.advance(now);
    this.capacity[resource] = capacity;
    this.capacityChanged = true;
  }

  /** Removes a finished flow at time `now`. */
  remove(flow: number, now: number): void {
    this.advance(now);
    // Unlink, keeping the others in order (rates do not depend on it; event order at ties does).
    const before = this.prev[flow]!;
    const after = this.next[flow]!;
    if (before === -1) this.head = after;
    else this.next[before] = after;
    if (after === -1) this.tail = before;
    else this.prev[after] = before;
    this.activeLength -= 1;
    this.isActive[flow] = 0;
    this.remaining[flow] = 0;
    this.rate[flow] = 0;
    // Another flow's rate can only change if the removed flow shared a resource with it.
    if (this.shared > 0) this.clean = false;
    if (this.removedLength === this.removed.length) {
      const grown = new Int32Array(2 * this.removed.length);
      grown.set(this.removed);
      this.removed = grown;
    }
    this.removed[this.removedLength++] = flow;
    const route = this.routes[flow]!;
    for (let k = 0; k < route.length; k++) {
      const r = route[k]!;
      const on = this.flowsOn[r]!;
      const at = on.indexOf(flow);
      on[at] = on[on.length - 1]!;
      on.pop();
      if (--this.load[r]! === 1) this.shared -= 1;
    }
  }

  /**
   * Recomputes the max-min fair rates at time `now` and calls `onChange(flow, finishTime)` for
   * every flow whose rate changed (its old finish time is then stale: bump `version`).
   */
  recompute(now: number, onChange: (flow: number, finish: number) => void): void {
    this.advance(now);
    if (this.clean && !this.capacityChanged && this.shared === 0) {
      // Nothing is shared and nothing changed for the flows already running: only the new flows
      // need a rate, their narrowest link (what the full computation below would give them).
      for (let a = 0; a < this.addedLength; a++) {
        const flow = this.added[a]!;
        if (!this.isActive[flow]) continue; // started and ended within one instant
        const route = this.routes[flow]!;
        let narrowest = Infinity;
        for (let k = 0; k < route.length; k++) narrowest = Math.min(narrowest, this.capacity[route[k]!]!);
        this.setRate(flow, narrowest, now, onChange);
      }
      this.addedLength = 0;
      this.removedLength = 0;
      return;
    }
    const active = this.capacityChanged ? this.allActive() : this.reachedByChanges();
    this.addedLength = 0;
    this.removedLength = 0;
    this.capacityChanged = false;
    this.clean = this.shared === 0;
    const epoch = ++this.epoch;
    let mostUsers = 0;
    let routeTotal = 0;
    for (const flow of active) {
      const route = this.routes[flow]!;
      routeTotal += route.length;
      for (let k = 0; k < route.length; k++) {
        const r = route[k]!;
        if (this.mark[r] !== epoch) {
          this.mark[r] = epoch;
          this.residual[r] = this.capacity[r]!;
          this.users[r] = 0;
        }
        const users = ++this.users[r]!;
        if (users > mostUsers) mostUsers = users;
      }
    }
    if (mostUsers <= 1) {
      // No resource is shared: each flow runs at its route's narrowest link.
      for (const flow of active) {
        const route = this.routes[flow]!;
        let narrowest = Infinity;
        for (let k = 0; k < route.length; k++) narrowest = Math.min(narrowest, this.capacity[route[k]!]!);
        this.newRate[flow] = narrowest;
      }
    } else {
      this.progressiveFilling(active, epoch, routeTotal);
    }
    for (const flow of active) this.setRate(flow, this.newRate[flow]!, now, onChange);
  }

  /** Every active flow, in the order they started. */
  private allActive(): Int32Array {
    if (this.activeScratch.length < this.activeLength) this.activeScratch = new Int32Array(2 * this.activeLength);
    let count = 0;
    for (let flow = this.head; flow !== -1; flow = this.next[flow]!) this.activeScratch[count++] = flow;
    return this.activeScratch.subarray(0, count);
  }

  /**
   * The active flows whose rates the changes since the last recompute can reach: the components
   * of the flows that started and of the resources of those that ended, in the order they started.
   */
  private reachedByChanges(): Int32Array {
    if (this.activeScratch.length < this.activeLength) this.activeScratch = new Int32Array(2 * this.activeLength);
    const epoch = ++this.reachEpoch;
    const stack = this.reachStack;
    const reachedFlow = this.reachedFlow;
    const reachedResource = this.reachedResource;
    const found = this.activeScratch;
    let count = 0;
    for (let a = 0; a < this.addedLength; a++) {
      const flow = this.added[a]!;
      if (this.isActive[flow] && reachedFlow[flow] !== epoch) {
        reachedFlow[flow] = epoch;
        found[count++] = flow;
      }
    }
    for (let d = 0; d < this.removedLength; d++) {
      const route = this.routes[this.removed[d]!]!;
      for (let k = 0; k < route.length; k++) stack.push(route[k]!);
    }
    // Breadth over flows found (their resources), depth over resources of removed flows.
    for (let next = 0; next < count || stack.length > 0; ) {
      if (stack.length === 0) {
        const route = this.routes[found[next++]!]!;
        for (let k = 0; k < route.length; k++) stack.push(route[k]!);
        continue;
      }
      const r = stack.pop()!;
      if (reachedResource[r] === epoch) continue;
      reachedResource[r] = epoch;
      const on = this.flowsOn[r]!;
      for (let i = 0; i < on.length; i++) {
        const flow = on[i]!;
        if (reachedFlow[flow] !== epoch) {
          reachedFlow[flow] = epoch;
          found[count++] = flow;
        }
      }
    }
    const reached = this.activeScratch;
    if (count > 32) {
      // Many: take them in start order from the active list (a sort with a comparator costs more).
      let at = 0;
      for (let flow = this.head; flow !== -1; flow = this.next[flow]!) if (this.reachedFlow[flow] === epoch) reached[at++] = flow;
    } else {
      // Few: insertion sort by start order.
      const order = this.startOrder;
      for (let i = 1; i < count; i++) {
        const flow = reached[i]!;
        const key = order[flow]!;
        let j = i - 1;
        for (; j >= 0 && order[reached[j]!]! > key; j--) reached[j + 1] = reached[j]!;
        reached[j + 1] = flow;
      }
    }
    return reached.subarray(0, count);
  }

  private setRate(flow: number, rate: number, now: number, onChange: (flow: number, finish: number) => void): void {
    if (rate === this.rate[flow]) return;
    this.sync(flow);
    this.rate[flow] = rate;
    this.version[flow]! += 1;
    const finish = now + this.remaining[flow]! / rate;
    if (Number.isFinite(finish)) onChange(flow, finish); // background flows never finish
  }

  private progressiveFilling(active: Int32Array, epoch: number, routeTotal: number): void {
    const touched: number[] = [];
    for (const flow of active) {
      const route = this.routes[flow]!;
      for (let k = 0; k < route.length; k++) {
        const r = route[k]!;
        if (this.mark[r] === epoch) {
          this.mark[r] = -epoch; // listed
          touched.push(r);
        }
      }
    }
    // Flows crossing each resource, in active order (CSR over the touched resources).
    if (this.listFlows.length < routeTotal) this.listFlows = new Int32Array(Math.max(routeTotal, 2 * this.listFlows.length));
    let offset = 0;
    for (const r of touched) {
      this.listStart[r] = offset;
      this.listFill[r] = offset;
      offset += this.users[r]!;
    }
    for (const flow of active) {
      this.frozen[flow] = 0;
      const route = this.routes[flow]!;
      for (let k = 0; k < route.length; k++) this.listFlows[this.listFill[route[k]!]!++] = flow;
    }
    let unfrozen = active.length;
    while (unfrozen > 0) {
      let bottleneck = -1;
      let share = Infinity;
      for (let t = 0; t < touched.length; t++) {
        const r = touched[t]!;
        const users = this.users[r]!;
        if (users > 0) {
          // Least share; at equal shares the lowest resource index (the pick does not depend on
          // the order the resources were listed in).
          const candidate = this.residual[r]! / users;
          if (candidate < share || (candidate === share && r < bottleneck)) {
            share = candidate;
            bottleneck = r;
          }
        }
      }
      for (let i = this.listStart[bottleneck]!; i < this.listFill[bottleneck]!; i++) {
        const flow = this.listFlows[i]!;
        if (this.frozen[flow]) continue;
        this.frozen[flow] = 1;
        unfrozen -= 1;
        this.newRate[flow] = share;
        const route = this.routes[flow]!;
        for (let k = 0; k < route.length; k++) {
          const r = route[k]!;
          this.residual[r] = Math.max(0, this.residual[r]! - share);
          this.users[r]! -= 1;
        }
      }
    }
  }

  /** Logs `now` as an instant at which every active flow drains (if time moved). */
  private advance(now: number): void {
    if (now > this.times[this.timeCount - 1]!) {
      if (this.timeCount === this.times.length) {
        const grown = new Float64Array(2 * this.times.length);
        grown.set(this.times);
        this.times = grown;
      }
      this.times[this.timeCount++] = now;
    }
  }

  /** Drains `flow` at its current rate over the instants logged since it was last brought up to date. */
  private sync(flow: number): void {
    const last = this.timeCount - 1;
    let k = this.synced[flow]!;
    if (k === last) return;
    const rate = this.rate[flow]!;
    let remaining = this.remaining[flow]!;
    for (; k < last; k++) remaining = Math.max(0, remaining - rate * (this.times[k + 1]! - this.times[k]!));
    this.remaining[flow] = remaining;
    this.synced[flow] = last;
  }
}

