// The one-command local stack is being assembled; until then the pieces run in the tests.
console.error('local stack not yet available: run `npm test` to exercise intake and the pipeline end to end');
process.exitCode = 1;
