import { describe, expect, it } from 'vitest';
import type { WaitStep } from '../../../shared/domain/lifecycle.js';
import { backoffMs, deadlineAt, isPastDeadline, type WaitPolicy } from '../../../shared/domain/waiting.js';

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

describe('backoffMs', () => {
  it.each([
    [0, 1_000],
    [1, 2_000],
    [2, 4_000],
    [3, 8_000],
    [4, 16_000],
    [5, 32_000],
    // 64 s would pass the one-minute cap.
    [6, 60_000],
    [7, 60_000],
    [50, 60_000],
  ])('attempt %i waits %i ms (first 1 s, at most 1 min)', (attempt, expected) => {
    expect(backoffMs(attempt, 1_000, 60_000)).toBe(expected);
  });

  it('doubles from one attempt to the next until it reaches the cap, then stays there', () => {
    const first = 30 * SECOND;
    const max = 30 * MINUTE;
    let previous = backoffMs(0, first, max);
    expect(previous).toBe(first);
    for (let attempt = 1; attempt < 20; attempt++) {
      const wait = backoffMs(attempt, first, max);
      expect(wait, `attempt ${attempt}`).toBe(Math.min(previous * 2, max));
      previous = wait;
    }
    expect(previous).toBe(max);
  });

  it.each([
    ['-1', -1],
    ['-1000', -1_000],
    ['-Infinity', Number.NEGATIVE_INFINITY],
  ])('treats attempt %s as the first', (_label, attempt) => {
    expect(backoffMs(attempt, 5_000, HOUR)).toBe(5_000);
  });

  it.each([
    ['1e6', 1e6],
    ['MAX_SAFE_INTEGER', Number.MAX_SAFE_INTEGER],
    ['Infinity', Number.POSITIVE_INFINITY],
  ])('caps attempt %s at the maximum wait', (_label, attempt) => {
    expect(backoffMs(attempt, 5_000, HOUR)).toBe(HOUR);
  });

  it('keeps the growth finite even without a real cap, so a wait can always be scheduled', () => {
    const wait = backoffMs(10_000, 1_000, Number.POSITIVE_INFINITY);
    expect(Number.isFinite(wait)).toBe(true);
    expect(wait).toBe(1_000 * 2 ** 30);
  });

  it('never waits longer than the cap, even when the cap is below the first wait', () => {
    expect(backoffMs(0, 10 * MINUTE, MINUTE)).toBe(MINUTE);
  });
});

describe('deadlines', () => {
  const policy: WaitPolicy = {
    firstPollMs: MINUTE,
    importPollMs: 10 * SECOND,
    maxPollIntervalMs: 6 * HOUR,
    retagSettleMs: 30 * MINUTE,
    deadlines: {
      import: 2 * HOUR,
      'group-tag': 3 * HOUR,
      'profile-assignment': 72 * HOUR,
      enrolment: 60 * DAY,
      reprovision: 24 * HOUR,
    },
  };
  const since = new Date('2026-03-02T09:00:00.000Z');

  it.each<[WaitStep, string]>([
    ['import', '2026-03-02T11:00:00.000Z'],
    ['group-tag', '2026-03-02T12:00:00.000Z'],
    ['profile-assignment', '2026-03-05T09:00:00.000Z'],
    ['enrolment', '2026-05-01T09:00:00.000Z'],
    ['reprovision', '2026-03-03T09:00:00.000Z'],
  ])('deadlineAt(%s) is the step’s deadline after the wait began: %s', (step, expected) => {
    expect(deadlineAt(step, since, policy).toISOString()).toBe(expected);
  });

  it('leaves the start of the wait untouched', () => {
    deadlineAt('import', since, policy);
    expect(since.toISOString()).toBe('2026-03-02T09:00:00.000Z');
  });

  const deadline = '2026-03-02T11:00:00.000Z';
  const at = (iso: string): Date => new Date(iso);

  it.each<[string, string | undefined, Date, boolean]>([
    ['no deadline', undefined, at('2100-01-01T00:00:00.000Z'), false],
    ['a millisecond before it', deadline, at('2026-03-02T10:59:59.999Z'), false],
    // A poll landing on the deadline itself gives up rather than waiting one more round.
    ['exactly at it', deadline, at('2026-03-02T11:00:00.000Z'), true],
    ['a millisecond after it', deadline, at('2026-03-02T11:00:00.001Z'), true],
    ['long after it', deadline, at('2026-04-01T00:00:00.000Z'), true],
    ['at it, written with an offset', '2026-03-02T12:00:00+01:00', at('2026-03-02T11:00:00.000Z'), true],
    // A record damaged by hand never stalls a device on its own.
    ['an unreadable deadline', 'not a date', at('2100-01-01T00:00:00.000Z'), false],
  ])('isPastDeadline with %s', (_label, value, now, expected) => {
    expect(isPastDeadline(value, now)).toBe(expected);
  });

  it('agrees with deadlineAt: a wait is past its deadline exactly when the step’s time has gone by', () => {
    const end = deadlineAt('profile-assignment', since, policy);
    expect(isPastDeadline(end.toISOString(), new Date(end.getTime() - 1))).toBe(false);
    expect(isPastDeadline(end.toISOString(), end)).toBe(true);
  });
});
