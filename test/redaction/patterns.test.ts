import { randomBytes, randomUUID } from 'node:crypto';
import { REDACTED, redactSecrets } from '../../src/redaction';

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
