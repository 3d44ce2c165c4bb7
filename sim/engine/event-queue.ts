/**
 * Min-heap of events ordered by time, then by insertion order, so runs are deterministic.
 * Struct-of-arrays storage keeps a simulation of thousands of events allocation-free.
 */
export class EventQueue {
  private times = new Float64Array(64);
  private seqs = new Float64Array(64);
  private types = new Uint8Array(64);
  private ops = new Int32Array(64);
  private versions = new Int32Array(64);
  private count = 0;
  private nextSeq = 0;

  get size(): number {
    return this.count;
  }

  /** Time of the earliest event; only valid when size > 0. */
  peekTime(): number {
    return this.times[0]!;
  }

  push(time: number, type: number, op: number, version: number): void {
    if (this.count === this.times.length) this.grow();
    let i = this.count++;
    const seq = this.nextSeq++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pt = this.times[parent]!;
      if (pt < time || (pt === time && this.seqs[parent]! < seq)) break;
      this.move(parent, i);
      i = parent;
    }
    this.times[i] = time;
    this.seqs[i] = seq;
    this.types[i] = type;
    this.ops[i] = op;
    this.versions[i] = version;
  }

  /** Removes the earliest event and writes it to `out`. */
  pop(out: PoppedEvent): void {
    out.time = this.times[0]!;
    out.type = this.types[0]!;
    out.op = this.ops[0]!;
    out.version = this.versions[0]!;
    const last = --this.count;
    if (last === 0) return;
    const time = this.times[last]!;
    const seq = this.seqs[last]!;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= last) break;
      const right = child + 1;
      if (
        right < last &&
        (this.times[right]! < this.times[child]! ||
          (this.times[right] === this.times[child] && this.seqs[right]! < this.seqs[child]!))
      ) {
        child = right;
      }
      const ct = this.times[child]!;
      if (time < ct || (time === ct && seq < this.seqs[child]!)) break;
      this.move(child, i);
      i = child;
    }
    this.times[i] = time;
    this.seqs[i] = seq;
    this.types[i] = this.types[last]!;
    this.ops[i] = this.ops[last]!;
    this.versions[i] = this.versions[last]!;
  }

  private move(from: number, to: number): void {
    this.times[to] = this.times[from]!;
    this.seqs[to] = this.seqs[from]!;
    this.types[to] = this.types[from]!;
    this.ops[to] = this.ops[from]!;
    this.versions[to] = this.versions[from]!;
  }

  private grow(): void {
    const size = this.times.length * 2;
    const grown = <T extends Float64Array | Uint8Array | Int32Array>(old: T, make: (n: number) => T): T => {
      const next = make(size);
      next.set(old);
      return next;
    };
    this.times = grown(this.times, (n) => new Float64Array(n));
    this.seqs = grown(this.seqs, (n) => new Float64Array(n));
    this.types = grown(this.types, (n) => new Uint8Array(n));
    this.ops = grown(this.ops, (n) => new Int32Array(n));
    this.versions = grown(this.versions, (n) => new Int32Array(n));
  }
}

export interface PoppedEvent {
  time: number;
  type: number;
  op: number;
  version: number;
}
