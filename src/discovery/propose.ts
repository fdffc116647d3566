import { Document, isScalar, visit } from 'yaml';
import { PLACEHOLDER } from '../inventory/discovery';
import { ownerLabel, type Found, type FoundOwner } from './types';

/*
 * `rotator discover --propose`: a draft of inventory credentials for the chosen tokens and variables. What
 * discovery cannot know (where the value is kept, who owns it, which environment) is PLACEHOLDER with a
 * `# FILL:` comment; `config check` refuses each until a person fills it in.
 */

const DAY_MS = 86_400_000;
const ROLES: Record<number, string> = {
  10: 'guest',
  15: 'planner',
  20: 'reporter',
  30: 'developer',
  40: 'maintainer',
  50: 'owner',
};

/** What each placeholder asks for, by the field it stands in. */
const HINTS: Record<string, string> = {
  environment: 'FILL: the environment, such as production (a slug)',
  owner: 'FILL: the team alerted about this credential',
  mount: 'FILL: the Vault KV v2 mount that keeps this credential (one per environment)',
  path: 'FILL: the secret path under that mount',
  source: 'FILL: the token these targets hold (a source entry: docs/inventory.md)',
  key: 'FILL: the CI/CD variable the token is written to',
  project: 'FILL: the project whose CI/CD variable holds the token',
  selectedRepositories: 'FILL: the repositories that can use the secret',
};

type Entry = Record<string, unknown>;

/** A credential id from a token's name: a slug, unique among those already taken. */
function idFor(name: string, taken: Set<string>): string {
  const base =
    name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 55)
      .replace(/-+$/, '') || 'discovered';
  let id = base;
  for (let n = 2; taken.has(id); n += 1) id = `${base}-${n}`;
  taken.add(id);
  return id;
}

/** The days from a token's creation to its expiry: what each rotation gives the new token (2 to 365). */
function lifetimeDays(token: Found): number {
  if (typeof token.expiresAt !== 'string' || token.createdAt === undefined) return 365;
  const days = Math.round(
    (Date.parse(`${token.expiresAt}T00:00:00Z`) - Date.parse(token.createdAt)) / DAY_MS,
  );
  return Math.min(365, Math.max(2, days));
}

function sourceOf(token: Found): Entry {
  const { owner } = token;
  const where =
    owner.scope === 'project'
      ? { project: owner.path }
      : owner.scope === 'group'
        ? { group: owner.path }
        : owner.scope === 'service-account'
          ? { group: owner.path, serviceAccount: owner.userId }
          : owner.scope === 'user'
            ? { user: owner.id }
            : {};
  // A trigger is named by its description, has no scopes, and never expires unless it was given a lifetime.
  if (token.kind === 'gitlab-pipeline-trigger-token')
    return {
      kind: token.kind,
      gitlab: token.provider,
      ...where,
      description: token.name,
      ...(typeof token.expiresAt === 'string' ? { lifetimeDays: lifetimeDays(token) } : {}),
    };
  return {
    kind: token.kind,
    gitlab: token.provider,
    ...where,
    tokenName: token.name,
    scopes: token.scopes ?? [],
    ...(token.accessLevel === undefined ? {} : { accessLevel: ROLES[token.accessLevel] ?? PLACEHOLDER }),
    lifetimeDays: lifetimeDays(token),
  };
}

function targetOf(variable: Found): Entry {
  const { owner } = variable;
  if (variable.kind === 'github-actions-secret') {
    if (owner.scope === 'repository')
      return {
        kind: variable.kind,
        github: variable.provider,
        repository: owner.repository,
        name: variable.name,
      };
    const visibility = variable.visibility ?? 'private';
    return {
      kind: variable.kind,
      github: variable.provider,
      organization: owner.scope === 'organization' ? owner.organization : PLACEHOLDER,
      visibility,
      ...(visibility === 'selected' ? { selectedRepositories: [PLACEHOLDER] } : {}),
      name: variable.name,
    };
  }
  return {
    ...gitlabVariable(variable.provider, owner, variable.name),
    environmentScope: variable.environmentScope ?? '*',
  };
}

/**
 * A GitLab CI variable of the owner's project or group (a service account's: its group's), of a project to
 * fill in for any other owner.
 */
function gitlabVariable(provider: string, owner: FoundOwner, key: string): Entry {
  return {
    kind: 'gitlab-ci-variable',
    gitlab: provider,
    ...(owner.scope === 'group' || owner.scope === 'service-account'
      ? { group: owner.path }
      : { project: owner.scope === 'project' ? owner.path : PLACEHOLDER }),
    key,
  };
}

/** A target to fill for a token none of the chosen variables holds: a variable of its own project or group. */
const placeholderTarget = (token: Found): Entry => gitlabVariable(token.provider, token.owner, PLACEHOLDER);

function credential(id: string, description: string, source: Entry | string, targets: Entry[]): Entry {
  return {
    id,
    description,
    environment: PLACEHOLDER,
    owner: PLACEHOLDER,
    source,
    vault: { mount: PLACEHOLDER, path: PLACEHOLDER },
    targets,
  };
}

/**
 * The draft for the chosen items: one credential per token; the chosen variables and secrets are the targets
 * of the one chosen token, or, when none or several tokens are chosen, of a credential of their own whose
 * source is a placeholder.
 */
export function proposal(chosen: Found[], taken: Iterable<string>, today: string): string {
  const ids = new Set(taken);
  const tokens = chosen.filter((item) => item.role === 'token');
  const variables = chosen.filter((item) => item.role === 'variable').map(targetOf);
  const found = (item: Found) =>
    `${item.kind} ${ownerLabel(item.owner)} "${item.name}" (found by rotator discover on ${today})`;
  const credentials = tokens.map((token) =>
    credential(
      idFor(token.name, ids),
      found(token),
      sourceOf(token),
      tokens.length === 1 && variables.length > 0 ? variables : [placeholderTarget(token)],
    ),
  );
  if (variables.length > 0 && tokens.length !== 1) {
    const first = chosen.find((item) => item.role === 'variable');
    credentials.push(
      credential(
        idFor(first?.name ?? 'discovered', ids),
        first === undefined ? '' : found(first),
        PLACEHOLDER,
        variables,
      ),
    );
  }
  const document = new Document({ credentials });
  document.commentBefore =
    ` Draft credentials from rotator discover (${today}). Fill in every ${PLACEHOLDER} (each has a FILL: comment),\n` +
    " then add them to the inventory's credentials and run `rotator config check`: it refuses any left.";
  visit(document, {
    Pair(_, pair) {
      if (!isScalar(pair.key) || !isScalar(pair.value) || pair.value.value !== PLACEHOLDER) return;
      pair.value.comment = ` ${HINTS[String(pair.key.value)] ?? 'FILL: discovery cannot know this'}`;
    },
  });
  return document.toString({ lineWidth: 0 });
}
