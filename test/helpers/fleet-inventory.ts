import { stringify } from 'yaml';

/** Two approvers of every environment, so that credentials requiring approval are valid. */
const APPROVERS = [
  {
    name: 'alice',
    publicKey:
      'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICfvSFQsVw7HT0EsGJrhWgEmjG+MLkEN0YVLA3JTDunk alice@example.com',
  },
  {
    name: 'bob',
    publicKey:
      'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBoWdIVlArlG/aAe3FA/Ypx96p1wVEjcyFriXvfOBH9Q bob@example.com',
  },
  {
    name: 'carol',
    publicKey:
      'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIESDZ8FFD1wBkUrtVqe0bWWuUx7ykHvsWJ11Db/wLCRr carol@example.com',
    environments: ['staging'],
  },
];

const ENVIRONMENTS = ['production', 'staging', 'development'] as const;

/** The id of the `index`th credential of a fleet inventory. */
export const fleetId = (index: number) => `fleet-${index}`;

/**
 * The `index`th credential of a fleet: mostly GitLab project tokens with one to three targets (project and
 * group CI variables, some GitHub secrets), a few group tokens rotated in place, varied policies, some
 * requiring approval; each environment on its own KV mount, every target written by this credential only.
 */
export function fleetCredential(index: number): Record<string, unknown> {
  const id = fleetId(index);
  const environment = ENVIRONMENTS[index % ENVIRONMENTS.length] ?? 'production';
  const team = `team-${index % 40}`;
  const project = `${team}/service-${index}`;
  const key = `FLEET_${index}_TOKEN`;
  const inPlace = index % 10 === 9;
  const source = inPlace
    ? {
        kind: 'gitlab-group-access-token',
        gitlab: 'gitlab-main',
        group: `${team}/bots-${index}`,
        tokenName: `${id}-bot`,
        scopes: ['api'],
        accessLevel: 'maintainer',
        lifetimeDays: 90,
        strategy: 'rotate-in-place',
      }
    : {
        kind: 'gitlab-project-access-token',
        gitlab: 'gitlab-main',
        project,
        tokenName: `${id}-ci`,
        scopes: ['read_api', 'read_repository'],
        accessLevel: 'developer',
        lifetimeDays: 30,
      };
  const targets: Record<string, unknown>[] = [
    { kind: 'gitlab-ci-variable', gitlab: 'gitlab-main', project, key, environmentScope: environment },
  ];
  if (index % 3 !== 0)
    targets.push({
      kind: 'github-actions-secret',
      github: 'github-com',
      repository: `example-org/service-${index}`,
      name: key,
    });
  if (index % 4 === 1)
    targets.push({ kind: 'gitlab-ci-variable', gitlab: 'gitlab-main', group: `${team}/group-${index}`, key });
  const requireApproval = environment === 'production' && index % 5 === 0;
  return {
    id,
    description: `Deploys service ${index} of ${team} from GitLab CI`,
    environment,
    owner: team,
    source,
    vault: { mount: `kv-${environment}`, path: `fleet/${team}/${id}` },
    targets,
    ...(index % 7 === 0
      ? { dependents: [{ kind: 'gitlab-pipeline-schedules', gitlab: 'gitlab-main', project }] }
      : {}),
    policy: {
      every: inPlace ? '30d' : ['24h', '7d', '14d'][index % 3],
      jitter: '1h',
      ...(inPlace ? { overlap: 0 } : { overlap: '30m', rotateBefore: '3d' }),
      ...(requireApproval ? { requireApproval: true, approvalTimeout: '8h' } : {}),
    },
  };
}

/** A valid inventory of `count` credentials, as data. */
export function fleetInventory(count: number): Record<string, unknown> {
  return {
    providers: {
      gitlab: {
        'gitlab-main': {
          url: 'https://gitlab.example.com',
          credential: { mount: 'kv-rotator', path: 'providers/gitlab-main', key: 'token' },
        },
      },
      github: {
        'github-com': { credential: { mount: 'kv-rotator', path: 'providers/github-com', key: 'token' } },
      },
    },
    approvers: APPROVERS,
    credentials: Array.from({ length: count }, (_, index) => fleetCredential(index)),
  };
}

/** The same inventory as an operator's YAML file (block style). */
export function fleetInventoryYaml(count: number): string {
  return stringify(fleetInventory(count), { lineWidth: 0 });
}
