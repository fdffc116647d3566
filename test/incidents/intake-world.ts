import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';
import { runCli } from '../../src/cli';
import type { StartBreakGlassOn } from '../../src/cli/incident';
import { fingerprintOf } from '../../src/fingerprint';
import { breakGlassWorkflowId, type BreakGlassRequest } from '../../src/incidents/request';
import { VaultKvStore } from '../../src/vault';
import { rotationWorld, type SeededCredential } from '../helpers/rotation';
import { TEST_KV_MOUNT, testServers } from '../infra/test-servers';
import { startGitHubSim } from '../sim/github/server';

/**
 * Alert intake's world: real Vault and Temporal, the GitLab simulator holding three credentials' tokens —
 * `current` (its seeded token current, stored without a fingerprint as before fingerprints existed),
 * `rotated` (rotated once: a new token with its fingerprint current, the seeded one previous) and `other` —
 * a GitHub simulator with `acme/app` whose admin token is in Vault beside the webhooks' signing secrets, and
 * an inventory naming both providers. `started` is every request the injected break-glass start received.
 */
export async function intakeWorld() {
  const vault = new VaultKvStore(testServers().vault);
  const rotation = await rotationWorld(vault);
  const github = await startGitHubSim();
  const repository = github.state.addRepository('acme/app');
  const base = `incidents/${randomUUID()}`;
  const githubAdmin = { mount: TEST_KV_MOUNT, path: `${base}/github-admin` };
  await vault.write(githubAdmin, { token: github.state.addToken().value });
  const signing = { mount: TEST_KV_MOUNT, path: `${base}/alerts` };
  const secrets = { github: randomBytes(20).toString('hex'), webhook: randomBytes(20).toString('hex') };
  await vault.write(signing, secrets);

  const current = await rotation.seed('current');
  const rotated = await rotation.seed('rotated');
  const other = await rotation.seed('other');
  const fresh = rotation.world.state.addResourceToken(rotation.world.project, 'project', {
    name: `${rotated.id}-ci-2`,
    scopes: ['read_api'],
    expiresAt: '2099-12-31',
    accessLevel: 30,
  });
  await vault.write(rotated.vault, {
    token: fresh.value,
    tokenId: String(fresh.id),
    expiresAt: '2099-12-31',
    tokenFingerprint: fingerprintOf(fresh.value),
  });
  rotation.writeInventory();
  const inventory = parse(readFileSync(rotation.inventoryPath, 'utf8')) as {
    providers: Record<string, unknown>;
  };
  inventory.providers.github = {
    'github-sim': { apiUrl: github.url, credential: { ...githubAdmin, key: 'token' } },
  };
  writeFileSync(rotation.inventoryPath, stringify(inventory));

  const started: BreakGlassRequest[] = [];
  const startBreakGlass: StartBreakGlassOn = (_client, taskQueue, request) => {
    expect(taskQueue).toBe(env.TEMPORAL_TASK_QUEUE);
    started.push(request);
    return Promise.resolve({ workflowId: breakGlassWorkflowId(request.credentialId), alreadyRunning: false });
  };
  const env: NodeJS.ProcessEnv = {
    TEMPORAL_ADDRESS: testServers().temporalAddress,
    TEMPORAL_TASK_QUEUE: `intake-${randomUUID()}`,
    ROTATOR_INVENTORY: rotation.inventoryPath,
    VAULT_ADDR: testServers().vault.endpoint,
    VAULT_TOKEN: testServers().vault.token,
    USER: 'alice',
  };

  return {
    rotation,
    github,
    repository,
    secrets,
    /** `--github-secret` and `--webhook-secret`. */
    secretFields: {
      github: `${signing.mount}/${signing.path}#github`,
      webhook: `${signing.mount}/${signing.path}#webhook`,
    },
    credentials: { current, rotated, other } as Record<'current' | 'rotated' | 'other', SeededCredential>,
    /** The token the rotation of `rotated` made current. */
    fresh,
    started,
    env,
    /**
     * Runs `rotator` in-process with this world's environment, and a break-glass start that records each
     * request in `started` unless `services` gives the real one.
     */
    run(argv: string[], services: Parameters<typeof runCli>[3] = {}) {
      let stdout = '';
      let stderr = '';
      const done = runCli(
        argv,
        { stdout: (text) => (stdout += text), stderr: (text) => (stderr += text) },
        env,
        { startBreakGlass, ...services },
      ).then((code) => ({ code, stdout, stderr }));
      return { done, output: () => ({ stdout, stderr }) };
    },
    /** A token the simulator minted that no credential holds. */
    unmanagedToken(): string {
      return rotation.world.state.addResourceToken(rotation.world.project, 'project', {
        name: `unmanaged-${randomUUID().slice(0, 6)}`,
        scopes: ['read_api'],
        expiresAt: '2099-12-31',
        accessLevel: 30,
      }).value;
    },
    /** Every token value the world holds, and its fingerprint: none belongs in any output. */
    values(): string[] {
      const tokens = [current.old.value, rotated.old.value, other.old.value, fresh.value];
      return [...tokens, ...tokens.map(fingerprintOf), secrets.github, secrets.webhook];
    },
    async close(): Promise<void> {
      await github.close();
      await rotation.close();
    },
  };
}

export type IntakeWorld = Awaited<ReturnType<typeof intakeWorld>>;
