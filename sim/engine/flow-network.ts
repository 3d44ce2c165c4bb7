/**
 * Fluid model of concurrent transfers on directed link resources. Flows share every resource
 * max-min fairly (progressive filling): the most contended resource fixes the rate of the flows
 * crossing it, their share is removed from the other resources on their routes, and so on.
 * Rates are recomputed whenever a flow starts or ends; between changes each flow drains its
 * remaining bytes at a constant rate, and data crosses every link of a route at once (no
 * store-and-forward).
 */
export class FlowNetwork {
  private readonly capacity: Float64Array;
  private readonly routeOf: (flow: number) => Int32Array;
  /** Per flow id (op id). */
  readonly rate: Float64Array;
  readonly remaining: Float64Array;
  readonly version: Int32Array;
  private readonly newRate: Float64Array;
  private active: number[] = [];
  private lastUpdate = 0;
  // Scratch, per resource.
  private readonly residual: Float64Array;
  private readonly users: Int32Array;
  private readonly mark: Int32Array;
  private epoch = 0;

  constructor(capacity: Float64Array, flowCount: number, routeOf: (flow: number) => Int32Array) {
    this.capacity = capacity;
    this.routeOf = routeOf;
    this.rate = new Float64Array(flowCount);
    this.remaining = new Float64Array(flowCount);
    this.version = new Int32Array(flowCount);
    this.newRate = new Float64Array(flowCount);
    this.residual = new Float64Array(capacity.length);
    this.users = new Int32Array(capacity.length);
    this.mark = new Int32Array(capacity.length);
  }

  get activeCount(): number {
    return this.active.length;
  }

  /** Starts draining `bytes` at time `now`; its rate is set by the next recompute. */
  add(flow: number, bytes: number, now: number): void {
    this.advance(now);
    this.remaining[flow] = bytes;
    this.rate[flow] = 0;
    this.active.push(flow);
  }

  /** Changes a resource's capacity at time `now` (noisy links); rates follow at the next recompute. */
  setCapacity(resource: number, capacity: number, now: number): void {
    this.advance(now);
    this.capacity[resource] = capacity;
  }

  /** Removes a finished flow at time `now`. */
  remove(flow: number, now: number): void {
    this.advance(now);
    const index = this.active.indexOf(flow);
    this.active.splice(index, 1);
    this.remaining[flow] = 0;
    this.rate[flow] = 0;
  }

  /**
   * Recomputes the max-min fair rates at time `now` and calls `onChange(flow, finishTime)` for
   * every flow whose rate changed (its old finish time is then stale: bump `version`).
   */
  recompute(now: number, onChange: (flow: number, finish: number) => void): void {
    this.advance(now);
    const active = this.active;
    const epoch = ++this.epoch;
    let mostUsers = 0;
    for (const flow of active) {
      const route = this.routeOf(flow);
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
        const route = this.routeOf(flow);
        let narrowest = Infinity;
        for (let k = 0; k < route.length; k++) narrowest = Math.min(narrowest, this.capacity[route[k]!]!);
        this.newRate[flow] = narrowest;
      }
    } else {
      this.progressiveFilling(active, epoch);
    }
    for (const flow of active) {
      const rate = this.newRate[flow]!;
      if (rate !== this.rate[flow]) {
        this.rate[flow] = rate;
        this.version[flow]! += 1;
        const finish = now + this.remaining[flow]! / rate;
        if (Number.isFinite(finish)) onChange(flow, finish); // background flows never finish
      }
    }
  }

  private progressiveFilling(active: readonly number[], epoch: number): void {
    const unfrozen = active.slice();
    const touched: number[] = [];
    for (const flow of active) {
      const route = this.routeOf(flow);
      for (let k = 0; k < route.length; k++) {
        const r = route[k]!;
        if (this.mark[r] === epoch) {
          this.mark[r] = -epoch; // listed
          touched.push(r);
        }
      }
    }
    touched.sort((a, b) => a - b);
    while (unfrozen.length > 0) {
      let bottleneck = -1;
      let share = Infinity;
      for (const r of touched) {
        const users = this.users[r]!;
        if (users > 0) {
          const candidate = this.residual[r]! / users;
          if (candidate < share) {
            share = candidate;
            bottleneck = r;
          }
        }
      }
      let kept = 0;
      for (const flow of unfrozen) {
        const route = this.routeOf(flow);
        let crosses = false;
        for (let k = 0; k < route.length; k++) if (route[k] === bottleneck) crosses = true;
        if (!crosses) {
          unfrozen[kept++] = flow;
          continue;
        }
        this.newRate[flow] = share;
        for (let k = 0; k < route.length; k++) {
          const r = route[k]!;
          this.residual[r] = Math.max(0, this.residual[r]! - share);
          this.users[r]! -= 1;
        }
      }
      unfrozen.length = kept;
    }
  }

  /** Drains every active flow up to `now` at its current rate. */
  private advance(now: number): void {
    const elapsed = now - this.lastUpdate;
    if (elapsed > 0) {
      for (const flow of this.active) {
        this.remaining[flow] = Math.max(0, this.remaining[flow]! - this.rate[flow]! * elapsed);
      }
    }
    this.lastUpdate = now;
  }
}
