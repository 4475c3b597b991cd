import type { GraphSettings } from './adapters/graph/settings.js';
import type { AppConfig } from './config.js';
import type { PipelinePolicy } from './services/pipeline/context.js';
import type { SweeperPolicy } from './services/sweeper.js';

/**
 * The durations and sizes each use case works with, derived once from the configuration:
 * ZTP_TIME_SCALE divides every wait that runs on Autopilot's clock (the simulator's, when
 * it runs faster), while network and queue delays stay real.
 */

const MINUTE = 60_000;
/** Queue delivery and handler time are real, whatever the time scale: the sweeper never waits less than this. */
const MIN_REAL_WAIT_MS = MINUTE;

/** A real-world duration as the pipeline should wait it under ZTP_TIME_SCALE. */
export function scaled(config: Pick<AppConfig, 'timeScale'>, ms: number): number {
  return ms / config.timeScale;
}

export function pipelinePolicy(config: Pick<AppConfig, 'timeScale' | 'pipeline' | 'graph' | 'intake'>): PipelinePolicy {
  const p = config.pipeline;
  // A claim is sent only while this young; a chunk held back longer (the budget, Retry-After)
  // claims its devices afresh first. Real time: queues and the budget, not Autopilot's clock.
  const claimSendMs = Math.max(config.graph.requestTimeoutMs, scaled(config, p.firstPollMs));
  // Past this, a claim's call has been sent and answered, or never will be: two request
  // timeouts beyond the last moment it could leave, for the send and the listing's margin.
  const claimGraceMs = claimSendMs + 2 * config.graph.requestTimeoutMs;
  return {
    waits: {
      firstPollMs: scaled(config, p.firstPollMs),
      importPollMs: scaled(config, p.importPollMs),
      maxPollIntervalMs: scaled(config, p.maxPollIntervalMs),
      retagSettleMs: scaled(config, p.retagSettleMs),
      deadlines: {
        // Never shorter than a few claim graces, or a fast clock stalls imports before a lost one is retried.
        import: Math.max(scaled(config, p.importDeadlineMs), 4 * claimGraceMs),
        'group-tag': scaled(config, p.profileDeadlineMs),
        'profile-assignment': scaled(config, p.profileDeadlineMs),
        enrolment: scaled(config, p.enrolmentDeadlineMs),
        reprovision: scaled(config, p.reprovisionDeadlineMs),
      },
    },
    retry: {
      firstRetryMs: scaled(config, p.firstRetryMs),
      maxRetryMs: scaled(config, p.maxRetryMs),
      maxTransientRetries: p.maxTransientRetries,
    },
    claimSendMs,
    claimGraceMs,
    importRequestSize: config.graph.importChunkSize,
    importChunkSize: config.intake.importChunkSize,
    importIdPrefix: config.intake.importIdPrefix,
    perDeviceReadLimit: p.perDeviceReadLimit,
    pollPageSize: POLL_PAGE_SIZE,
  };
}

/**
 * One Table Storage query page: a poll reads no further ahead than the devices it is moving
 * on, so its memory stays flat however many wait, and it learns between pages whether its
 * run lock is still its own.
 */
const POLL_PAGE_SIZE = 1000;

/**
 * A ledger round trip takes real time, and on a busy store (an emulator sharing two cores) well
 * over 100 ms: a lease shorter than that expires before its slots are handed out, and every call
 * is refused. Only scaled clocks reach this floor; it lengthens their span, never weakens it.
 */
const MIN_REAL_LEASE_MS = 250;

/**
 * Graph's windows run on the simulator's clock when ZTP_TIME_SCALE > 1, like Autopilot's waits;
 * the budget's lease and tolerance with them, or they would stretch every scaled-down window.
 */
export function graphPolicy(config: Pick<AppConfig, 'timeScale' | 'graph'>): GraphSettings {
  return {
    ...config.graph,
    budgetWindowMs: scaled(config, config.graph.budgetWindowMs),
    budgetLeaseMs: Math.max(scaled(config, config.graph.budgetLeaseMs), Math.min(MIN_REAL_LEASE_MS, config.graph.budgetLeaseMs)),
    budgetClockToleranceMs: scaled(config, config.graph.budgetClockToleranceMs),
    syncIntervalMs: scaled(config, config.graph.syncIntervalMs),
    defaultRetryAfterMs: scaled(config, config.graph.defaultRetryAfterMs),
  };
}

export function sweeperPolicy(config: Pick<AppConfig, 'timeScale' | 'pipeline' | 'intake'>): SweeperPolicy {
  return {
    requeueAfterMs: Math.max(scaled(config, 10 * config.pipeline.firstPollMs), MIN_REAL_WAIT_MS),
    intakeGraceMs: config.intake.stuckMs,
    intakeStuckMs: config.intake.stuckMs,
    maxIntakeRedrives: 3,
    maxIntakeFailuresPerRun: 100,
    tickOverdueMs: Math.max(scaled(config, 10 * MINUTE), MIN_REAL_WAIT_MS),
    reviveDelayMs: scaled(config, config.pipeline.firstPollMs),
    importChunkSize: config.intake.importChunkSize,
    maxRequeuePerRun: 2_000,
    maxNewDeadLettersPerQueue: 500,
    maxDeadLettersCounted: 5_000,
  };
}
