/** Graph's filters are looser (contains matches substrings): a device is the one asked for only on this exact match. */
export const sameSerial = (a: string, b: string): boolean => a.trim().toUpperCase() === b.trim().toUpperCase();
