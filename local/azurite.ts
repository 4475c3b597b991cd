import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createSelfSignedCertificate } from './graph-simulator/certificate.js';

/** A running Azurite child process and how to reach it. */
export interface AzuriteInstance {
  readonly pid: number;
  readonly blobEndpoint: string;
  readonly queueEndpoint: string;
  readonly tableEndpoint: string;
  /** Full connection string with explicit endpoints (Azurite picks free ports). */
  readonly connectionString: string;
  /**
   * With `oauth`: the self-signed certificate Azurite serves (PEM), and a file holding it for
   * NODE_EXTRA_CA_CERTS; removed on stop.
   */
  readonly certificate?: { readonly pem: string; readonly file: string };
  stop(): Promise<void>;
}

// Azurite's well-known development account; public, documented, not a secret.
const ACCOUNT = 'devstoreaccount1';
const KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

const LISTENING = /Azurite (Blob|Queue|Table) service is successfully listening at (https?:\/\/[^\s]+)/;

function azuriteEntry(): string {
  // `require('azurite')` resolves to a VS Code extension; the CLI lives in dist/src.
  const require = createRequire(import.meta.url);
  const pkg = require.resolve('azurite/package.json');
  return path.join(path.dirname(pkg), 'dist', 'src', 'azurite.js');
}

export interface AzuriteOptions {
  blobPort?: number;
  queuePort?: number;
  tablePort?: number;
  /** Keep data on disk in this folder instead of in memory. */
  location?: string;
  /**
   * Serve HTTPS (a self-signed certificate for 127.0.0.1 and localhost) and accept bearer
   * tokens (`--oauth basic`): Azurite checks a token's issuer, audience and lifetime, not its
   * signature. Shared-key requests are still accepted.
   */
  oauth?: boolean;
  /** Azurite's debug log, which names every request with its headers. */
  debugLog?: string;
  /** Write a V8 CPU profile of the emulator into this folder when it stops (where its time goes under load). */
  cpuProfDir?: string;
  startTimeoutMs?: number;
}

/** Starts Azurite (in memory, free ports unless given) and resolves once all three services listen. */
export async function startAzurite(options: AzuriteOptions = {}): Promise<AzuriteInstance> {
  const args = [
    azuriteEntry(),
    '--loose',
    '--skipApiVersionCheck',
    '--disableTelemetry',
    '--blobHost',
    '127.0.0.1',
    '--queueHost',
    '127.0.0.1',
    '--tableHost',
    '127.0.0.1',
    '--blobPort',
    String(options.blobPort ?? 0),
    '--queuePort',
    String(options.queuePort ?? 0),
    '--tablePort',
    String(options.tablePort ?? 0),
  ];
  if (options.location) args.push('--location', options.location);
  else args.push('--inMemoryPersistence');
  if (options.debugLog) args.push('--debug', options.debugLog);
  const certificate = options.oauth ? writeCertificate() : undefined;
  if (certificate) args.push('--cert', certificate.file, '--key', certificate.keyFile, '--oauth', 'basic');
  const removeCertificate = (): void => {
    if (certificate) rmSync(certificate.dir, { recursive: true, force: true });
  };

  const profile = options.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir] : [];
  const child = spawn(process.execPath, [...profile, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let endpoints: Record<'Blob' | 'Queue' | 'Table', string>;
  try {
    endpoints = await waitForEndpoints(child, options.startTimeoutMs ?? 30_000);
  } catch (error) {
    removeCertificate();
    throw error;
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error('Azurite did not start (no pid)');

  const connectionString =
    `DefaultEndpointsProtocol=${certificate ? 'https' : 'http'};AccountName=${ACCOUNT};AccountKey=${KEY};` +
    `BlobEndpoint=${endpoints.Blob}/${ACCOUNT};QueueEndpoint=${endpoints.Queue}/${ACCOUNT};TableEndpoint=${endpoints.Table}/${ACCOUNT};`;

  return {
    pid,
    blobEndpoint: `${endpoints.Blob}/${ACCOUNT}`,
    queueEndpoint: `${endpoints.Queue}/${ACCOUNT}`,
    tableEndpoint: `${endpoints.Table}/${ACCOUNT}`,
    connectionString,
    ...(certificate ? { certificate: { pem: certificate.pem, file: certificate.file } } : {}),
    stop: () => stopChild(child).finally(removeCertificate),
  };
}

/** A fresh certificate and key in a private temporary folder, where Azurite's `--cert` and `--key` read them. */
function writeCertificate(): { dir: string; file: string; keyFile: string; pem: string } {
  const { certPem, keyPem } = createSelfSignedCertificate('azurite');
  const dir = mkdtempSync(path.join(tmpdir(), 'azurite-tls-'));
  const file = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  writeFileSync(file, certPem);
  writeFileSync(keyFile, keyPem, { mode: 0o600 });
  return { dir, file, keyFile, pem: certPem };
}

function waitForEndpoints(child: ChildProcess, timeoutMs: number): Promise<Record<'Blob' | 'Queue' | 'Table', string>> {
  return new Promise((resolve, reject) => {
    const found: Partial<Record<'Blob' | 'Queue' | 'Table', string>> = {};
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`Azurite did not start within ${timeoutMs} ms. Output:\n${output}`));
    }, timeoutMs);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      for (const line of chunk.toString().split('\n')) {
        const match = LISTENING.exec(line);
        if (match?.[1] && match[2]) found[match[1] as 'Blob' | 'Queue' | 'Table'] = match[2].replace(/\/$/, '');
      }
      if (found.Blob && found.Queue && found.Table) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        // Keep draining so a full pipe never blocks the emulator.
        child.stdout?.resume();
        child.stderr?.resume();
        resolve(found as Record<'Blob' | 'Queue' | 'Table', string>);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Azurite exited early with code ${code}. Output:\n${output}`));
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
