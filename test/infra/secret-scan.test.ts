import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection, Client } from '@temporalio/client';
import { historyText } from '../helpers/history';
import { filesUnder, scanFiles, valuesFoundIn } from './scan-files';
import { scanTestOutput } from './scan-test-output';
import { testServers } from './test-servers';

describe('the run-wide secret scan (run by the global teardown)', () => {
  it('finds a value anywhere in a history, payload bytes included, and reports positions only', async () => {
    const value = `glpat-${randomUUID()}`;
    const { temporalAddress } = testServers();
    const connection = await Connection.connect({ address: temporalAddress });
    try {
      const client = new Client({ connection });
      // A workflow nobody runs still records its input: the scan must see inside payloads.
      const handle = await client.workflow.start('noSuchWorkflow', {
        taskQueue: `secret-scan-${randomUUID()}`,
        workflowId: `secret-scan-${randomUUID()}`,
        args: [{ leaked: value }],
      });
      const text = historyText(await handle.fetchHistory());
      await handle.terminate('the scan test is done with it');
      expect(valuesFoundIn(text, ['glpat-other', value])).toEqual([1]);
      expect(valuesFoundIn(text, ['glpat-other'])).toEqual([]);
    } finally {
      await connection.close();
    }
  });
});

describe('the file scan (run by the global teardown over the run folder, and by .ci/run over the test output)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'secret-scan-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const planted = `glpat-${randomUUID()}`;
  const values = ['glpat-never-written', planted];

  it('finds a planted value in a file however deep, naming the file and the value’s line, never the value', () => {
    mkdirSync(join(dir, 'audit'));
    writeFileSync(join(dir, 'temporal.log'), 'nothing to see\n');
    writeFileSync(join(dir, 'audit', 'rotation.jsonl'), `{"event":"issued","detail":"${planted}"}\n`);
    writeFileSync(join(dir, 'minted-values'), values.join('\n'));
    const files = filesUnder(dir, [join(dir, 'minted-values')]);
    const report = scanFiles(files, values);
    expect(report).toEqual({
      files: 2,
      leaks: [`${join(dir, 'audit', 'rotation.jsonl')} (minted value on line 2)`],
    });
    expect(report.leaks.join('')).not.toContain(planted);
  });

  it('scans the test output with the handed-over values, then deletes them', () => {
    const output = join(dir, 'npm-test.log');
    const handover = join(dir, 'minted-values');
    writeFileSync(output, `PASS test/a.test.ts\nexpected ${planted} to be undefined\n`);
    writeFileSync(handover, values.join('\n'), { mode: 0o600 });
    expect(statSync(handover).mode & 0o777).toBe(0o600);
    expect(scanTestOutput(handover, [output])).toEqual({
      summary: '[secret scan] test output: 1 files searched for 2 minted values: 1 leaks',
      leaks: [`${output} (minted value on line 2)`],
    });
    expect(existsSync(handover)).toBe(false);
    expect(() => scanTestOutput(handover, [output])).toThrow(/did not hand them over/);
  });
});
