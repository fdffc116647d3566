import { crossFieldRule } from '../validation';
import { PROVIDER_KINDS } from './providers';

const DAY_MS = 86_400_000;

/*
 * Rules that relate fields to each other. They run even when parts of the inventory are invalid (see
 * crossFieldRule), so they read values only through `at`, which yields a field only when it has the
 * type the rule needs.
 */
function at(value: unknown, path: readonly PropertyKey[]): unknown {
  return path.reduce<unknown>(
    (node, key) =>
      typeof node === 'object' && node !== null && Object.hasOwn(node, key)
        ? (node as Record<PropertyKey, unknown>)[key]
        : undefined,
    value,
  );
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

  if (
    stringAt(credential, 'source', 'strategy') === 'rotate-in-place' &&
    overlap !== undefined &&
    overlap > 0
  ) {
    report(
      ['policy', 'overlap'],
      'must be 0 for a source that rotates in place (strategy rotate-in-place, or an OAuth2 refresh token): ' +
        'the old value stops working the moment the new one is issued, so there is nothing to overlap',
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

/** Rules across credentials, and between credentials and the providers they name. */
export const inventoryRules = crossFieldRule((inventory, report) => {
  const credentials = listAt(inventory, 'credentials');
  const firstWithId = new Map<string, number>();
  const firstWithSecret = new Map<string, number>();
  const firstOnMount = new Map<string, { index: number; environment: string }>();

  credentials.forEach((credential, index) => {
    const id = stringAt(credential, 'id');
    if (id !== undefined) {
      const first = firstWithId.get(id);
      if (first === undefined) firstWithId.set(id, index);
      else report(['credentials', index, 'id'], `must be unique: credentials[${first}] has the same id`);
    }

    const mount = stringAt(credential, 'vault', 'mount');
    const path = stringAt(credential, 'vault', 'path');
    if (mount !== undefined && path !== undefined) {
      const secret = `${mount}/${path}`;
      const first = firstWithSecret.get(secret);
      if (first === undefined) firstWithSecret.set(secret, index);
      else
        report(['credentials', index, 'vault'], `credentials[${first}] is stored at the same mount and path`);
    }

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

    const parts: PropertyKey[][] = [
      ['source'],
      ...listAt(credential, 'targets').map((_, target) => ['targets', target]),
      ...listAt(credential, 'dependents').map((_, dependent) => ['dependents', dependent]),
    ];
    for (const part of parts) {
      for (const kind of PROVIDER_KINDS) {
        const name = stringAt(credential, ...part, kind);
        const defined = keysAt(inventory, 'providers', kind);
        if (name !== undefined && !defined.includes(name)) {
          report(
            ['credentials', index, ...part, kind],
            `expected the name of a provider under providers.${kind} ` +
              (defined.length === 0 ? '(none is defined)' : `(defined: ${defined.join(', ')})`),
          );
        }
      }
    }
  });
});
