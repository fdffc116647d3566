import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AUDIT_KEY_BYTES, VaultAuditAnchor, readAuditKey, type AuditAnchor, type AuditTrust } from '../audit';
import { readAuditEnvironment } from '../config/environment';
import { ValidationError } from '../validation';
import { VaultKvStore } from '../vault';
import { CliError, EXIT } from './context';

/** A log of the embedded Vault's worker has no anchor left to check: its Vault forgot it at stop. */
const NO_ANCHOR: AuditAnchor = {
  name: 'none (without VAULT_ADDR, the embedded Vault kept it and is gone)',
  read: () => Promise.resolve(undefined),
  write: () => Promise.reject(new Error('the CLI writes no anchor')),
};

/**
 * How the CLI checks audit logs: with the key and each log's anchor in the Vault VAULT_ADDR names, or, without
 * it, with the key an embedded worker kept in ROTATOR_DATA_DIR and no anchor.
 */
export async function auditTrustOf(env: NodeJS.ProcessEnv): Promise<(auditLog: string) => AuditTrust> {
  let settings;
  try {
    settings = readAuditEnvironment(env);
  } catch (error) {
    if (error instanceof ValidationError) throw new CliError(error.message, EXIT.usage);
    throw error;
  }
  const { vault, keyPath, anchorPath, dataDir } = settings;
  if (vault === undefined) {
    const file = join(dataDir, 'audit.key');
    const key = await readFile(file, 'utf8').then(
      (text) => Buffer.from(text, 'base64'),
      () => undefined,
    );
    if (key?.length !== AUDIT_KEY_BYTES)
      throw new CliError(
        `no audit key: set VAULT_ADDR and VAULT_TOKEN to read it from Vault (ROTATOR_AUDIT_KEY_PATH), or ` +
          `ROTATOR_DATA_DIR to the embedded worker's folder (${file} holds no key)`,
        EXIT.usage,
      );
    return () => ({ key, anchor: NO_ANCHOR });
  }
  const caCert = vault.caCertFile === undefined ? undefined : await readFile(vault.caCertFile, 'utf8');
  const store = new VaultKvStore({ endpoint: vault.address, token: vault.token, caCert });
  const key = await readAuditKey(store, keyPath);
  return (auditLog) => ({ key, anchor: new VaultAuditAnchor(store, anchorPath(auditLog)) });
}
