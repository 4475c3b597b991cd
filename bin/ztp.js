#!/usr/bin/env node
// The `ztp` command: the compiled CLI after `npm run build`, otherwise the TypeScript
// sources through tsx, so a fresh checkout works without a build.
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/cli/ztp.js', import.meta.url);
let cli;
if (existsSync(compiled)) {
  cli = await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import('../cli/ztp.ts');
}
await cli.runFromProcess();
