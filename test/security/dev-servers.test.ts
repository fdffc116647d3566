import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startVaultDevServer, type VaultDevServer } from '../../src/embedded/vault';
import { testServers } from '../infra/test-servers';

const { binaries } = testServers();
const dir = mkdtempSync(join(tmpdir(), 'rotator-dev-vault-'));
const logDir = join(dir, 'logs');
// What the worker's own environment holds when it starts the embedded Vault: none of it is the child's business.
const codecKeys = `dev:${randomBytes(32).toString('base64')}`;
const vaultToken = `hvs.${randomBytes(12).toString('hex')}`;
let vault: VaultDevServer;

beforeAll(async () => {
  const saved = { ...process.env };
  process.env.ROTATOR_CODEC_KEYS = codecKeys;
  process.env.VAULT_TOKEN = vaultToken;
  try {
    vault = await startVaultDevServer(binaries.vault, logDir);
  } finally {
    process.env = saved;
  }
});

afterAll(async () => {
  await vault.stop();
  rmSync(dir, { recursive: true, force: true });
});

const procFile = (name: string) => readFileSync(`/proc/${String(vault.pid)}/${name}`, 'utf8').split('\0');

describe('the embedded Vault dev server', () => {
  it('takes its root token from its environment, not its command line', async () => {
    expect(procFile('cmdline').join(' ')).not.toContain(vault.rootToken);
    // The token it was given works: it came through the environment.
    const response = await fetch(`${vault.endpoint}/v1/auth/token/lookup-self`, {
      headers: { 'X-Vault-Token': vault.rootToken },
    });
    expect(response.status).toBe(200);
  });

  it("inherits none of the worker's secrets", () => {
    const names = procFile('environ').map((entry) => entry.split('=')[0]);
    expect(names).not.toContain('ROTATOR_CODEC_KEYS');
    expect(names).not.toContain('VAULT_TOKEN');
    expect(procFile('environ').join('\n')).not.toContain(codecKeys);
  });

  it('writes its log, which prints the root token, for this user only', () => {
    expect(statSync(vault.logFile).mode & 0o777).toBe(0o600);
    expect(statSync(logDir).mode & 0o777).toBe(0o700);
  });
});
