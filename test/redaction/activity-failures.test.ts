import { randomBytes, randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import { z } from 'zod';
import { defineSource, kindRegistry } from '../../src/kinds/define';
import { ProviderError } from '../../src/providers/errors';
import type { CredentialSource } from '../../src/providers/types';
import { REDACTED, redactSecrets } from '../../src/redaction';
import { VaultKvStore } from '../../src/vault';
import { noAudit } from '../helpers/audit';
import { TEST_KV_MOUNT, testServers } from '../infra/test-servers';

/*
 * An adapter that quotes the value it was handed in its error, as a careless HTTP client quoting its request
 * would: the failure the workflow sees must not carry it. The values are opaque (no token shape), so only
 * the record of what the activity read from Vault can catch them.
 */

const vault = new VaultKvStore(testServers().vault);
const fresh = (what: string) => ({ mount: TEST_KV_MOUNT, path: `redaction/${what}/${randomUUID()}` });
const opaque = () => randomBytes(24).toString('base64url');

let echo: (value: string, adminToken: string) => Error;
const careless: CredentialSource<unknown> = {
  inspect: () => Promise.reject(new Error('not used')),
  issue: () => Promise.reject(new Error('not used')),
  revoke: () => Promise.reject(new Error('not used')),
  findOrphans: () => Promise.reject(new Error('not used')),
  verify: (_spec, value) => Promise.reject(echo(value, adminToken)),
};
let adminToken = '';
const providers = kindRegistry({
  sources: [
    defineSource({
      kind: 'careless',
      entry: z.object({ kind: z.literal('careless') }),
      spec: () => ({ name: 'careless', spec: {} }),
      adapter: (connection) => {
        adminToken = connection.token;
        return careless;
      },
    }),
  ],
  targets: [],
  dependents: [],
  consumers: [],
  canaries: [],
});
const activities = createActivities({ vault, providers, inventoryPath: 'unused.yaml', audit: noAudit });

/** Stages `value`, runs verifyCredential on it through the mock activity context, and returns its failure. */
async function failureOfVerify(value: string): Promise<ApplicationFailure | Error> {
  const admin = fresh('admin');
  await vault.write(admin, { token: opaque() });
  const stage = fresh('staged');
  const staged = await vault.write(stage, { token: value, tokenId: '7' });
  try {
    await new MockActivityEnvironment().run(activities.verifyCredential, {
      source: {
        kind: 'careless',
        connection: { url: 'http://127.0.0.1:9', credential: { ...admin, key: 'token' } },
        spec: {},
      },
      tokenId: '7',
      staged,
      expiresAt: '2099-12-31',
    });
  } catch (error) {
    return error as Error;
  }
  throw new Error('verifyCredential succeeded');
}

describe('failures leaving an activity', () => {
  it('carry no value the activity read from Vault: provider errors', async () => {
    const value = opaque();
    echo = (token, admin) =>
      new ProviderError({
        provider: 'careless',
        step: 'verify',
        resource: 'token 7',
        status: 401,
        kind: 'auth',
        reason: `token ${token} refused (admin ${admin})`,
      });
    const failure = await failureOfVerify(value);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure.message).toBe(
      `careless verify token 7 failed: HTTP 401: token ${REDACTED} refused (admin ${REDACTED})`,
    );
    expect(failure.stack).not.toContain(value);
    expect(failure.stack).not.toContain(adminToken);
    // Classification is untouched.
    expect(failure).toMatchObject({ type: 'ProviderError:auth', nonRetryable: true });
  });

  it('carry no value in the message, stack, causes or string details of any other error', async () => {
    const value = opaque();
    echo = (token) =>
      new Error(`verify failed for ${token}`, {
        cause: ApplicationFailure.create({
          message: `upstream said: ${token}`,
          type: 'Upstream',
          details: [`request body token=${token}`, { status: 401 }],
        }),
      });
    const failure = await failureOfVerify(value);
    expect(failure.message).toBe(`verify failed for ${REDACTED}`);
    const cause = failure.cause as ApplicationFailure;
    expect(cause.message).toBe(`upstream said: ${REDACTED}`);
    expect(cause.details).toEqual([`request body token=${REDACTED}`, { status: 401 }]);
    for (const text of [failure.stack, cause.stack]) expect(text).not.toContain(value);
    expect(cause).toMatchObject({ type: 'Upstream' });
  });

  it('keep each activity’s record of values to itself, and leave short fields alone', async () => {
    const value = opaque();
    echo = (token) => new Error(`verify failed for ${token} of token 7`);
    expect((await failureOfVerify(value)).message).toBe(`verify failed for ${REDACTED} of token 7`);
    // Outside the activity, nothing is remembered: the record does not grow with every value ever read.
    expect(redactSecrets(`verify failed for ${value}`)).toBe(`verify failed for ${value}`);
  });
});
