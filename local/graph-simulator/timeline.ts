import type { SimClock } from './clock.js';
import type { SimSeconds } from './options.js';
import type { Random } from './random.js';

/**
 * Simulated time as the tenant sees it. Events wait here for their simulated moment and run
 * only when a request catches the tenant up, so nothing depends on timers. Latencies drawn
 * from ranges come from the seeded PRNG, so a seed replays the same timeline.
 */
export class Timeline {
  /** Events ordered by simulated time (ties in scheduling order): a binary heap, as tens of thousands wait at once. */
  private readonly heap: { at: number; seq: number; run: (at: number) => void }[] = [];
  private seq = 0;

  constructor(
    private readonly clock: SimClock,
    private readonly random: Random,
  ) {}

  now(): number {
    return this.clock.now();
  }

  /** Simulated milliseconds for a latency setting. */
  draw(seconds: SimSeconds): number {
    const value = typeof seconds === 'number' ? seconds : this.random.between(seconds[0], seconds[1]);
    return Math.max(0, value) * 1000;
  }

  at(at: number, run: (at: number) => void): void {
    this.heap.push({ at, seq: this.seq++, run });
    let index = this.heap.length - 1;
    while (index > 0) {
      const parent = (index - 1) >>> 1;
      if (!this.before(index, parent)) break;
      this.swap(index, parent);
      index = parent;
    }
  }

  /** Runs everything that is due by the simulated now, each event with the time it was due. */
  runDue(): void {
    const now = this.clock.now();
    for (let next = this.heap[0]; next && next.at <= now; next = this.heap[0]) {
      this.pop();
      next.run(next.at);
    }
  }

  private pop(): void {
    const last = this.heap.pop();
    if (last === undefined || this.heap.length === 0) return;
    this.heap[0] = last;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      const right = left + 1;
      let first = index;
      if (left < this.heap.length && this.before(left, first)) first = left;
      if (right < this.heap.length && this.before(right, first)) first = right;
      if (first === index) return;
      this.swap(index, first);
      index = first;
    }
  }

  private before(a: number, b: number): boolean {
    const x = this.heap[a]!;
    const y = this.heap[b]!;
    return x.at < y.at || (x.at === y.at && x.seq < y.seq);
  }

  private swap(a: number, b: number): void {
    const x = this.heap[a]!;
    this.heap[a] = this.heap[b]!;
    this.heap[b] = x;
  }
}
