import { loadInventory } from '../../src/inventory/load';

/** An inventory whose provider `sim` connects with the token of credential `admin`, or where `provider` says. */
function selfInventory({
  source = {},
  policy = {},
  provider = {},
}: { source?: object; policy?: object; provider?: object } = {}) {
  return loadInventory(
    JSON.stringify({
      providers: {
        gitlab: {
          sim: {
            url: 'https://gitlab.example.com',
            credential: { mount: 'kv', path: 'rotator/admin', key: 'token' },
            ...provider,
          },
        },
      },
      credentials: [
        {
          id: 'admin',
          description: 'the token the worker calls GitLab with',
          environment: 'test',
          owner: 'platform',
          source: {
            kind: 'gitlab-personal-access-token',
            gitlab: 'sim',
            user: 1,
            tokenName: 'rotator',
            scopes: ['api', 'self_rotate'],
            lifetimeDays: 30,
            self: true,
            ...source,
          },
          vault: { mount: 'kv', path: 'rotator/admin' },
          targets: [{ kind: 'gitlab-ci-variable', gitlab: 'sim', project: 'platform/app', key: 'T' }],
          policy: { overlap: '1m', ...policy },
        },
      ],
    }),
  );
}

const fallback = { fallbackCredential: { mount: 'kv', path: 'rotator/break-glass', key: 'token' } };

describe('a credential that is its provider’s own admin token (source.self)', () => {
  it('is accepted when the provider connects with its secret’s token field, and its plan says self', () => {
    const result = selfInventory();
    expect(result.ok).toBe(true);
    expect(result.ok && result.inventory.credentials[0]?.source).toMatchObject({ self: true });
  });

  it('is refused, naming the path, when the provider connects with another secret', () => {
    expect(
      selfInventory({ provider: { credential: { mount: 'kv', path: 'elsewhere', key: 'token' } } }),
    ).toEqual({
      ok: false,
      errors: [
        "1:398: credentials[0].source.self: expected providers.gitlab.sim.credential to name this credential's own " +
          'secret, field "token": a self token is the admin token that provider connects with',
      ],
    });
  });

  it('rotating in place needs self_rotate (or api) and a fallback credential', () => {
    const result = selfInventory({
      source: { strategy: 'rotate-in-place', scopes: ['read_api'] },
      policy: { overlap: '0s' },
    });
    expect(result.ok).toBe(false);
    expect(!result.ok && result.errors).toEqual([
      expect.stringMatching(/credentials\[0\]\.source\.scopes: must include self_rotate \(or api\)/),
      expect.stringMatching(
        /credentials\[0\]\.source\.strategy: rotate-in-place revokes this admin token at issue.*providers\.gitlab\.sim\.fallbackCredential/,
      ),
    ]);
    expect(
      selfInventory({
        source: { strategy: 'rotate-in-place', scopes: ['read_api', 'self_rotate'] },
        policy: { overlap: '0s' },
        provider: fallback,
      }).ok,
    ).toBe(true);
  });

  it('create-then-revoke without a fallback keeps the old token at least as long as workers cache it', () => {
    expect(selfInventory({ policy: { overlap: '30s' } })).toEqual({
      ok: false,
      errors: [
        expect.stringMatching(/credentials\[0\]\.policy\.overlap: must be at least 60s for a self token/),
      ],
    });
    expect(selfInventory({ policy: { overlap: '30s' }, provider: fallback }).ok).toBe(true);
  });

  it('a provider connecting with a rotated credential’s token field without self is still refused, pointing at self', () => {
    expect(selfInventory({ source: { self: false } })).toEqual({
      ok: false,
      errors: [
        expect.stringMatching(
          /providers\.gitlab\.sim\.credential: .*set credentials\[0\]\.source\.self: true/,
        ),
      ],
    });
  });
});
