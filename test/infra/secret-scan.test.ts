import { randomUUID } from 'node:crypto';
import { Connection, Client } from '@temporalio/client';
import { historyText } from '../helpers/history';
import { valuesFoundIn } from './secret-scan';
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
