import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freeLoopbackPort, hasExited, stopProcess } from '../../src/embedded/processes';
import { vaultGet } from '../../src/health';
import type { Issued } from './certificates';

export interface TlsVault {
  /** https://127.0.0.1:port */
  endpoint: string;
  rootToken: string;
  stop(): Promise<void>;
}

/**
 * A second Vault dev server whose API is served over TLS with `server`'s certificate: dev mode (in memory,
 * unsealed, `secret/` as KV v2) plus a TLS listener from a config file. Its plaintext dev listener is bound
 * to a free port too, since `-dev` always opens one, but nothing here talks to it.
 */
export async function startTlsVault(bin: string, dir: string, server: Issued, ca: string): Promise<TlsVault> {
  const [tlsPort, devPort] = [await freeLoopbackPort(), await freeLoopbackPort()];
  const rootToken = `root-${randomBytes(12).toString('hex')}`;
  const config = join(dir, 'vault-tls.hcl');
  writeFileSync(
    config,
    `listener "tcp" {\n  address = "127.0.0.1:${tlsPort}"\n` +
      `  tls_cert_file = "${server.certFile}"\n  tls_key_file = "${server.keyFile}"\n}\n`,
  );
  const log = openSync(join(dir, 'vault-tls.log'), 'a');
  const child = spawn(
    bin,
    [
      'server',
      '-dev',
      `-dev-root-token-id=${rootToken}`,
      `-dev-listen-address=127.0.0.1:${devPort}`,
      `-config=${config}`,
    ],
    { stdio: ['ignore', log, log], env: { ...process.env, VAULT_DISABLE_MLOCK: 'true' } },
  );
  const endpoint = `https://127.0.0.1:${tlsPort}`;
  const stop = () => stopProcess(child);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const health = await vaultGet({ address: endpoint, caCert: ca }, 'sys/health').catch(() => undefined);
    if (health?.status === 200) return { endpoint, rootToken, stop };
    if (hasExited(child) || Date.now() > deadline) {
      await stop();
      throw new Error(`the TLS Vault did not start; its log: ${join(dir, 'vault-tls.log')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
