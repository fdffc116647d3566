import type { RunningServers } from '../test/infra/global-setup';

/** Stops the servers. Unlike the test suite's teardown, no secret scan: it would read thousands of histories. */
export default async function benchTeardown(): Promise<void> {
  const running = (globalThis as { __rotatorServers?: RunningServers }).__rotatorServers;
  await Promise.all([running?.temporal?.env.teardown(), running?.vault?.stop(), running?.moto?.stop()]);
}
