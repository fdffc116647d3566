import type { temporal } from '@temporalio/proto';

/**
 * Every string in a workflow history, with payload bytes decoded as UTF-8, so that a test can
 * search it for a secret value however it was encoded (JSON payloads, failure messages, ...).
 */
export function historyText(history: temporal.api.history.v1.IHistory): string {
  const parts: string[] = [];
  const visit = (node: unknown): void => {
    if (typeof node === 'string') parts.push(node);
    else if (node instanceof Uint8Array) parts.push(Buffer.from(node).toString('utf8'));
    else if (Array.isArray(node)) node.forEach(visit);
    else if (node && typeof node === 'object') Object.values(node).forEach(visit);
  };
  visit(history);
  return parts.join('\n');
}
