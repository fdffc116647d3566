import { appendFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { historyText } from '../helpers/history';
import { isTestRun, testServers } from './test-servers';

/*
 * Invariant 1, for the whole suite: the simulators record every token value they mint, and after the last
 * test every workflow history on the test server is searched for each of them.
 */

const MINTED_FILE = 'minted-values';

/** Called by the simulators for each token they create. The file lives in the run's log folder and is
 * deleted by the scan. */
export function recordMintedValue(value: string): void {
  // Outside a test run (the sandbox starts the simulators too) there is no scan to feed.
  if (!isTestRun()) return;
  appendFileSync(join(testServers().runDir, MINTED_FILE), `${value}\n`);
}

/** The values in `text`, by their position in `values`: positions, never the values, are reported. */
export function valuesFoundIn(text: string, values: string[]): number[] {
  return values.flatMap((value, index) => (text.includes(value) ? [index] : []));
}

export interface SecretScanReport {
  histories: number;
  values: number;
  /** `workflowId/runId` of each history holding a minted value. */
  leaks: string[];
}

/** Fetches every workflow history in the namespace and searches each for every minted value. */
export async function scanHistories(address: string, runDir: string): Promise<SecretScanReport> {
  const file = join(runDir, MINTED_FILE);
  const values = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
  rmSync(file, { force: true });
  const connection = await Connection.connect({ address });
  try {
    const client = new Client({ connection });
    const report: SecretScanReport = { histories: 0, values: values.length, leaks: [] };
    for await (const execution of client.workflow.list()) {
      const handle = client.workflow.getHandle(execution.workflowId, execution.runId);
      const text = historyText(await handle.fetchHistory());
      report.histories += 1;
      if (valuesFoundIn(text, values).length > 0)
        report.leaks.push(`${execution.workflowId}/${execution.runId}`);
    }
    return report;
  } finally {
    await connection.close();
  }
}
