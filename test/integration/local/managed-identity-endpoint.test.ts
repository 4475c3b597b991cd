import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startManagedIdentityEndpoint, type ManagedIdentityEndpoint } from '../../../local/managed-identity-endpoint.js';

/**
 * The managed identity stand-in answers as App Service's endpoint does (api-version 2019-08-01):
 * a token for the resource and identity asked for, refused without the identity header or for an
 * identity the app does not hold. The product's own use of it, through the real credential, is in
 * test/integration/adapters/storage-access.test.ts.
 */

const clientId = randomUUID();
let endpoint: ManagedIdentityEndpoint;

beforeAll(async () => {
  endpoint = await startManagedIdentityEndpoint({ clientIds: [clientId], tenantId: '0a0b0c0d-0000-4000-8000-000000000001' });
});

afterAll(async () => {
  await endpoint?.stop();
});

/** `header` null sends none. */
function ask(query: Record<string, string>, header: string | null = endpoint.env.IDENTITY_HEADER): Promise<Response> {
  const url = new URL(endpoint.env.IDENTITY_ENDPOINT);
  for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
  return fetch(url, { headers: header === null ? {} : { 'X-IDENTITY-HEADER': header } });
}

const claimsOf = (token: string): Record<string, unknown> =>
  JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;

describe('the managed identity stand-in', () => {
  it('binds 127.0.0.1 and hands out an unsigned token for the resource and identity asked for', async () => {
    expect(new URL(endpoint.env.IDENTITY_ENDPOINT).hostname).toBe('127.0.0.1');
    const before = Math.floor(Date.now() / 1000);
    const response = await ask({ 'api-version': '2019-08-01', resource: 'https://storage.azure.com', client_id: clientId });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, string>;
    expect(body).toMatchObject({ resource: 'https://storage.azure.com', token_type: 'Bearer', client_id: clientId });
    expect(Number(body.expires_on)).toBeGreaterThanOrEqual(before + 3_600);

    const [header, , signature] = body.access_token!.split('.');
    expect(JSON.parse(Buffer.from(header!, 'base64url').toString('utf8'))).toEqual({ typ: 'JWT', alg: 'none' });
    expect(signature).toBe('');
    const claims = claimsOf(body.access_token!);
    expect(claims).toMatchObject({
      aud: 'https://storage.azure.com',
      iss: 'https://sts.windows.net/0a0b0c0d-0000-4000-8000-000000000001/',
      tid: '0a0b0c0d-0000-4000-8000-000000000001',
      appid: clientId,
      exp: Number(body.expires_on),
    });
    expect(claims.nbf).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
  });

  it.each([
    ['no identity header', null],
    ['a wrong identity header', 'not-the-secret'],
  ])('refuses %s with 401 and records it', async (_label, header) => {
    const response = await ask({ 'api-version': '2019-08-01', resource: 'https://storage.azure.com', client_id: clientId }, header);
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ statusCode: 401, message: expect.stringContaining('X-IDENTITY-HEADER') });
    expect(endpoint.requests.at(-1)).toEqual({
      resource: 'https://storage.azure.com',
      clientId,
      apiVersion: '2019-08-01',
      identityHeader: false,
      status: 401,
    });
  });

  it.each([
    ['an identity the app does not hold', { client_id: randomUUID() }, 'holds no identity'],
    ['a system-assigned identity it does not have', {}, 'no system-assigned identity'],
    ['another api-version', { client_id: clientId, 'api-version': '2017-09-01' }, 'api-version must be 2019-08-01'],
  ])('refuses %s with 400', async (_label, query, message) => {
    const response = await ask({ 'api-version': '2019-08-01', resource: 'https://storage.azure.com', ...query });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ statusCode: 400, message: expect.stringContaining(message) });
  });

  it('issues tokens for a wrong audience, or already expired, when told to', async () => {
    const wrong = await startManagedIdentityEndpoint({ clientIds: [clientId], audience: 'https://vault.azure.net', lifetimeSeconds: -60 });
    try {
      const url = new URL(wrong.env.IDENTITY_ENDPOINT);
      url.search = new URLSearchParams({
        'api-version': '2019-08-01',
        resource: 'https://storage.azure.com',
        client_id: clientId,
      }).toString();
      const body = (await (await fetch(url, { headers: { 'X-IDENTITY-HEADER': wrong.env.IDENTITY_HEADER } })).json()) as Record<
        string,
        string
      >;
      const claims = claimsOf(body.access_token!);
      expect(claims.aud).toBe('https://vault.azure.net');
      expect(claims.exp).toBeLessThan(Math.floor(Date.now() / 1000));
    } finally {
      await wrong.stop();
    }
  });
});
