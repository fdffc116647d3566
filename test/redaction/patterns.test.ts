import { randomBytes, randomUUID } from 'node:crypto';
import {
  REDACTED,
  REMOTE_TEXT_MAX,
  noteSecrets,
  redactSecrets,
  remoteText,
  withSecretScope,
} from '../../src/redaction';

const base64url = (bytes: number) => randomBytes(bytes).toString('base64url');
/** A JWT as the OAuth2 server or a GitHub App would sign it: three base64url parts. */
const jwt = () =>
  [
    Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT' })).toString('base64url'),
    Buffer.from(JSON.stringify({ sub: 'ci-pipelines', exp: 2_000_000_000 })).toString('base64url'),
    base64url(64),
  ].join('.');

describe('redactSecrets: token shapes', () => {
  it.each([
    // What the GitLab simulator mints, and GitLab's newer suffixed form.
    ['a GitLab access token', `glpat-${base64url(15)}`],
    ['a suffixed GitLab access token', `glpat-${base64url(20)}.01.${base64url(6)}`],
    ['a GitLab OAuth application secret', `gloas-${base64url(48)}`],
    ['a GitLab runner token', `glrt-${base64url(15)}`],
    ['a GitLab deploy token', `gldt-${base64url(15)}`],
    // What the GitHub simulator mints, and GitHub's own alphanumeric form.
    ['a GitHub personal token', `ghp_${base64url(18)}`],
    ['a GitHub Actions token', `ghs_${randomBytes(18).toString('hex')}`],
    ['a GitHub user-to-server token', `ghu_${base64url(18)}`],
    ['a GitHub refresh token', `ghr_${base64url(18)}`],
    ['a GitHub OAuth token', `gho_${base64url(18)}`],
    ['a GitHub fine-grained token', `github_pat_11ABCDEFG0${randomBytes(30).toString('hex')}`],
    ['a JWT', jwt()],
  ])('removes %s wherever it stands in the text', (_what, token) => {
    for (const [text, expected] of [
      [token, REDACTED],
      [`refused ${token}.`, `refused ${REDACTED}.`],
      [`Authorization: Bearer ${token}`, `Authorization: Bearer ${REDACTED}`],
      [`{"value":"${token}"}`, `{"value":"${REDACTED}"}`],
      [`https://oauth2:${token}@gitlab.example/x.git`, `https://oauth2:${REDACTED}@gitlab.example/x.git`],
      [`DEPLOY_${token} and ${token}`, `DEPLOY_${REDACTED} and ${REDACTED}`],
    ]) {
      expect(redactSecrets(text as string)).toBe(expected);
    }
  });

  it.each([
    'rotated group/app variable DEPLOY_TOKEN (scope *) to v3',
    'worker 1.24.0 on node v20.19.2, Vault v1.20.4',
    `rotation rotate-${randomUUID()} started by alice`,
    'project platform/web token 42: a glpat- token expires in 7 days',
    'ghp_ and github_pat_ prefixes are GitHub tokens; eyJ starts a JWT header',
    'commit 3f1c2a9e0b7d4c6a8e2f1b3c5d7e9f0a1b2c3d4e of gitlab-org/gitlab-runner',
    'the-highlight_of_the_day and slightly-glorious-words stay',
    'kv-test/rotation/4d1e0f9c-1a2b-4c3d-8e9f-0a1b2c3d4e5f/admin#token',
  ])('leaves an ordinary message alone: %s', (text) => {
    expect(redactSecrets(text)).toBe(text);
  });
});

/** An opaque value with every character the encodings treat differently. */
const awkward = () => `${base64url(12)}+/=&? <>"'~*%${base64url(12)}`;
const htmlEscaped = (value: string) =>
  value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

describe('redactSecrets: encoded echoes of the values an activity noted', () => {
  it.each([
    ['as it is', (value: string) => value],
    ['URL-encoded', encodeURIComponent],
    [
      'URL-encoded with lowercase hex',
      (value: string) => encodeURIComponent(value).replace(/%[0-9A-F]{2}/g, (hex) => hex.toLowerCase()),
    ],
    ['form-encoded', (value: string) => new URLSearchParams({ v: value }).toString().slice(2)],
    ['base64', (value: string) => Buffer.from(value).toString('base64')],
    ['base64 without padding', (value: string) => Buffer.from(value).toString('base64').replace(/=+$/, '')],
    ['base64url', (value: string) => Buffer.from(value).toString('base64url')],
    ['HTML-escaped', htmlEscaped],
    ['HTML-escaped, apostrophe as &#39;', (value: string) => htmlEscaped(value).replace(/'/g, '&#39;')],
    ['HTML-escaped, apostrophe as &#x27;', (value: string) => htmlEscaped(value).replace(/'/g, '&#x27;')],
  ])('removes a value %s', async (_how, encode) => {
    const value = awkward();
    const echoed = `the server said: refresh_token=${encode(value)}; retry`;
    const redacted = await withSecretScope(async () => {
      noteSecrets(value);
      return redactSecrets(echoed);
    });
    expect(redacted).toBe(`the server said: refresh_token=${REDACTED}; retry`);
  });

  it('removes HTTP Basic credentials, whoever they belong to, and leaves the word alone in prose', () => {
    const basic = Buffer.from(`ci-pipelines:${awkward()}`).toString('base64');
    expect(redactSecrets(`echo: Authorization: Basic ${basic}, body ...`)).toBe(
      `echo: Authorization: Basic ${REDACTED}, body ...`,
    );
    expect(redactSecrets(`authorization: basic ${basic}`)).toBe(`authorization: basic ${REDACTED}`);
    const prose = 'Basic authentication failed: use HTTP Basic credentials';
    expect(redactSecrets(prose)).toBe(prose);
  });
});

describe('remoteText: free text from a remote answer', () => {
  it('keeps at most REMOTE_TEXT_MAX characters of a 3 MB HTML page, markup stripped', () => {
    const page = `<html><head><style>body { color: red }</style><script>var x = 1;</script></head><body><h1>502 Bad Gateway</h1><p>The upstream said &quot;no&quot;.</p>${'<div>padding</div>'.repeat(170_000)}</body></html>`;
    expect(page.length).toBeGreaterThan(3_000_000);
    const text = remoteText(page);
    expect(text.length).toBeLessThanOrEqual(REMOTE_TEXT_MAX);
    expect(text).toMatch(/^502 Bad Gateway The upstream said "no"\. padding padding .*…$/);
    expect(text).not.toMatch(/[<>]|color|var x/);
  });

  it('removes a secret before cutting, so that no part of one is left at the cut', async () => {
    const value = awkward();
    const text = await withSecretScope(async () => {
      noteSecrets(value);
      return remoteText(`${'x'.repeat(REMOTE_TEXT_MAX - 10)} ${value} and more`);
    });
    expect(text.length).toBeLessThanOrEqual(REMOTE_TEXT_MAX);
    expect(text).not.toContain(value.slice(0, 5));
  });

  it('leaves a short plain answer as it was', () => {
    expect(remoteText('Expiration date must be within 365 days')).toBe(
      'Expiration date must be within 365 days',
    );
  });
});
