import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, type Connection } from '@temporalio/client';
import { newAuditKey, readAuditKey } from '../src/audit';
import { encryptedDataConverter, readCodecKeys } from '../src/codec';
import { readAuditPaths, readCliEnvironment } from '../src/config/environment';
import { findTopologyBinaries } from '../src/embedded/binaries';
import { enableKvV2, inventoryMounts } from '../src/embedded/vault';
import { loadInventory } from '../src/inventory/load';
import type { Inventory } from '../src/inventory/schema';
import { VaultKvStore } from '../src/vault';
import { sandboxInventory, seed } from '../examples/sandbox';
import { startGitHubSim, type GitHubSim } from '../test/sim/github/server';
import { startGitLabSim, type GitLabSim } from '../test/sim/gitlab/server';
import { makeCertificates, type Certificates } from './certificates';
import { privateDir, writePrivate } from './files';
import { startPostgres, type Postgres } from './postgres';
import type { Service } from './process';
import { connectTemporal, setUpSchemas, startTemporalServer, type TemporalServer } from './temporal';
import { configureVault, startVaultServer, type VaultServer, type WorkerLogins } from './vault';
import { startWorkers, type WorkerProcess } from './workers';

export interface Topology {
  dir: string;
  certificates: Certificates;
  postgres: Postgres;
  temporal: TemporalServer;
  vault: VaultServer;
  /** The workers' AppRole role and secret ids. */
  logins: WorkerLogins;
  gitlab: GitLabSim;
  github: GitHubSim;
  workers: WorkerProcess[];
  inventory: Inventory;
  inventoryFile: string;
  taskQueue: string;
  /** The operator's client: the CLI's certificate, payloads encrypted with the workers' keys. */
  client: Client;
  /** Vault as an operator sees it, with the root token: the check reads what the workers wrote. */
  operatorVault: VaultKvStore;
  /** `KEY=value` lines that point `rotator` (the CLI) at this topology. */
  cliEnvFile: string;
  /** Seconds each part took to start, in order. */
  startSeconds: Record<string, number>;
  /**
   * Restarts one of its servers (Service.restart) and records the new process id, so that a later run still
   * finds it if the tooling is killed.
   */
  restart(service: Service, env?: Record<string, string>): Promise<void>;
  /** Stops everything it started, workers first and PostgreSQL last. */
  stop(): Promise<void>;
}

/** What a world is given to seed itself: the operator's Vault, and a way to have its parts stopped. */
export interface WorldContext {
  /** Vault with the root token. */
  store: VaultKvStore;
  /** Enables a KV v2 engine at `mount`, if none is there yet: a world enables those it writes to. */
  enableKv(mount: string): Promise<void>;
  /** Stops `step` with the topology (after the workers, before Vault), even when the start fails. */
  atStop(step: () => Promise<void>): void;
}

/**
 * What the workers rotate: the simulators, seeded live (each credential's token current in the simulators,
 * in Vault and in its targets), and the inventory's text naming them.
 */
export type WorldBuilder = (
  context: WorldContext,
) => Promise<{ gitlab: GitLabSim; github: GitHubSim; inventoryText: string }>;

/** The sandbox's inventory (examples/sandbox.yaml), seeded as `npm run sandbox` seeds it. */
export const sandboxWorld: WorldBuilder = async ({ store, enableKv, atStop }) => {
  const gitlab = await startGitLabSim();
  atStop(() => gitlab.close());
  const github = await startGitHubSim();
  atStop(() => github.close());
  const { text, inventory } = sandboxInventory(gitlab.url, github.url);
  for (const mount of inventoryMounts(inventory)) await enableKv(mount);
  await seed(inventory, gitlab, github, store);
  return { gitlab, github, inventoryText: text };
};

/** What a run leaves for the next one to check: the servers' process ids, which outlive a killed tooling. */
const PIDS_FILE = 'pids.json';

/**
 * Refuses to start over an earlier topology whose servers still run (its tooling was killed with SIGKILL):
 * they hold the folder's files and would answer in place of the new ones.
 */
function assertNoneLeftRunning(dir: string): void {
  const file = join(dir, PIDS_FILE);
  if (!existsSync(file)) return;
  const pids = (JSON.parse(readFileSync(file, 'utf8')) as number[]).filter((pid) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  });
  if (pids.length > 0)
    throw new Error(
      `servers of an earlier topology in ${dir} still run: stop them first (kill ${pids.join(' ')})`,
    );
}

/**
 * Starts every part from a fresh state in `dir`: the previous run's folder is kept until then, for its logs.
 * The folder itself is 0711 so that PostgreSQL's own user reaches its `postgres/`; everything else is under
 * `private/` (0700), and every key, password and token in it is 0600.
 */
export async function startTopology(options: {
  dir: string;
  workers: number;
  progress: (message: string) => void;
  /** The sandbox's by default (`sandboxWorld`). */
  world?: WorldBuilder;
}): Promise<Topology> {
  const { dir, progress } = options;
  assertNoneLeftRunning(dir);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o711);
  const secret = privateDir(join(dir, 'private'));

  const stops: (() => Promise<void>)[] = [];
  const services: Service[] = [];
  const writePids = () =>
    writeFileSync(
      join(dir, PIDS_FILE),
      JSON.stringify(services.flatMap(({ child }) => (child.pid === undefined ? [] : [child.pid]))),
    );
  const stop = async () => {
    for (const step of stops.splice(0).reverse()) await step();
  };
  const startSeconds: Record<string, number> = {};
  const timed = async <T>(part: string, start: () => Promise<T>): Promise<T> => {
    const started = Date.now();
    progress(`starting ${part}`);
    const value = await start();
    startSeconds[part] = (Date.now() - started) / 1000;
    return value;
  };
  const service = <T extends { service: Service }>(part: T) => {
    stops.push(() => part.service.stop());
    services.push(part.service);
    writePids();
    return part;
  };

  try {
    const binaries = await timed('binaries (ensure-servers.sh --topology)', async () =>
      findTopologyBinaries(),
    );
    const certificates = await timed('certificates', () =>
      makeCertificates(join(secret, 'certs'), options.workers),
    );
    // Temporal's chain (PostgreSQL, schemas, server) and Vault's start side by side; both are pushed to
    // `stops` as they start, so a failure of either stops whatever the other had started.
    const [temporalChain, vaultChain] = await Promise.allSettled([
      (async () => {
        const postgres = service(await timed('PostgreSQL', () => startPostgres(join(dir, 'postgres'))));
        await timed('Temporal schemas', () =>
          setUpSchemas(binaries.temporalSqlTool, binaries.schemaDir, postgres),
        );
        const temporal = service(
          await timed('Temporal server', () =>
            startTemporalServer({
              bin: binaries.temporalServer,
              dir: join(secret, 'temporal'),
              postgres,
              certificates,
              namespace: readCliEnvironment({}).temporal.namespace,
            }),
          ),
        );
        return { postgres, temporal };
      })(),
      timed('Vault', async () =>
        service(await startVaultServer({ bin: binaries.vault, dir: join(secret, 'vault'), certificates })),
      ),
    ]);
    if (temporalChain.status === 'rejected') throw temporalChain.reason;
    if (vaultChain.status === 'rejected') throw vaultChain.reason;
    const { postgres, temporal } = temporalChain.value;
    const vault = vaultChain.value;

    const operatorVault = new VaultKvStore({
      endpoint: vault.address,
      token: vault.rootToken,
      caCert: vault.caCert,
    });
    const { gitlab, github, inventory, inventoryFile, logins } = await timed(
      'Vault configuration (mounts, policy, AppRole, seed)',
      async () => {
        const world = await (options.world ?? sandboxWorld)({
          store: operatorVault,
          enableKv: (mount) =>
            enableKvV2({ endpoint: vault.address, rootToken: vault.rootToken, caCert: vault.caCert }, mount),
          atStop: (step) => stops.push(step),
        });
        const loaded = loadInventory(world.inventoryText);
        if (!loaded.ok) throw new Error(`the world's inventory is invalid:\n${loaded.errors.join('\n')}`);
        const file = writePrivate(join(secret, 'rotator.yaml'), world.inventoryText);
        const configured = await configureVault(
          vault,
          loaded.inventory,
          file,
          join(secret, 'approle'),
          options.workers,
        );
        // The workers only read the audit chain's key: it is created once, as an operator would.
        await readAuditKey(operatorVault, readAuditPaths({}).key, { create: newAuditKey() });
        return { ...world, inventory: loaded.inventory, inventoryFile: file, logins: configured };
      },
    );
    const codecKeysFile = writePrivate(
      join(secret, 'codec-keys'),
      `# ROTATOR_CODEC_KEYS_FILE: the last key encrypts new payloads.\ntopology-1:${randomBytes(32).toString('base64')}\n`,
    );

    const workers = await timed(`${options.workers} workers`, () =>
      startWorkers(
        {
          dir: join(secret, 'workers'),
          temporal: { address: temporal.address, namespace: temporal.namespace, caFile: certificates.caFile },
          vault: { address: vault.address, caFile: certificates.caFile, roleId: logins.roleId },
          inventoryFile,
          codecKeysFile,
        },
        certificates.workers.map((cert, index) => ({
          cert,
          secretIdFile: logins.secretIdFiles[index] ?? '',
        })),
      ),
    );
    for (const worker of workers) service(worker);

    const cli = {
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: temporal.namespace,
      TEMPORAL_TLS_CA: certificates.caFile,
      TEMPORAL_TLS_CERT: certificates.cli.certFile,
      TEMPORAL_TLS_KEY: certificates.cli.keyFile,
      TEMPORAL_TLS_SERVER_NAME: 'localhost',
      ROTATOR_CODEC_KEYS_FILE: codecKeysFile,
      ROTATOR_INVENTORY: inventoryFile,
      ROTATOR_AUDIT_LOG: workers[0]?.auditLog ?? '',
      VAULT_ADDR: vault.address,
      VAULT_CACERT: certificates.caFile,
    };
    const cliEnvFile = writePrivate(
      join(secret, 'cli.env'),
      Object.entries(cli)
        .map(([name, value]) => `${name}=${value}\n`)
        .join(''),
    );
    const settings = readCliEnvironment(cli);
    const connection: Connection = await connectTemporal(
      temporal.address,
      certificates.caFile,
      certificates.cli,
    );
    stops.push(() => connection.close());
    const client = new Client({
      connection,
      namespace: temporal.namespace,
      dataConverter: encryptedDataConverter(await readCodecKeys({ keysFile: codecKeysFile })),
    });
    return {
      dir,
      certificates,
      postgres,
      temporal,
      vault,
      logins,
      gitlab,
      github,
      workers,
      inventory,
      inventoryFile,
      taskQueue: settings.temporal.taskQueue,
      client,
      operatorVault,
      cliEnvFile,
      startSeconds,
      restart: async (part, env) => {
        await part.restart(env);
        writePids();
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
