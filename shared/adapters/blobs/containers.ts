import { INTAKE_CONTAINER, RESULTS_CONTAINER } from '../../domain/blob-layout.js';
import { BLOB_TRIGGER_POISON_QUEUE, INTAKE_EVENTS_DEAD_LETTER_CONTAINER } from '../../domain/intake-failures.js';

/**
 * Every blob container and storage queue the product reads or writes. The infrastructure
 * creates exactly these, plus the deployment package's container (the infra test compares
 * them with infra/main.bicep).
 */

/** Supplier files in, reports out, and the blob events Event Grid could not deliver. */
export const BLOB_CONTAINERS = [INTAKE_CONTAINER, RESULTS_CONTAINER, INTAKE_EVENTS_DEAD_LETTER_CONTAINER] as const;

/** The blob trigger's poison queue: the Functions host writes it (and creates it if missing), the sweeper reads it. */
export const STORAGE_QUEUES = [BLOB_TRIGGER_POISON_QUEUE] as const;
