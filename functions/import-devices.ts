import { app, type InvocationContext, type ServiceBusQueueFunctionOptions } from '@azure/functions';
import { QUEUES } from '../shared/messages/index.js';
import { runtime } from '../shared/runtime.js';
import { handlePipelineMessage } from '../shared/services/pipeline/dispatch.js';

/** A chunk of received devices to submit to Autopilot (queued by the intake, the import poll and the sweeper). */
export async function importDevices(message: unknown, context: InvocationContext): Promise<void> {
  const rt = await runtime();
  await handlePipelineMessage(
    rt.pipelineDeps(),
    QUEUES.import,
    message,
    String(context.triggerMetadata?.messageId ?? context.invocationId),
  );
}

export const importDevicesOptions: ServiceBusQueueFunctionOptions = {
  queueName: QUEUES.import,
  connection: 'ServiceBusConnection',
  handler: importDevices,
};

app.serviceBusQueue('importDevices', importDevicesOptions);
