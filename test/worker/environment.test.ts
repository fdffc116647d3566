import { readWorkerEnvironment } from '../../src/config/environment';
import { ValidationError } from '../../src/validation';

function problemsWith(env: NodeJS.ProcessEnv): string[] {
  try {
    readWorkerEnvironment(env);
  } catch (error) {
    if (error instanceof ValidationError) return error.issues;
    throw error;
  }
  throw new Error('expected the environment to be refused');
}

describe("the worker process's own variables", () => {
  it('default to health on :8080, a 30 s shutdown grace, and the dev servers on the ports their docs use', () => {
    expect(readWorkerEnvironment({})).toMatchObject({
      healthPort: 8080,
      shutdownGraceMs: 30_000,
      embedded: { dataDir: './.cache/data', temporalPort: 7233, uiPort: 8233 },
    });
  });

  it('read where the embedded servers keep their data and which ports they take', () => {
    expect(
      readWorkerEnvironment({
        ROTATOR_DATA_DIR: '/var/lib/rotator',
        ROTATOR_EMBEDDED_TEMPORAL_PORT: '17233',
        ROTATOR_EMBEDDED_UI_PORT: '18233',
      }).embedded,
    ).toEqual({ dataDir: '/var/lib/rotator', temporalPort: 17233, uiPort: 18233, codecServerPort: 8234 });
  });

  it.each([
    ['45s', 45_000],
    ['2m', 120_000],
    ['1m30s', 90_000],
    ['0s', 0],
  ])('read ROTATOR_SHUTDOWN_GRACE=%s as %i ms', (grace, ms) => {
    expect(readWorkerEnvironment({ ROTATOR_SHUTDOWN_GRACE: grace }).shutdownGraceMs).toBe(ms);
  });

  it('keep 100 rotations in memory unless ROTATOR_WORKFLOW_CACHE says otherwise', () => {
    expect(readWorkerEnvironment({}).workflowCache).toBe(100);
    expect(readWorkerEnvironment({ ROTATOR_WORKFLOW_CACHE: '25' }).workflowCache).toBe(25);
    for (const bad of ['0', '-5', '2.5', 'many', '100001'])
      expect(problemsWith({ ROTATOR_WORKFLOW_CACHE: bad })).toEqual([
        'ROTATOR_WORKFLOW_CACHE: expected a whole number of workflows from 1 to 100000, such as 100',
      ]);
  });

  it('refuse a grace that is no duration and a health port out of range, naming each variable', () => {
    expect(problemsWith({ ROTATOR_SHUTDOWN_GRACE: 'soon', ROTATOR_HEALTH_PORT: '0' })).toEqual([
      'ROTATOR_HEALTH_PORT: expected a port number from 1 to 65535',
      'ROTATOR_SHUTDOWN_GRACE: expected a duration such as "30s" or "2m"',
    ]);
  });
});
