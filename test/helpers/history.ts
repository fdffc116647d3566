import { join } from 'node:path';
import { temporal } from '@temporalio/proto';

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

/** Where the committed histories that every change must replay live; `npm run fixtures:record` refreshes them. */
export const HISTORY_FIXTURES = join(__dirname, '../fixtures/histories');

/*
 * Fixtures are protobufjs JSON (bytes as base64, enums by name). Not `historyToJSON` from
 * @temporalio/common: with the protobufjs copies installed here it throws "type must be a Type".
 */
export const historyToFixture = (history: temporal.api.history.v1.IHistory): string =>
  `${JSON.stringify(temporal.api.history.v1.History.fromObject(history).toJSON(), null, 2)}\n`;
export const historyFromFixture = (text: string): temporal.api.history.v1.IHistory =>
  temporal.api.history.v1.History.fromObject(JSON.parse(text) as Record<string, unknown>);
