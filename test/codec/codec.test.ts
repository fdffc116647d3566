import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import {
  EncryptionCodec,
  PayloadDecryptionError,
  decryptHistoryPayloads,
  parseCodecKeys,
  readCodecKeys,
  type CodecKeys,
} from '../../src/codec';
import { readWorkerEnvironment } from '../../src/config/environment';
import { ValidationError } from '../../src/validation';

const k1 = randomBytes(32).toString('base64');
const k2 = randomBytes(32).toString('base64');
const keys = (list: string): CodecKeys => parseCodecKeys(list, 'ROTATOR_CODEC_KEYS_FILE', 'list');
const SECRET = `glpat-${randomBytes(10).toString('hex')}`;
const plain = (): Payload => defaultPayloadConverter.toPayload({ credentialId: 'deployer', token: SECRET });
const text = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? []).toString('utf8');

function problems(body: () => unknown): string[] {
  try {
    body();
  } catch (error) {
    if (error instanceof ValidationError) return error.issues;
    throw error;
  }
  throw new Error('expected the keys to be refused');
}

describe('the payload codec (AES-256-GCM)', () => {
  it('encrypts the whole payload under the last key, with a fresh nonce each time, and decrypts it back', async () => {
    const codec = new EncryptionCodec(keys(`k1:${k1}`));
    const [first, second] = await codec.encode([plain(), plain()]);
    for (const encrypted of [first, second]) {
      expect(text(encrypted?.metadata?.encoding)).toBe('binary/encrypted');
      expect(text(encrypted?.metadata?.['encryption-key-id'])).toBe('k1');
      expect(Object.keys(encrypted?.metadata ?? {}).sort()).toEqual(['encoding', 'encryption-key-id']);
      // The original encoding (json/plain) is inside the ciphertext too.
      expect(text(encrypted?.data)).not.toContain(SECRET);
      expect(text(encrypted?.data)).not.toContain('json/plain');
    }
    expect(Buffer.from(first?.data ?? []).equals(Buffer.from(second?.data ?? []))).toBe(false);
    const decoded = await codec.decode([first as Payload]);
    expect(defaultPayloadConverter.fromPayload(decoded[0] as Payload)).toEqual({
      credentialId: 'deployer',
      token: SECRET,
    });
    expect(text(decoded[0]?.metadata?.encoding)).toBe('json/plain');
  });

  it('rotates keys: after k2 is added, new payloads use k2 and those written with k1 still decrypt', async () => {
    const [old] = await new EncryptionCodec(keys(`k1:${k1}`)).encode([plain()]);
    const rotated = new EncryptionCodec(keys(`k1:${k1},k2:${k2}`));
    const [fresh] = await rotated.encode([plain()]);
    expect(text(fresh?.metadata?.['encryption-key-id'])).toBe('k2');
    const decoded = await rotated.decode([old as Payload, fresh as Payload]);
    expect(decoded.map((payload) => defaultPayloadConverter.fromPayload(payload))).toEqual([
      { credentialId: 'deployer', token: SECRET },
      { credentialId: 'deployer', token: SECRET },
    ]);
  });

  it('refuses a payload whose key is not configured, naming the key and the keys it has', async () => {
    const [old] = await new EncryptionCodec(keys(`k1:${k1}`)).encode([plain()]);
    const error = await new EncryptionCodec(keys(`k2:${k2}`))
      .decode([old as Payload])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PayloadDecryptionError);
    expect((error as Error).message).toBe(
      "payload encrypted with key 'k1', which is not among the configured keys ROTATOR_CODEC_KEYS_FILE lists: k2",
    );
  });

  it.each([
    ['a flipped ciphertext byte', (data: Buffer) => data.writeUInt8(data.readUInt8(20) ^ 1, 20)],
    [
      'a flipped tag byte',
      (data: Buffer) => data.writeUInt8(data.readUInt8(data.length - 1) ^ 1, data.length - 1),
    ],
    ['a flipped nonce byte', (data: Buffer) => data.writeUInt8(data.readUInt8(0) ^ 1, 0)],
  ])('refuses %s: an error naming the key, never plaintext or garbage', async (_, tamper) => {
    const codec = new EncryptionCodec(keys(`k1:${k1}`));
    const [encrypted] = await codec.encode([plain()]);
    const data = Buffer.from(encrypted?.data ?? []);
    tamper(data);
    const error = await codec.decode([{ ...encrypted, data }]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PayloadDecryptionError);
    expect((error as Error).message).toMatch(/^payload encrypted with key 'k1' does not decrypt/);
    expect((error as Error).message).not.toContain(SECRET);
  });

  it('refuses a payload relabelled with another configured key id (the key id is authenticated)', async () => {
    const codec = new EncryptionCodec(keys(`k1:${k1},k2:${k1}`));
    const [encrypted] = await codec.encode([plain()]);
    const relabelled = {
      ...encrypted,
      metadata: { ...encrypted?.metadata, 'encryption-key-id': Buffer.from('k1') },
    };
    await expect(codec.decode([relabelled])).rejects.toThrow(/key 'k1' does not decrypt/);
  });

  it('passes unencrypted payloads through decode, so histories from before encryption still read', async () => {
    const before = plain();
    const [decoded] = await new EncryptionCodec(keys(`k1:${k1}`)).decode([before]);
    expect(decoded).toBe(before);
  });
});

describe('codec keys', () => {
  it('reads a key file: one entry a line, comments and blank lines ignored, the last encrypts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'codec-keys-'));
    try {
      const file = join(dir, 'keys');
      writeFileSync(file, `# retired next quarter\nk1:${k1}\n\n2026-11:${k2}\n`);
      const read = await readCodecKeys({ keysFile: file });
      expect(read?.source).toBe(`ROTATOR_CODEC_KEYS_FILE ${file}`);
      expect(read?.current).toBe('2026-11');
      expect([...(read?.byId.keys() ?? [])]).toEqual(['k1', '2026-11']);
      await expect(readCodecKeys({ keysFile: join(dir, 'missing') })).rejects.toThrow(
        `ROTATOR_CODEC_KEYS_FILE ${join(dir, 'missing')} is invalid:\n  cannot be read (ENOENT)`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names each bad entry by line and key id, never the key material', () => {
    const short = randomBytes(16).toString('base64');
    const issues = problems(() =>
      parseCodecKeys(
        `k1:${k1}\n${k2}\nk2:${short}\nbad id!:${k2}\nk1:${k2}\nk3:not base64!!\n`,
        'ROTATOR_CODEC_KEYS_FILE keys',
        'file',
      ),
    );
    expect(issues).toEqual([
      'line 2: expected a key id of letters, digits, ".", "_" or "-" (at most 64), then ":"',
      "line 3 (key 'k2'): expected the base64 of 32 random bytes, found 16 bytes",
      'line 4: expected a key id of letters, digits, ".", "_" or "-" (at most 64), then ":"',
      "line 5: key 'k1' is listed twice (first on line 1)",
      "line 6 (key 'k3'): expected the base64 of 32 random bytes",
    ]);
    const all = issues.join('\n');
    for (const material of [k1, k2, short]) expect(all).not.toContain(material);
  });

  it('refuses a list without keys', () => {
    expect(problems(() => parseCodecKeys('# none yet\n', 'ROTATOR_CODEC_KEYS_FILE keys', 'file'))).toEqual([
      'lists no key: expected <key-id>:<base64 of 32 bytes>',
    ]);
  });

  it('is read from the environment: ROTATOR_CODEC_KEYS comma-separated, or ROTATOR_CODEC_KEYS_FILE, not both', () => {
    const env = readWorkerEnvironment({ ROTATOR_CODEC_KEYS: `k1:${k1}, k2:${k2}` });
    expect(env.codec.keys?.current).toBe('k2');
    expect(env.embedded.codecServerPort).toBe(8234);
    expect(readWorkerEnvironment({}).codec).toEqual({ keysFile: undefined, keys: undefined });
    const refused = (variables: NodeJS.ProcessEnv) =>
      problems(() => readWorkerEnvironment(variables)).join('\n');
    expect(refused({ ROTATOR_CODEC_KEYS: `k1:${k1}`, ROTATOR_CODEC_KEYS_FILE: '/keys' })).toBe(
      'ROTATOR_CODEC_KEYS: set either ROTATOR_CODEC_KEYS or ROTATOR_CODEC_KEYS_FILE, not both',
    );
    const bad = refused({ ROTATOR_CODEC_KEYS: `k1:${k1},k2:${k1.slice(0, 20)}` });
    expect(bad).toBe(
      "ROTATOR_CODEC_KEYS: entry 2 (key 'k2'): expected the base64 of 32 random bytes, found 15 bytes",
    );
    expect(bad).not.toContain(k1.slice(0, 20));
  });
});

describe('decryptHistoryPayloads, for the secret scan', () => {
  it('decrypts every encrypted payload of a history, failures included, and leaves the rest', async () => {
    const codec = new EncryptionCodec(keys(`k1:${k1}`));
    const [input, attributes] = (await codec.encode([plain(), plain()])) as [Payload, Payload];
    const clear = plain();
    const history = {
      events: [
        { workflowExecutionStartedEventAttributes: { input: { payloads: [input, clear] } } },
        {
          activityTaskFailedEventAttributes: {
            failure: { message: 'Encoded failure', encodedAttributes: attributes },
          },
        },
      ],
    };
    const decrypted = decryptHistoryPayloads(history, keys(`k1:${k1}`));
    const events = decrypted.events ?? [];
    const payloads = events[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
    expect(payloads.map((payload) => defaultPayloadConverter.fromPayload(payload))).toEqual([
      { credentialId: 'deployer', token: SECRET },
      { credentialId: 'deployer', token: SECRET },
    ]);
    expect(payloads[1]).toBe(clear);
    const failure = events[1]?.activityTaskFailedEventAttributes?.failure;
    expect(text(failure?.encodedAttributes?.data)).toContain(SECRET);
    // The history given is not changed.
    expect(history.events[0]?.workflowExecutionStartedEventAttributes?.input.payloads[0]).toBe(input);
    expect(() => decryptHistoryPayloads(history, keys(`k2:${k2}`))).toThrow(
      "payload encrypted with key 'k1'",
    );
  });
});
