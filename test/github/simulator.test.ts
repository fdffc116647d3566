import sodium from 'libsodium-wrappers';
import { githubWorld, type GitHubWorld } from './world';

/** The simulator's own rules, called directly with fetch: what the adapter tests rely on. */

let world: GitHubWorld;

beforeAll(async () => {
  world = await githubWorld();
});

afterAll(async () => {
  await world?.sim.close();
});

const call = (method: string, path: string, authorization?: string, body?: object) =>
  fetch(`${world.sim.url}${path}`, {
    method,
    headers: {
      ...(authorization === undefined ? {} : { authorization }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
const admin = () => `token ${world.adminToken.value}`;
const KEY_PATH = '/repos/acme/app/actions/secrets/public-key';

async function sealed(value: string, key: string): Promise<string> {
  await sodium.ready;
  const publicKey = sodium.from_base64(key, sodium.base64_variants.ORIGINAL);
  return sodium.to_base64(sodium.crypto_box_seal(value, publicKey), sodium.base64_variants.ORIGINAL);
}

async function publicKey(): Promise<{ key_id: string; key: string }> {
  return (await (await call('GET', KEY_PATH, admin())).json()) as { key_id: string; key: string };
}

describe('the GitHub simulator', () => {
  it('takes `token` and `Bearer` authorization, and answers 401 as GitHub does otherwise', async () => {
    expect((await call('GET', KEY_PATH, admin())).status).toBe(200);
    expect((await call('GET', KEY_PATH, `Bearer ${world.adminToken.value}`)).status).toBe(200);
    const bad = await call('GET', KEY_PATH, 'token ghp_nope');
    expect(bad.status).toBe(401);
    expect(await bad.json()).toEqual({
      message: 'Bad credentials',
      documentation_url: 'https://docs.github.com/rest/actions/secrets#get-a-repository-public-key',
      status: '401',
    });
    expect(await (await call('GET', KEY_PATH)).json()).toMatchObject({ message: 'Requires authentication' });
  });

  it('counts each call against the token’s rate limit in x-ratelimit-* headers', async () => {
    const token = world.state.addToken();
    const first = await call('GET', KEY_PATH, `token ${token.value}`);
    const second = await call('GET', KEY_PATH, `token ${token.value}`);
    expect(first.headers.get('x-ratelimit-limit')).toBe('5000');
    expect(first.headers.get('x-ratelimit-remaining')).toBe('4999');
    expect(second.headers.get('x-ratelimit-used')).toBe('2');
    expect(second.headers.get('x-ratelimit-resource')).toBe('core');
    expect(Number(second.headers.get('x-ratelimit-reset'))).toBeGreaterThan(Date.now() / 1000);
  });

  it('decrypts what it receives, creating (201) then updating (204), and keeps only the sealed box', async () => {
    const key = await publicKey();
    const path = '/repos/acme/app/actions/secrets/sim_token';
    const created = await call('PUT', path, admin(), {
      encrypted_value: await sealed('first', key.key),
      key_id: key.key_id,
    });
    expect(created.status).toBe(201);
    const updated = await call('PUT', path, admin(), {
      encrypted_value: await sealed('second', key.key),
      key_id: key.key_id,
    });
    expect(updated.status).toBe(204);
    // GitHub's names are case-insensitive and shown in capitals.
    expect(world.state.plaintext(world.app, 'SIM_TOKEN')).toBe('second');
    expect(JSON.stringify(world.app.secrets.get('SIM_TOKEN'))).not.toContain('second');
    expect(await (await call('GET', path, admin())).json()).toMatchObject({ name: 'SIM_TOKEN' });
  });

  it('refuses with 422 a value sealed for another key, for a key since rotated, or not sealed at all', async () => {
    const path = '/repos/acme/app/actions/secrets/REFUSED';
    const other = sodium.to_base64(sodium.crypto_box_keypair().publicKey, sodium.base64_variants.ORIGINAL);
    const stale = await publicKey();
    world.state.rotateKey(world.app);
    const current = await publicKey();
    expect(current.key_id).not.toBe(stale.key_id);
    for (const body of [
      { encrypted_value: await sealed('x', other), key_id: current.key_id },
      { encrypted_value: await sealed('x', stale.key), key_id: stale.key_id },
      { encrypted_value: Buffer.from('plain text').toString('base64'), key_id: current.key_id },
    ]) {
      const answer = await call('PUT', path, admin(), body);
      expect(answer.status).toBe(422);
      expect(await answer.json()).toMatchObject({
        message: 'Bad request - validation failed due to an improperly encrypted secret',
      });
    }
    const noKey = await call('PUT', path, admin(), { encrypted_value: 'AAAA' });
    expect(await noKey.json()).toMatchObject({ message: 'Invalid request.\n\n"key_id" wasn\'t supplied.' });
    expect(world.app.secrets.has('REFUSED')).toBe(false);
  });

  it('keeps an environment’s secrets apart from its repository’s, under the environment’s own key', async () => {
    const envKey = (await (
      await call('GET', '/repos/acme/app/environments/production/secrets/public-key', admin())
    ).json()) as { key_id: string; key: string };
    expect(envKey.key_id).not.toBe((await publicKey()).key_id);
    const answer = await call('PUT', '/repos/acme/app/environments/production/secrets/ENV_ONLY', admin(), {
      encrypted_value: await sealed('env', envKey.key),
      key_id: envKey.key_id,
    });
    expect(answer.status).toBe(201);
    expect(world.state.plaintext(world.production, 'ENV_ONLY')).toBe('env');
    expect(world.app.secrets.has('ENV_ONLY')).toBe(false);
    expect(
      (await call('GET', '/repos/acme/app/environments/staging/secrets/public-key', admin())).status,
    ).toBe(404);
  });

  it('answers injected faults the given number of times, then handles calls again', async () => {
    const route = '/repos/{owner}/{repo}/actions/secrets/public-key';
    world.sim.faults.inject({ method: 'GET', route, status: 503, times: 2 });
    const statuses = [];
    for (let i = 0; i < 3; i += 1) statuses.push((await call('GET', KEY_PATH, admin())).status);
    expect(statuses).toEqual([503, 503, 200]);
  });
});
