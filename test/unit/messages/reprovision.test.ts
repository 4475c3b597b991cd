import { describe, expect, it } from 'vitest';
import { redriveReprovisionMessage, reprovisionMessage, reprovisionQueue } from '../../../shared/messages/index.js';

describe('reprovisionMessage', () => {
  const requestId = '6f1c7c0e-3a56-4a4e-9e1f-0c9d1f1d2a11';

  it('is one message per request on ztp-reprovision, whoever sends it', () => {
    const fromWebhook = reprovisionMessage({ serialNumber: 'PF3K-0042', requestId }, 'corr-webhook');
    const fromSweeper = reprovisionMessage({ serialNumber: 'pf3k-0042 ', requestId }, 'corr-sweep');
    expect(reprovisionQueue).toBe('ztp-reprovision');
    expect(fromWebhook.messageId).toBe(`reprovision:${requestId}`);
    expect(fromSweeper.messageId).toBe(fromWebhook.messageId);
    // Room for a rescheduled copy's suffix within Service Bus's 128 characters.
    expect(fromWebhook.messageId.length + 20).toBeLessThanOrEqual(128);
  });

  it('gets a new id when a stalled request is re-driven, one per re-drive', () => {
    const first = reprovisionMessage({ serialNumber: 'PF3K-0042', requestId }, 'corr-webhook');
    const redriven = redriveReprovisionMessage({ serialNumber: 'PF3K-0042', requestId }, 9, 'corr-redrive');
    const again = redriveReprovisionMessage({ serialNumber: 'PF3K-0042', requestId }, 9, 'corr-retry');
    const later = redriveReprovisionMessage({ serialNumber: 'PF3K-0042', requestId }, 14, 'corr-later');
    expect(redriven).toEqual({
      kind: 'reprovision',
      correlationId: 'corr-redrive',
      messageId: `reprovision:${requestId}:redrive:9`,
      payload: { serialNumber: 'PF3K-0042', requestId },
    });
    expect(new Set([first.messageId, redriven.messageId, later.messageId]).size).toBe(3);
    expect(again.messageId).toBe(redriven.messageId);
    expect(redriven.messageId.length + 20).toBeLessThanOrEqual(128);
  });
});
