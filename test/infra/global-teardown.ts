import type { RunningServers } from './global-setup';
import { scanHistories } from './secret-scan';

/** Searches every history of the run for every minted value, then stops the servers; a leak fails the run. */
export default async function globalTeardown(): Promise<void> {
  const running = (globalThis as { __rotatorServers?: RunningServers }).__rotatorServers;
  try {
    if (running?.temporal !== undefined && running.runDir !== undefined) {
      const report = await scanHistories(running.temporal.address, running.runDir);
      process.stderr.write(
        `[secret scan] ${report.histories} workflow histories searched for ${report.values} minted values: ` +
          `${report.leaks.length} leaks\n`,
      );
      if (report.leaks.length > 0) {
        throw new Error(`minted token values found in these workflow histories: ${report.leaks.join(', ')}`);
      }
    }
  } finally {
    await Promise.all([running?.temporal?.env.teardown(), running?.vault?.stop()]);
  }
}
