import type { SecretPath, VaultKv } from '../../src/vault';
import { recordMintedValue } from '../infra/secret-scan';
import { defined } from '../gitlab/world';
import type { RotationWorld } from '../helpers/rotation';
import type { AuthorizationServer } from './server';

export interface OAuth2Credential {
  id: string;
  vault: SecretPath;
  variable: { key: string };
  /** The first grant's tokens, for the tests' own searches; the simulators do not see them. */
  accessToken: string;
  refreshToken: string;
}

/**
 * The first grant, as an operator makes it after authorising the client in a browser: Vault at `at` gets the
 * pair as generation 1, in the fields the OAuth2 source reads.
 */
export async function firstGrant(server: AuthorizationServer, vault: VaultKv, at: SecretPath) {
  const first = await server.refresh(await server.authorise());
  const accessToken = defined(first.body.access_token);
  const refreshToken = defined(first.body.refresh_token);
  await vault.write(at, {
    token: accessToken,
    tokenId: '1',
    accessToken,
    refreshToken,
    expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    issuedAt: new Date().toISOString(),
  });
  return { accessToken, refreshToken };
}

/**
 * An OAuth2 credential whose access token lives in a GitLab CI variable. Its first grant is made here, as
 * an operator would after authorising the client in a browser: Vault gets the pair and its generation 1.
 * The worker reaches the token endpoint at `tokenUrl` (a relay, in tests that lose answers).
 */
export async function seedOAuth2Credential(options: {
  rotation: RotationWorld;
  vault: VaultKv;
  server: AuthorizationServer;
  tokenUrl: string;
  clientSecret: SecretPath;
  name: string;
}): Promise<OAuth2Credential> {
  const { rotation, vault, server, name } = options;
  const id = rotation.credentialId(name);
  const at = rotation.vaultPath(name);
  const { accessToken, refreshToken } = await firstGrant(server, vault, at);
  const key = `${id.toUpperCase().replace(/-/g, '_')}_AT`;
  rotation.world.state.addVariable(rotation.world.project, { key, value: accessToken, masked: true });
  rotation.addCredential({
    id,
    description: `OAuth2 test credential ${name}`,
    environment: 'test',
    owner: 'team-test',
    source: {
      kind: 'oauth2-refresh-token',
      tokenUrl: options.tokenUrl,
      clientId: server.clientId,
      clientSecret: { ...options.clientSecret, key: 'secret' },
      introspectionUrl: `${server.url}/token/introspection`,
      revocationUrl: `${server.url}/token/revocation`,
    },
    vault: at,
    targets: [{ kind: 'gitlab-ci-variable', gitlab: 'sim', project: rotation.world.project.path, key }],
    policy: { every: '1h' },
  });
  return { id, vault: at, variable: { key }, accessToken, refreshToken };
}

/**
 * `seedOAuth2Credential` with the client secret in a Vault secret of its own (`<name>-client`), and the
 * first grant's tokens recorded for the run's secret scan.
 */
export async function seedGrantedCredential(
  options: Omit<Parameters<typeof seedOAuth2Credential>[0], 'clientSecret'>,
): Promise<OAuth2Credential> {
  const clientSecret = options.rotation.vaultPath(`${options.name}-client`);
  await options.vault.write(clientSecret, { secret: options.server.clientSecret });
  const credential = await seedOAuth2Credential({ ...options, clientSecret });
  for (const value of [credential.accessToken, credential.refreshToken]) recordMintedValue(value);
  return credential;
}
