import { app, type InvocationContext, type ServiceBusQueueFunctionOptions } from '@azure/functions';
import { QUEUES } from '../shared/messages/index.js';
import { runtime } from '../shared/runtime.js';
import { handlePipelineMessage } from '../shared/services/pipeline/dispatch.js';

/** Scheduled follow-ups: the import and Autopilot polls, and re-tags. */
export async function followUp(message: unknown, context: InvocationContext): Promise<void> {
  const rt = await runtime();
  await handlePipelineMessage(
    rt.pipelineDeps(),
    QUEUES.followup,
    message,
    String(context.triggerMetadata?.messageId ?? context.invocationId),
  );
}

export const followUpOptions: ServiceBusQueueFunctionOptions = {
  queueName: QUEUES.followup,
  connection: 'ServiceBusConnection',
  handler: followUp,
};

app.serviceBusQueue('followUp', followUpOptions);
