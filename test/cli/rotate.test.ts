import { WorkflowNotFoundError } from '@temporalio/client';
import { rotationWorkflowId } from '../../src/rotation-names';
import { defined } from '../gitlab/world';
import { until, type SeededCredential } from '../helpers/rotation';
import { cliWorld, type CliWorld } from './world';

let world: CliWorld;
const seeded: Record<string, SeededCredential> = {};

beforeAll(async () => {
  world = await cliWorld('cli-rotate');
  const { rotation } = world;
  seeded.approval = await rotation.seed('approval', { requireApproval: true });
  seeded.plain = await rotation.seed('plain');
  seeded.refused = await rotation.seed('refused');
  rotation.writeInventory();
  await world.startWorker();
});

afterAll(async () => {
  await world?.close();
});

const credential = (name: string) => defined(seeded[name]);
const uiLink = (id: string) => `http://localhost:8233/namespaces/default/workflows/rotate%2F${id}`;
/** Every token value the simulator holds: none may appear in anything the CLI prints. */
const tokenValues = () => [...world.rotation.world.state.tokens.values()].map((token) => token.value);
const expectNoSecret = (...outputs: string[]) => {
  for (const value of tokenValues()) for (const output of outputs) expect(output).not.toContain(value);
};

describe('rotator rotate, refusing before anything starts', () => {
  it('explains its options with --help and exits 0', async () => {
    const { code, stdout } = await world.cli(['rotate', '--help']);
    expect(code).toBe(0);
    for (const option of [
      '--reason',
      '--force',
      '--dry-run',
      '--skip-canary',
      '--wait',
      '--requested-by',
      '--json',
    ]) {
      expect(stdout).toContain(option);
    }
  });

  it('refuses an id the inventory does not know with exit 2, naming the inventory, and starts nothing', async () => {
    const { code, stdout, stderr } = await world.cli(['rotate', 'no-such-credential']);
    expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
    expect(stderr).toBe(
      `rotator: no credential "no-such-credential" in the inventory ${world.rotation.inventoryPath} ` +
        `(it has: ${Object.values(seeded)
          .map((c) => c.id)
          .join(', ')})\n`,
    );
    await expect(
      world.client.workflow.getHandle(rotationWorkflowId('no-such-credential')).describe(),
    ).rejects.toBeInstanceOf(WorkflowNotFoundError);
  });

  it('names the argument at fault with exit 2: an unknown reason, no requester', async () => {
    const id = credential('plain').id;
    const badReason = await world.cli(['rotate', id, '--reason', 'because']);
    expect(badReason.code).toBe(2);
    expect(badReason.stderr).toMatch(/^rotator: --reason: .*"manual"/);

    const nobody = await world.cli(['rotate', id], { USER: '' });
    expect(nobody).toEqual({
      code: 2,
      stdout: '',
      stderr: 'rotator: --requested-by: required when USER is not set\n',
    });
  });

  it('refuses --skip-canary without a reason, and for a credential that has no canary, starting nothing', async () => {
    const id = credential('plain').id;
    const noReason = await world.cli(['rotate', id, '--skip-canary']);
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toContain("option '--skip-canary <reason>' argument missing");

    const noCanary = await world.cli(['rotate', id, '--skip-canary', 'runners are down']);
    expect(noCanary).toEqual({
      code: 2,
      stdout: '',
      stderr: `rotator: --skip-canary: credential "${id}" has no canary to skip\n`,
    });
    await expect(world.client.workflow.getHandle(rotationWorkflowId(id)).describe()).rejects.toBeInstanceOf(
      WorkflowNotFoundError,
    );
  });

  it('names the address and TEMPORAL_ADDRESS with exit 4 when Temporal cannot be reached', async () => {
    const { code, stderr } = await world.cli(['rotate', credential('plain').id], {
      TEMPORAL_ADDRESS: '127.0.0.1:1',
    });
    expect(code).toBe(4);
    expect(stderr).toMatch(
      /^rotator: cannot reach Temporal at 127\.0\.0\.1:1 \(.*\): start it, or set TEMPORAL_ADDRESS/,
    );
  });
});

describe('rotator rotate on the real dev server', () => {
  it('starts a rotation (--json), refuses a second one with exit 3, its workflow id and Web UI link, and --wait follows it to rotated after approve', async () => {
    const { id } = credential('approval');
    const started = await world.cli(['rotate', id, '--force', '--json']);
    expect(started.code).toBe(0);
    const document = JSON.parse(started.stdout) as Record<string, unknown>;
    expect(document).toEqual({
      started: true,
      credentialId: id,
      workflowId: `rotate/${id}`,
      runId: expect.any(String),
      url: uiLink(id),
    });
    await world.untilPhase(id, 'awaiting-approval');

    const again = await world.cli(['rotate', id, '--force']);
    expect(again.code).toBe(3);
    expect(again.stdout).toBe('');
    expect(again.stderr).toMatch(
      new RegExp(
        `^rotator: ${id} is already rotating \\(phase awaiting-approval, started [^)]+\\), so nothing was started: workflow rotate/${id}\n`,
      ),
    );
    expect(again.stderr).toContain(`  ${uiLink(id)}\n`);
    const againJson = await world.cli(['rotate', id, '--json']);
    expect(againJson.code).toBe(3);
    expect(JSON.parse(againJson.stdout)).toEqual({
      started: false,
      refused: 'already-running',
      credentialId: id,
      workflowId: `rotate/${id}`,
      runId: document.runId,
      phase: 'awaiting-approval',
      url: uiLink(id),
    });

    // The running one ends cancelled by an abort; then --wait follows a new one through approval.
    expect((await world.cli(['abort', id, '--reason', 'start over'])).code).toBe(0);
    await world.client.workflow.getHandle(`rotate/${id}`).result();

    const waiting = world.spawn(['rotate', id, '--force', '--wait', '--requested-by', 'bob']);
    await until(async () => waiting.output().includes('phase awaiting-approval'));
    const carol = world.rotation.approvers.carol.file;
    const approved = await world.cli(['approve', id, '--requested-by', 'carol', '--key', carol]);
    expect(approved.code).toBe(0);
    const { code, stdout, stderr } = await waiting.done;

    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    const lines = stdout.split('\n');
    expect(lines[0]).toBe(
      `started the rotation of ${id} (reason manual, requested by bob): workflow rotate/${id}`,
    );
    expect(lines).toContain(
      `  phase awaiting-approval: approve with \`rotator approve ${id}\`, or \`rotator abort ${id} --reason ...\``,
    );
    expect(lines).toContain('  phase done: rotated');
    expect(lines.at(-2)).toMatch(/^rotated: token \d+ replaced by token \d+$/);
    expectNoSecret(stdout, stderr, started.stdout, again.stderr);
  });

  it('--wait --dry-run ends with outcome dry-run and exit 0; without --force a fresh token is not due', async () => {
    const { id } = credential('plain');
    const dryRun = await world.cli(['rotate', id, '--dry-run', '--force', '--wait', '--json']);
    expect(dryRun.code).toBe(0);
    expect(JSON.parse(dryRun.stdout)).toMatchObject({
      started: true,
      workflowId: `rotate/${id}`,
      outcome: 'dry-run',
      detail: expect.stringMatching(/^would rotate /),
      phases: expect.arrayContaining(['done']),
      status: { credentialId: id, phase: 'done', outcome: 'dry-run' },
    });
    // With --json the live lines go to stderr, so that stdout is one document.
    expect(dryRun.stderr).toContain(`started the rotation of ${id}`);

    const notDue = await world.cli(['rotate', id, '--wait']);
    expect(notDue.code).toBe(0);
    expect(notDue.stdout).toMatch(/\nnot-due: not due until \S+ \(in 7 days\)\n$/);
    expect(world.rotation.newTokens(credential('plain'))).toEqual([]);
  });

  it('--wait ends with rolled-back and exit 1 when a step fails and the rotation rolls back', async () => {
    const { id } = credential('refused');
    const { sim } = world.rotation.world;
    const route = '/personal_access_tokens/self';
    sim.faults.failNth({ method: 'GET', route, n: sim.callsTotal('GET', route) + 1, status: 401 });

    const { code, stdout } = await world.cli(['rotate', id, '--force', '--wait']);

    expect(code).toBe(1);
    expect(stdout).toContain('  phase done: rolled-back\n');
    expect(stdout).toMatch(new RegExp(`\nrolled-back: rotate ${id}: verify failed .*; rolled back: .*\n$`));
    expect(world.rotation.targetValues(credential('refused'))).toEqual([credential('refused').old.value]);
    expectNoSecret(stdout);
  });
});
