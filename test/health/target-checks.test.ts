import { GitLabCiVariables } from '../../src/gitlab/ci-variables';
import { defined, gitlabWorld } from '../gitlab/world';
import { githubWorld, secretsOf, type GitHubWorld } from '../github/world';

/** The health check's question to each target: does it hold the current Vault version? */
describe('GitHub Actions secrets, whose values cannot be read, compared by updated_at', () => {
  let world: GitHubWorld;

  beforeAll(async () => {
    world = await githubWorld();
  });

  afterAll(async () => {
    await world?.sim.close();
  });

  it.each(['repository', 'environment', 'organization'])(
    'a %s secret written after the token was created holds it; one written before is drift',
    async (level) => {
      const { spec, scope } = defined(
        secretsOf(world, `HEALTH_${level.toUpperCase()}`).find((c) => c.level === level),
      );
      const written = world.state.setSecret(scope, spec.name, 'glpat-current', { visibility: 'private' });
      const writtenMs = Date.parse(written.updatedAt);

      // GitHub has whole seconds: a token created later within that second still counts as written after.
      expect(
        await world.secrets.holds(spec, { value: 'ignored', since: new Date(writtenMs + 999).toISOString() }),
      ).toEqual({
        state: 'current',
        detail: `updated ${written.updatedAt}, after the current token was created (${new Date(writtenMs + 999).toISOString()})`,
      });
      const later = new Date(writtenMs + 1000).toISOString();
      expect(await world.secrets.holds(spec, { value: 'ignored', since: later })).toEqual({
        state: 'drifted',
        detail: `last updated ${written.updatedAt}, before the current token was created (${later}): it holds an older value`,
      });
      expect(await world.secrets.holds(spec, { value: 'ignored' })).toEqual({
        state: 'unverifiable',
        detail: `updated ${written.updatedAt}; when the current token was created is unknown`,
      });
    },
  );

  it('a secret that does not exist is drift', async () => {
    const { spec } = defined(secretsOf(world, 'NEVER_WRITTEN')[0]);
    expect(await world.secrets.holds(spec, { value: 'x', since: new Date().toISOString() })).toEqual({
      state: 'drifted',
      detail: 'the secret does not exist',
    });
  });
});

describe('GitLab CI variables, compared by value', () => {
  it('holds the value, or drifted, or unverifiable when hidden; never says which value it found', async () => {
    const world = await gitlabWorld();
    try {
      const variables = new GitLabCiVariables(world.admin);
      const spec = (key: string) => ({
        scope: 'project' as const,
        projectId: world.project.path,
        key,
        environmentScope: '*',
        masked: true,
        protected: false,
        variableType: 'env_var' as const,
      });
      world.state.addVariable(world.project, {
        key: 'HEALTH_SAME',
        value: 'glpat-current-value',
        masked: true,
      });
      world.state.addVariable(world.project, {
        key: 'HEALTH_OTHER',
        value: 'glpat-typed-by-hand',
        masked: true,
      });
      world.state.addVariable(world.project, {
        key: 'HEALTH_HIDDEN',
        value: 'glpat-current-value',
        masked: true,
      });
      defined(world.project.variables.find((variable) => variable.key === 'HEALTH_HIDDEN')).hidden = true;
      const expected = { value: 'glpat-current-value', since: new Date().toISOString() };

      expect(await variables.holds(spec('HEALTH_SAME'), expected)).toEqual({
        state: 'current',
        detail: "holds Vault's current version",
      });
      const drifted = await variables.holds(spec('HEALTH_OTHER'), expected);
      expect(drifted).toEqual({
        state: 'drifted',
        detail: "holds a value other than Vault's current version",
      });
      expect(await variables.holds(spec('HEALTH_HIDDEN'), expected)).toEqual({
        state: 'unverifiable',
        detail: 'hidden: GitLab does not return its value',
      });
      expect(await variables.holds(spec('HEALTH_MISSING'), expected)).toEqual({
        state: 'drifted',
        detail: 'the variable does not exist',
      });
    } finally {
      await world.sim.close();
    }
  });
});
