import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  FileAuditSink,
  VaultAuditAnchor,
  defaultAnchorPath,
  vaultPathSetting,
  type AuditEntry,
  type AuditSink,
  type AuditTrust,
} from '../../src/audit';
import { DEFAULT_AUDIT_KEY_PATH } from '../../src/config/environment';
import { VaultKvStore, type SecretPath } from '../../src/vault';
import { scannedFile } from '../infra/secret-scan';
import { testServers } from '../infra/test-servers';

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

/** Where the run's audit key is: the worker's default, so that worker processes the tests start find it. */
export const TEST_AUDIT_KEY_PATH = vaultPathSetting(DEFAULT_AUDIT_KEY_PATH) as SecretPath;

/** A log's key (the run's, which global setup put in Vault) and its anchor where a worker would keep it. */
export function testAuditTrust(auditLog: string): AuditTrust {
  const { vault, auditKey } = testServers();
  return {
    key: Buffer.from(auditKey, 'base64'),
    anchor: new VaultAuditAnchor(new VaultKvStore(vault), defaultAnchorPath(TEST_AUDIT_KEY_PATH, auditLog)),
  };
}

/** The sink a worker process would open on `auditLog`. */
export const testAuditSink = (auditLog: string) => new FileAuditSink(auditLog, testAuditTrust(auditLog));
