import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { readAuditPaths } from '../src/config/environment';
import { enableKvV2, inventoryMounts } from '../src/embedded/vault';
import type { Inventory } from '../src/inventory/schema';
import { parseOrThrow } from '../src/validation';
import { vaultClient } from '../src/vault';
import { rotatorPolicy } from '../src/vault-policy';
import type { Certificates } from './certificates';
import { privateDir, renderTemplate, writePrivate } from './files';
import { freePort, run, startService, waitFor, type Service } from './process';

export interface VaultServer {
  address: string;
  caCert: string;
  /** Unseal keys and root token, 0600: what an operator keeps in a safe. */
  initFile: string;
  rootToken: string;
  auditLog: string;
  /** The `vault` binary, for operator commands such as `vault operator seal`. */
  bin: string;
  service: Service;
}

export interface WorkerLogins {
  roleId: string;
  /** One secret id per worker, each in a 0600 file. */
  secretIdFiles: string[];
  policyName: string;
}

/** Three key shares, any two of which unseal: one lost share does not lose the Vault. */
const SHARES = 3;
const THRESHOLD = 2;
const POLICY = 'cred-rotator';
const ROLE = 'cred-rotator-worker';

const initFileSchema = z.object({
  unseal_keys_b64: z.array(z.string().min(1)).min(1),
  unseal_threshold: z.number().int().positive(),
  root_token: z.string().min(1),
});
const initAnswer = z.object({
  keys_base64: z.array(z.string()).length(SHARES),
  root_token: z.string().min(1),
});
const sealStatus = z.object({ sealed: z.boolean(), initialized: z.boolean() });
// sys/health answers every state, with a status code node-vault does not treat as an error.
const health = z.object({ initialized: z.literal(true), sealed: z.literal(false), standby: z.boolean() });

/**
 * Starts Vault in server mode (deploy/topology/vault.hcl), initializes it with Shamir shares, unseals it,
 * and waits until its raft node is the active one. The shares and the root token go to `<dir>/init.json`
 * (0600) before anything else happens, so that a failure after init leaves the Vault recoverable.
 */
export async function startVaultServer(options: {
  bin: string;
  dir: string;
  certificates: Certificates;
}): Promise<VaultServer> {
  const dir = privateDir(options.dir);
  const { certificates } = options;
  const port = await freePort();
  const configFile = writePrivate(
    join(dir, 'vault.hcl'),
    renderTemplate('vault.hcl', {
      RAFT_DIR: privateDir(join(dir, 'raft')),
      // Loopback only, and reached by that address: nothing of the topology is reachable from another host.
      LISTEN_IP: '127.0.0.1',
      API_HOST: '127.0.0.1',
      PORT: port,
      CLUSTER_PORT: await freePort(),
      TLS_CERT: certificates.vaultServer.certFile,
      TLS_KEY: certificates.vaultServer.keyFile,
    }),
  );
  const service = startService(
    'Vault',
    options.bin,
    ['server', `-config=${configFile}`],
    join(dir, 'vault.log'),
  );
  try {
    return {
      ...(await initialize(service, `https://127.0.0.1:${port}`, dir, certificates.caFile)),
      bin: options.bin,
    };
  } catch (error) {
    // waitFor stops it on its own failures; a refused init or audit device must stop it too.
    await service.stop();
    throw error;
  }
}

async function initialize(
  service: Service,
  address: string,
  dir: string,
  caFile: string,
): Promise<Omit<VaultServer, 'bin'>> {
  const caCert = await readFile(caFile, 'utf8');
  const client = vaultClient(address, caCert);
  const read = async <T>(schema: z.ZodType<T>, path: string) =>
    parseOrThrow(schema, await client.read(path), path);

  await waitFor(service, () => read(sealStatus, 'sys/seal-status'), 30_000);
  const init = parseOrThrow(
    initAnswer,
    await client.write('sys/init', { secret_shares: SHARES, secret_threshold: THRESHOLD }),
    "Vault's answer to sys/init",
  );
  const initFile = writePrivate(
    join(dir, 'init.json'),
    `${JSON.stringify({ unseal_keys_b64: init.keys_base64, unseal_threshold: THRESHOLD, root_token: init.root_token }, null, 2)}\n`,
  );
  for (const key of init.keys_base64.slice(0, THRESHOLD)) await client.write('sys/unseal', { key });
  // Unsealed, it is a standby until raft has elected it leader, and a standby refuses every write.
  client.token = init.root_token;
  await waitFor(service, async () => ((await read(health, 'sys/health')).standby ? undefined : true), 30_000);

  const auditLog = join(dir, 'audit.log');
  await client.write('sys/audit/file', { type: 'file', options: { file_path: auditLog, mode: '0600' } });
  return { address, caCert, initFile, rootToken: init.root_token, auditLog, service };
}

/**
 * What the workers need and nothing more: a KV v2 engine at each mount the inventory names and at the audit
 * key's, the least-privilege policy `rotator vault policy` prints, and an AppRole role bound to loopback whose
 * tokens carry that policy alone. Each worker gets a secret id of its own, so one can be revoked alone.
 */
export async function configureVault(
  vault: VaultServer,
  inventory: Inventory,
  inventoryFile: string,
  secretIdDir: string,
  workers: number,
): Promise<WorkerLogins> {
  const root = { endpoint: vault.address, rootToken: vault.rootToken, caCert: vault.caCert };
  const audit = readAuditPaths({});
  for (const mount of new Set([...inventoryMounts(inventory), audit.key.mount]))
    await enableKvV2(root, mount);

  const client = vaultClient(vault.address, vault.caCert);
  client.token = vault.rootToken;
  await client.write(`sys/policies/acl/${POLICY}`, {
    policy: rotatorPolicy(inventory, inventoryFile, audit),
  });
  await client.write('sys/auth/approle', { type: 'approle' });
  await client.write(`auth/approle/role/${ROLE}`, {
    token_policies: [POLICY],
    // The policy grants the token's own lookup, renewal and revocation: `default` would add more.
    token_no_default_policy: true,
    token_ttl: '1h',
    token_max_ttl: '4h',
    token_bound_cidrs: ['127.0.0.1/32'],
    secret_id_bound_cidrs: ['127.0.0.1/32'],
    secret_id_ttl: '720h',
  });
  const roleId = z
    .object({ data: z.object({ role_id: z.string().min(1) }) })
    .parse(await client.read(`auth/approle/role/${ROLE}/role-id`)).data.role_id;
  privateDir(secretIdDir);
  const secretIdFiles: string[] = [];
  for (let worker = 1; worker <= workers; worker++) {
    const answer = z.object({ data: z.object({ secret_id: z.string().min(1) }) }).parse(
      await client.write(`auth/approle/role/${ROLE}/secret-id`, {
        metadata: JSON.stringify({ worker: `worker-${worker}` }),
      }),
    );
    secretIdFiles.push(
      writePrivate(join(secretIdDir, `worker-${worker}.secret-id`), `${answer.data.secret_id}\n`),
    );
  }
  return { roleId, secretIdFiles, policyName: POLICY };
}

/**
 * Seals Vault as an operator would in an incident, with `vault operator seal` and the root token (in the
 * command's environment, never its arguments): every request fails until it is unsealed.
 */
export async function sealVault(vault: VaultServer, caFile: string): Promise<void> {
  await run(vault.bin, ['operator', 'seal'], {
    env: { VAULT_ADDR: vault.address, VAULT_CACERT: caFile, VAULT_TOKEN: vault.rootToken },
  });
}

/** Unseals Vault with the threshold of key shares from its init file, through the API (no key in argv). */
export async function unsealVault(vault: VaultServer): Promise<void> {
  const init = readInitFile(vault);
  const client = vaultClient(vault.address, vault.caCert);
  for (const key of init.unseal_keys_b64.slice(0, init.unseal_threshold))
    await client.write('sys/unseal', { key });
  // Unsealed, the raft node is a standby until it is elected leader again, and a standby refuses writes.
  client.token = init.root_token;
  await waitFor(
    vault.service,
    async () =>
      (await parseOrThrow(health, await client.read('sys/health'), 'sys/health')).standby ? undefined : true,
    30_000,
  );
}

const readInitFile = (vault: VaultServer) =>
  parseOrThrow(initFileSchema, JSON.parse(readFileSync(vault.initFile, 'utf8')), vault.initFile);
