import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readWorkerEnvironment, workerVariablesSchema } from '../../src/config/environment';
import { ValidationError } from '../../src/validation';

const TOKEN = 'hvs.not-a-real-token';
const VAULT = { VAULT_ADDR: 'https://vault.internal:8200' };

function problemsWith(env: NodeJS.ProcessEnv): string[] {
  try {
    readWorkerEnvironment(env);
  } catch (error) {
    if (error instanceof ValidationError) return error.issues;
    throw error;
  }
  throw new Error('expected the environment to be refused');
}

describe('the worker environment', () => {
  it('needs nothing: without TEMPORAL_ADDRESS and VAULT_ADDR, the worker starts dev servers of its own', () => {
    expect(readWorkerEnvironment({ UNRELATED: 'ignored' })).toMatchObject({
      temporal: {
        address: undefined,
        namespace: 'default',
        taskQueue: 'credential-rotation',
        tls: undefined,
      },
      vault: undefined,
      embedded: { dataDir: './.cache/data', temporalPort: 7233, uiPort: 8233 },
      inventory: './rotator.yaml',
      auditLog: './rotator-audit.jsonl',
      alerts: { webhookUrl: undefined, temporalUiUrl: 'http://localhost:8233' },
      logLevel: 'info',
      metricsPort: 9464,
      healthPort: 8080,
      shutdownGraceMs: 30_000,
    });
  });

  it('reads a Temporal and a Vault elsewhere', () => {
    expect(
      readWorkerEnvironment({
        TEMPORAL_ADDRESS: 'temporal.internal:7233',
        VAULT_ADDR: 'https://vault.internal:8200',
        VAULT_TOKEN: TOKEN,
      }),
    ).toMatchObject({
      temporal: { address: 'temporal.internal:7233' },
      vault: {
        address: 'https://vault.internal:8200',
        caCertFile: undefined,
        auth: { method: 'token', token: TOKEN },
      },
    });
  });

  it('treats an empty variable as unset', () => {
    expect(
      readWorkerEnvironment({
        TEMPORAL_ADDRESS: '',
        VAULT_ADDR: '',
        TEMPORAL_NAMESPACE: '',
        METRICS_PORT: '',
      }),
    ).toMatchObject({
      temporal: { address: undefined, namespace: 'default' },
      vault: undefined,
      metricsPort: 9464,
    });
  });

  it('reads mutual TLS for Temporal, and a CA for Vault', () => {
    const env = readWorkerEnvironment({
      VAULT_TOKEN: TOKEN,
      VAULT_ADDR: 'https://vault.internal:8200',
      VAULT_CACERT: '/etc/rotator/vault-ca.pem',
      TEMPORAL_ADDRESS: 'temporal.internal:7233',
      TEMPORAL_TLS_CERT: '/etc/rotator/client.pem',
      TEMPORAL_TLS_KEY: '/etc/rotator/client.key',
      TEMPORAL_TLS_CA: '/etc/rotator/temporal-ca.pem',
      TEMPORAL_TLS_SERVER_NAME: 'temporal',
    });
    expect(env.temporal.tls).toEqual({
      caFile: '/etc/rotator/temporal-ca.pem',
      serverName: 'temporal',
      client: { certFile: '/etc/rotator/client.pem', keyFile: '/etc/rotator/client.key' },
    });
    expect(env.vault).toMatchObject({
      address: 'https://vault.internal:8200',
      caCertFile: '/etc/rotator/vault-ca.pem',
    });
  });

  it('turns TLS on without a client certificate when only a CA or server name is given', () => {
    expect(
      readWorkerEnvironment({
        TEMPORAL_ADDRESS: 'temporal.internal:7233',
        TEMPORAL_TLS_SERVER_NAME: 'temporal',
      }).temporal.tls,
    ).toEqual({
      caFile: undefined,
      serverName: 'temporal',
      client: undefined,
    });
  });

  it('reads AppRole instead of a token', () => {
    expect(
      readWorkerEnvironment({
        ...VAULT,
        VAULT_ROLE_ID: 'rotator',
        VAULT_SECRET_ID_FILE: '/run/secrets/secret-id',
      }).vault?.auth,
    ).toEqual({ method: 'approle', roleId: 'rotator', secretIdFile: '/run/secrets/secret-id' });
  });

  it.each([
    [
      { ...VAULT },
      ['VAULT_TOKEN: required, unless AppRole is used (VAULT_ROLE_ID and VAULT_SECRET_ID_FILE)'],
    ],
    [
      {
        ...VAULT,
        VAULT_TOKEN: TOKEN,
        VAULT_ROLE_ID: 'rotator',
        VAULT_SECRET_ID_FILE: '/run/secrets/secret-id',
      },
      ['VAULT_TOKEN: set either VAULT_TOKEN or AppRole (VAULT_ROLE_ID and VAULT_SECRET_ID_FILE), not both'],
    ],
    [{ ...VAULT, VAULT_ROLE_ID: 'rotator' }, ['VAULT_SECRET_ID_FILE: required with VAULT_ROLE_ID']],
    [
      { ...VAULT, VAULT_SECRET_ID_FILE: '/run/secrets/secret-id' },
      ['VAULT_ROLE_ID: required with VAULT_SECRET_ID_FILE'],
    ],
    [
      { TEMPORAL_ADDRESS: 'temporal.internal:7233', TEMPORAL_TLS_CERT: '/client.pem' },
      ['TEMPORAL_TLS_KEY: required with TEMPORAL_TLS_CERT'],
    ],
    [
      { TEMPORAL_ADDRESS: 'temporal.internal:7233', TEMPORAL_TLS_KEY: '/client.key' },
      ['TEMPORAL_TLS_CERT: required with TEMPORAL_TLS_KEY'],
    ],
    // Settings meant for a server elsewhere, without its address: an embedded server would hide the mistake.
    [
      { TEMPORAL_TLS_CA: '/ca.pem', TEMPORAL_TLS_SERVER_NAME: 'temporal' },
      [
        'TEMPORAL_ADDRESS: required with TEMPORAL_TLS_CA, TEMPORAL_TLS_SERVER_NAME (unset, the worker starts a local dev server)',
      ],
    ],
    [
      { VAULT_TOKEN: TOKEN, VAULT_CACERT: '/ca.pem' },
      [
        'VAULT_ADDR: required with VAULT_TOKEN, VAULT_CACERT (unset, the worker starts a Vault dev server in memory)',
      ],
    ],
    [
      { VAULT_TOKEN: TOKEN, METRICS_PORT: '70000', LOG_LEVEL: 'verbose', VAULT_ADDR: 'vault:8200' },
      [
        'VAULT_ADDR: expected a URL such as https://vault.example.com:8200',
        'LOG_LEVEL: Invalid option: expected one of "trace"|"debug"|"info"|"warn"|"error"',
        'METRICS_PORT: expected a port number from 1 to 65535',
      ],
    ],
  ])('refuses %j, naming every variable at fault', (env, problems) => {
    expect(problemsWith(env)).toEqual(problems);
  });

  it('never repeats a value in its errors', () => {
    const message = problemsWith({
      ...VAULT,
      VAULT_TOKEN: TOKEN,
      VAULT_ROLE_ID: 'rotator-role-id-value',
    }).join('\n');
    expect(message).not.toContain(TOKEN);
    expect(message).not.toContain('rotator-role-id-value');
  });

  it('is documented in the README, every variable with its default', () => {
    const readme = readFileSync(join(__dirname, '../../README.md'), 'utf8');
    const defaults: Record<string, unknown> = workerVariablesSchema.parse({});
    for (const name of Object.keys(workerVariablesSchema.shape)) {
      const row = readme.split('\n').find((line) => line.startsWith(`| \`${name}\``));
      expect({ name, row }).toEqual({ name, row: expect.any(String) });
      if (defaults[name] !== undefined) expect(row).toContain(`\`${String(defaults[name])}\``);
    }
  });
});
