import { parseCodecKeys } from '../../src/codec';
import type { RunningServers } from './global-setup';
import { scanRun } from './secret-scan';
import { testServers } from './test-servers';

/** Searches the run's histories and files for every minted value, then stops the servers; a leak fails the run. */
export default async function globalTeardown(): Promise<void> {
  const running = (globalThis as { __rotatorServers?: RunningServers }).__rotatorServers;
  try {
    if (running?.temporal !== undefined && running.runDir !== undefined) {
      const keys = parseCodecKeys(testServers().codecKeys, 'the run codecKeys', 'list');
      const report = await scanRun(running.temporal.address, running.runDir, keys);
      process.stderr.write(
        `[secret scan] ${report.histories} histories, ${report.files} files searched for ${report.values} ` +
          `minted values: ${report.leaks.length} leaks\n`,
      );
      if (report.leaks.length > 0) {
        throw new Error(`minted token values found in:\n  ${report.leaks.join('\n  ')}`);
      }
    }
  } finally {
    await Promise.all([running?.temporal?.env.teardown(), running?.vault?.stop(), running?.moto?.stop()]);
  }
}
