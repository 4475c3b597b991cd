import { app, type InvocationContext, type ServiceBusQueueFunctionOptions } from '@azure/functions';
import { QUEUES } from '../shared/messages/index.js';
import { runtime } from '../shared/runtime.js';
import { handlePipelineMessage } from '../shared/services/pipeline/dispatch.js';

/** Accepted service-desk requests: their Graph calls (the re-provisioning poll follows them up). */
export async function reprovision(message: unknown, context: InvocationContext): Promise<void> {
  const rt = await runtime();
  await handlePipelineMessage(
    rt.pipelineDeps(),
    QUEUES.reprovision,
    message,
    String(context.triggerMetadata?.messageId ?? context.invocationId),
  );
}

export const reprovisionOptions: ServiceBusQueueFunctionOptions = {
  queueName: QUEUES.reprovision,
  connection: 'ServiceBusConnection',
  handler: reprovision,
};

app.serviceBusQueue('reprovision', reprovisionOptions);
