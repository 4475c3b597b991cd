// Moved: the entities are the domain's (shared/domain/autopilot.ts).
export type * from '../../domain/autopilot.js';
