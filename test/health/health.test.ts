import { WorkflowFailedError } from '@temporalio/client';
import { startRotation } from '../../src/rotations';
import { rotationWorkflowId } from '../../src/rotation-names';
import { retryRollback, statusQuery } from '../../workflows';
import type { HealthReport } from '../../workflows/health-check';
import { defined } from '../gitlab/world';
import { until, type SeededCredential } from '../helpers/rotation';
import { healthWorld, TEST_UI_URL, type HealthWorld } from './world';

let world: HealthWorld;
const seeded: Record<string, SeededCredential> = {};
const NAMES = ['drift', 'revoked', 'overdue', 'expiring', 'repaired', 'rolled-back', 'stuck'] as const;

beforeAll(async () => {
  world = await healthWorld('health');
  for (const name of NAMES) seeded[name] = await world.rotation.seed(name);
  world.rotation.writeInventory();
  await world.startWorker();
});

afterAll(async () => {
  await world?.close();
});

const credential = (name: (typeof NAMES)[number]) => defined(seeded[name]);
const sim = () => world.rotation.world.state;
/** Changes a credential's project CI variable by hand, as someone in GitLab's settings page would. */
const driftByHand = (name: (typeof NAMES)[number]) => {
  const { owner, key } = defined(credential(name).variables[0]);
  defined(owner.variables.find((variable) => variable.key === key)).value = `typed-by-hand-${name}`;
};
const health = async (...options: string[]) => {
  const run = await world.cli(['health', '--json', ...options]);
  return {
    code: run.code,
    stderr: run.stderr,
    report: JSON.parse(run.stdout) as HealthReport & { workflowId: string },
  };
};
const of = (report: HealthReport, name: (typeof NAMES)[number]) =>
  defined(report.credentials.find((entry) => entry.credentialId === credential(name).id));

describe('rotator health', () => {
  it('finds every credential healthy after seeding, exits 0 and sends no alert', async () => {
    const run = await world.cli(['health']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const lines = run.stdout.split('\n');
    expect(lines[0]).toMatch(/^CREDENTIAL +TOKEN +EXPIRES +ROTATED +TARGETS +PROBLEMS$/);
    for (const name of NAMES) {
      const row = defined(lines.find((line) => line.startsWith(credential(name).id)));
      expect(row).toMatch(
        new RegExp(
          `^${credential(name).id} +${credential(name).old.id} valid +2099-12-31 .* 1/1 current +ok$`,
        ),
      );
    }
    expect(run.stdout).toContain(`${NAMES.length} of ${NAMES.length} credentials healthy`);
    expect(world.receiver.received).toEqual([]);
  });

  it('finds a CI variable changed by hand in GitLab, exits 1 and alerts drift with a link to the check', async () => {
    driftByHand('drift');
    const { code, report } = await health();
    expect(code).toBe(1);
    expect(report.healthy).toBe(false);
    expect(of(report, 'drift')).toMatchObject({
      token: 'valid',
      targets: [{ state: 'drifted', detail: "holds a value other than Vault's current version" }],
      problems: [
        { kind: 'drift', message: expect.stringContaining(defined(credential('drift').variables[0]).key) },
      ],
    });
    expect(of(report, 'revoked').problems).toEqual([]);
    const [alert, ...more] = world.alertsOf(credential('drift').id);
    expect(more).toEqual([]);
    expect(alert).toMatchObject({
      kind: 'drift',
      severity: 'warning',
      credentialId: credential('drift').id,
      workflowId: report.workflowId,
      uiUrl: `${TEST_UI_URL}/namespaces/default/workflows/${encodeURIComponent(report.workflowId)}/${alert?.runId}/history`,
      message: of(report, 'drift').problems[0]?.message,
    });
    expect(alert?.text).toContain(`drift: ${credential('drift').id}`);
  });

  it('finds a token revoked by hand at the provider and alerts it as invalid', async () => {
    defined(sim().tokens.get(credential('revoked').old.id)).revoked = true;
    const { code, report } = await health();
    expect(code).toBe(1);
    expect(of(report, 'revoked')).toMatchObject({
      token: 'revoked',
      tokenId: String(credential('revoked').old.id),
      problems: [{ kind: 'invalid-token', message: expect.stringContaining('is revoked at the provider') }],
    });
    expect(world.alertsOf(credential('revoked').id).map(({ kind }) => kind)).toEqual(['invalid-token']);
  });

  it('finds a credential whose last rotation is older than policy.every plus jitter: overdue', async () => {
    world.editInventory((entries) => {
      const entry = defined(entries.find((candidate) => candidate.id === credential('overdue').id));
      entry.policy = { ...entry.policy, every: '1s' };
    });
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const { report } = await health();
    const found = of(report, 'overdue');
    expect(found.problems).toEqual([
      {
        kind: 'overdue',
        message: expect.stringMatching(/^last rotated .* \(Vault \S+ v1\): overdue since /),
      },
    ]);
    expect(Date.parse(defined(found.overdueAt)) - Date.parse(defined(found.rotatedAt))).toBe(1_000);
    expect(world.alertsOf(credential('overdue').id).map(({ kind }) => kind)).toEqual(['overdue']);
  });

  it('finds a token that expires before its next scheduled rotation', async () => {
    const soon = new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10);
    defined(sim().tokens.get(credential('expiring').old.id)).expiresAt = soon;
    const { report } = await health();
    expect(of(report, 'expiring')).toMatchObject({
      token: 'valid',
      expiresAt: soon,
      problems: [
        {
          kind: 'expiring',
          message: expect.stringMatching(
            new RegExp(`expires ${soon} \\(in \\d days\\), before its next scheduled rotation`),
          ),
        },
      ],
    });
    expect(world.alertsOf(credential('expiring').id).map(({ kind }) => kind)).toEqual(['expiring']);
  });

  it('with --repair, starts a rotation of a drifted credential, which writes every target again', async () => {
    driftByHand('repaired');
    const { report } = await health('--repair');
    expect(of(report, 'repaired').repair).toEqual({
      workflowId: rotationWorkflowId(credential('repaired').id),
      started: true,
      detail: `rotation ${rotationWorkflowId(credential('repaired').id)} started`,
    });
    const [alert] = world.alertsOf(credential('repaired').id);
    expect(alert?.message).toMatch(/; repair: rotation rotate\/.* started$/);
    const status = await world.client.workflow
      .getHandle(rotationWorkflowId(credential('repaired').id))
      .result();
    expect(status).toMatchObject({ outcome: 'rotated' });
    await world.rotation.expectRotatedOnce(credential('repaired'));
    // The earlier drift was repaired too: let it finish before the next test injects faults.
    await world.client.workflow.getHandle(rotationWorkflowId(credential('drift').id)).result();

    const after = await health();
    expect(of(after.report, 'repaired')).toMatchObject({
      token: 'valid',
      targets: [{ state: 'current' }],
      problems: [],
    });
  });
});

describe('alerts from rotations', () => {
  it('a rolled-back rotation alerts rollback, retried past a webhook that failed once', async () => {
    const { id } = credential('rolled-back');
    const route = '/projects/:id/variables/:key';
    world.rotation.world.sim.faults.failNth({
      method: 'PUT',
      route,
      n: world.rotation.world.sim.callsTotal('PUT', route) + 1,
      status: 403,
    });
    world.receiver.refuseNext(1);
    const handle = await startRotation(world.client, world.taskQueue, {
      credentialId: id,
      reason: 'manual',
      requestedBy: 'alice',
      force: true,
    });
    const error = await handle.result().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const alerts = world.alertsOf(id);
    expect(alerts).toEqual([
      expect.objectContaining({
        kind: 'rollback',
        severity: 'warning',
        workflowId: rotationWorkflowId(id),
        runId: handle.firstExecutionRunId,
        message: expect.stringMatching(new RegExp(`^rotate ${id}: distribute failed .*; rolled back: `)),
      }),
    ]);
    expect(alerts[0]?.message).toBe((error as WorkflowFailedError).cause?.message);
  });

  it('a rollback that needs an operator alerts before it waits, then alerts the rollback once retried', async () => {
    const { id } = credential('stuck');
    const route = '/projects/:id/variables/:key';
    const n = world.rotation.world.sim.callsTotal('PUT', route);
    world.rotation.world.sim.faults.failNth({ method: 'PUT', route, n: n + 1, status: 403 });
    for (const k of [2, 3])
      world.rotation.world.sim.faults.failNth({ method: 'PUT', route, n: n + k, status: 500 });
    const handle = await startRotation(world.client, world.taskQueue, {
      credentialId: id,
      reason: 'manual',
      requestedBy: 'alice',
      force: true,
      rollbackAttempts: 2,
    });
    await until(async () => world.alertsOf(id).length > 0);
    expect(world.alertsOf(id)).toEqual([
      expect.objectContaining({
        kind: 'needs-operator',
        message: expect.stringMatching(
          new RegExp(
            `^rollback is stuck: restore .*: FAILED \\(.*HTTP 500.*\\); run \`rotator retry-rollback ${id}\``,
          ),
        ),
      }),
    ]);
    expect((await handle.query(statusQuery)).phase).toBe('needs-operator');

    await handle.executeUpdate(retryRollback, { args: [{ requestedBy: 'carol' }] });
    await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    expect(world.alertsOf(id).map(({ kind }) => kind)).toEqual(['needs-operator', 'rollback']);
  });

  it('carry no secret value: no token the simulator minted, nor the admin token, nor the values typed by hand', async () => {
    await until(async () => world.receiver.received.length >= 5);
    const secrets = [...sim().tokens.values()].map((token) => token.value);
    expect(secrets.length).toBeGreaterThan(NAMES.length);
    const everything = world.receiver.bodies.join('\n');
    for (const secret of [...secrets, 'typed-by-hand-drift', 'typed-by-hand-repaired']) {
      expect(everything).not.toContain(secret);
    }
    // Nor the webhook's own path, which is a credential at Slack.
    expect(everything).not.toContain('not-a-real-hook');
  });
});
