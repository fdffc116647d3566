import { isDeepStrictEqual } from 'node:util';
import { ADMIN_SECRET_TTL_MS } from '../providers/admin-secrets';
import { ROTATED_FIELDS, TARGET_FIELDS, VALUE_FIELD } from '../stored-secret';
import { crossFieldRule, formatPath, type Report } from '../validation';
import { PROVIDER_KINDS } from './providers';

const DAY_MS = 86_400_000;

/*
 * Rules that relate fields to each other. They run even when parts of the inventory are invalid (see
 * crossFieldRule), so they read values only through `at`, which yields a field only when it has the
 * type the rule needs.
 */
function at(value: unknown, path: readonly PropertyKey[]): unknown {
  let node = value;
  for (const key of path) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

export function isSet(value: unknown, ...path: PropertyKey[]): boolean {
  return at(value, path) !== undefined;
}

export function stringAt(value: unknown, ...path: PropertyKey[]): string | undefined {
  const found = at(value, path);
  return typeof found === 'string' ? found : undefined;
}

function numberAt(value: unknown, ...path: PropertyKey[]): number | undefined {
  const found = at(value, path);
  return typeof found === 'number' ? found : undefined;
}

/** GitLab projects and groups are named by numeric id or by path. */
function idAt(value: unknown, ...path: PropertyKey[]): string | undefined {
  const found = at(value, path);
  return typeof found === 'string' || typeof found === 'number' ? String(found) : undefined;
}

function listAt(value: unknown, ...path: PropertyKey[]): unknown[] {
  const found = at(value, path);
  return Array.isArray(found) ? found : [];
}

function keysAt(value: unknown, ...path: PropertyKey[]): string[] {
  const found = at(value, path);
  return typeof found === 'object' && found !== null && !Array.isArray(found) ? Object.keys(found) : [];
}

/** For targets that live in one of two places, such as a GitLab project or a group. */
export function exactlyOneOf(first: string, second: string) {
  return crossFieldRule((value, report) => {
    const set = [first, second].filter((field) => isSet(value, field));
    if (set.length === 0) report([], `expected ${first} or ${second}`);
    if (set.length === 2) report([second], `expected ${first} or ${second}, not both`);
  });
}

/** Contradictions between a credential's source and its policy. */
export const credentialRules = crossFieldRule((credential, report) => {
  const every = numberAt(credential, 'policy', 'every');
  const jitter = numberAt(credential, 'policy', 'jitter');
  const overlap = numberAt(credential, 'policy', 'overlap');
  const rotateBefore = numberAt(credential, 'policy', 'rotateBefore');
  const lifetimeDays = numberAt(credential, 'source', 'lifetimeDays');
  const lifetime = lifetimeDays === undefined ? undefined : lifetimeDays * DAY_MS;

  // A job-aware overlap (an object) overlaps too.
  const overlaps =
    (overlap !== undefined && overlap > 0) || typeof at(credential, ['policy', 'overlap']) === 'object';
  if (stringAt(credential, 'source', 'strategy') === 'rotate-in-place' && overlaps) {
    report(
      ['policy', 'overlap'],
      'must be 0 for a source that rotates in place (strategy rotate-in-place, or an OAuth2 refresh token): ' +
        'the old value stops working the moment the new one is issued, so there is nothing to overlap',
    );
  }
  if (
    stringAt(credential, 'source', 'strategy') === 'rotate-in-place' &&
    at(credential, ['canary']) !== undefined
  ) {
    report(
      ['canary'],
      'cannot be used with a source that rotates in place: the old value is revoked when the new one is issued, ' +
        'so a failed canary would have nothing to roll back to',
    );
  }
  if (every !== undefined && jitter !== undefined && jitter >= every) {
    report(['policy', 'jitter'], 'must be shorter than policy.every');
  }
  if (every !== undefined && lifetime !== undefined && every >= lifetime) {
    report(
      ['policy', 'every'],
      'must be shorter than source.lifetimeDays, or each token expires before it is rotated',
    );
  }
  if (rotateBefore !== undefined && lifetime !== undefined && rotateBefore >= lifetime) {
    report(
      ['policy', 'rotateBefore'],
      'must be shorter than source.lifetimeDays, or each new token is due at once',
    );
  }
});

/**
 * A target's `field` must be one the credential's secret holds: the value (`token`), or a field the source
 * kind stores beside it (`fieldsOf`, undefined for a kind the source schema reports itself).
 */
export function targetFieldRule(fieldsOf: (sourceKind: string) => readonly string[] | undefined) {
  return crossFieldRule((credential, report) => {
    const kind = stringAt(credential, 'source', 'kind');
    const fields = kind === undefined ? undefined : fieldsOf(kind);
    if (kind === undefined || fields === undefined) return;
    listAt(credential, 'targets').forEach((target, index) => {
      // A field of no known name is the schema's to report, without echoing what was written there.
      const field = TARGET_FIELDS.find((known) => known === stringAt(target, 'field'));
      if (field === undefined || field === 'token' || fields.includes(field)) return;
      report(
        ['targets', index, 'field'],
        `${kind} has no ${field}: ` +
          (fields.length === 0 ? 'its targets receive the token' : `expected token or ${fields.join(', ')}`),
      );
    });
  });
}

/**
 * What a target writes, as a key two targets share exactly when they write the same thing; undefined while
 * the target is too malformed to say. GitLab and GitHub find projects, groups, repositories, organizations
 * and environments by name whatever its case, and GitHub secret names are case-insensitive
 * (https://docs.github.com/en/actions/security-for-github-actions/security-guides/about-secrets); GitLab
 * variable keys are case-sensitive. A project named by id and by path cannot be told apart here.
 */
const TARGET_WRITES: Record<string, { writes: (target: unknown) => string | undefined; same: string }> = {
  'gitlab-ci-variable': {
    writes: (target) => {
      const provider = stringAt(target, 'gitlab');
      const owner = isSet(target, 'project') ? 'project' : 'group';
      const id = idAt(target, owner)?.toLowerCase();
      const key = stringAt(target, 'key');
      const scope = stringAt(target, 'environmentScope') ?? '*';
      return provider === undefined || id === undefined || key === undefined
        ? undefined
        : JSON.stringify([provider, owner, id, key, scope]);
    },
    same: 'the same CI variable (project or group, key and environment scope)',
  },
  'github-actions-secret': {
    writes: (target) => {
      const provider = stringAt(target, 'github');
      const owner = isSet(target, 'repository')
        ? [stringAt(target, 'repository'), stringAt(target, 'environment') ?? '']
        : [stringAt(target, 'organization')];
      const name = stringAt(target, 'name');
      return provider === undefined || owner[0] === undefined || name === undefined
        ? undefined
        : JSON.stringify([provider, ...owner.map((part) => part?.toLowerCase()), name.toUpperCase()]);
    },
    same: 'the same GitHub secret (secret names ignore case)',
  },
};

/** A Vault reference of the inventory that the worker only reads: an admin token, a client secret. */
function secretReferences(inventory: unknown): { path: PropertyKey[]; at: string; key: string }[] {
  const references: { path: PropertyKey[]; at: string; key: string }[] = [];
  const add = (path: PropertyKey[]) => {
    const mount = stringAt(inventory, ...path, 'mount');
    const secret = stringAt(inventory, ...path, 'path');
    const key = stringAt(inventory, ...path, 'key');
    if (mount !== undefined && secret !== undefined && key !== undefined)
      references.push({ path, at: `${mount}/${secret}`, key });
  };
  for (const kind of PROVIDER_KINDS) {
    for (const name of keysAt(inventory, 'providers', kind)) {
      add(['providers', kind, name, 'credential']);
      add(['providers', kind, name, 'fallbackCredential']);
    }
  }
  listAt(inventory, 'credentials').forEach((_, index) =>
    add(['credentials', index, 'source', 'clientSecret']),
  );
  return references;
}

/** Where in the inventory the provider a `self` credential is the admin token of is. */
function selfProvider(credential: unknown): PropertyKey[] | undefined {
  if (at(credential, ['source', 'self']) !== true) return undefined;
  const name = stringAt(credential, 'source', 'gitlab');
  return name === undefined ? undefined : ['providers', 'gitlab', name];
}

/** Whether a provider's stored field is the value field of a credential's secret (its `store`, parsed). */
function isValueFieldOf(field: unknown, credential: unknown): boolean {
  if (stringAt(field, 'key') !== VALUE_FIELD) return false;
  const secret = isSet(field, 'store')
    ? at(field, ['store'])
    : { mount: stringAt(field, 'mount'), path: stringAt(field, 'path') };
  return isDeepStrictEqual(secret, at(credential, ['store']));
}

/**
 * A credential that is a provider's own admin token (`source.self`): the provider connects with its value,
 * and no rotation of it may leave the worker without a working token (docs/providers/gitlab.md, "The
 * rotator's own admin token").
 */
function selfTokenRules(inventory: unknown, credential: unknown, index: number, report: Report): void {
  const provider = selfProvider(credential);
  if (provider === undefined) return;
  const here = ['credentials', index, 'source'];
  const named = formatPath(provider);
  if (!isSet(inventory, ...provider)) return; // the provider reference check names it
  if (!isValueFieldOf(at(inventory, [...provider, 'credential']), credential)) {
    report(
      [...here, 'self'],
      `expected ${named}.credential to name this credential's own secret, field "${VALUE_FIELD}": ` +
        'a self token is the admin token that provider connects with',
    );
  }
  const fallback = isSet(inventory, ...provider, 'fallbackCredential');
  if (stringAt(credential, 'source', 'strategy') === 'rotate-in-place') {
    const scopes = listAt(credential, 'source', 'scopes');
    if (!scopes.includes('api') && !scopes.includes('self_rotate')) {
      report(
        [...here, 'scopes'],
        'must include self_rotate (or api) for a self token that rotates in place: GitLab lets a token rotate ' +
          'itself only with one of them',
      );
    }
    if (!fallback) {
      report(
        [...here, 'strategy'],
        `rotate-in-place revokes this admin token at issue, and the store holds the new one only from promote: ` +
          `set ${named}.fallbackCredential so that the worker has a working token in between, or use create-then-revoke`,
      );
    }
    return;
  }
  const overlap = numberAt(credential, 'policy', 'overlap');
  if (!fallback && overlap !== undefined && overlap < ADMIN_SECRET_TTL_MS) {
    report(
      ['credentials', index, 'policy', 'overlap'],
      `must be at least ${ADMIN_SECRET_TTL_MS / 1000}s for a self token when ${named} has no fallbackCredential: ` +
        'each worker process keeps an admin token it read for up to that long, and the old token must stay ' +
        'valid until every one of them has read the new one',
    );
  }
}

/** Whether `path` is the `credential` of the provider credentials[index] is the self token of. */
function isSelfTokenOf(inventory: unknown, index: number, path: PropertyKey[]): boolean {
  const provider = selfProvider(at(inventory, ['credentials', index]));
  return provider !== undefined && isDeepStrictEqual(path, [...provider, 'credential']);
}

/** Rules across credentials, and between credentials and the providers they name. */
export const inventoryRules = crossFieldRule((inventory, report) => {
  const credentials = listAt(inventory, 'credentials');
  const firstWithId = new Map<string, number>();
  const firstWithSecret = new Map<string, number>();
  const firstOnMount = new Map<string, { index: number; environment: string }>();
  const firstWriting = new Map<string, PropertyKey[]>();
  // Looked up once: the rule runs over every part of every credential (10,000 credentials in a fleet).
  const definedProviders = new Map(
    PROVIDER_KINDS.map((kind) => [kind, new Set(keysAt(inventory, 'providers', kind))]),
  );
  /** A part of credentials[index] (its source, a target, a dependent) names only providers the inventory defines. */
  const providersNamedBy = (part: unknown, index: number, ...where: PropertyKey[]) => {
    for (const kind of PROVIDER_KINDS) {
      const name = stringAt(part, kind);
      const defined = definedProviders.get(kind) ?? new Set<string>();
      if (name === undefined || defined.has(name)) continue;
      report(
        ['credentials', index, ...where, kind],
        `expected the name of a provider under providers.${kind} ` +
          (defined.size === 0 ? '(none is defined)' : `(defined: ${[...defined].join(', ')})`),
      );
    }
  };
  /** Where each credential stages its new values, a path of its own below its secret (see plan.ts). */
  const stagedBy = new Map<string, number>();
  // The credentials have passed their own schema: a Vault credential's secret is its `store` (mount, path).
  credentials.forEach((credential, index) => {
    const mount = stringAt(credential, 'store', 'mount');
    const path = stringAt(credential, 'store', 'path');
    if (mount !== undefined && path !== undefined && !stagedBy.has(`${mount}/${path}/staged`))
      stagedBy.set(`${mount}/${path}/staged`, index);
  });

  credentials.forEach((credential, index) => {
    const id = stringAt(credential, 'id');
    if (id !== undefined) {
      const first = firstWithId.get(id);
      if (first === undefined) firstWithId.set(id, index);
      else report(['credentials', index, 'id'], `must be unique: credentials[${first}] has the same id`);
    }

    const mount = stringAt(credential, 'store', 'mount');
    const path = stringAt(credential, 'store', 'path');
    if (mount !== undefined && path !== undefined) {
      const secret = `${mount}/${path}`;
      const first = firstWithSecret.get(secret);
      if (first === undefined) firstWithSecret.set(secret, index);
      else
        report(['credentials', index, 'vault'], `credentials[${first}] is stored at the same mount and path`);
      const stager = stagedBy.get(secret);
      if (stager !== undefined) {
        report(
          ['credentials', index, 'vault'],
          `is where credentials[${stager}] stages each new value (its path plus "/staged"), which would overwrite this secret`,
        );
      }
    }

    providersNamedBy(at(credential, ['source']), index, 'source');
    listAt(credential, 'targets').forEach((target, targetIndex) => {
      providersNamedBy(target, index, 'targets', targetIndex);
      const kind = TARGET_WRITES[stringAt(target, 'kind') ?? ''];
      const writes = kind?.writes(target);
      if (kind === undefined || writes === undefined) return;
      const here = ['credentials', index, 'targets', targetIndex];
      const first = firstWriting.get(writes);
      if (first === undefined) firstWriting.set(writes, here);
      else
        report(
          here,
          `writes ${kind.same} as ${formatPath(first)}: a target takes the values of one credential only`,
        );
    });
    listAt(credential, 'dependents').forEach((dependent, dependentIndex) =>
      providersNamedBy(dependent, index, 'dependents', dependentIndex),
    );

    const environment = stringAt(credential, 'environment');
    if (mount !== undefined && environment !== undefined) {
      const first = firstOnMount.get(mount);
      if (first === undefined) firstOnMount.set(mount, { index, environment });
      else if (first.environment !== environment) {
        report(
          ['credentials', index, 'vault', 'mount'],
          `credentials[${first.index}] of another environment uses this mount: each environment needs its own KV mount`,
        );
      }
    }

    selfTokenRules(inventory, credential, index, report);
  });

  for (const { path, at: secret, key } of secretReferences(inventory)) {
    const stager = stagedBy.get(secret);
    const owner = firstWithSecret.get(secret);
    if (stager !== undefined) {
      report(
        path,
        `is where credentials[${stager}] stages each new value (its path plus "/staged"), which would overwrite it`,
      );
    } else if (
      owner !== undefined &&
      ROTATED_FIELDS.includes(key) &&
      !isSelfTokenOf(inventory, owner, path)
    ) {
      report(
        path,
        `is field "${key}" of the secret of credentials[${owner}], which each of its rotations overwrites: ` +
          `keep it in a field other than ${ROTATED_FIELDS.join(', ')}, or in a secret of its own` +
          // Only a GitLab provider's credential can be a self token.
          (path[1] === 'gitlab' && path[3] === 'credential'
            ? `, or, when it is this provider's admin token, set credentials[${owner}].source.self: true`
            : ''),
      );
    }
  }
});
