/**
 * Imported first by the local entry points. Each function module registers itself with the
 * Azure Functions host when it is imported; outside the host, @azure/functions says so with one
 * warning per function ("Failed to detect the Azure Functions runtime", "Skipping call to
 * register function …"). Locally the dev host runs those same functions, so the warnings alarm
 * without informing: they are held back here, and the stack says once, in words, what runs
 * the functions. Every other warning passes through unchanged.
 */
const HOST_ABSENT = /^WARNING: (Failed to detect the Azure Functions runtime|Skipping call to register function)/;
const warn = console.warn.bind(console);
console.warn = (...args: unknown[]): void => {
  if (typeof args[0] === 'string' && HOST_ABSENT.test(args[0])) return;
  warn(...args);
};
