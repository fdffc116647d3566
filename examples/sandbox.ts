/*
 * The sandbox (`npm run sandbox`): the worker and the inventory examples/sandbox.yaml against the GitLab and
 * GitHub simulators of the test suite, seeded from that inventory, with every credential rotated at once and
 * one rotation rolled back by an injected fault. Temporal and Vault are found as the worker finds them: the
 * ones TEMPORAL_ADDRESS and VAULT_ADDR name, else the dev servers it starts (Temporal's SQLite file and the
 * logs in ROTATOR_DATA_DIR, by default .cache/sandbox; the Web UI on http://localhost:8233).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  Client,
  Connection,
  WorkflowExecutionAlreadyStartedError,
  type WorkflowHandle,
} from '@temporalio/client';
import { NativeConnection, Runtime } from '@temporalio/worker';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { FileAuditSink } from '../src/audit';
import { readLogSettings, readWorkerEnvironment } from '../src/config/environment';
import { findMotoServer } from '../src/embedded/binaries';
import { startMotoServer, type MotoServer } from '../src/embedded/moto';
import { startServers } from '../src/embedded/servers';
import { openStores, vaultFieldOf, vaultSecretOf } from '../src/stores';
import { enableKvV2, inventoryMounts } from '../src/embedded/vault';
import { gitlabProjectAccessToken } from '../src/kinds/gitlab-access-tokens';
import { loadInventory } from '../src/inventory/load';
import type { Credential, Inventory } from '../src/inventory/schema';
import { InventoryWatcher } from '../src/inventory/watch';
import { createLogger, temporalLogger, type Logger } from '../src/logging';
import { startRotation } from '../src/rotations';
import { rotationWorkflowId } from '../src/rotation-names';
import { parseOrThrow } from '../src/validation';
import { VaultKvStore } from '../src/vault';
import { auditTrust, createRotationWorker } from '../src/worker';
import { startGitHubSim, type GitHubSim } from '../test/sim/github/server';
import type { SimScope } from '../test/sim/github/state';
import { startGitLabSim, type GitLabSim } from '../test/sim/gitlab/server';
import type { SimProject } from '../test/sim/gitlab/state';
import { statusQuery, type rotateCredential } from '../workflows';

/** Beside this file in the sources; compiled code in `dist/examples/` finds it in the checkout's `examples/`. */
const TEMPLATE = [join(__dirname, 'sandbox.yaml'), join(__dirname, '../../examples/sandbox.yaml')].find(
  (path) => existsSync(path),
);
const DEFAULT_DATA_DIR = '.cache/sandbox';
const SANDBOX_AWS_REGION = 'us-east-1';
/** moto checks no signature: the sandbox signs with these, never with the machine's own AWS credentials. */
const MOTO_CREDENTIALS = { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' };
/** The fault the sandbox injects: GitHub refuses the first write of an organization secret (docs-publisher's). */
const ORG_SECRET_WRITE = { method: 'PUT', route: '/orgs/{org}/actions/secrets/{secret_name}' };

export interface Sandbox {
  client: Client;
  namespace: string;
  taskQueue: string;
  /** The Temporal Web UI, when the sandbox started the Temporal dev server. */
  uiUrl: string | undefined;
  rotations: WorkflowHandle<typeof rotateCredential>[];
  stop(): Promise<void>;
}

/**
 * The sandbox's inventory for simulators at these URLs; comments kept, so the written file still explains
 * itself. With `awsEndpoint`, its first credential is kept in AWS Secrets Manager there instead of Vault.
 */
export function sandboxInventory(
  gitlabUrl: string,
  githubUrl: string,
  awsEndpoint?: string,
): { text: string; inventory: Inventory } {
  if (TEMPLATE === undefined)
    throw new Error('cannot find examples/sandbox.yaml: run the sandbox from a checkout');
  const document = parseDocument(readFileSync(TEMPLATE, 'utf8'));
  document.setIn(['providers', 'gitlab', 'sandbox', 'url'], gitlabUrl);
  document.setIn(['providers', 'github', 'sandbox', 'apiUrl'], githubUrl);
  if (awsEndpoint !== undefined) {
    const id = String(document.getIn(['credentials', 0, 'id']));
    document.deleteIn(['credentials', 0, 'vault']);
    document.setIn(['credentials', 0, 'store'], {
      kind: 'aws-secrets-manager',
      region: SANDBOX_AWS_REGION,
      secretId: `sandbox/${id}`,
      endpoint: awsEndpoint,
    });
  }
  const text = document.toString();
  const loaded = loadInventory(text);
  if (!loaded.ok) throw new Error(`${TEMPLATE} is invalid:\n${loaded.errors.join('\n')}`);
  return { text, inventory: loaded.inventory };
}

/**
 * Gives the simulators what the inventory expects to find: admin tokens (in Vault), each source's project
 * with a live token (its value in the credential's store: Vault, or Secrets Manager through `aws`), each
 * target holding that value, and an active pipeline schedule in each dependent project.
 */
export async function seed(
  inventory: Inventory,
  gitlab: GitLabSim,
  github: GitHubSim,
  store: VaultKvStore,
  aws?: SecretsManagerClient,
) {
  const writeField = (field: Parameters<typeof vaultFieldOf>[0], value: string) => {
    const at = vaultFieldOf(field);
    if (at === undefined) throw new Error('the sandbox keeps its admin tokens in Vault');
    return store.write(at, { [at.key]: value });
  };
  const root = gitlab.state.addUser({ username: 'root', admin: true });
  for (const provider of Object.values(inventory.providers.gitlab)) {
    const admin = gitlab.state.addToken({
      userId: root.id,
      name: 'rotator',
      scopes: ['api'],
      expiresAt: null,
    });
    await writeField(provider.credential, admin.value);
  }
  for (const provider of Object.values(inventory.providers.github)) {
    await writeField(provider.credential, github.state.addToken({ login: 'rotator-bot' }).value);
  }

  const project = (path: string | number): SimProject =>
    [...gitlab.state.projects.values()].find((p) => p.path === String(path)) ??
    gitlab.state.addProject(String(path));
  const repository = (fullName: string) =>
    github.state.repositories.get(fullName) ?? github.state.addRepository(fullName);
  const secretScope = (target: Extract<Credential['targets'][number], { kind: 'github-actions-secret' }>) => {
    if (target.organization !== undefined) {
      return (
        github.state.organizations.get(target.organization) ??
        github.state.addOrganization(target.organization)
      );
    }
    const repo = repository(target.repository ?? '');
    if (target.environment === undefined) return repo;
    return repo.environments.get(target.environment) ?? github.state.addEnvironment(repo, target.environment);
  };

  for (const credential of inventory.credentials) {
    const { source } = credential;
    if (source.kind !== 'gitlab-project-access-token') {
      throw new Error(`${credential.id}: the sandbox seeds only gitlab-project-access-token sources`);
    }
    const expiresAt = new Date(Date.now() + source.lifetimeDays * 86_400_000).toISOString().slice(0, 10);
    const token = gitlab.state.addResourceToken(project(source.project), 'project', {
      name: source.tokenName,
      scopes: source.scopes,
      expiresAt,
      // Always set for a project token; the type is the one personal tokens, which have none, share.
      accessLevel: gitlabProjectAccessToken.spec(source).spec.accessLevel ?? 0,
    });
    const first = { token: token.value, tokenId: String(token.id), expiresAt };
    const at = vaultSecretOf(credential.store);
    if (at !== undefined) await store.write(at, first);
    else if (aws !== undefined && 'secretId' in credential.store)
      await aws.send(
        new CreateSecretCommand({ Name: credential.store.secretId, SecretString: JSON.stringify(first) }),
      );
    else throw new Error(`${credential.id}: the sandbox keeps its credentials in Vault or Secrets Manager`);
    for (const target of credential.targets) {
      if (target.kind === 'gitlab-ci-variable') {
        if (target.project === undefined)
          throw new Error(`${credential.id}: the sandbox seeds only project variables`);
        gitlab.state.addVariable(project(target.project), {
          key: target.key,
          value: token.value,
          masked: true,
        });
      } else {
        const scope: SimScope = secretScope(target);
        github.state.setSecret(scope, target.name, token.value);
      }
    }
    for (const dependent of credential.dependents) {
      gitlab.state.addSchedule(project(dependent.project), {
        description: `nightly ${credential.id}`,
        active: true,
        ownerId: root.id,
      });
    }
  }
}

/** `npm run sandbox -- [--aws-secrets-manager]`. */
const sandboxArguments = z
  .object({
    /** Keep the first credential in AWS Secrets Manager (moto, started by the sandbox) instead of Vault. */
    awsSecretsManager: z.boolean().default(false),
  })
  .strict();
export type SandboxOptions = z.input<typeof sandboxArguments>;

/**
 * Starts the simulators, Temporal and Vault (see the top of this file), and moto when the first credential
 * is to be kept in Secrets Manager, seeds them, runs a worker on the sandbox's inventory, and starts a
 * rotation of every credential. `environment` is read as the worker reads its own; ROTATOR_INVENTORY and
 * ROTATOR_AUDIT_LOG are set to files in ROTATOR_DATA_DIR.
 */
export async function startSandbox(
  environment: NodeJS.ProcessEnv,
  logger: Logger,
  options: SandboxOptions = {},
): Promise<Sandbox> {
  const { awsSecretsManager } = parseOrThrow(sandboxArguments, options, 'the sandbox options');
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const step of stops.splice(0).reverse()) await step();
  };
  try {
    const dataDir = resolve(environment.ROTATOR_DATA_DIR || DEFAULT_DATA_DIR);
    const env = readWorkerEnvironment({
      ...environment,
      ROTATOR_DATA_DIR: dataDir,
      ROTATOR_INVENTORY: join(dataDir, 'rotator.yaml'),
      ROTATOR_AUDIT_LOG: join(dataDir, 'audit.jsonl'),
    });
    const gitlab = await startGitLabSim();
    stops.push(() => gitlab.close());
    const github = await startGitHubSim();
    stops.push(() => github.close());
    let moto: MotoServer | undefined;
    if (awsSecretsManager) {
      mkdirSync(dataDir, { recursive: true });
      moto = await startMotoServer(findMotoServer({ ...process.env, ...environment }), dataDir);
      stops.push(moto.stop);
    }
    const { text, inventory } = sandboxInventory(gitlab.url, github.url, moto?.endpoint);

    const servers = await startServers(env, inventory, logger);
    stops.push(() => servers.stop());
    // A Vault elsewhere gets the sandbox's mounts too (the embedded one has them already).
    for (const mount of inventoryMounts(inventory)) {
      await enableKvV2(
        { endpoint: servers.vault.address, rootToken: await servers.vault.token.current() },
        mount,
      );
    }
    const store = new VaultKvStore({
      endpoint: servers.vault.address,
      token: servers.vault.token,
      caCert: servers.vault.caCert,
    });
    const aws =
      moto === undefined
        ? undefined
        : new SecretsManagerClient({
            region: SANDBOX_AWS_REGION,
            endpoint: moto.endpoint,
            credentials: MOTO_CREDENTIALS,
          });
    await seed(inventory, gitlab, github, store, aws);
    github.faults.inject({ ...ORG_SECRET_WRITE, status: 403 });
    writeFileSync(env.inventory, text);

    const watcher = await InventoryWatcher.open(env.inventory, logger);
    stops.push(async () => watcher.close());
    const workerConnection = await NativeConnection.connect({ address: servers.temporalAddress });
    const worker = await createRotationWorker({
      connection: workerConnection,
      namespace: env.temporal.namespace,
      taskQueue: env.temporal.taskQueue,
      vault: store,
      stores: openStores({ vault: store, aws: { credentials: MOTO_CREDENTIALS } }),
      inventoryPath: env.inventory,
      inventory: watcher,
      audit: new FileAuditSink(
        env.auditLog,
        await auditTrust(env, store, servers.prepareVault !== undefined, logger),
      ),
    });
    const running = worker.run();
    stops.push(async () => {
      worker.shutdown();
      await running;
      await workerConnection.close();
    });
    const connection = await Connection.connect({ address: servers.temporalAddress });
    stops.push(() => connection.close());
    const client = new Client({ connection, namespace: env.temporal.namespace });

    const rotations = [];
    for (const { id } of inventory.credentials)
      rotations.push(await rotate(client, env.temporal.taskQueue, id));
    return {
      client,
      namespace: env.temporal.namespace,
      taskQueue: env.temporal.taskQueue,
      uiUrl: env.temporal.address === undefined ? `http://localhost:${env.embedded.uiPort}` : undefined,
      rotations,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Starts a rotation of the credential. One still running from an earlier sandbox is terminated first: the
 * simulators and the Vault in memory it worked on are gone, so it could only fail.
 */
async function rotate(client: Client, taskQueue: string, credentialId: string) {
  const request = { credentialId, reason: 'manual' as const, requestedBy: 'sandbox', force: true };
  try {
    return await startRotation(client, taskQueue, request);
  } catch (error) {
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    await client.workflow
      .getHandle(rotationWorkflowId(credentialId))
      .terminate('left running by an earlier sandbox, whose simulators and Vault are gone');
    return startRotation(client, taskQueue, request);
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const { level, format } = readLogSettings(process.env);
  // The rollback is staged: a stack for its failure would read as a crash; LOG_LEVEL=debug shows it.
  const logger = createLogger(level, process.stdout, { format, stacks: 'debug' });
  // The sandbox stops its worker itself on Ctrl-C, before the servers it runs on.
  Runtime.install({ logger: temporalLogger(logger), shutdownSignals: [] });
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { 'aws-secrets-manager': { type: 'boolean' } },
    strict: true,
  });
  const sandbox = await startSandbox(process.env, logger, {
    awsSecretsManager: values['aws-secrets-manager'] === true,
  });
  const seconds = () => Math.round((Date.now() - started) / 100) / 10;
  const ui = sandbox.uiUrl ?? process.env.TEMPORAL_UI_URL;
  logger.info(
    { rotations: sandbox.rotations.map((handle) => handle.workflowId), seconds: seconds() },
    `sandbox: ${sandbox.rotations.length} rotations started` +
      (ui === undefined ? '' : `; watch them at ${ui}/namespaces/${sandbox.namespace}/workflows`),
  );
  for (const handle of sandbox.rotations) {
    const at = () => ({ workflowId: handle.workflowId, seconds: seconds() });
    void handle
      .result()
      // A rolled-back rotation ends as a failed workflow; its status query names the outcome.
      .then(
        ({ outcome }) => outcome,
        async () => (await handle.query(statusQuery)).outcome,
      )
      .then(
        (outcome) => logger.info(at(), `sandbox: ${outcome}`),
        (error: unknown) => logger.warn({ ...at(), error }, 'sandbox: cannot tell how the rotation ended'),
      );
  }
  logger.info('sandbox: Ctrl-C stops the worker, the simulators and the dev servers');
  await new Promise((resolveSignal) => {
    process.once('SIGINT', resolveSignal);
    process.once('SIGTERM', resolveSignal);
  });
  logger.info('sandbox: stopping');
  await sandbox.stop();
}

if (require.main === module) {
  main().then(
    // The native runtime can keep the event loop alive after the worker has stopped.
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
