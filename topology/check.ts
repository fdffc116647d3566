import { readFileSync } from 'node:fs';
import { Connection } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { isEncrypted } from '../src/codec';
import { VaultAuditAnchor, defaultAnchorPath, readAuditKey } from '../src/audit';
import { readAuditPaths } from '../src/config/environment';
import { createLogger } from '../src/logging';
import { startRotation } from '../src/rotations';
import { vaultSecretOf } from '../src/stores';
import { VaultError, VaultKvStore } from '../src/vault';
import { AppRoleSession } from '../src/vault-auth';
import { verifyState, type StateReport } from '../src/verify';
import { statusQuery } from '../workflows';
import type { Topology } from './topology';

export interface RotationFigure {
  credentialId: string;
  outcome: string;
  seconds: number;
  /** The value in Vault differs from the seeded one, and every GitLab CI variable holds the new one. */
  newValueEverywhere: boolean;
  /** Payloads in the history as the Temporal server stores it, and how many of them are encrypted. */
  payloads: { total: number; encrypted: number };
}

export interface CheckReport {
  ok: boolean;
  rotations: RotationFigure[];
  /** From the first start to the last result. */
  seconds: number;
  verifyState: StateReport;
  /** What the topology must refuse, and whether it did. */
  refusals: { what: string; refused: boolean }[];
  problems: string[];
}

/** A rotation with an overlap waits it out (20 s in the sandbox) before it ends: a few minutes is plenty. */
const ROTATION_TIMEOUT_MS = 300_000;

/**
 * Rotates every credential of the inventory at once through the workers, as `rotator rotate` would, and
 * checks that each rotation ended `rotated`; that Vault holds a new value, which every GitLab CI variable
 * now holds too; that the server stores every payload of it encrypted; that `rotator verify-state`'s checks
 * (provider, targets, old tokens, audit logs with their anchors in Vault) find no violation; and that what
 * must be refused is (probeRefusals).
 */
export async function runCheck(topology: Topology): Promise<CheckReport> {
  const { client, inventory, operatorVault, gitlab, taskQueue } = topology;
  const tokenIn = async (credentialId: string) => {
    const credential = inventory.credentials.find(({ id }) => id === credentialId);
    if (credential === undefined) throw new Error(`no credential ${credentialId}`);
    const at = vaultSecretOf(credential.store);
    if (at === undefined) throw new Error(`${credentialId} is not kept in Vault`);
    return { credential, token: (await operatorVault.read(at)).data.token };
  };
  const seeded = new Map(
    await Promise.all(inventory.credentials.map(async ({ id }) => [id, (await tokenIn(id)).token] as const)),
  );

  const started = Date.now();
  const rotations = await Promise.all(
    inventory.credentials.map(async ({ id }): Promise<RotationFigure> => {
      const begun = Date.now();
      const handle = await startRotation(client, taskQueue, {
        credentialId: id,
        reason: 'manual',
        requestedBy: 'topology-check',
        force: true,
      });
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${id}: no result within ${ROTATION_TIMEOUT_MS / 1000}s`)),
          ROTATION_TIMEOUT_MS,
        );
      });
      // A rolled-back rotation ends as a failed workflow; its status query names the outcome.
      const outcome = await Promise.race([
        handle.result().then(
          (result) => result.outcome as string,
          async () => (await handle.query(statusQuery)).outcome ?? 'failed',
        ),
        timeout,
      ]).finally(() => clearTimeout(timer));
      const seconds = (Date.now() - begun) / 1000;
      const { credential, token } = await tokenIn(id);
      const variables = credential.targets.flatMap((target) =>
        target.kind === 'gitlab-ci-variable'
          ? [...gitlab.state.projects.values()]
              .filter((project) => project.path === String(target.project))
              .flatMap((project) => project.variables.filter((variable) => variable.key === target.key))
          : [],
      );
      const newValueEverywhere =
        token !== undefined &&
        token !== seeded.get(id) &&
        variables.every((variable) => variable.value === token);
      const { history } = await client.workflowService.getWorkflowExecutionHistory({
        namespace: client.options.namespace,
        execution: { workflowId: handle.workflowId },
      });
      const payloads = payloadsIn(history);
      return {
        credentialId: id,
        outcome,
        seconds,
        newValueEverywhere,
        payloads: { total: payloads.length, encrypted: payloads.filter(isEncrypted).length },
      };
    }),
  );
  const seconds = (Date.now() - started) / 1000;

  const report = await verifyTopology(topology);

  const refusals = await probeRefusals(topology);
  const problems = [
    ...refusals.filter((r) => !r.refused).map((r) => `not refused: ${r.what}`),
    ...rotations
      .filter((r) => r.outcome !== 'rotated')
      .map((r) => `${r.credentialId}: ${r.outcome}, not rotated`),
    ...rotations
      .filter((r) => !r.newValueEverywhere)
      .map((r) => `${r.credentialId}: Vault holds no new value, or a CI variable does not hold it`),
    ...rotations
      .filter((r) => r.payloads.encrypted < r.payloads.total || r.payloads.total === 0)
      .map(
        (r) =>
          `${r.credentialId}: ${r.payloads.total - r.payloads.encrypted} of ${r.payloads.total} payloads in clear`,
      ),
    ...report.credentials
      .filter((c) => c.verdict !== 'ok')
      .map((c) => `${c.credentialId}: verify-state says ${c.verdict} (${c.reason})`),
    ...(report.ok ? [] : [`verify-state found ${report.violations} violation(s)`]),
  ];
  return { ok: problems.length === 0, rotations, seconds, verifyState: report, refusals, problems };
}

/**
 * `rotator verify-state`'s checks on the topology, as the operator runs them: provider, targets, old tokens,
 * open rotations, and every worker's audit log with its anchor in Vault.
 */
export async function verifyTopology(topology: Topology): Promise<StateReport> {
  const { client, inventory, operatorVault, taskQueue } = topology;
  const audit = readAuditPaths({});
  const key = await readAuditKey(operatorVault, audit.key);
  return verifyState({
    client,
    taskQueue,
    inventory,
    vault: operatorVault,
    auditLogs: topology.workers.map((worker) => worker.auditLog),
    auditTrust: (auditLog) => ({
      key,
      anchor: new VaultAuditAnchor(operatorVault, defaultAnchorPath(audit.key, auditLog)),
    }),
    stuckAfterMs: 600_000,
  });
}

/**
 * Every payload of a raw history (as the server stores it), except three that the SDK writes in clear by
 * design: search attributes, which the server indexes (ids and phases only); a local activity marker's
 * `data` detail, the SDK's own bookkeeping (sequence number, activity type, times), whose result is
 * encrypted; and a patch marker (`patched()`), which the SDK's core writes itself with the patch's name only.
 */
function payloadsIn(value: unknown): Payload[] {
  if (Array.isArray(value)) return value.flatMap(payloadsIn);
  if (typeof value !== 'object' || value === null) return [];
  if ('metadata' in value && 'data' in value) return [value as Payload];
  if ('markerName' in value && value.markerName === 'core_patch') return [];
  if ('markerName' in value && 'details' in value) {
    const { details, ...marker } = value as { details?: Record<string, unknown> };
    const results = Object.entries(details ?? {}).filter(([name]) => name !== 'data');
    return payloadsIn({ ...marker, results });
  }
  return Object.entries(value).flatMap(([key, child]) =>
    key === 'searchAttributes' ? [] : payloadsIn(child),
  );
}

/** Resolves true when `attempt` fails, as it must; `expected` tells the right refusal from any other error. */
async function refused(
  attempt: () => Promise<unknown>,
  expected: (error: unknown) => boolean,
): Promise<boolean> {
  try {
    await attempt();
    return false;
  } catch (error) {
    if (expected(error)) return true;
    throw error;
  }
}

/**
 * The guarantees the rotations above cannot show: Temporal turns away a client without a certificate from
 * the CA, and a worker's AppRole token carries the least-privilege policy, not more.
 */
async function probeRefusals(topology: Topology): Promise<CheckReport['refusals']> {
  const { temporal, certificates, vault, logins } = topology;
  const withoutCertificate = await refused(
    async () => {
      const connection = await Connection.connect({
        address: temporal.address,
        connectTimeout: '3s',
        tls: { serverRootCACertificate: readFileSync(certificates.caFile), serverNameOverride: 'localhost' },
        // A pool of its own: grpc-js would otherwise reuse the operator client's authenticated connection.
        channelArgs: { 'grpc.use_local_subchannel_pool': 1 },
      });
      try {
        await connection.workflowService.getSystemInfo({});
      } finally {
        await connection.close();
      }
    },
    // Any error: the same frontend has just served the rotations to the operator's certificate.
    () => true,
  );

  const session = await AppRoleSession.start(
    {
      endpoint: vault.address,
      caCert: vault.caCert,
      roleId: logins.roleId,
      secretIdFile: logins.secretIdFiles[0] ?? '',
    },
    createLogger('warn'),
  );
  try {
    const asWorker = new VaultKvStore({ endpoint: vault.address, token: session, caCert: vault.caCert });
    const forbidden = (error: unknown) => error instanceof VaultError && error.status === 403;
    const audit = readAuditPaths({});
    return [
      { what: 'a Temporal client without a client certificate', refused: withoutCertificate },
      {
        what: "a worker's AppRole token writing the audit key (read-only to it)",
        refused: await refused(() => asWorker.write(audit.key, { key: 'x' }), forbidden),
      },
      {
        what: "a worker's AppRole token reading a secret no credential names",
        refused: await refused(
          () => asWorker.read({ mount: audit.key.mount, path: 'not-in-the-inventory' }),
          forbidden,
        ),
      },
    ];
  } finally {
    await session.close();
  }
}
