import { AsyncLocalStorage } from 'node:async_hooks';
import type { SecretStore } from './vault';

/** What a removed value is replaced with, in logs and failure messages alike. */
export const REDACTED = '[redacted]';

/**
 * Token formats whose shape alone gives them away. Each starts after a non-alphanumeric character (or the
 * start), so that a word merely ending in `gh` or `gl` is left alone; the lengths keep prefixes that are
 * mentioned in prose (`a glpat- token`) readable.
 */
const TOKEN_SHAPES = [
  // GitLab: personal/project/group access, OAuth application secret, runner, deploy, pipeline trigger,
  // feed, incoming mail and SCIM tokens. Newer tokens carry dot-separated suffixes (`glpat-….01.…`).
  String.raw`gl(?:pat|oas|rt|dt|ptt|ft|imt|soat)-[\w-]{20,}(?:\.[\w-]+)*`,
  // GitHub: personal, server-to-server (Actions, apps), user-to-server, refresh and OAuth tokens.
  String.raw`gh[psuro]_[\w-]{20,}`,
  // GitHub fine-grained personal access tokens.
  String.raw`github_pat_\w{22,}`,
  // JWTs: a base64url JSON header (`{"` encodes as `eyJ`), payload and (possibly empty) signature.
  String.raw`eyJ[\w-]+\.[\w-]+\.[\w-]*`,
];
const TOKEN_PATTERN = new RegExp(`(?<![A-Za-z0-9])(?:${TOKEN_SHAPES.join('|')})`, 'g');

/** Shorter Vault fields (a token id, `true`, a version) are not secret and would blank out ordinary words. */
export const MIN_SECRET_LENGTH = 8;

/** The secret values the current activity has read from or written to Vault. */
const activitySecrets = new AsyncLocalStorage<Set<string>>();

/**
 * Runs an activity body with its own record of the Vault values it touches. A body that runs inside
 * another's scope (an activity calling another activity's function) shares it, so that the outer failure
 * is cleaned of the inner reads too.
 */
export function withSecretScope<T>(body: () => Promise<T>): Promise<T> {
  return activitySecrets.getStore() === undefined ? activitySecrets.run(new Set(), body) : body();
}

/** Notes values the current activity holds that did not come through the store (a cached admin token). */
export function noteSecrets(...values: string[]): void {
  const secrets = activitySecrets.getStore();
  if (secrets === undefined) return;
  for (const value of values) {
    if (value.length < MIN_SECRET_LENGTH) continue;
    secrets.add(value);
    // The same value quoted inside JSON (a PEM's newlines, a quote) reads differently.
    const quoted = JSON.stringify(value).slice(1, -1);
    if (quoted !== value) secrets.add(quoted);
  }
}

/**
 * A Vault store that notes every value it returns or stores in the current activity's scope, so that
 * a failure or log line of that activity that quotes one (an adapter echoing a request) has it removed.
 * Written values count too: a freshly minted credential is staged before anything reads it back.
 */
export function noteSecretsOf(store: SecretStore): SecretStore {
  return {
    async read(at, version) {
      const secret = await store.read(at, version);
      noteSecrets(...Object.values(secret.data));
      return secret;
    },
    async write(at, data, options) {
      noteSecrets(...Object.values(data));
      return store.write(at, data, options);
    },
    writtenAt: (at) => store.writtenAt(at),
    assertKvV2: (mount) => store.assertKvV2(mount),
  };
}

/** `text` with every token-shaped value, and every Vault value of the current activity, replaced. */
export function redactSecrets(text: string): string {
  let redacted = text;
  // Longest first, so that a value containing another is removed whole.
  const known = [...(activitySecrets.getStore() ?? [])].sort((a, b) => b.length - a.length);
  for (const value of known) redacted = redacted.replaceAll(value, REDACTED);
  return redacted.replace(TOKEN_PATTERN, REDACTED);
}
