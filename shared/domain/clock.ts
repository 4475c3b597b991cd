/** The one clock: use cases and adapters are given one, so tests can hold time still or move it. */
export type Clock = () => Date;

export const systemClock: Clock = () => new Date();
