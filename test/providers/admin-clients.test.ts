import { sharedPerToken } from '../../src/providers/admin-clients';

describe('sharedPerToken: one API client per provider URL and admin token', () => {
  const built: string[] = [];
  const build = (url: string, token: string) => {
    built.push(`${url} ${token}`);
    return { url, token };
  };

  beforeEach(() => built.splice(0));

  it('builds a client once for a URL and token, and another for another token or URL', () => {
    const client = sharedPerToken(build);
    const first = client('https://gitlab.example.com', 'admin-1');
    expect(client('https://gitlab.example.com', 'admin-1')).toBe(first);
    expect(client('https://gitlab.example.com', 'admin-2')).not.toBe(first);
    expect(client('https://other.example.com', 'admin-1')).not.toBe(first);
    expect(built).toEqual([
      'https://gitlab.example.com admin-1',
      'https://gitlab.example.com admin-2',
      'https://other.example.com admin-1',
    ]);
  });

  it('keeps at most `kept` clients, dropping the oldest', () => {
    const client = sharedPerToken(build, 2);
    const oldest = client('u', 'a');
    client('u', 'b');
    client('u', 'c');
    expect(client('u', 'a')).not.toBe(oldest);
    expect(built).toEqual(['u a', 'u b', 'u c', 'u a']);
  });
});
