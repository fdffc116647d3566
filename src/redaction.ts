import { AsyncLocalStorage } from 'node:async_hooks';
import type { VaultKv } from './vault';

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
    for (const form of echoedForms(value)) secrets.add(form);
  }
}

/**
 * The ways a server or a proxy echoing a request or a page shows a value: as it is, quoted inside JSON (a
 * PEM's newlines, a quote), URL- and form-encoded (either hex case), base64 and base64url (the padding left
 * out: an echo may have it or not), and HTML-escaped.
 */
function echoedForms(value: string): Set<string> {
  const encoded = encodeURIComponent(value);
  const form = new URLSearchParams({ v: value }).toString().slice(2);
  const escaped = value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
  const bytes = Buffer.from(value, 'utf8');
  return new Set([
    value,
    JSON.stringify(value).slice(1, -1),
    encoded,
    encoded.replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase()),
    form,
    form.replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase()),
    bytes.toString('base64').replace(/=+$/, ''),
    bytes.toString('base64url'),
    ...["'", '&#39;', '&#x27;', '&apos;'].map((apostrophe) => escaped.replace(/'/g, apostrophe)),
  ]);
}

/**
 * A Vault store that notes every value it returns or stores in the current activity's scope, so that
 * a failure or log line of that activity that quotes one (an adapter echoing a request) has it removed.
 * Written values count too: a freshly minted credential is staged before anything reads it back.
 */
export function noteSecretsOf(store: VaultKv): VaultKv {
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

/**
 * HTTP Basic credentials (RFC 7617), whoever they belong to: base64 of `id:secret`, which holds no noted
 * value as such. The decoded text must contain the colon, so that prose (`Basic authentication`) stays.
 */
const BASIC_PATTERN = /\b(basic\s+)([A-Za-z0-9+/]{4,}={0,2})(?![A-Za-z0-9+/=])/gi;

function redactBasic(text: string): string {
  return text.replace(BASIC_PATTERN, (whole, scheme: string, encoded: string) =>
    Buffer.from(encoded, 'base64').toString('latin1').includes(':') ? `${scheme}${REDACTED}` : whole,
  );
}

/** `text` with every token-shaped value, Basic credentials, and every Vault value of the current activity (in any of the forms an echo shows it) replaced. */
export function redactSecrets(text: string): string {
  let redacted = text;
  // Longest first, so that a value containing another is removed whole.
  const known = [...(activitySecrets.getStore() ?? [])].sort((a, b) => b.length - a.length);
  for (const value of known) redacted = redacted.replaceAll(value, REDACTED);
  return redactBasic(redacted).replace(TOKEN_PATTERN, REDACTED);
}

/** The most of a remote answer's free text (an error description, an HTML error page) a message keeps. */
export const REMOTE_TEXT_MAX = 300;
/** How far past the cut a secret is looked for, so that one across the cut is removed whole, not halved. */
const REMOTE_TEXT_LOOKAHEAD = 8_192;
/** A tag, comment or doctype (`a < b` is not one); `[^<>]` keeps the scan linear whatever a server sends. */
const TAG = /<(?:(\/?)([A-Za-z][\w-]*)|[!?])[^<>]*>/g;
const ENTITY = /&(#x[0-9a-f]{1,6}|#\d{1,7}|[a-z]{2,6});/gi;
const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/** The text of `html` up to `enough` characters, without tags or what scripts and styles hold. */
function stripMarkup(html: string, enough: number): string {
  let text = '';
  let from = 0;
  let hidden: string | undefined;
  for (const tag of html.matchAll(TAG)) {
    if (hidden === undefined) text += `${html.slice(from, tag.index)} `;
    if (text.length > enough) return text;
    const name = tag[2]?.toLowerCase();
    if (tag[1] === '' && (name === 'script' || name === 'style')) hidden = name;
    else if (tag[1] === '/' && name === hidden) hidden = undefined;
    from = tag.index + tag[0].length;
  }
  return hidden === undefined ? text + html.slice(from) : text;
}

function decodeEntity(entity: string, name: string): string {
  if (!name.startsWith('#')) return ENTITIES[name.toLowerCase()] ?? entity;
  const code = /^#x/i.test(name) ? parseInt(name.slice(2), 16) : Number(name.slice(1));
  return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : entity;
}

/**
 * Free text taken from a remote answer, fit for a failure message: markup stripped (a proxy's HTML error
 * page), one line, secrets removed, and at most REMOTE_TEXT_MAX characters, since a failure message
 * travels through Temporal's history (2 MB a payload), the Web UI, logs, alerts and the audit log.
 * Secrets are removed before the cut, so that none is left halved and unrecognisable at the end.
 */
export function remoteText(text: string): string {
  const enough = REMOTE_TEXT_MAX + REMOTE_TEXT_LOOKAHEAD;
  const plain = stripMarkup(text, enough * 2)
    .replace(ENTITY, decodeEntity)
    .replace(/\s+/g, ' ')
    .trim();
  const redacted = redactSecrets(plain.slice(0, enough));
  return redacted.length <= REMOTE_TEXT_MAX ? redacted : `${redacted.slice(0, REMOTE_TEXT_MAX - 1)}…`;
}
