import { readWorkerEnvironment } from '../../src/config/environment';
import { ValidationError } from '../../src/validation';

const TOKEN = 'hvs.not-a-real-token';

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
  it('default to health on :8080 and a 30 s shutdown grace', () => {
    expect(readWorkerEnvironment({ VAULT_TOKEN: TOKEN })).toMatchObject({
      healthPort: 8080,
      shutdownGraceMs: 30_000,
    });
  });

  it.each([
    ['45s', 45_000],
    ['2m', 120_000],
    ['1m30s', 90_000],
    ['0s', 0],
  ])('read ROTATOR_SHUTDOWN_GRACE=%s as %i ms', (grace, ms) => {
    expect(readWorkerEnvironment({ VAULT_TOKEN: TOKEN, ROTATOR_SHUTDOWN_GRACE: grace }).shutdownGraceMs).toBe(
      ms,
    );
  });

  it('refuse a grace that is no duration and a health port out of range, naming each variable', () => {
    expect(
      problemsWith({ VAULT_TOKEN: TOKEN, ROTATOR_SHUTDOWN_GRACE: 'soon', ROTATOR_HEALTH_PORT: '0' }),
    ).toEqual([
      'ROTATOR_HEALTH_PORT: expected a port number from 1 to 65535',
      'ROTATOR_SHUTDOWN_GRACE: expected a duration such as "30s" or "2m"',
    ]);
  });
});
