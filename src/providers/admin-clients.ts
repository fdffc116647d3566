/**
 * One API client per provider URL and admin token, shared by every activity that calls with that token.
 * Building one is not free (gitbeaker makes some 200 resource objects, 0.5 ms), and each activity used to
 * build its own. A rotated admin token is a new key; the oldest of more than `kept` clients is dropped.
 */
export function sharedPerToken<Api>(build: (url: string, token: string) => Api, kept = 16) {
  const clients = new Map<string, Api>();
  return (url: string, token: string): Api => {
    const key = `${url}\n${token}`;
    const known = clients.get(key);
    if (known !== undefined) return known;
    const api = build(url, token);
    if (clients.size >= kept) {
      const [oldest] = clients.keys();
      if (oldest !== undefined) clients.delete(oldest);
    }
    clients.set(key, api);
    return api;
  };
}
