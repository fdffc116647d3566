import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { HISTORY_FIXTURES, historyFromFixture, historyText } from '../helpers/history';

/** One folder per workflow code version (named after its newest patch), each recorded by that version. */
const versions = readdirSync(HISTORY_FIXTURES);
const fixtures = versions.flatMap((version) =>
  readdirSync(join(HISTORY_FIXTURES, version))
    .filter((file) => file.endsWith('.json'))
    .map((file) => ({
      workflowId: `${version}/${file.replace(/\.json$/, '')}`,
      history: historyFromFixture(readFileSync(join(HISTORY_FIXTURES, version, file), 'utf8')),
    })),
);

describe('the committed rotation histories (npm run fixtures:record refreshes them)', () => {
  it('cover, for every code version, a rotation, a rollback, an approval, a lost mint and a rollback that needed an operator, and what each later patch changed', () => {
    const FULL_SET = ['approval', 'happy-path', 'lost-mint-recovered', 'needs-operator', 'rollback'];
    /** What each version recorded: the full set, and from unchanged-failure-v1 on the paths that patch changed. */
    const expected: Record<string, string[]> = {
      'before-lean-history-v1': FULL_SET,
      'lean-history-v1': FULL_SET,
      'unchanged-failure-v1': [...FULL_SET, 'detect-refused', 'mint-5xx-recovered'].sort(),
    };
    expect(versions.sort()).toEqual(Object.keys(expected));
    for (const version of versions) {
      expect(
        fixtures
          .filter(({ workflowId }) => workflowId.startsWith(`${version}/`))
          .map(({ workflowId }) => workflowId.slice(version.length + 1))
          .sort(),
      ).toEqual(expected[version]);
    }
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
