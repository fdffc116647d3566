import type { RunningServers } from './global-setup';

export default async function globalTeardown(): Promise<void> {
  const running = (globalThis as { __rotatorServers?: RunningServers }).__rotatorServers;
  await Promise.all([running?.temporal?.env.teardown(), running?.vault?.stop()]);
}
