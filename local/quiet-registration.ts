/**
 * Imported first by the local entry points. Each function module registers itself with the
 * Azure Functions host when it is imported; outside the host, @azure/functions says so with one
 * warning per function ("Failed to detect the Azure Functions runtime", "Skipping call to
 * register function …"), and the app's HTTP streams setting with a debug line ("HTTP streaming
 * enabled."). Locally the dev host runs those same functions, streams included, so these lines
 * alarm or clutter without informing: they are held back here, and the stack says once, in
 * words, what runs the functions. Every other line passes through unchanged.
 */
const HOST_ABSENT = /^WARNING: (Failed to detect the Azure Functions runtime|Skipping call to register function)/;
const HOST_SETUP = /^HTTP streaming enabled\.$/;
const warn = console.warn.bind(console);
const debug = console.debug.bind(console);
console.warn = (...args: unknown[]): void => {
  if (typeof args[0] === 'string' && HOST_ABSENT.test(args[0])) return;
  warn(...args);
};
console.debug = (...args: unknown[]): void => {
  if (typeof args[0] === 'string' && HOST_SETUP.test(args[0])) return;
  debug(...args);
};
