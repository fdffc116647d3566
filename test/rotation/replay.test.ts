import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { HISTORY_FIXTURES, historyFromFixture, historyText } from '../helpers/history';

const fixtures = readdirSync(HISTORY_FIXTURES)
  .filter((file) => file.endsWith('.json'))
  .map((file) => ({
    workflowId: file.replace(/\.json$/, ''),
    history: historyFromFixture(readFileSync(join(HISTORY_FIXTURES, file), 'utf8')),
  }));

describe('the committed rotation histories (npm run fixtures:record refreshes them)', () => {
  it('cover a rotation, a rollback, an approval, a lost mint and a rollback that needed an operator', () => {
    expect(fixtures.map(({ workflowId }) => workflowId).sort()).toEqual([
      'approval',
      'happy-path',
      'lost-mint-recovered',
      'needs-operator',
      'rollback',
    ]);
  });

  it('carry no token value: the simulator mints random ones, so no GitLab token string at all', () => {
    for (const { history } of fixtures) expect(historyText(history)).not.toMatch(/glpat-/);
  });

  it('replay with the current workflow code: a change that is not deterministic fails here', async () => {
    let replayed = 0;
    for await (const replay of Worker.runReplayHistories(
      { workflowsPath: require.resolve('../../workflows') },
      fixtures,
    )) {
      expect(replay.error).toBeUndefined();
      replayed += 1;
    }
    expect(replayed).toBe(fixtures.length);
  });
});
