import { createHash } from 'node:crypto';
import { z } from 'zod';
import { approverName } from '../inventory/approvers';
import { ED25519, SshKeyError, SshReader, publicKeyFromBlob, sshString, type SshPublicKey } from './ssh';

/** SSHSIG's namespace: a signature made for approvals is no git commit or file signature, and vice versa. */
export const APPROVAL_NAMESPACE = 'cred-rotator-approval';
/** The first line of every statement, so that its bytes mean nothing in any other protocol or version. */
const STATEMENT_PREFIX = 'cred-rotator approval v1';
const SSHSIG_MAGIC = Buffer.from('SSHSIG', 'latin1');
const SSHSIG_VERSION = 1;
const SIGN_HASH = 'sha512';
const HASHES: ReadonlySet<string> = new Set(['sha256', 'sha512']);

const text = (what: string) =>
  z
    .string({ error: `expected ${what}` })
    .min(1, `expected ${what}`)
    .max(255);

/** The rotation an approval is for: the approver signs it as the status showed it, the workflow checks its own. */
export const rotationFactsSchema = z
  .object({
    workflowId: text('the workflow id'),
    runId: text('the run id'),
    credentialId: text('the credential id'),
    requestedBy: text('who requested the rotation'),
  })
  .strict();
export type RotationFacts = z.infer<typeof rotationFactsSchema>;

const EXPECTED_TIME = 'expected a UTC time such as 2026-01-01T10:00:00.000Z';

/**
 * The payload of the rotation's `approve` update, as `rotator approve` sends it: who approves, when they
 * signed, their SSHSIG signature of the statement, and the rotation they signed for.
 */
export const approvalSchema = rotationFactsSchema
  .extend({
    approvedBy: approverName,
    signedAt: z.iso
      .datetime({ error: EXPECTED_TIME })
      .refine((at) => new Date(at).toISOString() === at, EXPECTED_TIME),
    signature: z
      .string({ error: 'expected the base64 of an SSHSIG signature' })
      .max(1024, 'expected the base64 of an SSHSIG signature')
      .regex(/^[A-Za-z0-9+/]+={0,2}$/, 'expected the base64 of an SSHSIG signature'),
  })
  .strict();
export type Approval = z.infer<typeof approvalSchema>;

/**
 * The bytes an approver signs: one field a line, each value JSON-quoted so that no name can forge a line
 * break or another field.
 */
export function approvalStatement(
  facts: RotationFacts,
  approval: Pick<Approval, 'approvedBy' | 'signedAt'>,
): Buffer {
  const fields: [string, string][] = [
    ['workflow-id', facts.workflowId],
    ['run-id', facts.runId],
    ['credential-id', facts.credentialId],
    ['requested-by', facts.requestedBy],
    ['approver', approval.approvedBy],
    ['signed-at', approval.signedAt],
  ];
  return Buffer.from(
    [STATEMENT_PREFIX, ...fields.map(([name, value]) => `${name}: ${JSON.stringify(value)}`), ''].join('\n'),
    'utf8',
  );
}

/** What an SSHSIG signature covers (OpenSSH PROTOCOL.sshsig): the namespace and a hash of the message. */
export function sshsigSignedData(message: Buffer, hash = SIGN_HASH): Buffer {
  return Buffer.concat([
    SSHSIG_MAGIC,
    sshString(APPROVAL_NAMESPACE),
    sshString(''),
    sshString(hash),
    sshString(createHash(hash).update(message).digest()),
  ]);
}

/** The SSHSIG blob of a raw ed25519 signature over sshsigSignedData; base64, it is `ssh-keygen -Y sign`'s armor body. */
export function sshsigBlob(publicKey: SshPublicKey, signature: Buffer): Buffer {
  const version = Buffer.alloc(4);
  version.writeUInt32BE(SSHSIG_VERSION);
  return Buffer.concat([
    SSHSIG_MAGIC,
    version,
    sshString(publicKey.blob),
    sshString(APPROVAL_NAMESPACE),
    sshString(''),
    sshString(SIGN_HASH),
    sshString(Buffer.concat([sshString(ED25519), sshString(signature)])),
  ]);
}

/** An SSHSIG signature taken apart; refused when it is not an ed25519 approval signature. */
export interface ParsedSignature {
  publicKey: SshPublicKey;
  hash: string;
  signature: Buffer;
}

export function parseSshsig(blob: Buffer): ParsedSignature {
  const reader = new SshReader(blob, 'the signature');
  if (!reader.bytesOf(SSHSIG_MAGIC.length).equals(SSHSIG_MAGIC) || reader.uint32() !== SSHSIG_VERSION) {
    throw new SshKeyError('the signature is not an SSHSIG version 1 signature');
  }
  const publicKey = publicKeyFromBlob(reader.string());
  const namespace = reader.text();
  if (namespace !== APPROVAL_NAMESPACE) {
    throw new SshKeyError(
      `the signature is for namespace ${JSON.stringify(namespace)}, not ${APPROVAL_NAMESPACE}`,
    );
  }
  reader.string(); // reserved
  const hash = reader.text();
  if (!HASHES.has(hash)) throw new SshKeyError(`the signature uses an unknown hash ${JSON.stringify(hash)}`);
  const inner = new SshReader(reader.string(), 'the signature');
  const type = inner.text();
  if (type !== ED25519) throw new SshKeyError(`the signature is ${JSON.stringify(type)}, not ${ED25519}`);
  const signature = inner.string();
  if (!reader.done || !inner.done) throw new SshKeyError('the signature has trailing bytes');
  return { publicKey, hash, signature };
}
