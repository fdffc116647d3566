import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AuditEntry, AuditSink } from '../../src/audit';
import { scannedFile } from '../infra/secret-scan';

/** For activities called outside a rotation, which record nothing: an entry would be a mistake. */
export const noAudit: AuditSink = {
  append: (event) => Promise.reject(new Error(`unexpected audit event "${event.event}" in ${event.step}`)),
  ready: () => Promise.resolve(),
};

/** The entries of an audit log file, in order. */
export function auditEntries(file: string): AuditEntry[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as AuditEntry);
}

/** A new audit log in the run's folder, where it stays after the test for the run-wide secret scan. */
export function auditLogFile(name: string): string {
  return scannedFile('audit', `${name}-${randomUUID()}.jsonl`);
}
