import { sign as signBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import {
  approvalStatement,
  sshsigBlob,
  sshsigSignedData,
  type Approval,
  type RotationFacts,
} from './statement';
import { ED25519, SshKeyError, SshReader, parsePrivateKey, sshString, type SshPublicKey } from './ssh';

/** Something that holds an ed25519 private key and signs with it: a key file, or an SSH agent. */
export interface ApprovalSigner {
  publicKey: SshPublicKey;
  /** The raw 64-byte ed25519 signature of `data`. */
  sign(data: Buffer): Promise<Buffer>;
}

/** Signs with an unencrypted OpenSSH private key file; an encrypted one is refused in favour of the agent. */
export async function keyFileSigner(file: string): Promise<ApprovalSigner> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new SshKeyError(
      `cannot read the key ${file} (${(error as NodeJS.ErrnoException).code ?? 'unknown error'})`,
    );
  }
  const { publicKey, signer } = parsePrivateKey(text, file);
  return { publicKey, sign: async (data) => signBytes(null, data, signer) };
}

// draft-miller-ssh-agent, section 6.1.
const SSH_AGENT_FAILURE = 5;
const SSH_AGENTC_REQUEST_IDENTITIES = 11;
const SSH_AGENT_IDENTITIES_ANSWER = 12;
const SSH_AGENTC_SIGN_REQUEST = 13;
const SSH_AGENT_SIGN_RESPONSE = 14;
/** No agent answer comes near this; a larger length means the socket is not an agent. */
const MAX_AGENT_MESSAGE = 256 * 1024;

/** One request to the agent on its own connection; answers a reader of the reply, at its type byte. */
function agentRequest(socket: string, type: number, body: Buffer): Promise<SshReader> {
  return new Promise((resolve, reject) => {
    const connection = createConnection(socket);
    let received = Buffer.alloc(0);
    const fail = (why: string) => {
      connection.destroy();
      reject(new SshKeyError(`the SSH agent at ${socket} ${why}`));
    };
    connection.on('error', (error: NodeJS.ErrnoException) =>
      fail(`cannot be reached (${error.code ?? error.message})`),
    );
    connection.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 4) return;
      const length = received.readUInt32BE(0);
      if (length === 0 || length > MAX_AGENT_MESSAGE) return fail('sent a malformed answer');
      if (received.length < 4 + length) return;
      connection.end();
      resolve(new SshReader(received.subarray(4, 4 + length), 'the SSH agent answer'));
    });
    connection.on('end', () => fail('closed the connection without an answer'));
    const message = Buffer.concat([Buffer.from([type]), body]);
    const length = Buffer.alloc(4);
    length.writeUInt32BE(message.length);
    connection.write(Buffer.concat([length, message]));
  });
}

/**
 * Signs through the SSH agent at `socket` with the identity whose key is `wanted`, so that an encrypted or
 * hardware-held key never leaves the agent.
 */
export async function agentSigner(socket: string, wanted: SshPublicKey): Promise<ApprovalSigner> {
  const identities = await agentRequest(socket, SSH_AGENTC_REQUEST_IDENTITIES, Buffer.alloc(0));
  if (identities.byte() !== SSH_AGENT_IDENTITIES_ANSWER) {
    throw new SshKeyError(`the SSH agent at ${socket} refused to list its keys`);
  }
  const count = identities.uint32();
  let held = false;
  for (let index = 0; index < count && !held; index += 1) {
    held = identities.string().equals(wanted.blob);
    identities.string(); // comment
  }
  if (!held) {
    throw new SshKeyError(
      `the SSH agent at ${socket} does not hold the key ${wanted.fingerprint}: add it with ssh-add`,
    );
  }
  return {
    publicKey: wanted,
    async sign(data) {
      const flags = Buffer.alloc(4);
      const answer = await agentRequest(
        socket,
        SSH_AGENTC_SIGN_REQUEST,
        Buffer.concat([sshString(wanted.blob), sshString(data), flags]),
      );
      const type = answer.byte();
      if (type !== SSH_AGENT_SIGN_RESPONSE) {
        throw new SshKeyError(
          `the SSH agent at ${socket} refused to sign${type === SSH_AGENT_FAILURE ? ' (was the confirmation declined?)' : ''}`,
        );
      }
      const signature = new SshReader(answer.string(), 'the SSH agent signature');
      if (signature.text() !== ED25519)
        throw new SshKeyError(`the SSH agent at ${socket} did not sign with ed25519`);
      return signature.string();
    },
  };
}

/** The `approve` update's payload: the statement for this rotation, signed now by `signer` as `approvedBy`. */
export async function signApproval(
  signer: ApprovalSigner,
  facts: RotationFacts,
  approvedBy: string,
  signedAt: Date,
): Promise<Approval> {
  const approval = { approvedBy, signedAt: signedAt.toISOString() };
  const raw = await signer.sign(sshsigSignedData(approvalStatement(facts, approval)));
  return { ...facts, ...approval, signature: sshsigBlob(signer.publicKey, raw).toString('base64') };
}
