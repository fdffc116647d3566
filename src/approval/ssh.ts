import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';

/** The only key type approvals accept: small keys, deterministic signatures, and node:crypto verifies them. */
export const ED25519 = 'ssh-ed25519';
const ED25519_KEY_BYTES = 32;

/** A key or signature that is not what an approval needs; the message says what to do instead, never key material. */
export class SshKeyError extends Error {
  override readonly name = 'SshKeyError';
}

/** RFC 4253 section 5: a uint32 length, then that many bytes. */
export function sshString(value: Buffer | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const length = Buffer.alloc(4);
  length.writeUInt32BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

/** Reads RFC 4253 fields in order; `what` names the structure in errors. */
export class SshReader {
  private offset = 0;

  constructor(
    private readonly bytes: Buffer,
    private readonly what: string,
  ) {}

  uint32(): number {
    if (this.offset + 4 > this.bytes.length) throw new SshKeyError(`${this.what} is truncated`);
    const value = this.bytes.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  byte(): number {
    if (this.offset + 1 > this.bytes.length) throw new SshKeyError(`${this.what} is truncated`);
    return this.bytes[this.offset++] as number;
  }

  bytesOf(length: number): Buffer {
    if (this.offset + length > this.bytes.length) throw new SshKeyError(`${this.what} is truncated`);
    const value = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  string(): Buffer {
    return this.bytesOf(this.uint32());
  }

  text(): string {
    return this.string().toString('utf8');
  }

  get done(): boolean {
    return this.offset === this.bytes.length;
  }
}

/** An ed25519 public key, as SSH encodes it and as node:crypto uses it. */
export interface SshPublicKey {
  /** The SSH wire encoding: string "ssh-ed25519", string key. What fingerprints and agents work on. */
  blob: Buffer;
  /** The 32-byte key. */
  key: Buffer;
  /** `SHA256:<base64 without padding>`, as `ssh-keygen -lf` prints it. */
  fingerprint: string;
}

export function fingerprintOf(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Key types SSH users have; only these are named back, since anything else may be a pasted secret. */
const OTHER_KEY_TYPES: ReadonlySet<string> = new Set([
  'ssh-rsa',
  'ssh-dss',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
]);

function refuseType(type: string): never {
  throw new SshKeyError(
    OTHER_KEY_TYPES.has(type)
      ? `expected an ${ED25519} key, not "${type}": approvals are signed with ed25519 keys (ssh-keygen -t ed25519)`
      : `expected an OpenSSH public key such as "${ED25519} AAAA... comment"`,
  );
}

/** The public key in an SSH wire blob; anything but ed25519 is refused, naming its type. */
export function publicKeyFromBlob(blob: Buffer): SshPublicKey {
  const reader = new SshReader(blob, 'the public key');
  const type = reader.text();
  if (type !== ED25519) refuseType(type);
  const key = reader.string();
  if (key.length !== ED25519_KEY_BYTES || !reader.done) {
    throw new SshKeyError(`the ${ED25519} public key is malformed: expected ${ED25519_KEY_BYTES} key bytes`);
  }
  return { blob: Buffer.from(blob), key: Buffer.from(key), fingerprint: fingerprintOf(blob) };
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Parses one line of an authorized_keys or `.pub` file: `ssh-ed25519 AAAA... comment` (no options). */
export function parsePublicKey(line: string): SshPublicKey {
  const [type = '', data = ''] = line.trim().split(/\s+/);
  if (type !== ED25519) refuseType(type);
  if (!BASE64.test(data))
    throw new SshKeyError(`expected "${ED25519} AAAA... comment": the key is not base64`);
  return publicKeyFromBlob(Buffer.from(data, 'base64'));
}

/** The key as node:crypto verifies with it. */
export function verifierOf(key: SshPublicKey): KeyObject {
  return createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: key.key.toString('base64url') },
    format: 'jwk',
  });
}

const PRIVATE_BEGIN = '-----BEGIN OPENSSH PRIVATE KEY-----';
const PRIVATE_END = '-----END OPENSSH PRIVATE KEY-----';
const PRIVATE_MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');

/** An ed25519 private key read from an OpenSSH key file. */
export interface SshPrivateKey {
  publicKey: SshPublicKey;
  signer: KeyObject;
}

/**
 * Reads an unencrypted OpenSSH private key file (PROTOCOL.key in OpenSSH's sources). An encrypted one is
 * refused: decrypting it means asking for its passphrase, which the agent already does well.
 */
export function parsePrivateKey(text: string, file: string): SshPrivateKey {
  const begin = text.indexOf(PRIVATE_BEGIN);
  const end = text.indexOf(PRIVATE_END);
  if (begin === -1 || end < begin) {
    throw new SshKeyError(
      `${file} is not an OpenSSH private key (expected ${PRIVATE_BEGIN}); ` +
        'a PEM or PuTTY key can be converted with ssh-keygen -p -f <file>',
    );
  }
  const body = Buffer.from(text.slice(begin + PRIVATE_BEGIN.length, end).replace(/\s+/g, ''), 'base64');
  if (!body.subarray(0, PRIVATE_MAGIC.length).equals(PRIVATE_MAGIC)) {
    throw new SshKeyError(`${file} is not an openssh-key-v1 private key`);
  }
  const reader = new SshReader(body.subarray(PRIVATE_MAGIC.length), `the private key ${file}`);
  const cipher = reader.text();
  reader.text(); // kdf name
  reader.string(); // kdf options
  if (cipher !== 'none') {
    throw new SshKeyError(
      `${file} is encrypted (${cipher}): load it into ssh-agent with \`ssh-add ${file}\` and approve with --agent`,
    );
  }
  if (reader.uint32() !== 1) throw new SshKeyError(`${file} holds more than one key`);
  const publicKey = publicKeyFromBlob(reader.string());
  const secret = new SshReader(reader.string(), `the private key ${file}`);
  if (secret.uint32() !== secret.uint32()) {
    throw new SshKeyError(`${file} is corrupt (its check numbers differ)`);
  }
  const type = secret.text();
  if (type !== ED25519) refuseType(type);
  const key = secret.string();
  // OpenSSH stores the 32-byte seed followed by the public key.
  const pair = secret.string();
  if (
    !key.equals(publicKey.key) ||
    pair.length !== 2 * ED25519_KEY_BYTES ||
    !pair.subarray(ED25519_KEY_BYTES).equals(publicKey.key)
  ) {
    throw new SshKeyError(`${file} is corrupt (its private part does not match its public key)`);
  }
  const signer = createPrivateKey({
    key: {
      kty: 'OKP',
      crv: 'Ed25519',
      d: pair.subarray(0, ED25519_KEY_BYTES).toString('base64url'),
      x: publicKey.key.toString('base64url'),
    },
    format: 'jwk',
  });
  return { publicKey, signer };
}
