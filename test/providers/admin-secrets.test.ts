import { AdminSecrets } from '../../src/providers/admin-secrets';
import type { SecretField } from '../../src/vault';

const gitlab: SecretField = { mount: 'kv', path: 'rotator/admins', key: 'gitlab' };
const github: SecretField = { ...gitlab, key: 'github' };

/** A Vault stand-in that counts reads and answers `value-<n>` for the n-th read of a field. */
function world() {
  const reads: string[] = [];
  let clock = 0;
  let failNext = false;
  const secrets = new AdminSecrets(
    async (at) => {
      reads.push(at.key);
      if (failNext) {
        failNext = false;
        throw new Error('Vault read kv/rotator/admins failed: HTTP 503');
      }
      return `${at.key}-${reads.filter((key) => key === at.key).length}`;
    },
    60_000,
    () => clock,
  );
  return {
    secrets,
    reads,
    advance: (ms: number) => (clock += ms),
    failNextRead: () => (failNext = true),
  };
}

describe('AdminSecrets', () => {
  it('reads each field once within the minute, and again after it', async () => {
    const { secrets, reads, advance } = world();
    expect(await secrets.get(gitlab)).toBe('gitlab-1');
    expect(await secrets.get(github)).toBe('github-1');
    advance(59_999);
    expect(await secrets.get(gitlab)).toBe('gitlab-1');
    expect(reads).toEqual(['gitlab', 'github']);
    advance(1);
    expect(await secrets.get(gitlab)).toBe('gitlab-2');
    expect(reads).toEqual(['gitlab', 'github', 'gitlab']);
  });

  it('reads again at once after a provider refused a token', async () => {
    const { secrets, reads } = world();
    await secrets.get(gitlab);
    secrets.forget();
    expect(await secrets.get(gitlab)).toBe('gitlab-2');
    expect(reads).toHaveLength(2);
  });

  it('keeps no failed read: the next step asks Vault again', async () => {
    const { secrets, failNextRead } = world();
    failNextRead();
    await expect(secrets.get(gitlab)).rejects.toThrow('HTTP 503');
    expect(await secrets.get(gitlab)).toBe('gitlab-2');
  });

  it('shares one read among steps asking at the same time', async () => {
    const { secrets, reads } = world();
    expect(await Promise.all([secrets.get(gitlab), secrets.get(gitlab)])).toEqual(['gitlab-1', 'gitlab-1']);
    expect(reads).toEqual(['gitlab']);
  });
});
