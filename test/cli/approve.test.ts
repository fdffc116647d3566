import { Readable } from 'node:stream';
import { decodeArrayFromPayloads } from '@temporalio/common/lib/internal-non-workflow';
import { runCli } from '../../src/cli';
import { breakGlassWorkflowId } from '../../src/incidents/request';
import { verifyApproval } from '../../src/approval';
import { parsePublicKey } from '../../src/approval/ssh';
import { readInventoryFile } from '../../src/inventory/watch';
import { rotationWorkflowId } from '../../src/rotation-names';
import type { RotationStatus } from '../../workflows/status';
import { defined } from '../gitlab/world';
import { until, type SeededCredential } from '../helpers/rotation';
import { sshAgent, sshKeys } from '../helpers/ssh';
import { testServers } from '../infra/test-servers';
import { cliWorld, type CliWorld } from './world';

let world: CliWorld;
const keys = sshKeys();
let credentials: { byKey: string; byAgent: string };
let reviewed: SeededCredential;

beforeAll(async () => {
  world = await cliWorld('cli-approve');
  const { rotation } = world;
  credentials = {
    byKey: (await rotation.seed('by-key', { requireApproval: true })).id,
    byAgent: (await rotation.seed('by-agent', { requireApproval: true })).id,
  };
  reviewed = await rotation.seed('reviewed', { breakGlassReview: true });
  rotation.writeInventory();
  await world.startWorker();
});

afterAll(async () => {
  await world?.close();
  keys.close();
});

/** Starts a rotation as alice (the world's $USER) and waits until it awaits approval. */
async function awaitingApproval(id: string) {
  expect((await world.cli(['rotate', id, '--force'])).code).toBe(0);
  await world.untilPhase(id, 'awaiting-approval');
  return world.client.workflow.getHandle(rotationWorkflowId(id));
}

/** The payload of the approve update the rotation accepted, read back from its history. */
async function acceptedApproval(id: string): Promise<unknown> {
  const history = await world.client.workflow.getHandle(rotationWorkflowId(id)).fetchHistory();
  const accepted = history.events?.find((event) => event.workflowExecutionUpdateAcceptedEventAttributes)
    ?.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest;
  expect(accepted?.input?.name).toBe('approve');
  const [payload] = await decodeArrayFromPayloads(
    world.client.options.loadedDataConverter,
    accepted?.input?.args?.payloads,
  );
  return payload;
}

async function expectVerified(id: string, approver: string, fingerprint: string) {
  const handle = world.client.workflow.getHandle(rotationWorkflowId(id));
  const { runId } = await handle.describe();
  const loaded = await readInventoryFile(world.rotation.inventoryPath);
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  const rotation = { workflowId: rotationWorkflowId(id), runId, credentialId: id, requestedBy: 'alice' };
  expect(verifyApproval(loaded.inventory, rotation, await acceptedApproval(id), new Date())).toEqual({
    ok: true,
    approver,
    fingerprint,
  });
}

describe('rotator approve --break-glass', () => {
  it('acknowledges the break-glass rotation that `incident --stdin` started, which awaits review', async () => {
    const id = reviewed.id;
    const servers = testServers();
    const incident = await runCli(
      ['incident', '--stdin', '--reported-by', 'dave'],
      { stdout: () => undefined, stderr: () => undefined },
      { ...world.env(), VAULT_ADDR: servers.vault.endpoint, VAULT_TOKEN: servers.vault.token },
      { stdin: Readable.from([Buffer.from(reviewed.old.value)]) },
    );
    expect(incident).toBe(0);
    const handle = world.client.workflow.getHandle(breakGlassWorkflowId(id));
    await until(async () => (await handle.query<RotationStatus>('status')).phase === 'awaiting-review');
    // The normal rotation's approve finds nothing to approve: it is the break-glass rotation that waits.
    expect(
      (
        await world.cli([
          'approve',
          id,
          '--requested-by',
          'carol',
          '--key',
          world.rotation.approvers.carol.file,
        ])
      ).code,
    ).toBe(3);

    const approved = await world.cli([
      'approve',
      id,
      '--break-glass',
      '--requested-by',
      'carol',
      '--key',
      world.rotation.approvers.carol.file,
    ]);
    expect(approved).toMatchObject({ code: 0, stderr: '' });
    expect(approved.stdout).toContain(`approved the break-glass rotation of ${id} at `);
    const status = (await handle.result()) as RotationStatus;
    expect(status).toMatchObject({ outcome: 'rotated', incident: { timeline: { reviewedBy: 'carol' } } });
    const report = await world.cli(['incident', 'report', id]);
    expect(report.stdout).toMatch(/\d{4}-\d\d-\d\dT\S+\s+reviewed by carol/);
    // `history` and `status` list break-glass rotations beside the credential's rotations.
    const listed = `workflows/break-glass%2F${id}/`;
    await until(async () => (await world.cli(['history', id])).stdout.includes(listed));
    expect((await world.cli(['history', id])).stdout).toContain(listed);
  });
});

describe('rotator approve', () => {
  it('signs with --key a statement of this run and its requester that verifyApproval accepts', async () => {
    const id = credentials.byKey;
    const handle = await awaitingApproval(id);
    const carol = world.rotation.approvers.carol;
    const fingerprint = parsePublicKey(carol.publicKey).fingerprint;

    expect(await world.cli(['approve', id])).toEqual({
      code: 2,
      stdout: '',
      stderr:
        `rotator: alice is not an approver in the inventory ${world.rotation.inventoryPath} (approvers): ` +
        'pass your approver name with --requested-by\n',
    });
    const bob = world.rotation.approvers.bob;
    expect(await world.cli(['approve', id, '--requested-by', 'carol', '--key', bob.file])).toMatchObject({
      code: 2,
      stderr:
        `rotator: ${bob.file} is the key ${parsePublicKey(bob.publicKey).fingerprint}, but the inventory lists ` +
        `${fingerprint} for you\n`,
    });
    expect(await world.cli(['approve', id, '--requested-by', 'carol'])).toMatchObject({
      code: 2,
      stderr: 'rotator: sign with --key <path>, or start an SSH agent (SSH_AUTH_SOCK is not set)\n',
    });
    const encrypted = keys.make('encrypted', 'ed25519', 'a passphrase');
    expect(
      await world.cli(['approve', id, '--requested-by', 'carol', '--key', encrypted.file]),
    ).toMatchObject({
      code: 2,
      stderr: expect.stringContaining(`${encrypted.file} is encrypted (aes256-ctr): load it into ssh-agent`),
    });
    expect((await handle.query<RotationStatus>('status')).phase).toBe('awaiting-approval');

    const approved = await world.cli(['approve', id, '--requested-by', 'carol', '--key', carol.file]);
    expect(approved).toMatchObject({ code: 0, stderr: '' });
    expect(approved.stdout).toMatch(
      new RegExp(
        `^approved the rotation of ${id} at \\S+, signed by ${fingerprint.replace(/[+/]/g, '\\$&')}\n`,
      ),
    );
    await expectVerified(id, 'carol', fingerprint);
    expect((await handle.result()).outcome).toBe('rotated');
  });

  it('signs through the SSH agent by default when SSH_AUTH_SOCK is set', async () => {
    const id = credentials.byAgent;
    const handle = await awaitingApproval(id);
    const bob = world.rotation.approvers.bob;
    const agent = await sshAgent(keys.dir);
    try {
      const SSH_AUTH_SOCK = agent.socket;
      expect(await world.cli(['approve', id, '--requested-by', 'bob'], { SSH_AUTH_SOCK })).toMatchObject({
        code: 2,
        stderr: `rotator: the SSH agent at ${agent.socket} does not hold the key ${parsePublicKey(bob.publicKey).fingerprint}: add it with ssh-add\n`,
      });
      agent.add(bob);
      const approved = await world.cli(['approve', id, '--requested-by', 'bob'], { SSH_AUTH_SOCK });
      expect(approved).toMatchObject({ code: 0, stderr: '' });
    } finally {
      agent.close();
    }
    await expectVerified(id, 'bob', parsePublicKey(bob.publicKey).fingerprint);
    expect(defined(await handle.result()).outcome).toBe('rotated');
  });
});
