import type { RotationPlan, RotationRequest } from '../activities/rotation';
import { versionsText, type IncidentRecord, type RotationStatus } from './status';
import type { TokenId } from '../src/providers/types';

/*
 * What the Temporal Web UI shows beside a rotation while it runs: its current details (`setCurrentDetails`),
 * markdown the UI renders (its static details come from src/rotations.ts). They are stored through the
 * payload codec, yet carry names, ids, versions and times only, never a value, like all of the history.
 */

/** What the workflow knows beyond its status: its plan, when an approval runs out, which undo steps are stuck. */
export interface DetailsContext {
  plan?: RotationPlan;
  approvalUntil?: string;
  stuck?: string;
}

/** What a rotation in `status.phase` waits for, with the command that ends the wait; undefined while it works. */
function waitingFor(status: RotationStatus, context: DetailsContext): string | undefined {
  const id = status.credentialId;
  switch (status.phase) {
    case 'awaiting-review':
      return (
        `an approver's review of the break-glass rotation until ${context.approvalUntil ?? 'its timeout'}: ` +
        `\`rotator approve ${id} --break-glass\``
      );
    case 'awaiting-approval':
      return `approval until ${context.approvalUntil ?? 'the approval timeout'}: \`rotator approve ${id}\``;
    case 'overlapping': {
      const then =
        status.oldTokenId === undefined
          ? 'then the old token is revoked'
          : `then old token ${status.oldTokenId} is revoked`;
      const jobs = status.jobsStillRunning ?? [];
      const draining =
        jobs.length === 0
          ? ''
          : `${jobs.length === 1 ? 'a job' : 'jobs'} started before the switch (${jobs.join(', ')}), at most `;
      return (
        `${draining}the overlap window to end at ${status.overlapEndsAt ?? 'its end'}, ${then}; ` +
        `\`rotator end-overlap ${id}\` ends it now, \`rotator extend-overlap ${id} 30m\` lengthens it`
      );
    }
    case 'running-canary': {
      const { canary } = status;
      const run = canary?.run ?? 'the canary';
      return (
        `${run} to pass${canary?.url === undefined ? '' : ` (${canary.url})`}, while the old token stays valid ` +
        `everywhere; \`rotator abort ${id}\` stops it and rolls back`
      );
    }
    case 'recovering': {
      const failure = status.failures.at(-1);
      const recovery = status.timeline.at(-1)?.step ?? 'recovery';
      return failure === undefined ? recovery : `${recovery}, after ${failure.step} was ${failure.class}`;
    }
    case 'needs-operator':
      return (
        `an operator, because rollback is stuck (${context.stuck ?? 'see the alerts'}): ` +
        `\`rotator retry-rollback ${id}\` once the cause is fixed, or \`rotator resolve ${id}\` after undoing it by hand`
      );
    default:
      return undefined;
  }
}

/**
 * The current details of a rotation: its phase and step, what it waits for, and where it stands, most
 * important first (the UI 2.42 may cut off the last line of a long pane). Lists go one item to a line.
 */
export function rotationCurrentDetails(
  status: RotationStatus,
  request: RotationRequest,
  context: DetailsContext,
): string {
  const id = status.credentialId;
  const { plan } = context;
  const lines = [`- **Phase:** ${status.phase}`];
  const running = status.timeline.at(-1);
  if (status.outcome !== undefined) {
    lines.push(`- **Outcome:** ${status.outcome}`, ...subList((status.detail ?? '').split('; ')));
  } else if (running !== undefined && running.endedAt === undefined) {
    lines.push(`- **Step:** ${running.step}`);
  }
  const waiting = waitingFor(status, context);
  if (waiting !== undefined) lines.push(`- **Waiting for:** ${waiting}`);
  if (status.abortedBy !== undefined) {
    lines.push(`- **Aborted by:** ${status.abortedBy.requestedBy} (${status.abortedBy.reason})`);
  }
  if (status.alerts.length > 0) lines.push('- **Alerts:**', ...subList(status.alerts));
  if (status.incident !== undefined) lines.push(...incidentLines(status.incident));
  lines.push(
    plan === undefined
      ? `- **Credential:** ${id}`
      : `- **Credential:** ${id} (${plan.kind}, environment ${plan.environment})`,
  );
  if (plan !== undefined) lines.push(`- **Source:** ${plan.source.name}`);
  lines.push(`- **Requested by:** ${request.requestedBy} (${request.reason})`);
  if (status.approvedBy !== undefined) lines.push(`- **Approved by:** ${status.approvedBy}`);
  const tokens = [
    status.oldTokenId === undefined ? undefined : `old ${status.oldTokenId}`,
    status.newTokenId === undefined ? undefined : `new ${status.newTokenId}`,
  ].filter((token) => token !== undefined);
  if (tokens.length > 0) lines.push(`- **Tokens:** ${tokens.join(', ')}`);
  const { canary } = status;
  if (canary !== undefined) {
    const how = canary.conclusion === undefined ? canary.state : `${canary.state} (${canary.conclusion})`;
    lines.push(
      `- **Canary:** ${canary.run ?? canary.name}: ${how}${canary.url === undefined ? '' : ` ${canary.url}`}`,
    );
  }
  if (status.targets.length > 0) {
    lines.push('- **Targets:**', ...subList(status.targets.map(({ name, state }) => `${name}: ${state}`)));
  }
  const versions = versionsText(status);
  if (versions !== undefined) lines.push(`- **Versions:** ${versions}`);
  return lines.join('\n');
}

const subList = (items: string[]) => items.map((item) => `  - ${item}`);

/** A break-glass rotation's incident: the alert, and where the leaked token stands. */
function incidentLines({ alert, leaked, timeline, secondsToRevocation, deadTokenInTargets }: IncidentRecord) {
  const token = leaked.tokenId === undefined ? `the ${leaked.version} token` : `token ${leaked.tokenId}`;
  const revoked =
    timeline.leakedRevokedAt !== undefined
      ? `revoked ${timeline.leakedRevokedAt} (${secondsToRevocation}s after the alert)`
      : timeline.leakedConfirmedRevokedAt !== undefined
        ? `found revoked already (confirmed ${timeline.leakedConfirmedRevokedAt})`
        : 'not revoked yet';
  return [
    `- **Incident:** leak alert ${alert.source} ${alert.id}${alert.url === undefined ? '' : ` (${alert.url})`}, received ${timeline.alertReceivedAt}`,
    `- **Leaked:** ${token} (${leaked.version} version, field ${leaked.field}): ${revoked}`,
    ...(deadTokenInTargets === undefined ? [] : [`- **Meanwhile:** ${deadTokenInTargets}`]),
  ];
}

/** The issue step in the operator's words: how the strategy mints, beside or instead of which token. */
export function issueSummary(plan: RotationPlan, currentTokenId: TokenId): string {
  const { strategy } = plan.source.ref.spec as { strategy?: string };
  const name = plan.source.name;
  if (strategy === 'create-then-revoke') return `create a new ${name} beside token ${currentTokenId}`;
  if (strategy === 'rotate-in-place')
    return `rotate ${name} in place: token ${currentTokenId} is revoked at once`;
  return `issue a new ${name}, replacing token ${currentTokenId}`;
}

/** What a dry run would have done, in one sentence. */
export function wouldDo(plan: RotationPlan, why: string): string {
  const names = (list: { name: string }[]) => list.map(({ name }) => name).join(', ') || 'none';
  return (
    `would rotate ${plan.source.name} (${why}); pause: ${names(plan.dependents)}; ` +
    `write: ${names(plan.targets)}; overlap ${plan.policy.overlap / 1000}s`
  );
}
