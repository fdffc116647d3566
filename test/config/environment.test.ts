import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readWorkerEnvironment, workerVariablesSchema } from '../../src/config/environment';
import { ValidationError } from '../../src/validation';

const TOKEN = 'hvs.not-a-real-token';
const VAULT = { VAULT_ADDR: 'https://vault.internal:8200' };
// A remote Temporal needs encrypted payloads (see "transport guarantees").
const CODEC = { ROTATOR_CODEC_KEYS: `prod-1:${Buffer.alloc(32, 7).toString('base64')}` };

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
        ...CODEC,
        TEMPORAL_ADDRESS: 'temporal.internal:7233',
        TEMPORAL_TLS_CA: '/etc/rotator/temporal-ca.pem',
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
      ...CODEC,
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
        ...CODEC,
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
      { ...CODEC, TEMPORAL_ADDRESS: 'temporal.internal:7233', TEMPORAL_TLS_CERT: '/client.pem' },
      ['TEMPORAL_TLS_KEY: required with TEMPORAL_TLS_CERT'],
    ],
    [
      { ...CODEC, TEMPORAL_ADDRESS: 'temporal.internal:7233', TEMPORAL_TLS_KEY: '/client.key' },
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

  it('is documented in docs/deployment.md, every variable with its default', () => {
    const readme = readFileSync(join(__dirname, '../../docs/deployment.md'), 'utf8');
    const defaults: Record<string, unknown> = workerVariablesSchema.parse({});
    for (const name of Object.keys(workerVariablesSchema.shape)) {
      const row = readme.split('\n').find((line) => line.startsWith(`| \`${name}\``));
      expect({ name, row }).toEqual({ name, row: expect.any(String) });
      if (defaults[name] !== undefined) expect(row).toContain(`\`${String(defaults[name])}\``);
    }
  });
});

describe('transport guarantees', () => {
  const SECURE = {
    ...CODEC,
    TEMPORAL_ADDRESS: 'temporal.internal:7233',
    TEMPORAL_TLS_CA: '/etc/rotator/temporal-ca.pem',
    VAULT_ADDR: 'https://vault.internal:8200',
    VAULT_TOKEN: TOKEN,
  };

  it('accepts TLS to a remote Temporal and Vault with encrypted payloads, and plain http on loopback', () => {
    expect(readWorkerEnvironment(SECURE).insecure).toEqual([]);
    for (const address of ['http://127.0.0.1:8200', 'http://localhost:8200', 'http://[::1]:8200']) {
      expect(readWorkerEnvironment({ VAULT_ADDR: address, VAULT_TOKEN: TOKEN }).insecure).toEqual([]);
    }
    expect(readWorkerEnvironment({ TEMPORAL_ADDRESS: '127.0.0.1:7233' }).insecure).toEqual([]);
  });

  it.each([
    [
      { ...SECURE, VAULT_ADDR: 'http://vault.internal:8200' },
      ['VAULT_ADDR: expected https for a Vault on another host; ROTATOR_ALLOW_INSECURE=vault-http allows it'],
    ],
    [
      { ...SECURE, TEMPORAL_TLS_CA: undefined },
      [
        'TEMPORAL_ADDRESS: a Temporal on another host needs TLS (TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY, TEMPORAL_TLS_CA, ' +
          'TEMPORAL_TLS_SERVER_NAME); ROTATOR_ALLOW_INSECURE=temporal-plaintext allows it',
      ],
    ],
    [
      { ...SECURE, ROTATOR_CODEC_KEYS: undefined },
      [
        'ROTATOR_CODEC_KEYS_FILE: required (or ROTATOR_CODEC_KEYS) with a Temporal on another host, so that it ' +
          'stores no payload in clear; ROTATOR_ALLOW_INSECURE=no-codec allows it',
      ],
    ],
  ])('refuses %j unless ROTATOR_ALLOW_INSECURE waives it', (env, problems) => {
    expect(problemsWith(env)).toEqual(problems);
  });

  it('takes each waiver by name and reports it, with what it exposes, for the start-up log', () => {
    const env = readWorkerEnvironment({
      TEMPORAL_ADDRESS: 'temporal:7233',
      VAULT_ADDR: 'http://vault:8200',
      VAULT_TOKEN: TOKEN,
      ROTATOR_ALLOW_INSECURE: 'vault-http,temporal-plaintext,no-codec',
    });
    expect(env.insecure.map(({ waiver }) => waiver)).toEqual([
      'vault-http',
      'temporal-plaintext',
      'no-codec',
    ]);
    expect(env.insecure[0]?.risk).toMatch(/in clear/);
    // A waiver these settings do not need is not in effect.
    expect(readWorkerEnvironment({ ...SECURE, ROTATOR_ALLOW_INSECURE: 'vault-http' }).insecure).toEqual([]);
  });

  it('refuses an unknown waiver', () => {
    expect(problemsWith({ ROTATOR_ALLOW_INSECURE: 'vault-http,everything' })).toEqual([
      'ROTATOR_ALLOW_INSECURE: expected a comma-separated list of vault-http, temporal-plaintext, no-codec; unknown: everything',
    ]);
  });

  it('refuses a user name or password in any URL or address, naming the variable and never the password', () => {
    const password = 'hunter2-not-a-real-password';
    const problems = problemsWith({
      ...SECURE,
      VAULT_ADDR: `https://rotator:${password}@vault.internal:8200`,
      TEMPORAL_ADDRESS: `rotator:${password}@temporal.internal:7233`,
      ROTATOR_ALERT_WEBHOOK_URL: `https://hook:${password}@hooks.example.com/alerts`,
      TEMPORAL_UI_URL: `https://${password}@temporal-ui.internal`,
    });
    expect(problems).toEqual([
      'TEMPORAL_ADDRESS: expected host:port; must not hold a user name or password (credentials have variables of their own)',
      'VAULT_ADDR: must not hold a user name or password (credentials have variables of their own)',
      'ROTATOR_ALERT_WEBHOOK_URL: must not hold a user name or password (credentials have variables of their own)',
      'TEMPORAL_UI_URL: must not hold a user name or password (credentials have variables of their own)',
    ]);
    expect(problems.join('\n')).not.toContain(password);
  });
});
