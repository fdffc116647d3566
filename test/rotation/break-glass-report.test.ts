import { randomUUID } from 'node:crypto';
import type { RotationRequest } from '../../activities/rotation';
import type { IncidentReport } from '../../src/incidents/report';
import { breakGlassWorkflowId } from '../../src/incidents/request';
import { startBreakGlass } from '../../src/incidents/start';
import { rotationCurrentDetails } from '../../workflows/details';
import type { RotationStatus } from '../../workflows/status';
import { cliWorld, type CliWorld } from '../cli/world';
import { defined } from '../gitlab/world';
import { leakedToken, type SeededCredential } from '../helpers/rotation';

let world: CliWorld;
let credential: SeededCredential;
let status: RotationStatus;
let runId: string;
const alertId = `alert-${randomUUID()}`;

beforeAll(async () => {
  world = await cliWorld('break-glass-report');
  credential = await world.rotation.seed('leaked');
  world.rotation.writeInventory();
  await world.startWorker();
  const handle = await startBreakGlass(world.client, world.taskQueue, {
    credentialId: credential.id,
    leaked: leakedToken(credential.old),
    alert: { source: 'stdin', id: alertId, receivedAt: new Date().toISOString(), reportedBy: 'bob' },
    requestedBy: 'bob',
  });
  runId = handle.firstExecutionRunId;
  status = await handle.result();
});

afterAll(async () => {
  await world?.close();
});

describe('rotator incident report', () => {
  it('prints the timeline of the latest break-glass rotation of a credential, and its seconds to revocation', async () => {
    const { code, stdout } = await world.cli(['incident', 'report', credential.id]);
    const incident = defined(status.incident);
    const { timeline } = incident;
    expect(code).toBe(0);
    const lines = stdout.split('\n');
    expect(lines.slice(0, 5)).toEqual([
      `incident of ${credential.id}: rotated`,
      `  seconds from alert to revocation: ${defined(incident.secondsToRevocation)}`,
      `  alert     stdin ${alertId}, reported by bob`,
      `  leaked    token ${credential.old.id} (current version, field token)`,
      `  workflow  ${breakGlassWorkflowId(credential.id)} (run ${runId})`,
    ]);
    expect(lines.slice(7, 13)).toEqual([
      `    ${timeline.alertReceivedAt}  alert received`,
      `    ${timeline.matchedAt}  credential matched`,
      `    ${defined(timeline.leakedRevokedAt)}  leaked token revoked`,
      `    ${defined(timeline.newTokenLiveAt)}  new token live in every target`,
      `    ${defined(timeline.dependentsResumedAt)}  dependents resumed`,
      `    ${'-'.padEnd(24)}  reviewed by nobody yet`,
    ]);
    expect(stdout).toContain(
      `leaked token ${credential.old.id} is the current one: revoked first, then replaced`,
    );
  });

  it('answers the record as JSON, found by its workflow id too', async () => {
    const { code, stdout } = await world.cli([
      'incident',
      'report',
      breakGlassWorkflowId(credential.id),
      '--json',
    ]);
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as IncidentReport & { url: string };
    expect(report).toMatchObject({
      credentialId: credential.id,
      workflowId: breakGlassWorkflowId(credential.id),
      outcome: 'rotated',
      incident: status.incident,
      alerts: [],
    });
    expect(report.url).toContain(encodeURIComponent(breakGlassWorkflowId(credential.id)));
  });

  it('says so, exiting 2, when the credential had no break-glass rotation', async () => {
    const { code, stderr } = await world.cli(['incident', 'report', `${credential.id}-other`]);
    expect(code).toBe(2);
    expect(stderr).toBe(
      `rotator: no break-glass rotation ${breakGlassWorkflowId(`${credential.id}-other`)} was found\n`,
    );
  });

  it('names the incident in the Web UI current details, and the dead token the targets hold meanwhile', () => {
    const request: RotationRequest = {
      credentialId: credential.id,
      reason: 'compromised',
      requestedBy: 'bob',
    };
    const incident = defined(status.incident);
    const revoking: RotationStatus = {
      ...status,
      phase: 'issuing',
      outcome: undefined,
      detail: undefined,
      incident: {
        ...incident,
        deadTokenInTargets: 'the targets hold leaked token 7, revoked, until distribute writes the new token',
      },
    };
    const lines = rotationCurrentDetails(revoking, request, {}).split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        `- **Incident:** leak alert stdin ${alertId}, received ${incident.timeline.alertReceivedAt}`,
        `- **Leaked:** token ${credential.old.id} (current version, field token): revoked ` +
          `${defined(incident.timeline.leakedRevokedAt)} (${defined(incident.secondsToRevocation)}s after the alert)`,
        '- **Meanwhile:** the targets hold leaked token 7, revoked, until distribute writes the new token',
      ]),
    );
  });
});
