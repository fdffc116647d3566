import { appendFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { decryptHistoryPayloads, PayloadDecryptionError, type CodecKeys } from '../../src/codec';
import { fingerprintOf } from '../../src/fingerprint';
import { historyText } from '../helpers/history';
import { describeLeak, filesUnder, readMintedValues, scanFiles, valuesFoundIn } from './scan-files';
import { isTestRun, testServers } from './test-servers';

/*
 * Invariant 1, for the whole suite: the simulators and the authorization server record every token value
 * they mint, and after the last test every workflow history on the test server and every file the run
 * wrote to its folder (server and worker process logs, audit logs, scraped metrics) are searched for each
 * of them. The test output itself is complete only once jest has exited: .ci/run scans it afterwards
 * (scan-test-output.ts), with the values handed over in `MINTED_VALUES_HANDOVER`.
 */

const MINTED_FILE = 'minted-values';
/** Set by .ci/run: where the teardown leaves the minted values for the scan of the test output. */
const MINTED_VALUES_HANDOVER = 'ROTATOR_MINTED_VALUES_HANDOVER';

/** Called by the simulators for each token they create. The file lives in the run's log folder, readable
 * by its owner only, and is deleted by the scan. The token's fingerprint is searched for too: the store
 * keeps it beside the value, and like the value it belongs nowhere else. */
export function recordMintedValue(value: string): void {
  // Outside a test run (the sandbox starts the simulators too) there is no scan to feed.
  if (!isTestRun()) return;
  appendFileSync(join(testServers().runDir, MINTED_FILE), `${value}\n${fingerprintOf(value)}\n`, {
    mode: 0o600,
  });
}

/** A file in this run's folder, under `kind`, for something a test keeps for the secret scan. */
export function scannedFile(kind: string, name: string): string {
  const dir = join(testServers().runDir, kind);
  mkdirSync(dir, { recursive: true });
  return join(dir, name);
}

export interface SecretScanReport {
  histories: number;
  files: number;
  values: number;
  /** Each workflow (`workflowId/runId`) or file holding a minted value, with the value's position. */
  leaks: string[];
}

/**
 * Searches every workflow history in the namespace and every file under the run's folder for every
 * minted value, then deletes the values, or hands them over to the scan of the test output.
 */
export async function scanRun(address: string, runDir: string, keys: CodecKeys): Promise<SecretScanReport> {
  const file = join(runDir, MINTED_FILE);
  const values = existsSync(file) ? readMintedValues(file) : [];
  try {
    const histories = await scanHistories(address, values, keys);
    const files = scanFiles(filesUnder(runDir, [file]), values);
    return {
      histories: histories.histories,
      files: files.files,
      values: values.length,
      leaks: [...histories.leaks, ...files.leaks],
    };
  } finally {
    handOver(values);
    rmSync(file, { force: true });
  }
}

async function scanHistories(
  address: string,
  values: string[],
  keys: CodecKeys,
): Promise<{ histories: number; leaks: string[] }> {
  const connection = await Connection.connect({ address });
  try {
    const client = new Client({ connection });
    const report = { histories: 0, leaks: [] as string[] };
    for await (const execution of client.workflow.list()) {
      const handle = client.workflow.getHandle(execution.workflowId, execution.runId);
      const workflow = `workflow ${execution.workflowId}/${execution.runId}`;
      report.histories += 1;
      let text: string;
      try {
        // Encrypted payloads are searched decrypted: encryption is the second line of defence, not the first.
        text = historyText(decryptHistoryPayloads(await handle.fetchHistory(), keys));
      } catch (error) {
        if (!(error instanceof PayloadDecryptionError)) throw error;
        report.leaks.push(`${workflow}: cannot be searched (${error.message}); use the run's codecKeys`);
        continue;
      }
      const found = valuesFoundIn(text, values);
      if (found.length > 0) report.leaks.push(describeLeak(workflow, found));
    }
    return report;
  } finally {
    await connection.close();
  }
}

/**
 * Leaves the values where .ci/run asked for them, readable by their owner only; written even when nothing
 * was minted, so that a missing file tells the later scan that this teardown did not run.
 */
function handOver(values: string[]): void {
  const handover = process.env[MINTED_VALUES_HANDOVER];
  if (handover !== undefined)
    writeFileSync(handover, values.map((value) => `${value}\n`).join(''), { mode: 0o600 });
}
