import { randomBytes, randomUUID } from 'node:crypto';
import { fingerprintOf } from '../../src/fingerprint';
import { matchFingerprint } from '../../src/incidents/match';
import type { Credential } from '../../src/inventory/schema';
import { openStores } from '../../src/stores';
import type { StoreError } from '../../src/stores/store';
import { VaultKvStore } from '../../src/vault';
import { TEST_KV_MOUNT, testServers } from '../infra/test-servers';

/*
 * Matching on real Vault, for the fields of an OAuth2 grant: each token field is compared by the fingerprint
 * stored beside it, or by fingerprinting it in memory when the version predates fingerprints; only the
 * current and the previous version count; a store that cannot be read fails the match.
 */
const vault = new VaultKvStore(testServers().vault);
const stores = openStores({ vault });
const value = () => `tok-${randomBytes(16).toString('hex')}`;
/** Matching reads only a credential's id and store. */
const credential = (id: string, path: string) =>
  ({ id, store: { mount: TEST_KV_MOUNT, path } }) as unknown as Credential;

const base = `incidents-match/${randomUUID()}`;
const grantAt = { mount: TEST_KV_MOUNT, path: `${base}/grant` };
const grant = credential('grant', grantAt.path);
const tokens = {
  oldest: value(),
  oldRefresh: value(),
  oldAccess: value(),
  refresh: value(),
  access: value(),
};

beforeAll(async () => {
  await vault.write(grantAt, { refreshToken: tokens.oldest, tokenId: '1' });
  await vault.write(grantAt, {
    refreshToken: tokens.oldRefresh,
    accessToken: tokens.oldAccess,
    tokenId: '2',
  });
  await vault.write(grantAt, {
    refreshToken: tokens.refresh,
    refreshTokenFingerprint: fingerprintOf(tokens.refresh),
    accessToken: tokens.access,
    accessTokenFingerprint: fingerprintOf(tokens.access),
    tokenId: '3',
  });
});

describe('matchFingerprint', () => {
  it("finds each token field of a grant's current and previous version, with the version's token id", async () => {
    const found = await Promise.all(
      [tokens.refresh, tokens.access, tokens.oldRefresh, tokens.oldAccess].map((token) =>
        matchFingerprint(fingerprintOf(token), [grant], stores),
      ),
    );
    expect(found).toEqual([
      { credentialId: 'grant', field: 'refreshToken', version: 'current', tokenId: '3' },
      { credentialId: 'grant', field: 'accessToken', version: 'current', tokenId: '3' },
      { credentialId: 'grant', field: 'refreshToken', version: 'previous', tokenId: '2' },
      { credentialId: 'grant', field: 'accessToken', version: 'previous', tokenId: '2' },
    ]);
  });

  it('does not match a version older than the previous one, nor a token no credential holds', async () => {
    expect(await matchFingerprint(fingerprintOf(tokens.oldest), [grant], stores)).toBeUndefined();
    expect(await matchFingerprint(fingerprintOf(value()), [grant], stores)).toBeUndefined();
  });

  it('fails, naming the secret, when a store cannot be read, rather than say "not managed here"', async () => {
    const missing = credential('missing', `${base}/never-written`);
    const failure = (await matchFingerprint(fingerprintOf(value()), [grant, missing], stores).catch(
      (error: unknown) => error,
    )) as StoreError;
    expect(failure.failure).toBe('not-found');
    expect(failure.message).toContain(`${base}/never-written`);
  });
});
