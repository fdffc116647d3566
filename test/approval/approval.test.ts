import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { stringify } from 'yaml';
import { createApprovalActivities } from '../../activities/approval';
import {
  agentSigner,
  keyFileSigner,
  parsePublicKey,
  signApproval,
  verifyApproval,
  type Approval,
  type RotationFacts,
} from '../../src/approval';
import { approvalStatement } from '../../src/approval/statement';
import { parseInventory } from '../../src/inventory/load';
import type { Inventory } from '../../src/inventory/schema';
import { readInventoryFile } from '../../src/inventory/watch';
import { sshAgent, sshKeys, type SshKey } from '../helpers/ssh';

const NAMESPACE = 'cred-rotator-approval';
const PASSPHRASE = 'correct horse battery staple';
const MINUTE = 60_000;

const keys = sshKeys();
const alice = keys.make('alice');
const bob = keys.make('bob');
const carol = keys.make('carol');
const dave = keys.make('dave', 'ed25519', PASSPHRASE);
const mallory = keys.make('mallory');
const rsa = keys.make('rsa', 'rsa');
afterAll(() => keys.close());

const gitlabToken = {
  kind: 'gitlab-project-access-token',
  gitlab: 'gitlab-main',
  project: 'platform/deployer',
  tokenName: 'deployer',
  scopes: ['read_api'],
  accessLevel: 'developer',
  lifetimeDays: 30,
};

/** Alice approves everywhere, bob and dave in production, carol in staging; the uploader names alice and carol. */
function inventoryData(approvers: object[] = defaultApprovers()): Record<string, unknown> {
  const credential = (id: string, environment: string, policy: object) => ({
    id,
    description: `the ${id}`,
    environment,
    owner: 'team-platform',
    source: { ...gitlabToken, tokenName: id },
    vault: { mount: `kv-${environment}`, path: `gitlab/${id}` },
    targets: [
      { kind: 'gitlab-ci-variable', gitlab: 'gitlab-main', project: 'platform/web', key: id.toUpperCase() },
    ],
    policy: { requireApproval: true, ...policy },
  });
  return {
    providers: {
      gitlab: {
        'gitlab-main': {
          url: 'https://gitlab.example.com',
          credential: { mount: 'kv-rotator', path: 'providers/gitlab', key: 'token' },
        },
      },
    },
    approvers,
    credentials: [
      credential('deployer', 'production', {}),
      credential('uploader', 'staging', { approvers: ['alice', 'carol'] }),
    ],
  };
}

function defaultApprovers(): object[] {
  return [
    { name: 'alice', publicKey: alice.publicKey },
    { name: 'bob', publicKey: bob.publicKey, environments: ['production'] },
    { name: 'carol', publicKey: carol.publicKey, environments: ['staging'] },
    { name: 'dave', publicKey: dave.publicKey, environments: ['production'] },
  ];
}

function valid(data: Record<string, unknown>): Inventory {
  const result = parseInventory(data);
  if (!result.ok) throw new Error(result.errors.join('\n'));
  return result.inventory;
}

function errors(data: Record<string, unknown>): string[] {
  const result = parseInventory(data);
  return result.ok ? [] : result.errors;
}

const inventory = valid(inventoryData());
const NOW = new Date('2026-03-01T12:00:00.000Z');

function rotation(overrides: Partial<RotationFacts> = {}): RotationFacts {
  return {
    workflowId: 'rotate/deployer',
    runId: randomUUID(),
    credentialId: 'deployer',
    requestedBy: 'alice',
    ...overrides,
  };
}

async function signed(key: SshKey, facts: RotationFacts, approvedBy: string, at = NOW): Promise<Approval> {
  return signApproval(await keyFileSigner(key.file), facts, approvedBy, at);
}

/** `ssh-keygen -Y`'s armor around an SSHSIG blob. */
function armored(signature: string): string {
  const lines = signature.match(/.{1,70}/g) ?? [];
  return ['-----BEGIN SSH SIGNATURE-----', ...lines, '-----END SSH SIGNATURE-----', ''].join('\n');
}

describe('OpenSSH ed25519 keys', () => {
  it('fingerprints a public key exactly as ssh-keygen -lf does', () => {
    for (const key of [alice, bob, carol, dave, mallory]) {
      expect(parsePublicKey(key.publicKey).fingerprint).toBe(keys.fingerprint(key));
    }
    expect(keys.fingerprint(alice)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it("reads an unencrypted private key file whose public key is its .pub file's", async () => {
    expect((await keyFileSigner(bob.file)).publicKey.fingerprint).toBe(keys.fingerprint(bob));
  });

  it('refuses an RSA key, public or private, and names the key type to use', async () => {
    const expected =
      'expected an ssh-ed25519 key, not "ssh-rsa": approvals are signed with ed25519 keys (ssh-keygen -t ed25519)';
    expect(() => parsePublicKey(rsa.publicKey)).toThrow(expected);
    await expect(keyFileSigner(rsa.file)).rejects.toThrow(expected);
    expect(errors(inventoryData([{ name: 'alice', publicKey: rsa.publicKey }]))).toContain(
      `approvers[0].publicKey: ${expected}`,
    );
  });

  it('refuses an encrypted private key file and points to the agent', async () => {
    await expect(keyFileSigner(dave.file)).rejects.toThrow(
      `${dave.file} is encrypted (aes256-ctr): load it into ssh-agent with \`ssh-add ${dave.file}\` and approve with --agent`,
    );
  });

  it('refuses a file that is no OpenSSH private key, and one that does not exist', async () => {
    await expect(keyFileSigner(`${bob.file}.pub`)).rejects.toThrow(/is not an OpenSSH private key/);
    await expect(keyFileSigner(join(keys.dir, 'missing'))).rejects.toThrow(
      /cannot read the key .*missing \(ENOENT\)/,
    );
  });
});

describe('approval signatures', () => {
  it('are SSHSIG signatures that ssh-keygen -Y check-novalidate accepts for the statement', async () => {
    const facts = rotation();
    const approval = await signed(bob, facts, 'bob');
    const statement = join(keys.dir, 'statement');
    writeFileSync(statement, approvalStatement(facts, approval));
    writeFileSync(`${statement}.sig`, armored(approval.signature));
    const checked = execFileSync(
      'ssh-keygen',
      ['-Y', 'check-novalidate', '-n', NAMESPACE, '-s', `${statement}.sig`],
      { input: readFileSync(statement), encoding: 'utf8' },
    );
    expect(checked).toContain(`Good "${NAMESPACE}" signature with ED25519 key ${keys.fingerprint(bob)}`);
  });

  it('verify when ssh-keygen -Y sign made them', () => {
    const facts = rotation();
    const signedAt = NOW.toISOString();
    const statement = join(keys.dir, 'by-ssh-keygen');
    writeFileSync(statement, approvalStatement(facts, { approvedBy: 'bob', signedAt }));
    execFileSync('ssh-keygen', ['-q', '-Y', 'sign', '-n', NAMESPACE, '-f', bob.file, statement]);
    const signature = readFileSync(`${statement}.sig`, 'utf8')
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('-----'))
      .join('');
    expect(
      verifyApproval(inventory, facts, { ...facts, approvedBy: 'bob', signedAt, signature }, NOW),
    ).toEqual({
      ok: true,
      approver: 'bob',
      fingerprint: keys.fingerprint(bob),
    });
  });

  it('made through a real ssh-agent holding an encrypted key verify as that key', async () => {
    const agent = await sshAgent(keys.dir);
    try {
      agent.add(dave, PASSPHRASE);
      const facts = rotation();
      const approval = await signApproval(
        await agentSigner(agent.socket, parsePublicKey(dave.publicKey)),
        facts,
        'dave',
        NOW,
      );
      expect(verifyApproval(inventory, facts, approval, NOW)).toEqual({
        ok: true,
        approver: 'dave',
        fingerprint: keys.fingerprint(dave),
      });
      await expect(agentSigner(agent.socket, parsePublicKey(mallory.publicKey))).rejects.toThrow(
        `the SSH agent at ${agent.socket} does not hold the key ${keys.fingerprint(mallory)}: add it with ssh-add`,
      );
    } finally {
      agent.close();
    }
  });
});

describe('verifyApproval', () => {
  it('accepts an eligible approver who did not request the rotation, signed with their listed key', async () => {
    const facts = rotation();
    expect(
      verifyApproval(
        inventory,
        facts,
        await signed(bob, facts, 'bob'),
        new Date(NOW.getTime() + 14 * MINUTE),
      ),
    ).toEqual({
      ok: true,
      approver: 'bob',
      fingerprint: keys.fingerprint(bob),
    });
  });

  it('refuses a statement changed after signing', async () => {
    const facts = rotation();
    const approval = await signed(bob, facts, 'bob');
    const later = { ...approval, signedAt: new Date(NOW.getTime() + 1000).toISOString() };
    expect(verifyApproval(inventory, facts, later, NOW)).toEqual({
      ok: false,
      reason: 'bad-signature',
      message: `the signature by ${keys.fingerprint(bob)} does not match this approval: it was made for another statement`,
    });
  });

  it('refuses an approval signed for another run, even when the payload claims this run', async () => {
    const facts = rotation();
    const other = rotation({ runId: randomUUID() });
    const approval = await signed(bob, other, 'bob');
    expect(verifyApproval(inventory, facts, approval, NOW)).toEqual({
      ok: false,
      reason: 'other-run',
      message: `the approval was signed for run "${other.runId}", not this rotation's "${facts.runId}"`,
    });
    expect(verifyApproval(inventory, facts, { ...approval, runId: facts.runId }, NOW)).toMatchObject({
      ok: false,
      reason: 'bad-signature',
    });
  });

  it('refuses an approval signed for another credential or workflow', async () => {
    const facts = rotation();
    const forUploader = await signed(bob, { ...facts, credentialId: 'uploader' }, 'bob');
    expect(verifyApproval(inventory, facts, forUploader, NOW)).toEqual({
      ok: false,
      reason: 'other-credential',
      message: `the approval was signed for credential "uploader", not this rotation's "deployer"`,
    });
    const forOther = await signed(bob, { ...facts, workflowId: 'rotate/other' }, 'bob');
    expect(verifyApproval(inventory, facts, forOther, NOW)).toMatchObject({
      ok: false,
      reason: 'other-workflow',
    });
  });

  it('refuses a key the inventory does not list for the approver', async () => {
    const facts = rotation();
    expect(verifyApproval(inventory, facts, await signed(mallory, facts, 'bob'), NOW)).toEqual({
      ok: false,
      reason: 'wrong-key',
      message:
        `the approval is signed with key ${keys.fingerprint(mallory)}, not bob's key ${keys.fingerprint(bob)} ` +
        '(approvers)',
    });
    expect(verifyApproval(inventory, facts, await signed(mallory, facts, 'mallory'), NOW)).toEqual({
      ok: false,
      reason: 'unknown-approver',
      message: 'mallory is not an approver in the inventory (approvers)',
    });
  });

  it('refuses an approver of another environment, or one the credential does not name', async () => {
    const production = rotation();
    expect(verifyApproval(inventory, production, await signed(carol, production, 'carol'), NOW)).toEqual({
      ok: false,
      reason: 'not-eligible',
      message: 'carol may not approve deployer (environment production)',
    });
    const staging = rotation({
      workflowId: 'rotate/uploader',
      credentialId: 'uploader',
      requestedBy: 'carol',
    });
    expect(verifyApproval(inventory, staging, await signed(bob, staging, 'bob'), NOW)).toEqual({
      ok: false,
      reason: 'not-eligible',
      message: 'bob may not approve uploader (environment staging, policy.approvers alice, carol)',
    });
    expect(verifyApproval(inventory, staging, await signed(alice, staging, 'alice'), NOW)).toMatchObject({
      ok: true,
    });
  });

  it('refuses self-approval, whatever the case of the name, though the signature is good', async () => {
    const facts = rotation({ requestedBy: 'Bob' });
    expect(verifyApproval(inventory, facts, await signed(bob, facts, 'bob'), NOW)).toEqual({
      ok: false,
      reason: 'self-approval',
      message: 'bob requested this rotation and so cannot approve it: another approver must',
    });
  });

  it('refuses an approval older than 15 minutes, or signed more than a minute ahead of the worker', async () => {
    const facts = rotation();
    const approval = await signed(bob, facts, 'bob');
    expect(verifyApproval(inventory, facts, approval, new Date(NOW.getTime() + 16 * MINUTE))).toEqual({
      ok: false,
      reason: 'stale',
      message: `the approval was signed at ${NOW.toISOString()}, more than 15 minutes ago: sign it again`,
    });
    expect(verifyApproval(inventory, facts, approval, new Date(NOW.getTime() - 2 * MINUTE))).toMatchObject({
      ok: false,
      reason: 'future',
    });
  });

  it('refuses a payload without a signature, naming the field', () => {
    const facts = rotation();
    const payload: Record<string, unknown> = { ...facts, approvedBy: 'bob', signedAt: NOW.toISOString() };
    expect(verifyApproval(inventory, facts, payload, NOW)).toEqual({
      ok: false,
      reason: 'malformed',
      message: 'the approval is invalid: signature: expected the base64 of an SSHSIG signature',
    });
  });
});

describe('approvers in the inventory', () => {
  it('are required, two per credential that requires approval, so that a requester is never the only one', () => {
    const [first, , third] = defaultApprovers();
    expect(errors(inventoryData([first ?? {}, third ?? {}]))).toEqual([
      'credentials[0].policy.requireApproval: needs at least two approvers who may approve in its environment ' +
        '(found 1): whoever requests a rotation cannot approve it, so another must be able to',
    ]);
    expect(errors(inventoryData([]))).toContain(
      'credentials[0].policy.requireApproval: needs at least two approvers who may approve in its environment ' +
        '(found 0): whoever requests a rotation cannot approve it, so another must be able to',
    );
  });

  it('named in a policy must exist and may approve in its environment', () => {
    const data = inventoryData();
    const [, uploader] = data.credentials as { policy: Record<string, unknown> }[];
    if (uploader === undefined) throw new Error('no uploader');
    uploader.policy.approvers = ['alice', 'bob', 'erin'];
    expect(errors(data)).toEqual([
      "credentials[1].policy.approvers[1]: approvers[1] may not approve in this credential's environment (its environments)",
      'credentials[1].policy.approvers[2]: expected the name of an approver under approvers',
      'credentials[1].policy.requireApproval: needs at least two approvers who may approve in its environment ' +
        'and are named in policy.approvers (found 1): whoever requests a rotation cannot approve it, so another must be able to',
    ]);
  });

  it('have distinct names and keys', () => {
    expect(
      errors(
        inventoryData([
          ...defaultApprovers(),
          { name: 'Bob', publicKey: mallory.publicKey },
          { name: 'erin', publicKey: alice.publicKey },
        ]),
      ),
    ).toEqual([
      'approvers[4].name: must be unique: approvers[1] has the same name',
      'approvers[5].publicKey: approvers[0] has the same key: a key stands for one person',
    ]);
  });
});

describe('the verifyApproval activity', () => {
  const file = join(keys.dir, 'rotator.yaml');
  const { verifyApproval: activity } = createApprovalActivities({
    inventoryPath: file,
    readInventory: () => readInventoryFile(file),
  });

  it('answers the approver and the fingerprint of their key from the inventory file', async () => {
    writeFileSync(file, stringify(inventoryData()));
    const facts = rotation();
    await expect(
      activity({ approval: await signed(bob, facts, 'bob', new Date()), rotation: facts }),
    ).resolves.toEqual({
      approver: 'bob',
      fingerprint: keys.fingerprint(bob),
    });
  });

  it('refuses for good, saying why, and reads the inventory as it is now', async () => {
    writeFileSync(file, stringify(inventoryData()));
    const requestedByBob = rotation({ requestedBy: 'bob' });
    const selfApproval = activity({
      approval: await signed(bob, requestedByBob, 'bob', new Date()),
      rotation: requestedByBob,
    });
    await expect(selfApproval).rejects.toBeInstanceOf(ApplicationFailure);
    await expect(selfApproval).rejects.toMatchObject({
      type: 'ApprovalRefused',
      nonRetryable: true,
      message: 'bob requested this rotation and so cannot approve it: another approver must',
      details: [{ reason: 'self-approval' }],
    });

    const withoutBob = defaultApprovers().filter((approver) => (approver as { name: string }).name !== 'bob');
    const facts = rotation();
    const approval = await signed(bob, facts, 'bob', new Date());
    await expect(activity({ approval, rotation: facts })).resolves.toMatchObject({ approver: 'bob' });
    writeFileSync(file, stringify(inventoryData(withoutBob)));
    await expect(activity({ approval, rotation: facts })).rejects.toMatchObject({
      type: 'ApprovalRefused',
      message: 'bob is not an approver in the inventory (approvers)',
    });
  });
});
