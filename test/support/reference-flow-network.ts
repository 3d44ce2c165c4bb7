/**
 * The flow network as first written (issue #2): every active flow drained at every event and
 * every rate recomputed by plain progressive filling at every recompute. Kept as the reference
 * that sim/engine/flow-network.ts must match bit for bit.
 */
export class ReferenceFlowNetwork {
  readonly rate: Float64Array;
  readonly remaining: Float64Array;
  readonly version: Int32Array;
  private readonly newRate: Float64Array;
  private active: number[] = [];
  private lastUpdate = 0;

  constructor(
    private readonly capacity: Float64Array,
    flowCount: number,
    private readonly routeOf: (flow: number) => Int32Array,
  ) {
    this.rate = new Float64Array(flowCount);
    this.remaining = new Float64Array(flowCount);
    this.version = new Int32Array(flowCount);
    this.newRate = new Float64Array(flowCount);
  }

  add(flow: number, bytes: number, now: number): void {
    this.advance(now);
    this.remaining[flow] = bytes;
    this.rate[flow] = 0;
    this.active.push(flow);
  }

  setCapacity(resource: number, capacity: number, now: number): void {
    this.advance(now);
    this.capacity[resource] = capacity;
  }

  remove(flow: number, now: number): void {
    this.advance(now);
    this.active.splice(this.active.indexOf(flow), 1);
    this.remaining[flow] = 0;
    this.rate[flow] = 0;
  }

  recompute(now: number, onChange: (flow: number, finish: number) => void): void {
    this.advance(now);
    const residual = new Map<number, number>();
    const users = new Map<number, number>();
    for (const flow of this.active) {
      for (const r of this.routeOf(flow)) {
        if (!residual.has(r)) residual.set(r, this.capacity[r]!);
        users.set(r, (users.get(r) ?? 0) + 1);
      }
    }
    const shared = [...users.values()].some((u) => u > 1);
    if (!shared) {
      for (const flow of this.active) {
        let narrowest = Infinity;
        for (const r of this.routeOf(flow)) narrowest = Math.min(narrowest, this.capacity[r]!);
        this.newRate[flow] = narrowest;
      }
    } else {
      const touched = [...residual.keys()].sort((a, b) => a - b);
      let unfrozen = this.active.slice();
      while (unfrozen.length > 0) {
        let bottleneck = -1;
        let share = Infinity;
        for (const r of touched) {
          const u = users.get(r)!;
          if (u > 0 && residual.get(r)! / u < share) {
            share = residual.get(r)! / u;
            bottleneck = r;
          }
        }
        unfrozen = unfrozen.filter((flow) => {
          const route = this.routeOf(flow);
          if (!route.includes(bottleneck)) return true;
          this.newRate[flow] = share;
          for (const r of route) {
            residual.set(r, Math.max(0, residual.get(r)! - share));
            users.set(r, users.get(r)! - 1);
          }
          return false;
        });
      }
    }
    for (const flow of this.active) {
      const rate = this.newRate[flow]!;
      if (rate !== this.rate[flow]) {
        this.rate[flow] = rate;
        this.version[flow]! += 1;
        const finish = now + this.remaining[flow]! / rate;
        if (Number.isFinite(finish)) onChange(flow, finish);
      }
    }
  }

  private advance(now: number): void {
    const elapsed = now - this.lastUpdate;
    if (elapsed > 0) {
      for (const flow of this.active) this.remaining[flow] = Math.max(0, this.remaining[flow]! - this.rate[flow]! * elapsed);
    }
    this.lastUpdate = now;
  }
}
