import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { HISTORY_FIXTURES, historyFromFixture, historyText } from '../helpers/history';

/** One folder per released workflow code version, each recorded by that version (docs/design.md, versioning). */
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
  it('cover, for every release, every end a rotation can reach: rotated, rolled back, rolled forward, lost, cancelled, failed', () => {
    /** What each release recorded; a release that changes workflow commands adds its own folder. */
    const expected: Record<string, string[]> = {
      '0.2.0': [
        'approval',
        'approval-timeout',
        'cancelled-mid-distribute',
        'detect-refused',
        'dry-run',
        'failed-after-promote',
        'happy-path',
        'in-place',
        'lost-in-place',
        'lost-in-place-recovered',
        'lost-mint-orphan-on-rollback',
        'lost-mint-recovered',
        'mint-5xx-recovered',
        'needs-operator',
        'needs-operator-resolved',
        'old-token-still-used',
        'roll-forward',
        'rollback',
        'store-wait',
      ],
      // Target writes as local activities (patch target-writes-local-v1), five of them.
      '0.3.0': ['happy-path-five-targets'],
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
