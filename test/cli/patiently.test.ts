import { ScheduleNotFoundError } from '@temporalio/client';
import { CliContext, PATIENT_ATTEMPTS, patiently } from '../../src/cli/context';
import { testServers } from '../infra/test-servers';

// Real answers of the real server: a call whose deadline has passed gets gRPC DEADLINE_EXCEEDED, as a call
// to a server too busy to answer in time does.
let cli: CliContext;

beforeAll(() => {
  cli = new CliContext(
    { stdout: () => undefined, stderr: () => undefined },
    { TEMPORAL_ADDRESS: testServers().temporalAddress, TEMPORAL_NAMESPACE: 'default' },
  );
});

afterAll(async () => {
  await cli.close();
});

/** A cheap read of the server, with its deadline already passed while `late()` holds. */
const systemInfo = async (late: () => boolean) => {
  const client = await cli.client();
  const call = () => client.workflowService.getSystemInfo({});
  return late() ? client.connection.withDeadline(Date.now() - 1_000, call) : call();
};

describe('patiently: Temporal calls tried again while the server is busy', () => {
  it('tries a call again after a deadline exceeded, and answers what the next try answers', async () => {
    let attempts = 0;
    const info = await patiently(() => {
      attempts += 1;
      return systemInfo(() => attempts === 1);
    });
    expect(attempts).toBe(2);
    expect(info.serverVersion).toEqual(expect.any(String));
  });

  it(`gives up after ${PATIENT_ATTEMPTS} tries, with the server's last answer`, async () => {
    let attempts = 0;
    await expect(
      patiently(() => {
        attempts += 1;
        return systemInfo(() => true);
      }),
    ).rejects.toMatchObject({ code: 4 });
    expect(attempts).toBe(PATIENT_ATTEMPTS);
  }, 30_000);

  it('does not try again an answer that is not about a busy server', async () => {
    const client = await cli.client();
    let attempts = 0;
    await expect(
      patiently(() => {
        attempts += 1;
        return client.schedule.getHandle('rotate-schedule/none-such').describe();
      }),
    ).rejects.toBeInstanceOf(ScheduleNotFoundError);
    expect(attempts).toBe(1);
  });
});
