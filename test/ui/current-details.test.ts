import type { RotationPlan, RotationRequest } from '../../activities/rotation';
import { rotationDetails } from '../../src/rotation-names';
import { humanDuration } from '../../src/human-duration';
import { rotationCurrentDetails } from '../../workflows/details';
import type { RotationStatus } from '../../workflows/status';

/* What the Web UI shows beside a rotation in the phases the browser test does not wait in. */

const request: RotationRequest = {
  credentialId: 'deployer-production',
  reason: 'scheduled',
  requestedBy: 'alice',
};
const plan = {
  credentialId: 'deployer-production',
  kind: 'gitlab-project-access-token',
  environment: 'production',
  source: { name: 'project platform/web access token "deploy-bot"' },
} as RotationPlan;
const status = (phase: RotationStatus['phase'], more: Partial<RotationStatus> = {}): RotationStatus => ({
  credentialId: 'deployer-production',
  phase,
  timeline: [],
  versions: { current: 4 },
  targets: [{ name: 'project platform/web CI variable DEPLOY_TOKEN (environment *)', state: 'unchanged' }],
  failures: [],
  alerts: [],
  oldTokenId: '123',
  ...more,
});

describe("a rotation's current details in the Web UI", () => {
  it('name what an approval waits for, until when, and the command that ends the wait', () => {
    const details = rotationCurrentDetails(
      status('awaiting-approval', { timeline: [{ step: 'approve', startedAt: '2026-11-29T10:00:00.000Z' }] }),
      request,
      { plan, approvalUntil: '2026-11-30T10:00:00.000Z' },
    );
    expect(details.split('\n')).toEqual([
      '- **Phase:** awaiting-approval',
      '- **Step:** approve',
      '- **Waiting for:** approval until 2026-11-30T10:00:00.000Z: `rotator approve deployer-production`',
      '- **Credential:** deployer-production (gitlab-project-access-token, environment production)',
      '- **Source:** project platform/web access token "deploy-bot"',
      '- **Requested by:** alice (scheduled)',
      '- **Tokens:** old 123',
      '- **Targets:**',
      '  - project platform/web CI variable DEPLOY_TOKEN (environment *): unchanged',
      '- **Versions:** current v4',
    ]);
  });

  it('name the recovery a rotation runs, and the failure it recovers from', () => {
    const details = rotationCurrentDetails(
      status('recovering', {
        timeline: [
          { step: 'wait out the rate limit (60s)', startedAt: '2026-11-29T10:00:00.000Z', recovery: true },
        ],
        failures: [
          {
            step: 'issue',
            class: 'rate-limited',
            message:
              'gitlab issue project platform/web access token "deploy-bot" failed: HTTP 429: Too Many Requests',
            at: '2026-11-29T10:00:00.000Z',
            recovery: 'waited 60s for the rate limit, then tried once more',
            recovered: false,
          },
        ],
      }),
      request,
      { plan },
    );
    expect(details).toContain(
      '- **Waiting for:** wait out the rate limit (60s), after issue was rate-limited',
    );
  });

  it('name the stuck rollback steps and both ways out when a rollback needs an operator', () => {
    const details = rotationCurrentDetails(status('needs-operator'), request, {
      plan,
      stuck: 'restore project platform/web CI variable DEPLOY_TOKEN (environment *)',
    });
    expect(details).toContain(
      '- **Waiting for:** an operator, because rollback is stuck (restore project platform/web CI variable ' +
        'DEPLOY_TOKEN (environment *)): `rotator retry-rollback deployer-production` once the cause is fixed, ' +
        'or `rotator resolve deployer-production` after undoing it by hand',
    );
  });

  it('list an outcome one step to a line, so that the UI shows what rollback restored', () => {
    const details = rotationCurrentDetails(
      status('done', {
        outcome: 'rolled-back',
        detail: 'distribute failed; rolled back: restore A: done; revoke new token 124: done',
      }),
      request,
      { plan },
    );
    expect(details).toContain(
      '- **Outcome:** rolled-back\n  - distribute failed\n  - rolled back: restore A: done\n' +
        '  - revoke new token 124: done',
    );
  });
});

describe("a rotation's static details in the Web UI", () => {
  it('say who asked, why, how, and through which workflow', () => {
    expect(rotationDetails({ ...request, force: true }, 'rotate-all rotate-all/2026-11-29')).toBe(
      [
        '- **Credential:** deployer-production',
        '- **Requested by:** alice through rotate-all rotate-all/2026-11-29',
        '- **Reason:** scheduled',
        '- **Forced:** rotates even when not due',
      ].join('\n'),
    );
  });
});

describe('humanDuration', () => {
  it.each([
    [0, '0s'],
    [20_000, '20s'],
    [900_000, '15m'],
    [5_400_000, '1h30m'],
    [90_061_000, '1d1h1m1s'],
  ])('writes %i ms as %s', (ms, written) => {
    expect(humanDuration(ms)).toBe(written);
  });

  it('keeps only the largest units a table asks for', () => {
    expect(humanDuration(90_061_000, 2)).toBe('1d1h');
    expect(humanDuration(-5_400_000, 2)).toBe('1h30m');
  });
});
