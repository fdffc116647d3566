import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadInventory } from '../../src/inventory/load';
import { rotationPlan } from '../../src/inventory/plan';
import { allKinds } from '../../src/kinds';
import { dependentSchema, sourceSchema, targetSchema, type Credential } from '../../src/inventory/schema';
import { vaultSecretOf } from '../../src/stores';
import { defined } from '../gitlab/world';

const EXAMPLE = join(__dirname, '../../examples/rotator.yaml');
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

function loadExample() {
  const result = loadInventory(readFileSync(EXAMPLE, 'utf8'));
  if (!result.ok) throw new Error(`examples/rotator.yaml is invalid:\n${result.errors.join('\n')}`);
  return result.inventory;
}

describe('the example inventory', () => {
  const inventory = loadExample();

  it("plans a deploy token's targets: the token's carry no field, as older plans did; the username's say so", () => {
    const plan = rotationPlan(inventory, 'registry-pull-production', allKinds);
    expect(plan.targets.map(({ ref }) => ref.field)).toEqual([undefined, 'username']);
    expect(plan.targets[0]?.ref).not.toHaveProperty('field');
    expect(plan.source.ref.spec).toEqual({
      scope: 'project',
      projectId: 'platform/web',
      tokenName: 'registry-pull',
      scopes: ['read_repository', 'read_registry'],
      lifetimeDays: 30,
      strategy: 'create-then-revoke',
    });
  });
  const credential = (id: string): Credential | undefined =>
    inventory.credentials.find((entry) => entry.id === id);

  it('is valid, with durations in milliseconds and every default filled in', () => {
    expect(inventory.providers.github['github-com']?.apiUrl).toBe('https://api.github.com');
    // The example watches nothing: discovery's defaults.
    expect(inventory.discovery).toEqual({
      expiryWarning: 30 * DAY,
      horizon: 90 * DAY,
      horizonCliff: 10,
      watch: [],
    });
    expect(credential('deployer-production')?.policy).toEqual({
      every: 7 * DAY,
      jitter: HOUR,
      rotateBefore: 3 * DAY,
      overlap: 30 * MINUTE,
      requireApproval: true,
      approvalTimeout: 8 * HOUR,
      breakGlassReview: false,
    });
    expect(credential('deployer-production')?.targets[0]).toEqual({
      kind: 'gitlab-ci-variable',
      gitlab: 'gitlab-main',
      project: 'platform/web',
      key: 'DEPLOY_TOKEN',
      environmentScope: 'production',
      masked: true,
      protected: true,
      variableType: 'env_var',
      field: 'token',
    });
    expect(credential('mirror-staging')?.source).toMatchObject({ strategy: 'create-then-revoke' });
    expect(credential('mirror-staging')?.policy).toEqual({
      every: 3 * DAY,
      jitter: 0,
      overlap: 15 * MINUTE,
      requireApproval: false,
      approvalTimeout: DAY,
      breakGlassReview: false,
    });
    expect(credential('mirror-staging')?.dependents).toEqual([]);
  });

  it('shows a canary, with its timeout in milliseconds and its poll defaulted', () => {
    expect(credential('deployer-production')?.canary).toEqual({
      kind: 'gitlab-pipeline',
      gitlab: 'gitlab-main',
      project: 'platform/web',
      ref: 'main',
      variables: { ROTATOR_CANARY: 'true' },
      timeout: 10 * MINUTE,
      poll: 10_000,
    });
  });

  it('gives sources that rotate in place an overlap of 0 when none is written', () => {
    expect(credential('artifact-store-staging')?.source.strategy).toBe('rotate-in-place');
    expect(credential('artifact-store-staging')?.policy.overlap).toBe(0);
  });

  it('shows every kind of source, target and dependent, and separate mounts per environment', () => {
    const kinds = (schema: { options: readonly { shape: { kind: { value: string } } }[] }) =>
      schema.options.map((option) => option.shape.kind.value).sort();
    const used = (pick: (credential: Credential) => { kind: string }[]) =>
      [...new Set(inventory.credentials.flatMap(pick).map((entry) => entry.kind))].sort();

    expect(used((entry) => [entry.source])).toEqual(kinds(sourceSchema));
    expect(used((entry) => entry.targets)).toEqual(kinds(targetSchema));
    expect(used((entry) => entry.dependents)).toEqual(kinds(dependentSchema));
    const mounts = (environment: string) =>
      new Set(
        inventory.credentials
          .filter((entry) => entry.environment === environment)
          .map((entry) => defined(vaultSecretOf(entry.store)).mount),
      );
    expect(mounts('production')).toEqual(new Set(['kv-production']));
    expect(mounts('staging')).toEqual(new Set(['kv-staging']));
  });

  it('shows GitHub secrets at repository, environment and organization level', () => {
    const secrets = inventory.credentials.flatMap((entry) =>
      entry.targets.filter((target) => target.kind === 'github-actions-secret'),
    );
    expect(
      secrets.some((secret) => secret.repository !== undefined && secret.environment === undefined),
    ).toBe(true);
    expect(secrets.some((secret) => secret.environment !== undefined)).toBe(true);
    expect(secrets.some((secret) => secret.organization !== undefined)).toBe(true);
  });

  it('names its JSON Schema for editors', () => {
    const [firstLine] = readFileSync(EXAMPLE, 'utf8').split('\n');
    const match = /^# yaml-language-server: \$schema=(\S+)$/.exec(firstLine ?? '');
    expect(match).not.toBeNull();
    expect(existsSync(join(dirname(EXAMPLE), match?.[1] ?? ''))).toBe(true);
  });
});

describe('loading YAML text', () => {
  const inventory = `providers:
  gitlab:
    gitlab-main:
      url: https://gitlab.example.com
      credential: { mount: kv-rotator, path: gitlab, key: token }
credentials:
  - id: deployer
    description: Deploys the web app
    environment: production
    source:
      kind: gitlab-project-access-token
      gitlab: gitlab-main
      project: platform/deployer
      tokenName: deployer
      scopes: [api]
      accessLevel: developer
      lifetimeDays: 30
      strategy: rotate-in-place
    vault: { mount: kv-production, path: gitlab/deployer }
    targets:
      - kind: gitlab-ci-variable
        gitlab: gitlab-main
        project: platform/web
        kye: DEPLOY_TOKEN
    policy:
      overlap: 15m
`;

  it('locates each error in the text, in the order of the file', () => {
    expect(loadInventory(inventory)).toEqual({
      ok: false,
      errors: [
        // A missing field is located at the entry that lacks it.
        '7:5: credentials[0].owner: required: expected string',
        '21:9: credentials[0].targets[0].key: required: expected string',
        '24:9: credentials[0].targets[0].kye: unknown key',
        expect.stringMatching(
          /^26:7: credentials\[0\]\.policy\.overlap: must be 0 for a source that rotates in place/,
        ),
      ],
    });
  });

  it.each([
    ['an unclosed quote', 'credentials:\n  - id: "deployer\n', ['3:1: invalid YAML: Missing closing "quote']],
    [
      'a misindented key',
      'credentials:\n  - id: deployer\n   owner: team\n',
      ['3:1: invalid YAML: Sequence item without - indicator'],
    ],
    [
      'a key written twice',
      'providers: {}\ncredentials: []\nproviders: {}\n',
      ['3:1: invalid YAML: Map keys must be unique'],
    ],
    [
      'an alias whose anchor does not exist',
      inventory.replace('overlap: 15m', 'overlap: *nowhere'),
      ['26:16: invalid YAML: an alias to an anchor that is not set before it'],
    ],
    [
      'a token pasted after a block scalar indicator',
      'credentials: |glpat-PASTED\n',
      ['1:15: invalid YAML: unexpected text here'],
    ],
    [
      'a token pasted after the document',
      'credentials: []\n]glpat-PASTED\n',
      ['2:1: invalid YAML: unexpected text here', '2:2: invalid YAML: unexpected text here'],
    ],
    ['an empty file', '', ['(root): Invalid input: expected object, received null']],
    [
      'a file that is not a mapping',
      '- deployer\n',
      ['1:1: (root): Invalid input: expected object, received array'],
    ],
  ])(
    'refuses %s, with line and column where known and without quoting the text',
    (_description, text, errors) => {
      expect(loadInventory(text)).toEqual({ ok: false, errors });
    },
  );

  it('follows aliases', () => {
    const shared = inventory
      .replace('lifetimeDays: 30', 'lifetimeDays: &days 30')
      .replace('overlap: 15m', 'overlap: *days');
    expect(loadInventory(shared)).toMatchObject({
      errors: expect.arrayContaining([
        expect.stringMatching(/^26:7: credentials\[0\]\.policy\.overlap: expected a duration/),
      ]),
    });
  });
});
