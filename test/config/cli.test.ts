import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inventoryJsonSchema } from '../../src/inventory/schema';
import { rotator } from '../helpers/cli';

const EXAMPLE = join(__dirname, '../../examples/rotator.yaml');

describe('rotator config check', () => {
  const directory = mkdtempSync(join(tmpdir(), 'rotator-cli-'));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  function inventoryFile(name: string, text: string): string {
    const file = join(directory, name);
    writeFileSync(file, text);
    return file;
  }

  it('summarises a valid inventory by source kind and environment, and exits 0', async () => {
    expect(await rotator(['config', 'check', EXAMPLE])).toEqual({
      code: 0,
      // The example's OAuth2 access token goes to a masked CI variable.
      stderr:
        `${EXAMPLE}: note: credentials[7].targets[0] is a masked CI variable, and oauth2-refresh-token tokens ` +
        'may hold characters GitLab cannot mask (RFC 6749 allows any printable ASCII): a new value it cannot ' +
        'mask fails the rotation at verify, before any target is written\n' +
        // Its GitHub provider's admin token is a personal access token, which no API mints.
        `${EXAMPLE}: note: providers.github.github-com: its admin token cannot be rotated by the rotator ` +
        '(GitHub has no API to mint a personal access token, classic or fine-grained): rotate it by hand ' +
        'before it expires, with fallbackCredential set while you do (docs/providers/github.md)\n',
      stdout: [
        `${EXAMPLE} is valid: 8 credentials`,
        '',
        'source kind                    production  staging  total',
        'gitlab-group-access-token               1        0      1',
        'gitlab-group-deploy-token               0        1      1',
        'gitlab-personal-access-token            0        1      1',
        'gitlab-pipeline-trigger-token           0        1      1',
        'gitlab-project-access-token             1        0      1',
        'gitlab-project-deploy-token             1        0      1',
        'gitlab-service-account-token            0        1      1',
        'oauth2-refresh-token                    0        1      1',
        'total                                   3        5      8',
        '',
      ].join('\n'),
    });
  });

  it('checks ROTATOR_INVENTORY when given no file', async () => {
    expect(await rotator(['config', 'check'], { ROTATOR_INVENTORY: EXAMPLE })).toMatchObject({
      code: 0,
      stdout: expect.stringContaining(`${EXAMPLE} is valid`),
    });
  });

  it('prints every error with file, line and column, and exits 1', async () => {
    const broken = readFileSync(EXAMPLE, 'utf8')
      .replace('key: DEPLOY_TOKEN', 'kye: DEPLOY_TOKEN')
      .replace('every: 30d\n      overlap: 0', 'every: 30d\n      overlap: 5m');
    const file = inventoryFile('broken.yaml', broken);
    const lineOf = (text: string) => broken.split('\n').findIndex((line) => line.includes(text)) + 1;

    const { code, stdout, stderr } = await rotator(['config', 'check', file]);

    expect({ code, stdout }).toEqual({ code: 1, stdout: '' });
    expect(stderr.split('\n')).toEqual([
      `${file}:${lineOf('- kind: gitlab-ci-variable')}:9: credentials[0].targets[0].key: required: expected string`,
      `${file}:${lineOf('kye: DEPLOY_TOKEN')}:9: credentials[0].targets[0].kye: unknown key`,
      expect.stringMatching(
        new RegExp(
          `^${file}:${lineOf('overlap: 5m')}:7: credentials\\[1\\]\\.policy\\.overlap: must be 0 for a source`,
        ),
      ),
      `${file} is invalid: 3 errors`,
      '',
    ]);
  });

  it('reports a YAML syntax error with its line and column', async () => {
    const file = inventoryFile('syntax.yaml', 'credentials:\n  - id: deployer\n    scopes: [api, read_api\n');
    expect(await rotator(['config', 'check', file])).toEqual({
      code: 1,
      stdout: '',
      stderr:
        `${file}:4:1: invalid YAML: Flow sequence in block collection must be sufficiently indented and end with a ]\n` +
        `${file} is invalid: 1 error\n`,
    });
  });

  it('names both paths when a credential is stored where another stages its new values', async () => {
    const text = readFileSync(EXAMPLE, 'utf8').replace(
      'path: gitlab/release-bot',
      'path: gitlab/deployer/staged',
    );
    const { code, stderr } = await rotator(['config', 'check', inventoryFile('staged.yaml', text)]);
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /: credentials\[\d\]\.vault: is where credentials\[0\] stages each new value \(its path plus "\/staged"\)/,
    );
  });

  it('exits 2 when the file cannot be read', async () => {
    expect(await rotator(['config', 'check', join(directory, 'missing.yaml')])).toEqual({
      code: 2,
      stdout: '',
      stderr: `rotator: cannot read ${join(directory, 'missing.yaml')} (ENOENT)\n`,
    });
  });
});

describe('rotator usage', () => {
  it('exits 2 on an unknown command or a missing one, and 0 for help', async () => {
    expect(await rotator(['conifg', 'check'])).toEqual({
      code: 2,
      stdout: '',
      stderr: "error: unknown command 'conifg'\n(Did you mean config?)\n",
    });
    expect(await rotator(['config'])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('Usage: rotator config'),
    });
    expect(await rotator(['config', 'check', 'a.yaml', 'b.yaml'])).toMatchObject({ code: 2 });
    expect(await rotator(['--help'])).toMatchObject({
      code: 0,
      stdout: expect.stringContaining('Usage: rotator'),
    });
  });
});

describe('rotator config schema', () => {
  it("prints the inventory's JSON Schema", async () => {
    const { code, stdout, stderr } = await rotator(['config', 'schema']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(stdout)).toEqual(inventoryJsonSchema());
  });
});

describe('the CLI environment', () => {
  it('refuses a remote Temporal without TLS unless waived, and warns when it is', async () => {
    const env = { TEMPORAL_ADDRESS: '192.0.2.1:7233', ROTATOR_INVENTORY: EXAMPLE };
    expect(await rotator(['status', 'deployer-production'], env)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining(
        'TEMPORAL_ADDRESS: a Temporal on another host needs TLS (TEMPORAL_TLS_CERT, TEMPORAL_TLS_KEY, ' +
          'TEMPORAL_TLS_CA, TEMPORAL_TLS_SERVER_NAME); ROTATOR_ALLOW_INSECURE=temporal-plaintext allows it',
      ),
    });
    // 192.0.2.1 is a documentation address: nothing answers, and the warning comes before the attempt.
    const waived = await rotator(['status', 'deployer-production'], {
      ...env,
      ROTATOR_ALLOW_INSECURE: 'temporal-plaintext',
    });
    expect(waived.stderr).toContain('rotator: warning: ROTATOR_ALLOW_INSECURE=temporal-plaintext: ');
  });
});
