import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import {
  MAX_INVENTORY_BYTES,
  MAX_INVENTORY_NODES,
  MAX_LISTED_ERRORS,
  parseInventory,
} from '../../src/inventory/load';
import { ROTATED_FIELDS, storedSecretProblems } from '../../src/stored-secret';
import { rotator } from '../helpers/cli';
import { recordMintedValue } from '../infra/secret-scan';

/** A small valid inventory: one production GitLab token and one staging OAuth2 refresh token. */
function validInventory(): Record<string, unknown> {
  return {
    providers: {
      gitlab: {
        'gitlab-main': {
          url: 'https://gitlab.example.com',
          credential: { mount: 'kv-rotator', path: 'providers/gitlab', key: 'token' },
        },
      },
      github: {
        'github-com': { credential: { mount: 'kv-rotator', path: 'providers/github', key: 'token' } },
      },
    },
    credentials: [
      {
        id: 'deployer',
        description: 'Deploys the web app',
        environment: 'production',
        owner: 'team-platform',
        source: {
          kind: 'gitlab-project-access-token',
          gitlab: 'gitlab-main',
          project: 'platform/deployer',
          tokenName: 'deployer',
          scopes: ['read_api', 'read_repository'],
          accessLevel: 'developer',
          lifetimeDays: 30,
        },
        vault: { mount: 'kv-production', path: 'gitlab/deployer' },
        targets: [
          { kind: 'gitlab-ci-variable', gitlab: 'gitlab-main', project: 'platform/web', key: 'DEPLOY_TOKEN' },
        ],
        dependents: [{ kind: 'gitlab-pipeline-schedules', gitlab: 'gitlab-main', project: 'platform/web' }],
      },
      {
        id: 'uploader',
        description: 'Uploads artifacts',
        environment: 'staging',
        owner: 'team-build',
        source: {
          kind: 'oauth2-refresh-token',
          tokenUrl: 'https://auth.example.com/token',
          clientId: 'uploader',
          clientSecret: { mount: 'kv-staging', path: 'oauth2/uploader-client', key: 'secret' },
        },
        vault: { mount: 'kv-staging', path: 'oauth2/uploader' },
        targets: [
          {
            kind: 'github-actions-secret',
            github: 'github-com',
            repository: 'acme/web',
            name: 'UPLOAD_TOKEN',
          },
        ],
      },
    ],
  };
}

const REMOVE = Symbol('remove');

/** Applies edits such as `{ 'credentials[0].owner': REMOVE }` to a fresh valid inventory. */
function edited(edits: Record<string, unknown>): unknown {
  const inventory = validInventory();
  for (const [path, value] of Object.entries(edits)) {
    const keys = path.split(/[.[\]]+/).filter((key) => key !== '');
    const last = keys.pop() as string;
    const parent = keys.reduce<Record<string, unknown>>(
      (node, key) => node[key] as Record<string, unknown>,
      inventory,
    );
    if (value === REMOVE) Reflect.deleteProperty(parent, last);
    else parent[last] = value;
  }
  return inventory;
}

const SLUG = 'lowercase letters, digits and single hyphens';
const DURATION = 'expected a duration such as "15m", "24h" or "7d"';
const IN_PLACE_OVERLAP =
  'must be 0 for a source that rotates in place (strategy rotate-in-place, or an OAuth2 refresh token): ' +
  'the old value stops working the moment the new one is issued, so there is nothing to overlap';

const KEEP_APART =
  'keep it in a field other than token, tokenId, expiresAt, username, refreshToken, accessToken, issuedAt, ' +
  'tokenFingerprint, refreshTokenFingerprint, accessTokenFingerprint, or in a secret of its own';
const SAME_VARIABLE = 'the same CI variable (project or group, key and environment scope)';
const ONE_CREDENTIAL = 'a target takes the values of one credential only';

const cases: [description: string, edits: Record<string, unknown>, errors: string[]][] = [
  // Unknown keys, missing fields, wrong types
  ['an unknown top-level key', { credential: [] }, ['credential: unknown key']],
  [
    'a misspelt key in a target',
    { 'credentials[0].targets[0].key': REMOVE, 'credentials[0].targets[0].kye': 'DEPLOY_TOKEN' },
    [
      'credentials[0].targets[0].key: required: expected string',
      'credentials[0].targets[0].kye: unknown key',
    ],
  ],
  [
    'a missing owner',
    { 'credentials[0].owner': REMOVE },
    ['credentials[0].owner: required: expected string'],
  ],
  [
    'a description that is a number',
    { 'credentials[0].description': 42 },
    ['credentials[0].description: Invalid input: expected string, received number'],
  ],
  ['no credentials', { credentials: [] }, ['credentials: expected at least one credential']],
  ['no targets', { 'credentials[0].targets': [] }, ['credentials[0].targets: expected at least one target']],
  [
    'a missing source',
    { 'credentials[1].source': REMOVE },
    ['credentials[1].source: required: expected object'],
  ],
  [
    'a misspelt vault key',
    { 'credentials[1].vault.secret': 'x' },
    ['credentials[1].vault.secret: unknown key'],
  ],

  // Ids, environments, slugs
  [
    'an id that is not a slug',
    { 'credentials[0].id': 'Deployer_1' },
    [`credentials[0].id: expected a slug such as "gitlab-deployer": ${SLUG}`],
  ],
  [
    'two credentials with the same id',
    { 'credentials[1].id': 'deployer' },
    ['credentials[1].id: must be unique: credentials[0] has the same id'],
  ],
  [
    'an environment that is not a slug',
    { 'credentials[1].environment': 'Staging EU' },
    [`credentials[1].environment: expected a slug such as "production": ${SLUG}`],
  ],

  // Sources
  [
    'an unknown source kind',
    { 'credentials[0].source.kind': 'gitlab-deploy-token' },
    [
      "credentials[0].source.kind: Invalid discriminator value. Expected 'gitlab-project-access-token' | " +
        "'gitlab-group-access-token' | 'gitlab-personal-access-token' | 'gitlab-project-deploy-token' | " +
        "'gitlab-group-deploy-token' | 'gitlab-service-account-token' | 'gitlab-pipeline-trigger-token' | " +
        "'oauth2-refresh-token'",
    ],
  ],
  [
    'a deploy token rotated in place, which GitLab cannot do',
    {
      'credentials[0].source': {
        kind: 'gitlab-project-deploy-token',
        gitlab: 'gitlab-main',
        project: 'platform/deployer',
        tokenName: 'registry-pull',
        scopes: ['read_registry'],
        lifetimeDays: 30,
        strategy: 'rotate-in-place',
      },
    },
    [
      'credentials[0].source.strategy: expected create-then-revoke: GitLab cannot rotate a deploy token in place',
    ],
  ],
  [
    'a target of the username of a source that has none',
    { 'credentials[0].targets[0].field': 'username' },
    [
      'credentials[0].targets[0].field: gitlab-project-access-token has no username: its targets receive the token',
    ],
  ],
  [
    'an unknown strategy',
    { 'credentials[0].source.strategy': 'replace' },
    [
      'credentials[0].source.strategy: Invalid option: expected one of "create-then-revoke"|"rotate-in-place"',
    ],
  ],
  [
    'a project that is neither an id nor a full path',
    { 'credentials[0].source.project': 'deployer' },
    [
      'credentials[0].source.project: expected a numeric project id or a full path such as "platform/deployer"',
    ],
  ],
  [
    'a negative project id',
    { 'credentials[0].source.project': -3 },
    [
      'credentials[0].source.project: expected a numeric project id or a full path such as "platform/deployer"',
    ],
  ],
  [
    'a lifetime beyond what GitLab allows',
    { 'credentials[0].source.lifetimeDays': 400 },
    [
      "credentials[0].source.lifetimeDays: expected whole days from 1 to 365 (GitLab's longest token lifetime)",
    ],
  ],
  [
    'a lifetime in fractional days',
    { 'credentials[0].source.lifetimeDays': 1.5 },
    ['credentials[0].source.lifetimeDays: expected whole days from 1 to 365'],
  ],
  [
    'no scopes',
    { 'credentials[0].source.scopes': [] },
    ['credentials[0].source.scopes: expected at least one scope'],
  ],
  [
    'a repeated scope',
    { 'credentials[0].source.scopes': ['api', 'read_api', 'api'] },
    ['credentials[0].source.scopes[2]: repeats an earlier scope'],
  ],
  [
    'a scope only personal tokens can have, on a project token',
    { 'credentials[0].source.scopes': ['sudo'] },
    [
      'credentials[0].source.scopes[0]: Invalid option: expected one of "api"|"read_api"|"read_repository"|' +
        '"write_repository"|"read_registry"|"write_registry"|"read_virtual_registry"|"write_virtual_registry"|' +
        '"create_runner"|"manage_runner"|"ai_features"|"k8s_proxy"|"self_rotate"|"read_observability"|' +
        '"write_observability"',
    ],
  ],
  [
    'an access level on a personal token',
    {
      'credentials[0].source.kind': 'gitlab-personal-access-token',
      'credentials[0].source.project': REMOVE,
      'credentials[0].source.user': 7,
    },
    ['credentials[0].source.accessLevel: unknown key'],
  ],
  [
    'an OAuth2 token endpoint over plain http to another host',
    { 'credentials[1].source.tokenUrl': 'http://auth.example.com/token' },
    ['credentials[1].source.tokenUrl: expected an https URL (plain http only to localhost)'],
  ],
  [
    'an OAuth2 client secret reference without its key',
    { 'credentials[1].source.clientSecret.key': REMOVE },
    ['credentials[1].source.clientSecret.key: required: expected string'],
  ],
  [
    'an OAuth2 refresh token that claims to create then revoke',
    { 'credentials[1].source.strategy': 'create-then-revoke' },
    ['credentials[1].source.strategy: Invalid input: expected "rotate-in-place"'],
  ],

  // Vault
  [
    'a Vault path that climbs out of its mount',
    { 'credentials[0].vault.path': 'gitlab/../other' },
    ['credentials[0].vault.path: must not contain "." or ".." segments'],
  ],
  [
    'a production and a staging credential on the same mount',
    { 'credentials[1].vault.mount': 'kv-production' },
    [
      'credentials[1].vault.mount: credentials[0] of another environment uses this mount: ' +
        'each environment needs its own KV mount',
    ],
  ],
  [
    'two credentials stored in the same secret',
    {
      'credentials[1].environment': 'production',
      'credentials[1].vault': { mount: 'kv-production', path: 'gitlab/deployer' },
    },
    ['credentials[1].vault: credentials[0] is stored at the same mount and path'],
  ],

  [
    'a credential stored where another stages its new values',
    {
      'credentials[1].environment': 'production',
      'credentials[1].vault': { mount: 'kv-production', path: 'gitlab/deployer/staged' },
    },
    [
      'credentials[1].vault: is where credentials[0] stages each new value (its path plus "/staged"), ' +
        'which would overwrite this secret',
    ],
  ],
  [
    'an admin token stored where a credential stages its new values',
    {
      'providers.gitlab.gitlab-main.credential': {
        mount: 'kv-production',
        path: 'gitlab/deployer/staged',
        key: 'token',
      },
    },
    [
      'providers.gitlab.gitlab-main.credential: is where credentials[0] stages each new value ' +
        '(its path plus "/staged"), which would overwrite it',
    ],
  ],
  [
    'a fallback admin token in the field a rotation writes its value to',
    {
      'providers.github.github-com.fallbackCredential': {
        mount: 'kv-production',
        path: 'gitlab/deployer',
        key: 'token',
      },
    },
    [
      'providers.github.github-com.fallbackCredential: is field "token" of the secret of credentials[0], ' +
        `which each of its rotations overwrites: ${KEEP_APART}`,
    ],
  ],
  [
    'an OAuth2 client secret in the refresh token field of its own secret',
    {
      'credentials[1].source.clientSecret': {
        mount: 'kv-staging',
        path: 'oauth2/uploader',
        key: 'refreshToken',
      },
    },
    [
      'credentials[1].source.clientSecret: is field "refreshToken" of the secret of credentials[1], ' +
        `which each of its rotations overwrites: ${KEEP_APART}`,
    ],
  ],

  // Policy and durations
  [
    'a duration in words',
    { 'credentials[0].policy': { every: '1 day' } },
    [`credentials[0].policy.every: ${DURATION}`],
  ],
  [
    'a duration as a bare number',
    { 'credentials[0].policy': { every: 3600 } },
    [`credentials[0].policy.every: ${DURATION}`],
  ],
  [
    'units out of order',
    { 'credentials[0].policy': { every: '30m1h' } },
    [`credentials[0].policy.every: ${DURATION}`],
  ],
  [
    'rotating every zero seconds',
    { 'credentials[0].policy': { every: '0s' } },
    ['credentials[0].policy.every: expected a duration longer than 0'],
  ],
  [
    'an overlap with strategy rotate-in-place',
    { 'credentials[0].source.strategy': 'rotate-in-place', 'credentials[0].policy': { overlap: '15m' } },
    [`credentials[0].policy.overlap: ${IN_PLACE_OVERLAP}`],
  ],
  [
    'an overlap for an OAuth2 refresh token',
    { 'credentials[1].policy': { overlap: '5m' } },
    [`credentials[1].policy.overlap: ${IN_PLACE_OVERLAP}`],
  ],
  [
    'jitter as long as the interval',
    { 'credentials[0].policy': { every: '1h', jitter: '60m' } },
    ['credentials[0].policy.jitter: must be shorter than policy.every'],
  ],
  [
    'an interval as long as the token lives',
    { 'credentials[0].policy': { every: '30d' } },
    [
      'credentials[0].policy.every: must be shorter than source.lifetimeDays, or each token expires before it is rotated',
    ],
  ],
  [
    'rotating early by more than the token lives',
    { 'credentials[0].policy': { rotateBefore: '31d' } },
    [
      'credentials[0].policy.rotateBefore: must be shorter than source.lifetimeDays, or each new token is due at once',
    ],
  ],
  [
    'approval as a string',
    { 'credentials[0].policy': { requireApproval: 'yes' } },
    ['credentials[0].policy.requireApproval: Invalid input: expected boolean, received string'],
  ],

  // Targets and dependents
  [
    'a CI variable in both a project and a group',
    { 'credentials[0].targets[0].group': 'platform' },
    ['credentials[0].targets[0].group: expected project or group, not both'],
  ],
  [
    'a CI variable in neither a project nor a group',
    { 'credentials[0].targets[0].project': REMOVE },
    ['credentials[0].targets[0]: expected project or group'],
  ],
  [
    'a CI variable key with a hyphen',
    { 'credentials[0].targets[0].key': 'DEPLOY-TOKEN' },
    ['credentials[0].targets[0].key: expected letters, digits and "_" (at most 255)'],
  ],
  [
    'an unknown CI variable type',
    { 'credentials[0].targets[0].variableType': 'secret' },
    ['credentials[0].targets[0].variableType: Invalid option: expected one of "env_var"|"file"'],
  ],
  [
    'a GitHub secret for both a repository and an organization',
    { 'credentials[1].targets[0].organization': 'acme', 'credentials[1].targets[0].visibility': 'all' },
    ['credentials[1].targets[0].organization: expected repository or organization, not both'],
  ],
  [
    'an environment secret of an organization',
    {
      'credentials[1].targets[0].repository': REMOVE,
      'credentials[1].targets[0].organization': 'acme',
      'credentials[1].targets[0].visibility': 'private',
      'credentials[1].targets[0].environment': 'production',
    },
    ['credentials[1].targets[0].environment: allowed only with repository'],
  ],
  [
    'an organization secret without visibility',
    { 'credentials[1].targets[0].repository': REMOVE, 'credentials[1].targets[0].organization': 'acme' },
    [
      'credentials[1].targets[0].visibility: required with organization: expected "all", "private" or "selected"',
    ],
  ],
  [
    'selected visibility without repositories',
    {
      'credentials[1].targets[0].repository': REMOVE,
      'credentials[1].targets[0].organization': 'acme',
      'credentials[1].targets[0].visibility': 'selected',
    },
    ['credentials[1].targets[0].selectedRepositories: required when visibility is "selected"'],
  ],
  [
    'a repository without its owner',
    { 'credentials[1].targets[0].repository': 'web' },
    ['credentials[1].targets[0].repository: expected "owner/repo"'],
  ],
  [
    "a secret name in GitHub's reserved prefix",
    { 'credentials[1].targets[0].name': 'GITHUB_TOKEN' },
    [
      'credentials[1].targets[0].name: expected letters, digits and "_", not starting with a digit or "GITHUB_"',
    ],
  ],
  [
    'an unknown target kind',
    { 'credentials[1].targets[0].kind': 'vercel-env' },
    [
      "credentials[1].targets[0].kind: Invalid discriminator value. Expected 'gitlab-ci-variable' | 'github-actions-secret'",
    ],
  ],
  [
    'a dependent without its project',
    { 'credentials[0].dependents[0].project': REMOVE },
    [
      'credentials[0].dependents[0].project: expected a numeric project id or a full path such as "platform/deployer"',
    ],
  ],

  [
    'two credentials writing the same CI variable, the project written in other case',
    {
      'credentials[1].targets[0]': {
        kind: 'gitlab-ci-variable',
        gitlab: 'gitlab-main',
        project: 'Platform/Web',
        key: 'DEPLOY_TOKEN',
        environmentScope: '*',
      },
    },
    [`credentials[1].targets[0]: writes ${SAME_VARIABLE} as credentials[0].targets[0]: ${ONE_CREDENTIAL}`],
  ],
  [
    'one credential writing the same group CI variable twice',
    {
      'credentials[0].targets': [
        { kind: 'gitlab-ci-variable', gitlab: 'gitlab-main', group: 'platform', key: 'DEPLOY_TOKEN' },
        { kind: 'gitlab-ci-variable', gitlab: 'gitlab-main', project: 'platform/web', key: 'DEPLOY_TOKEN' },
        { kind: 'gitlab-ci-variable', gitlab: 'gitlab-main', group: 'platform', key: 'DEPLOY_TOKEN' },
      ],
    },
    [`credentials[0].targets[2]: writes ${SAME_VARIABLE} as credentials[0].targets[0]: ${ONE_CREDENTIAL}`],
  ],
  [
    'GitHub secrets TOKEN and token of one repository',
    {
      'credentials[0].targets[1]': {
        kind: 'github-actions-secret',
        github: 'github-com',
        repository: 'ACME/web',
        name: 'upload_token',
      },
    },
    [
      'credentials[1].targets[0]: writes the same GitHub secret (secret names ignore case) as ' +
        `credentials[0].targets[1]: ${ONE_CREDENTIAL}`,
    ],
  ],

  // Providers
  [
    'a source naming an unknown GitLab',
    { 'credentials[0].source.gitlab': 'gitlab-eu' },
    [
      'credentials[0].source.gitlab: expected the name of a provider under providers.gitlab (defined: gitlab-main)',
    ],
  ],
  [
    'a target naming a GitHub when none is defined',
    { 'providers.github': REMOVE },
    [
      'credentials[1].targets[0].github: expected the name of a provider under providers.github (none is defined)',
    ],
  ],
  [
    'a provider URL with a password in it',
    { 'providers.gitlab.gitlab-main.url': 'https://root:hunter2@gitlab.example.com' },
    [
      'providers.gitlab.gitlab-main.url: expected a URL without a user name or password: credentials come from Vault',
    ],
  ],
  [
    'a provider URL without a scheme',
    { 'providers.gitlab.gitlab-main.url': 'gitlab.example.com' },
    ['providers.gitlab.gitlab-main.url: expected an https URL (plain http only to localhost)'],
  ],
  [
    'a provider name that is not a slug, so that nothing can refer to it',
    {
      'providers.gitlab': {
        GitLab: { url: 'https://gitlab.example.com', credential: { mount: 'kv', path: 'gl', key: 'token' } },
      },
    },
    [
      `providers.gitlab.GitLab: expected a slug such as "gitlab-com": ${SLUG}`,
      'credentials[0].source.gitlab: expected the name of a provider under providers.gitlab (none is defined)',
      'credentials[0].targets[0].gitlab: expected the name of a provider under providers.gitlab (none is defined)',
      'credentials[0].dependents[0].gitlab: expected the name of a provider under providers.gitlab (none is defined)',
    ],
  ],

  // Several problems at once: typos do not hide contradictions, nor the other way round
  [
    'a typo, a bad duration, an overlap contradiction and a duplicate id together',
    {
      'credentials[1].id': 'deployer',
      'credentials[1].ownr': 'team-build',
      'credentials[1].owner': REMOVE,
      'credentials[1].policy': { every: 'daily', overlap: '1m' },
    },
    [
      'credentials[1].owner: required: expected string',
      `credentials[1].policy.every: ${DURATION}`,
      'credentials[1].ownr: unknown key',
      `credentials[1].policy.overlap: ${IN_PLACE_OVERLAP}`,
      'credentials[1].id: must be unique: credentials[0] has the same id',
    ],
  ],
];

describe('a malformed inventory is refused with every error, each naming its path', () => {
  it('starts from a valid inventory', () => {
    expect(parseInventory(validInventory())).toMatchObject({ ok: true });
  });

  it.each(cases)('%s', (_description, edits, errors) => {
    expect(parseInventory(edited(edits))).toEqual({ ok: false, errors });
  });

  it('accepts what only looks like those: a client secret beside the rotated fields, a variable per scope', () => {
    const accepted = edited({
      'credentials[1].source.clientSecret': {
        mount: 'kv-staging',
        path: 'oauth2/uploader',
        key: 'clientSecret',
      },
      'credentials[0].targets[1]': {
        kind: 'gitlab-ci-variable',
        gitlab: 'gitlab-main',
        project: 'platform/web',
        key: 'DEPLOY_TOKEN',
        environmentScope: 'production',
      },
      'credentials[0].targets[2]': {
        kind: 'github-actions-secret',
        github: 'github-com',
        repository: 'acme/web',
        environment: 'production',
        name: 'UPLOAD_TOKEN',
      },
    });
    expect(parseInventory(accepted)).toMatchObject({ ok: true });
  });
});

describe('an inventory file too large to check is refused with one clear error', () => {
  const directory = mkdtempSync(join(tmpdir(), 'rotator-limits-'));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));
  const check = (file: string) => rotator(['config', 'check', file]);

  it('refuses a file over 32 MiB without reading it', async () => {
    const file = join(directory, 'huge.yaml');
    writeFileSync(file, stringify(validInventory()));
    // Sparse: the size is what is checked, and nothing of it need be written.
    truncateSync(file, MAX_INVENTORY_BYTES + 1);
    expect(await check(file)).toEqual({
      code: 1,
      stdout: '',
      stderr:
        `${file}: the file is too large: ${MAX_INVENTORY_BYTES + 1} bytes, more than the ${MAX_INVENTORY_BYTES} ` +
        'bytes (32 MiB) an inventory may have; split it across workers\n' +
        `${file} is invalid: 1 error\n`,
    });
  });

  it('refuses a small file with more YAML nodes than an inventory may have', async () => {
    const file = join(directory, 'dense.yaml');
    // Each `1,` is a value and a comma: two nodes in two bytes.
    writeFileSync(file, `credentials: [${'1,'.repeat(MAX_INVENTORY_NODES / 2)}1]\n`);
    expect(await check(file)).toEqual({
      code: 1,
      stdout: '',
      stderr:
        `${file}: the file has more than ${MAX_INVENTORY_NODES} YAML keys, values and list items, more than ` +
        'an inventory may have; split it across workers\n' +
        `${file} is invalid: 1 error\n`,
    });
  });

  it('lists the first 100 errors and counts the rest', async () => {
    const file = join(directory, 'broken.yaml');
    // Each credential lacks six required fields.
    const credentials = Array.from({ length: 1000 }, (_, index) => ({ id: `broken-${index}` }));
    writeFileSync(file, stringify({ credentials }));
    const { code, stdout, stderr } = await check(file);
    const lines = stderr.split('\n');

    expect({ code, stdout }).toEqual({ code: 1, stdout: '' });
    expect(lines).toHaveLength(MAX_LISTED_ERRORS + 3);
    expect(lines[0]).toBe(`${file}:2:5: credentials[0].description: required: expected string`);
    expect(lines.slice(-3)).toEqual([`${file}: and 5900 more errors`, `${file} is invalid: 6000 errors`, '']);
  });

  it('lists at most 100 errors of data that is not a file', () => {
    const result = parseInventory({ credentials: Array.from({ length: 50 }, () => ({})) });
    expect(result).toMatchObject({ ok: false, total: 50 * 7 });
    expect(result.ok ? [] : result.errors.slice(MAX_LISTED_ERRORS)).toEqual(['and 250 more errors']);
  });
});

describe('a credential secret in Vault with a stray character in a field the rotation reads', () => {
  const token = 'glpat-Zq3vT8pLmN4xR7sW2yKd';
  recordMintedValue(token);

  it.each(['\n', '\r\n', ' ', '\t', '\u0000', '\u007f'])(
    'refuses %j in any of them, naming the field only',
    (stray) => {
      for (const field of ROTATED_FIELDS) {
        const problems = storedSecretProblems({ tokenId: '7', [field]: `${token}${stray}` });
        expect(problems).toEqual([
          `field ${field} holds whitespace or a control character (such as the trailing newline that ` +
            '`vault kv put field=@file` keeps): write it again without',
        ]);
        expect(problems.join('')).not.toContain(token);
      }
    },
  );

  it('accepts the fields as the rotation writes them, and any other field as it is', () => {
    expect(
      storedSecretProblems({
        token,
        tokenId: '7',
        expiresAt: '2099-12-31',
        issuedAt: '2026-01-01T00:00:00.000Z',
        note: 'ask team-ci first\n',
      }),
    ).toEqual([]);
  });
});
