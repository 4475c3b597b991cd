import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startServiceBusBroker } from '../../../../local/servicebus-broker/index.js';

describe('Service Bus test broker: stopping', () => {
  it('stops when a client resets its connection while the broker waits for it to close', async () => {
    const broker = await startServiceBusBroker({ queues: [{ name: 'q' }] });
    const client = connect(broker.port, '127.0.0.1');
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    client.on('error', () => undefined);
    // Half an AMQP header: the broker holds the socket open, waiting for the rest.
    client.write(Buffer.from('AMQP'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const stopped = broker.stop();
    // A client dying as the broker stops: its socket errors (ECONNRESET) before it closes.
    client.resetAndDestroy();
    await expect(stopped).resolves.toBeUndefined();
  });
});
