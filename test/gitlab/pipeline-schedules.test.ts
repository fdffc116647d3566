import { GitLabPipelineSchedules } from '../../src/gitlab/pipeline-schedules';
import { countCalls, defined, gitlabWorld, type GitLabWorld } from './world';

let world: GitLabWorld;
let schedules: GitLabPipelineSchedules;

beforeAll(async () => {
  world = await gitlabWorld();
  schedules = new GitLabPipelineSchedules(world.admin);
});
afterAll(() => world.sim.close());
afterEach(() => world.sim.faults.clear());

function seedProject(active: boolean[]) {
  const project = world.state.addProject(`platform/web-${world.state.projects.size}`);
  const seeded = active.map((on, i) =>
    world.state.addSchedule(project, { description: `nightly ${i}`, active: on, ownerId: world.root.id }),
  );
  const states = () => project.schedules.map((s) => s.active);
  return { project, seeded, states };
}

describe('GitLab pipeline schedules', () => {
  it('pauses the active schedules and resumes exactly those, not the ones that were already off', async () => {
    const { project, seeded, states } = seedProject([true, false, true]);
    const record = await schedules.pause({ projectId: project.path });

    expect(record).toEqual({ paused: [seeded[0], seeded[2]].map((s) => defined(s).id) });
    expect(states()).toEqual([false, false, false]);
    await schedules.resume({ projectId: project.path }, record);
    expect(states()).toEqual([true, false, true]);
  });

  it('reads every page of schedules', async () => {
    const { project, states } = seedProject(Array.from({ length: 45 }, (_, i) => i % 2 === 0));
    const record = await schedules.pause({ projectId: project.id });
    expect(record.paused).toHaveLength(23);
    expect(states().every((on) => !on)).toBe(true);
    await schedules.resume({ projectId: project.id }, record);
    expect(states().filter((on) => on)).toHaveLength(23);
  });

  it('puts back what it switched off when a pause fails half way, so a retry records the same schedules', async () => {
    const { project, states } = seedProject([true, true, true]);
    const route = '/projects/:id/pipeline_schedules/:schedule_id';
    world.sim.faults.failNth({
      method: 'PUT',
      route,
      n: world.sim.callsTotal('PUT', route) + 2,
      status: 503,
    });

    await expect(schedules.pause({ projectId: project.id })).rejects.toMatchObject({
      kind: 'transient',
      retryable: true,
    });
    expect(states()).toEqual([true, true, true]);
    const record = await schedules.pause({ projectId: project.id });
    expect(record.paused).toHaveLength(3);
  });

  it('skips a schedule deleted during the rotation when resuming', async () => {
    const { project, seeded, states } = seedProject([true, true]);
    const record = await schedules.pause({ projectId: project.id });
    project.schedules.splice(0, 1);
    await schedules.resume({ projectId: project.id }, record);
    expect(states()).toEqual([true]);
    expect(seeded).toHaveLength(2);
  });

  it('counts GitLab calls: pause 1 list per 20 schedules + 1 per active one; resume 1 per paused one', async () => {
    const { project } = seedProject([true, false, true]);
    let record = { paused: [] as number[] };
    expect(
      await countCalls(world.sim, async () => {
        record = await schedules.pause({ projectId: project.id });
      }),
    ).toEqual({
      'GET /projects/:id/pipeline_schedules': 1,
      'PUT /projects/:id/pipeline_schedules/:schedule_id': 2,
    });
    expect(await countCalls(world.sim, () => schedules.resume({ projectId: project.id }, record))).toEqual({
      'PUT /projects/:id/pipeline_schedules/:schedule_id': 2,
    });
  });
});
