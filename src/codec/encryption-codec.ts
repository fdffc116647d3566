import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { CodecKeys } from './keys';

export const ENCODING = 'binary/encrypted';
export const KEY_ID = 'encryption-key-id';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

/** A payload that cannot be decrypted: its message names the key id, never a key or the payload's bytes. */
export class PayloadDecryptionError extends Error {
  override readonly name = 'PayloadDecryptionError';
}

const text = (bytes: Uint8Array | null | undefined) =>
  bytes === undefined || bytes === null ? undefined : Buffer.from(bytes).toString('utf8');

/** Whether a payload is one this codec wrote (or another writer of `binary/encrypted`). */
export function isEncrypted(payload: Payload): boolean {
  return text(payload.metadata?.encoding) === ENCODING;
}

/**
 * AES-256-GCM over the whole original payload (metadata included, so its encoding is hidden too), with a
 * random 12-byte nonce per payload. The stored data is nonce, ciphertext, tag; the key id is also the
 * additional authenticated data, so a payload relabelled with another key id fails its tag.
 */
export class EncryptionCodec implements PayloadCodec {
  constructor(private readonly keys: CodecKeys) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.encrypt(payload));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.decrypt(payload));
  }

  encrypt(payload: Payload): Payload {
    const { current, byId } = this.keys;
    const key = byId.get(current);
    if (key === undefined) throw new Error(`the current codec key '${current}' is not configured`);
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(Buffer.from(current, 'utf8'));
    const plain = temporal.api.common.v1.Payload.encode(payload).finish();
    const data = Buffer.concat([nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return {
      metadata: { encoding: Buffer.from(ENCODING), [KEY_ID]: Buffer.from(current, 'utf8') },
      data,
    };
  }

  /** Payloads written before encryption was turned on pass through, so their histories still read. */
  decrypt(payload: Payload): Payload {
    if (!isEncrypted(payload)) return payload;
    const { source, byId } = this.keys;
    const keyId = text(payload.metadata?.[KEY_ID]);
    if (keyId === undefined) {
      throw new PayloadDecryptionError(`encrypted payload without an ${KEY_ID}: it cannot be decrypted`);
    }
    const key = byId.get(keyId);
    if (key === undefined) {
      throw new PayloadDecryptionError(
        `payload encrypted with key '${keyId}', which is not among the configured keys ${source} lists: ` +
          [...byId.keys()].join(', '),
      );
    }
    const data = Buffer.from(payload.data ?? new Uint8Array());
    try {
      if (data.length < NONCE_BYTES + TAG_BYTES) throw new Error('too short');
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, NONCE_BYTES));
      decipher.setAAD(Buffer.from(keyId, 'utf8'));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([
        decipher.update(data.subarray(NONCE_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return temporal.api.common.v1.Payload.decode(plain);
    } catch {
      // GCM authenticates before anything is returned: no partial plaintext escapes.
      throw new PayloadDecryptionError(
        `payload encrypted with key '${keyId}' does not decrypt with the key of that id ${source} lists: ` +
          'it was altered, or that id named a different key when the payload was written',
      );
    }
  }
}
