import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { Found } from '../../src/discovery';
import { PLACEHOLDER } from '../../src/inventory/discovery';
import { loadInventory } from '../../src/inventory/load';
import type { SimNamespace, SimProject, SimToken, SimUser } from '../sim/gitlab/state';
import { VaultKvStore } from '../../src/vault';
import { TEST_KV_MOUNT, testServers } from '../infra/test-servers';
import { discoveryWorld, inDays, pages, type DiscoveryWorld } from './world';

let world: DiscoveryWorld;
let groups: SimNamespace[];
let projects: SimProject[];
let managedToken: SimToken;
let robot: SimUser;
let robotToken: SimToken;
let managedRobotToken: SimToken;

const MAINTAINER = 40;

beforeAll(async () => {
  world = await discoveryWorld();
  const { state } = world.gitlab;
  groups = ['platform', 'platform/infra', 'platform/apps', 'platform/apps/web'].map((path) =>
    state.addGroup(path),
  );
  const elsewhere = state.addGroup('elsewhere');
  state.addVariable(elsewhere, { key: 'ELSEWHERE_TOKEN', value: 'glpat-not-in-the-group' });
  state.addVariable(state.addProject('elsewhere/hidden'), { key: 'OTHER_TOKEN', value: 'x' });
  projects = Array.from({ length: 12 }, (_, i) => state.addProject(`${groups[i % 4]?.path}/svc-${i}`));
  const token = (owner: SimNamespace, kind: 'project' | 'group', name: string, expiresAt: string) =>
    state.addResourceToken(owner, kind, { name, scopes: ['api'], expiresAt, accessLevel: MAINTAINER });
  // A few hundred tokens: 20 a project, 130 in the top group (two pages), 3 in each subgroup.
  projects.forEach((project, p) => {
    for (let t = 0; t < 20; t += 1) token(project, 'project', `ci-${p}-${t}`, inDays(10 + t * 7));
    token(project, 'project', `revoked-${p}`, inDays(30)).revoked = true;
    token(project, 'project', `expired-${p}`, inDays(-1));
    state.addVariable(project, { key: 'DEPLOY_TOKEN', value: 'anything' });
    state.addVariable(project, { key: 'REGISTRY_AUTH', value: 'glpat-looks-like-one' });
    state.addVariable(project, { key: 'SEALED', value: 'ghp_hidden-value', masked: true, hidden: true });
    state.addVariable(project, { key: 'LOG_LEVEL', value: 'debug' });
  });
  for (let t = 0; t < 130; t += 1) token(groups[0] as SimNamespace, 'group', `group-${t}`, inDays(5 + t));
  for (const group of groups.slice(1))
    for (let t = 0; t < 3; t += 1) token(group, 'group', `sub-${t}`, inDays(60));
  for (let v = 0; v < 150; v += 1)
    state.addVariable(groups[1] as SimNamespace, { key: `SETTING_${v}`, value: 'v' });
  state.addVariable(groups[1] as SimNamespace, { key: 'GROUP_PASSWORD', value: 'p' });
  const developer = state.addUser({ username: 'dev' });
  for (let t = 0; t < 3; t += 1)
    state.addToken({
      userId: developer.id,
      name: `laptop-${t}`,
      scopes: ['read_api'],
      expiresAt: inDays(20),
    });
  // Deploy tokens (one revoked) and trigger tokens (one expired) beside the access tokens.
  for (const [i, namespace] of [...groups, ...projects].entries()) {
    const resource = `${'schedules' in namespace ? 'project' : 'group'}:${namespace.id}`;
    state.addDeployToken({ resource, name: `pull-${i}`, scopes: ['read_registry'], expiresAt: null });
  }
  state.addDeployToken({
    resource: `project:${projects[0]?.id}`,
    name: 'gone',
    scopes: ['read_registry'],
    expiresAt: null,
  }).revoked = true;
  projects.forEach((project, p) =>
    state.addTrigger(project, { description: `deploy-${p}`, ownerId: world.admin.id }),
  );
  state.addTrigger(projects[1] as SimProject, {
    description: 'expired',
    ownerId: world.admin.id,
    expiresAt: new Date(Date.now() - 86_400_000).toISOString(),
  });
  // A service account of the top-level group: one token unmanaged, one managed, one revoked.
  robot = state.addServiceAccount(groups[0] as SimNamespace);
  const robotsToken = (name: string, expiresAt: string) =>
    state.addToken({ userId: robot.id, name, scopes: ['api', 'read_repository'], expiresAt });
  robotToken = robotsToken('release-bot', inDays(40));
  managedRobotToken = robotsToken('deploy-bot', inDays(50));
  robotsToken('retired-bot', inDays(50)).revoked = true;
  managedToken = state.tokensNamed('ci-0-0')[0] as SimToken;
  world.writeInventory([
    world.credential(
      'svc-0-ci',
      {
        kind: 'gitlab-project-access-token',
        gitlab: 'gitlab-sim',
        project: projects[0]?.id,
        tokenName: 'ci-0-0',
        scopes: ['api'],
        accessLevel: 'maintainer',
        lifetimeDays: 30,
      },
      [{ kind: 'gitlab-ci-variable', gitlab: 'gitlab-sim', project: projects[0]?.path, key: 'DEPLOY_TOKEN' }],
    ),
    world.credential(
      'robot-deploy',
      {
        kind: 'gitlab-service-account-token',
        gitlab: 'gitlab-sim',
        group: 'platform',
        serviceAccount: robot.id,
        tokenName: 'deploy-bot',
        scopes: ['api', 'read_repository'],
        lifetimeDays: 30,
      },
      [anyTarget('ROBOT_TOKEN')],
    ),
  ]);
});

afterAll(async () => {
  await world?.close();
});

interface Discovered {
  unmanaged: Found[];
  managed: Found[];
  notListed: string[];
}

/** `rotator discover` of the group `platform`, with these flags. */
const discoverPlatform = (...flags: string[]) =>
  world.cli(['discover', '--gitlab', 'gitlab-sim', '--group', 'platform', ...flags]);

async function discoverJson(...extra: string[]): Promise<Discovered> {
  const { code, stdout, stderr } = await discoverPlatform('--json', ...extra);
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  return JSON.parse(stdout) as Discovered;
}

describe('rotator discover --gitlab', () => {
  it('lists every active token and variable under the group, its subgroups and projects, but not what the inventory manages', async () => {
    const { state } = world.gitlab;
    world.gitlab.calls.length = 0;
    const { unmanaged, managed, notListed } = await discoverJson();

    const active = [...state.tokens.values()].filter((t) => state.isActive(t));
    // Users' tokens: deploy and trigger tokens are numbered apart (`deploy-<id>`, `trigger-<id>`).
    const tokenIds = (found: Found[]) =>
      found.filter((f) => f.role === 'token' && /^\d+$/.test(f.tokenId ?? '')).map((f) => Number(f.tokenId));
    expect(tokenIds(managed)).toEqual([managedToken.id, managedRobotToken.id]);
    expect(managed.map((f) => f.managedBy)).toEqual(['svc-0-ci', 'robot-deploy', 'svc-0-ci']);
    expect(new Set(tokenIds(unmanaged))).toEqual(
      new Set(active.filter((t) => t !== managedToken && t !== managedRobotToken).map((t) => t.id)),
    );
    expect(tokenIds(unmanaged)).toHaveLength(active.length - 2);
    // The service account's tokens are listed as its group's, not among the personal tokens.
    expect(unmanaged.filter((f) => f.kind === 'gitlab-service-account-token')).toEqual([
      expect.objectContaining({
        owner: { scope: 'service-account', id: groups[0]?.id, path: 'platform', userId: robot.id },
        name: 'release-bot',
        tokenId: String(robotToken.id),
        expiresAt: inDays(40),
      }),
    ]);
    // 240 project tokens, 139 group tokens, and the personal tokens the administrator sees.
    expect(unmanaged.filter((f) => f.kind === 'gitlab-project-access-token')).toHaveLength(239);
    expect(unmanaged.filter((f) => f.kind === 'gitlab-group-access-token')).toHaveLength(139);
    expect(
      unmanaged
        .filter((f) => f.kind === 'gitlab-personal-access-token')
        .map((f) => f.name)
        .sort(),
    ).toEqual(['laptop-0', 'laptop-1', 'laptop-2', 'rotator-admin']);
    const names = (kind: string) =>
      unmanaged
        .filter((f) => f.kind === kind)
        .map((f) => f.name)
        .sort();
    expect([...names('gitlab-group-deploy-token'), ...names('gitlab-project-deploy-token')].sort()).toEqual(
      Array.from({ length: 16 }, (_, i) => `pull-${i}`).sort(),
    );
    expect(names('gitlab-pipeline-trigger-token')).toEqual(
      Array.from({ length: 12 }, (_, p) => `deploy-${p}`).sort(),
    );

    const variables = unmanaged.filter((f) => f.role === 'variable');
    expect(variables).toHaveLength(12 * 4 - 1 + 151);
    expect(variables.some((f) => f.name.startsWith('ELSEWHERE') || f.name === 'OTHER_TOKEN')).toBe(false);
    const flag = (owner: string, key: string) =>
      variables.find((f) => 'path' in f.owner && f.owner.path === owner && f.name === key);
    expect(flag('platform/svc-4', 'REGISTRY_AUTH')?.looksLikeToken).toMatch(/^value starts with glpat-/);
    expect(flag('platform/svc-4', 'DEPLOY_TOKEN')?.looksLikeToken).toBe('key contains TOKEN');
    expect(flag('platform/svc-4', 'SEALED')).toMatchObject({ note: 'value hidden: judged by its key' });
    expect(flag('platform/svc-4', 'SEALED')?.looksLikeToken).toBeUndefined();
    expect(flag('platform/svc-4', 'LOG_LEVEL')?.looksLikeToken).toBeUndefined();
    expect(flag('platform/infra', 'GROUP_PASSWORD')?.looksLikeToken).toBe('key contains PASSWORD');
    expect(notListed).toEqual([]);

    // One call per page of each listing, and no more.
    const tree = [...groups, ...projects];
    const activeOf = (n: SimNamespace) =>
      active.filter((t) => t.resource === `${'schedules' in n ? 'project' : 'group'}:${n.id}`).length;
    const expected =
      1 + // the group
      pages(groups.length - 1) +
      pages(projects.length) +
      tree.reduce((sum, n) => sum + pages(activeOf(n)) + pages(n.variables.length), 0) +
      tree.length + // deploy tokens, one page each
      projects.length + // trigger tokens, one page each
      1 + // the top-level group's service accounts
      pages(active.filter((t) => t.userId === robot.id).length) + // the one account's tokens
      1 + // GET /user
      pages(active.length);
    expect(world.gitlab.calls).toHaveLength(expected);
    expect(world.gitlab.callCounts()['GET /groups/:id/access_tokens']).toBe(2 + 3);
    expect(world.gitlab.callCounts()['GET /groups/:id/variables']).toBe(2 + 3);
  });

  it('never prints a value, in the table or in JSON', async () => {
    const table = await discoverPlatform();
    const json = await discoverPlatform('--json');
    for (const output of [table.stdout, json.stdout]) {
      expect(output).not.toContain('glpat-looks-like-one');
      expect(output).not.toContain('ghp_hidden-value');
      expect(output).not.toContain(world.adminToken.value);
    }
    expect(table.stdout).toMatch(/^#\s+KIND\s+RESOURCE\s+NAME\s+SCOPES\s+EXPIRES\s+LAST USED\s+NOTE$/m);
    expect(table.stdout).toContain('not managed by the inventory; 3 managed (not shown)');
  });

  it('says personal access tokens are not listed when the admin token is no administrator', async () => {
    const { state } = world.gitlab;
    const maintainer = state.addUser({ username: 'maintainer' });
    // The simulator's token routes count direct membership only: each project names the maintainer too.
    for (const namespace of [...groups, ...projects]) namespace.members.set(maintainer.id, MAINTAINER);
    const token = state.addToken({
      userId: maintainer.id,
      name: 'not-admin',
      scopes: ['api'],
      expiresAt: null,
    });
    // The same inventory, its admin field pointing at the maintainer's token.
    const at = { mount: TEST_KV_MOUNT, path: `discovery-maintainer-${token.id}` };
    await new VaultKvStore(testServers().vault).write(at, { gitlab: token.value });
    const admin = world.providers.gitlab['gitlab-sim'].credential;
    world.providers.gitlab['gitlab-sim'].credential = { ...at, key: 'gitlab' };
    world.writeInventory([world.credential('any', anySource(), [anyTarget('ANY')])]);
    const { notListed, unmanaged } = await discoverJson();
    // The tests after this one discover as the administrator again.
    world.providers.gitlab['gitlab-sim'].credential = admin;
    // A group's deploy tokens need its Owner.
    const deploy = notListed.filter((line) => / deploy tokens: not listed: /.test(line));
    expect(deploy.map((line) => line.split(':')[0]).sort()).toEqual(
      groups.map((group) => `group ${group.path} deploy tokens`).sort(),
    );
    // So do the group's service accounts.
    expect(notListed.filter((line) => !deploy.includes(line))).toEqual([
      expect.stringMatching(/^group platform service accounts: not listed: .*403/),
      'personal access tokens: not listed: needs an administrator (GET /personal_access_tokens)',
    ]);
    expect(unmanaged.filter((f) => f.kind === 'gitlab-service-account-token')).toEqual([]);
    expect(unmanaged.filter((f) => f.kind === 'gitlab-personal-access-token')).toEqual([]);
    expect(unmanaged.filter((f) => f.kind === 'gitlab-group-access-token')).toHaveLength(139);
  });
});

function anySource() {
  return {
    kind: 'gitlab-project-access-token',
    gitlab: 'gitlab-sim',
    project: 'platform/svc-0',
    tokenName: 'not-there',
    scopes: ['api'],
    accessLevel: 'maintainer',
    lifetimeDays: 30,
  };
}

function anyTarget(key: string) {
  return { kind: 'gitlab-ci-variable', gitlab: 'gitlab-sim', project: 'platform/svc-0', key };
}

describe('rotator discover --propose', () => {
  /** Fills every placeholder as a person would: a source, unique keys and paths, an owner, an environment. */
  function filled(draft: { credentials: Record<string, unknown>[] }) {
    let n = 0;
    const fill = (value: unknown, key: string): unknown => {
      if (value === PLACEHOLDER) {
        n += 1;
        const by: Record<string, unknown> = {
          environment: 'test',
          owner: 'team',
          mount: TEST_KV_MOUNT,
          path: `filled/${n}`,
          key: `FILLED_${n}`,
          project: 'platform/svc-1',
          source: { ...anySource(), tokenName: `filled-${n}` },
        };
        return by[key];
      }
      if (Array.isArray(value)) return value.map((item) => fill(item, key));
      if (typeof value === 'object' && value !== null)
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v, k)]));
      return value;
    };
    return { providers: world.providers, credentials: fill(draft.credentials, 'credentials') };
  }

  it('writes a draft that config check refuses until its placeholders are filled, and that then loads', async () => {
    world.writeInventory([world.credential('svc-0-ci', anySource(), [anyTarget('DEPLOY')])]);
    const rows = (await discoverJson()).unmanaged;
    const token = rows.findIndex((f) => f.name === 'group-7') + 1;
    const variable = rows.findIndex((f) => f.name === 'REGISTRY_AUTH') + 1;
    const file = join(world.dir, 'draft.yaml');
    const { code, stdout } = await discoverPlatform('--propose', file, '--select', `${token},${variable}`);
    expect(code).toBe(0);
    expect(stdout).toContain(`draft written to ${file}`);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain(`mount: ${PLACEHOLDER} # FILL: the Vault KV v2 mount`);
    const draft = parse(text) as { credentials: Record<string, unknown>[] };
    expect(draft.credentials).toHaveLength(1);
    expect(draft.credentials[0]).toMatchObject({
      id: 'group-7',
      source: {
        kind: 'gitlab-group-access-token',
        group: 'platform',
        tokenName: 'group-7',
        accessLevel: 'maintainer',
      },
      targets: [{ kind: 'gitlab-ci-variable', key: 'REGISTRY_AUTH', environmentScope: '*' }],
    });

    const unfilled = loadInventory(
      JSON.stringify({ providers: world.providers, credentials: draft.credentials }),
    );
    expect(unfilled.ok).toBe(false);
    const errors = unfilled.ok ? [] : unfilled.errors;
    for (const field of ['environment', 'owner', 'vault.mount', 'vault.path'])
      expect(errors).toContainEqual(
        expect.stringContaining(
          `credentials[0].${field}: is a placeholder \`rotator discover --propose\` left`,
        ),
      );
    const loaded = loadInventory(JSON.stringify(filled(draft)));
    expect(loaded.ok ? [] : loaded.errors).toEqual([]);
  });

  it('drafts a service account token as a gitlab-service-account-token of its group, and the filled draft loads', async () => {
    const rows = (await discoverJson()).unmanaged;
    const token = rows.findIndex((f) => f.name === 'release-bot') + 1;
    const file = join(world.dir, 'robot.yaml');
    const { code } = await discoverPlatform('--propose', file, '--select', String(token));
    expect(code).toBe(0);
    const draft = parse(readFileSync(file, 'utf8')) as { credentials: Record<string, unknown>[] };
    expect(draft.credentials).toEqual([
      expect.objectContaining({
        id: 'release-bot',
        source: {
          kind: 'gitlab-service-account-token',
          gitlab: 'gitlab-sim',
          group: 'platform',
          serviceAccount: robot.id,
          tokenName: 'release-bot',
          scopes: ['api', 'read_repository'],
          lifetimeDays: expect.any(Number) as number,
        },
        targets: [{ kind: 'gitlab-ci-variable', gitlab: 'gitlab-sim', group: 'platform', key: PLACEHOLDER }],
      }),
    ]);
    const loaded = loadInventory(JSON.stringify(filled(draft)));
    expect(loaded.ok ? [] : loaded.errors).toEqual([]);
  });

  it('drafts every row with --select all, and the filled draft loads', async () => {
    const file = join(world.dir, 'all.yaml');
    const { code } = await discoverPlatform('--propose', file, '--select', 'all');
    expect(code).toBe(0);
    const draft = parse(readFileSync(file, 'utf8')) as { credentials: Record<string, unknown>[] };
    const loaded = loadInventory(JSON.stringify(filled(draft)));
    expect(loaded.ok ? [] : loaded.errors).toEqual([]);
  });

  it('refuses wrong arguments, naming the flag', async () => {
    const cases: [string[], RegExp][] = [
      [['--gitlab', 'gitlab-sim'], /--group: required with --gitlab/],
      [['--gitlab', 'nope', '--group', 'platform'], /--gitlab: no provider "nope" under providers.gitlab/],
      [
        ['--gitlab', 'gitlab-sim', '--group', 'platform', '--select', '1'],
        /--propose: required with --select/,
      ],
      [
        ['--gitlab', 'gitlab-sim', '--group', 'platform', '--propose', 'x.yaml'],
        /--select: required with --propose/,
      ],
      [
        ['--gitlab', 'gitlab-sim', '--group', 'platform', '--propose', 'x.yaml', '--select', '1,x'],
        /--select: expected "all" or row numbers/,
      ],
      [
        [
          '--gitlab',
          'gitlab-sim',
          '--group',
          'platform',
          '--propose',
          join(world.dir, 'x.yaml'),
          '--select',
          '99999',
        ],
        /--select: 99999 is not a row of the table/,
      ],
      [['--github', 'github-sim'], /--org: expected --org or --repo with --github/],
    ];
    for (const [argv, message] of cases) {
      const { code, stderr } = await world.cli(['discover', ...argv]);
      expect({ argv, code }).toEqual({ argv, code: 2 });
      expect(stderr).toMatch(message);
    }
  });
});
