import type { temporal } from '@temporalio/proto';
import { EncryptionCodec, isEncrypted } from './encryption-codec';
import type { CodecKeys } from './keys';

type History = temporal.api.history.v1.IHistory;

const isPayload = (node: object): node is { metadata: Record<string, Uint8Array>; data?: Uint8Array } =>
  'metadata' in node && typeof node.metadata === 'object' && node.metadata !== null && 'data' in node;

/**
 * A copy of a workflow history with every encrypted payload decrypted (failures' encoded attributes
 * included), for a scanner that searches histories for secret values. Throws PayloadDecryptionError,
 * naming the key id, when a payload's key is not among `keys`. Unencrypted payloads are left as they are.
 */
export function decryptHistoryPayloads(history: History, keys: CodecKeys): History {
  const codec = new EncryptionCodec(keys);
  // Returns the node itself when nothing under it changed, and keeps prototypes (Long, messages) otherwise.
  const visit = (node: unknown): unknown => {
    if (node === null || typeof node !== 'object' || node instanceof Uint8Array) return node;
    if (Array.isArray(node)) {
      const items = node.map(visit);
      return items.some((item, index) => item !== node[index]) ? items : node;
    }
    if (isPayload(node) && isEncrypted(node)) return codec.decrypt(node);
    let copy: Record<string, unknown> | undefined;
    for (const [key, value] of Object.entries(node)) {
      const next = visit(value);
      if (next === value) continue;
      copy ??= Object.assign(
        Object.create(Object.getPrototypeOf(node) as object) as Record<string, unknown>,
        node,
      );
      copy[key] = next;
    }
    return copy ?? node;
  };
  return visit(history) as History;
}
