import type { BatchRedrive, DeviceRedrive } from '../services/pipeline/redrive.js';
import type { GraphFailure } from '../services/graph-result.js';
import { answer, problem, type JsonAnswer } from './answers.js';

/**
 * What the redrive routes answer (product.md, HTTP API): 202 `{serial, state}` for a device
 * re-driven, `{batchId, redriven, serials}` for a file; 404 unknown; 409 `not-stalled`. When
 * Autopilot could not be asked whether it has a device stalled on its import, nothing is
 * changed for that device: 503 `autopilot-unavailable` for one device, its serial under
 * `deferred` for a file, with Retry-After when Graph said when to come back.
 */

export function deviceRedriveAnswer(outcome: DeviceRedrive | undefined): JsonAnswer {
  if (outcome === undefined) return problem(404, 'device-not-found', 'No device with this serial number is known.');
  switch (outcome.kind) {
    case 'redriven':
      return answer(202, { serial: outcome.serialNumber, state: outcome.state });
    case 'not-stalled':
      return answer(409, {
        error: {
          code: 'not-stalled',
          message: `The device is ${outcome.state}, not stalled: there is nothing to re-drive.`,
          state: outcome.state,
        },
      });
    case 'deferred':
      return withRetryAfter(
        problem(
          503,
          'autopilot-unavailable',
          'Autopilot could not be asked whether it already has the device, so nothing was changed: re-drive it again later.',
        ),
        [outcome.failure],
      );
  }
}

export function batchRedriveAnswer(result: BatchRedrive | undefined): JsonAnswer {
  if (result === undefined) return problem(404, 'batch-not-found', 'No file with this batch id is known.');
  const serials = result.devices.filter((device) => device.kind === 'redriven').map((device) => device.serialNumber);
  const deferred = result.devices.filter((device) => device.kind === 'deferred');
  const body = {
    batchId: result.batchId,
    redriven: serials.length,
    serials,
    ...(deferred.length > 0 ? { deferred: deferred.map((device) => device.serialNumber) } : {}),
  };
  return withRetryAfter(
    answer(202, body),
    deferred.map((device) => device.failure),
  );
}

/** Graph's own Retry-After, the longest among the throttled answers, in whole seconds. */
function withRetryAfter(base: JsonAnswer, failures: readonly GraphFailure[]): JsonAnswer {
  const waits = failures.flatMap((failure) => (failure.kind === 'throttled' ? [failure.retryAfterMs] : []));
  if (waits.length === 0) return base;
  return { ...base, headers: { ...base.headers, 'Retry-After': String(Math.max(1, Math.ceil(Math.max(...waits) / 1000))) } };
}
