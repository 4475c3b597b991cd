import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BusiestWindow } from '../../../../local/graph-simulator/busiest-window.js';

describe('BusiestWindow', () => {
  it('counts the events of any interval of its length, not of fixed windows', () => {
    const window = new BusiestWindow(20_000);
    for (const at of [0, 1_000, 19_000, 21_000, 22_000, 39_000, 41_000]) window.add(at);
    // (19 s, 39 s] holds 21, 22 and 39; (-1 s, 19 s] holds 0, 1 and 19; (2 s, 22 s] holds 19, 21, 22: three at most.
    expect(window.busiest()).toEqual({ count: 3, from: 0 });
    window.add(41_500);
    window.add(41_900);
    // (21.9 s, 41.9 s]: 22, 39, 41, 41.5, 41.9.
    expect(window.busiest()).toEqual({ count: 5, from: 22_000 });
  });

  it('leaves out an event exactly one window length before', () => {
    const window = new BusiestWindow(20_000);
    window.add(0);
    window.add(20_000);
    expect(window.busiest().count).toBe(1);
    window.add(20_000);
    expect(window.busiest()).toEqual({ count: 2, from: 20_000 });
  });

  it('agrees with counting every interval by hand', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 200_000 }), { maxLength: 300 }), (raw) => {
        const times = [...raw].sort((a, b) => a - b);
        const window = new BusiestWindow(20_000);
        for (const at of times) window.add(at);
        const byHand = Math.max(0, ...times.map((end) => times.filter((at) => at > end - 20_000 && at <= end).length));
        expect(window.busiest().count).toBe(byHand);
      }),
    );
  });

  it('forgets what it no longer needs over a long run', () => {
    const window = new BusiestWindow(1_000);
    for (let at = 0; at < 200_000; at++) window.add(at);
    expect(window.busiest().count).toBe(1_000);
    expect((window as unknown as { times: number[] }).times.length).toBeLessThan(5_000);
  });
});
