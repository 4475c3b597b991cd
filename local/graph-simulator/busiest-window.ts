/**
 * The most events seen in any interval of a given length, sliding (not the fixed windows the
 * simulator throttles in): what a budget that must hold "in any 20 s" is checked against.
 * Times must come in order (the simulator counts requests as they arrive, one at a time).
 */
export class BusiestWindow {
  /** Times of the events within the last window, oldest first, from `head` on. */
  private times: number[] = [];
  private head = 0;
  private most = 0;
  private mostFrom: number | undefined;

  constructor(readonly windowMs: number) {
    if (!(windowMs > 0)) throw new RangeError(`windowMs must be positive, got ${windowMs}`);
  }

  add(at: number): void {
    // An interval of windowMs holds the events from (at - windowMs, at].
    while (this.head < this.times.length && this.times[this.head]! <= at - this.windowMs) this.head++;
    if (this.head > 1024 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
    this.times.push(at);
    const count = this.times.length - this.head;
    if (count > this.most) {
      this.most = count;
      this.mostFrom = this.times[this.head];
    }
  }

  /** The count, and when the busiest interval's first event came (undefined before any). */
  busiest(): { count: number; from: number | undefined } {
    return { count: this.most, from: this.mostFrom };
  }
}
