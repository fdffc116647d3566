import { VaultAuditAnchor, defaultAnchorPath, readAuditKey } from '../src/audit';
import { readAuditPaths } from '../src/config/environment';
import { startRotation } from '../src/rotations';
import { verifyState, type StateReport } from '../src/verify';
import { statusQuery } from '../workflows';
import type { Topology } from './topology';

export interface RotationFigure {
  credentialId: string;
  outcome: string;
  seconds: number;
  /** The value in Vault differs from the seeded one, and every GitLab CI variable holds the new one. */
  newValueEverywhere: boolean;
}

export interface CheckReport {
  ok: boolean;
  rotations: RotationFigure[];
  /** From the first start to the last result. */
  seconds: number;
  verifyState: StateReport;
  problems: string[];
}

/** A rotation with an overlap waits it out (20 s in the sandbox) before it ends: a few minutes is plenty. */
const ROTATION_TIMEOUT_MS = 300_000;

/**
 * Rotates every credential of the inventory at once through the workers, as `rotator rotate` would, and
 * checks the result three ways: each rotation ended `rotated`; Vault holds a new value that every GitLab CI
 * variable now holds too; and `rotator verify-state`'s checks (provider, targets, old tokens, audit logs
 * with their anchors in Vault) find no violation.
 */
export async function runCheck(topology: Topology): Promise<CheckReport> {
  const { client, inventory, operatorVault, gitlab, taskQueue } = topology;
  const tokenIn = async (credentialId: string) => {
    const credential = inventory.credentials.find(({ id }) => id === credentialId);
    if (credential === undefined) throw new Error(`no credential ${credentialId}`);
    return { credential, token: (await operatorVault.read(credential.vault)).data.token };
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
      return { credentialId: id, outcome, seconds, newValueEverywhere };
    }),
  );
  const seconds = (Date.now() - started) / 1000;

  const audit = readAuditPaths({});
  const key = await readAuditKey(operatorVault, audit.key);
  const report = await verifyState({
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

  const problems = [
    ...rotations
      .filter((r) => r.outcome !== 'rotated')
      .map((r) => `${r.credentialId}: ${r.outcome}, not rotated`),
    ...rotations
      .filter((r) => !r.newValueEverywhere)
      .map((r) => `${r.credentialId}: Vault holds no new value, or a CI variable does not hold it`),
    ...report.credentials
      .filter((c) => c.verdict !== 'ok')
      .map((c) => `${c.credentialId}: verify-state says ${c.verdict} (${c.reason})`),
    ...(report.ok ? [] : [`verify-state found ${report.violations} violation(s)`]),
  ];
  return { ok: problems.length === 0, rotations, seconds, verifyState: report, problems };
}
