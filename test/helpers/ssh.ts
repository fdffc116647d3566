import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { keyFileSigner, signApproval } from '../../src/approval/sign';
import type { Approval } from '../../src/approval/statement';

/** A key pair ssh-keygen made: the private key file and the `.pub` line. */
export interface SshKey {
  file: string;
  publicKey: string;
}

/** `ssh-keygen -lf`'s fingerprint of a key: `SHA256:...`. */
export function sshFingerprint(key: SshKey): string {
  return execFileSync('ssh-keygen', ['-lf', `${key.file}.pub`], { encoding: 'utf8' }).split(' ')[1] ?? '';
}

/** A directory of keys made by the real ssh-keygen; `close` removes it. */
export function sshKeys() {
  const dir = mkdtempSync(join(tmpdir(), 'ssh-keys-'));
  return {
    dir,
    /** A new key named `name`; `passphrase` encrypts it. */
    make(name: string, type: 'ed25519' | 'rsa' = 'ed25519', passphrase = ''): SshKey {
      const file = join(dir, name);
      execFileSync('ssh-keygen', [
        '-q',
        '-t',
        type,
        ...(type === 'rsa' ? ['-b', '2048'] : []),
        '-N',
        passphrase,
        '-C',
        `${name}@test`,
        '-f',
        file,
      ]);
      return { file, publicKey: readFileSync(`${file}.pub`, 'utf8').trim() };
    },
    fingerprint: sshFingerprint,
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A real ssh-agent on its own socket, stopped by `close`. */
export async function sshAgent(dir: string) {
  const socket = join(dir, 'agent.sock');
  // -D keeps the agent in the foreground, so that it is this process's child and ends with close().
  const agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
  for (let attempt = 0; attempt < 100 && !existsSync(socket); attempt += 1) {
    await new Promise((wake) => setTimeout(wake, 50));
  }
  return {
    socket,
    /** `ssh-add`s a key; an encrypted key's passphrase is given the way a desktop's askpass program would. */
    add(key: SshKey, passphrase = ''): void {
      const askpass = join(dir, 'askpass.sh');
      writeFileSync(askpass, `#!/bin/sh\necho '${passphrase}'\n`);
      chmodSync(askpass, 0o700);
      execFileSync('ssh-add', ['-q', key.file], {
        env: { SSH_AUTH_SOCK: socket, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' },
        stdio: 'ignore',
      });
    },
    close(): void {
      agent.kill();
    },
  };
}

/**
 * Approvers bob and carol with keys made by ssh-keygen: the inventory's `approvers` for credentials that
 * require approval (two, so that either can approve what the other requests), and their keys to sign with.
 */
export function testApprovers() {
  const made = sshKeys();
  const keys = { bob: made.make('bob'), carol: made.make('carol') };
  const inventory = Object.entries(keys).map(([name, key]) => ({ name, publicKey: key.publicKey }));
  return { keys, inventory, close: made.close };
}

/**
 * An approval of the rotation behind `handle`, signed with `key` as `rotator approve` signs it: for the run
 * it is in, requested by `requestedBy`.
 */
export async function signedApproval(
  handle: WorkflowHandle,
  key: SshKey,
  approvedBy: string,
  rotation: { credentialId: string; requestedBy: string },
): Promise<Approval> {
  const { runId } = await handle.describe();
  const facts = { workflowId: handle.workflowId, runId, ...rotation };
  return signApproval(await keyFileSigner(key.file), facts, approvedBy, new Date());
}
