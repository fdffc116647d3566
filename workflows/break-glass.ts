import {
  ActivityFailure,
  ApplicationFailure,
  metricMeter,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { FAILURE_TYPES } from '../src/failure-types';
import type { BreakGlassInput } from '../src/incidents/input';
import { SECONDS_TO_REVOCATION } from '../src/incidents/metrics';
import type { TokenId } from '../src/providers/types';
import { runLocal } from './calls';
import { failedAfterPromote, rolledBack } from './ends';
import { abort, recordDecision } from './operator';
import { Rotation, loadingStatus } from './rotation';
import { statusQuery, type IncidentRecord, type RotationStatus } from './status';
import { pauseDependents, resumeDependents } from './steps/dependents';
import { detect } from './steps/detect';
import { distribute } from './steps/distribute';
import { issue } from './steps/issue';
import { load } from './steps/load';
import { preempt, revokedBy } from './steps/preempt';
import { promote } from './steps/promote';
import { review } from './steps/review';
import { isRevoked, revokeLeaked } from './steps/revoke-leaked';
import { verify } from './steps/verify';

/**
 * The break-glass rotation of a credential whose token leaked (docs/operations.md, "The break-glass
 * rotation"). Start it with `startBreakGlass` (src/incidents/start.ts): workflow id `break-glass/<id>`, so
 * that a redelivered alert joins the one running. The order is a normal rotation's, but the leaked token is
 * revoked first: load, preempt a normal rotation in flight, detect, pause dependents, revoke the leaked
 * token, issue, verify, distribute, promote, resume dependents. No approval wait, no overlap (nothing is
 * left to revoke). A leaked token that is not the current one is revoked (or found revoked), and nothing
 * is rotated. The leaked token is never un-revoked: a failure after its revoke ends `failed`, with an alert.
 */
export async function breakGlass(input: BreakGlassInput): Promise<RotationStatus> {
  const request = await checked(input);
  const { credentialId, requestedBy, alert, leaked } = request;
  const r = new Rotation({ credentialId, reason: 'compromised', requestedBy });
  refuseAbort();
  const incident: IncidentRecord = {
    alert,
    leaked: { ...leaked },
    timeline: { alertReceivedAt: alert.receivedAt, matchedAt: workflowInfo().startTime.toISOString() },
  };
  r.status.incident = incident;
  let preempted: Awaited<ReturnType<typeof preempt>>;
  try {
    await load(r);
    preempted = await preempt(r, incident);
    await detect(r);
  } catch (error) {
    return rolledBack(r, error);
  }
  const current = r.detection.currentTokenId;
  // Assumption: intake names the token id whenever the matched version stores one, as the request says.
  const leakedTokenId = leaked.tokenId ?? (leaked.version === 'current' ? current : undefined);
  if (leakedTokenId === undefined) {
    r.status.alerts.push(
      `the leaked previous version names no token id: find the leaked token at ${r.plan.source.name} and revoke it by hand`,
    );
    return rolledBack(
      r,
      ApplicationFailure.nonRetryable('the leaked token is not known by its id', FAILURE_TYPES.validation),
    );
  }
  incident.leaked.tokenId = leakedTokenId;
  if (leakedTokenId !== current) {
    recordDecision(
      r.status,
      `leaked token ${leakedTokenId} is not the current one (token ${current}): it is revoked, nothing is rotated`,
    );
    return containOld(r, incident, leakedTokenId, revokedBy(preempted, leakedTokenId));
  }
  recordDecision(r.status, `leaked token ${leakedTokenId} is the current one: revoked first, then replaced`);
  return replace(r, incident, leakedTokenId);
}

/**
 * The input, checked before anything is changed: a bad one fails the workflow, naming each path. A local
 * activity checks it, which keeps zod out of the workflow bundle.
 */
async function checked(input: BreakGlassInput): Promise<BreakGlassInput> {
  // Answered while the check runs, so that `status` works from the start; the Rotation then takes over.
  setHandler(statusQuery, () => loadingStatus(input.credentialId));
  try {
    return await runLocal('checkBreakGlassInput', 'check the break-glass request', [input]);
  } catch (error) {
    throw error instanceof ActivityFailure && error.cause instanceof ApplicationFailure ? error.cause : error;
  }
}

/**
 * Nobody aborts a break-glass rotation: once the leaked token is revoked, rolling back restores a dead token
 * to the targets, and before that, stopping would leave the leaked one live.
 */
function refuseAbort(): void {
  const refusal = 'a break-glass rotation cannot be aborted: it revokes a leaked token and replaces it';
  const refuse = (_request: { requestedBy: string; reason: string }): never => {
    throw new Error(refusal);
  };
  setHandler(abort, refuse, { validator: refuse });
}

/** Records when the leaked token was revoked, and the seconds since the alert (also the histogram). */
function revokedAt(r: Rotation, incident: IncidentRecord, at: string): number {
  incident.timeline.leakedRevokedAt = at;
  const seconds = Math.max(0, (Date.parse(at) - Date.parse(incident.timeline.alertReceivedAt)) / 1000);
  incident.secondsToRevocation = Math.round(seconds * 1000) / 1000;
  metricMeter
    .createHistogram(
      SECONDS_TO_REVOCATION,
      'float',
      undefined,
      'Seconds from a leak alert to its token revoked',
    )
    .record(seconds, { credential_id: r.id, alert_source: incident.alert.source });
  r.show();
  return incident.secondsToRevocation;
}

/** The leaked token is the current one: revoke it, then replace it as a rotation does, without overlap. */
async function replace(r: Rotation, incident: IncidentRecord, leaked: TokenId): Promise<RotationStatus> {
  let seconds: number | undefined;
  try {
    await pauseDependents(r);
    await revokeLeaked(r, leaked);
    incident.deadTokenInTargets = `the targets hold leaked token ${leaked}, revoked, until distribute writes the new token`;
    seconds = revokedAt(r, incident, new Date().toISOString());
    createBeside(r);
    await issue(r);
    await verify(r);
    await distribute(r);
    await promote(r);
  } catch (error) {
    r.status.alerts.push(
      seconds === undefined
        ? `leaked token ${leaked} is NOT revoked (step ${r.failedStep('load')} failed): revoke it at ` +
            `${r.plan.source.name} by hand now`
        : `leaked token ${leaked} stays revoked (it is never un-revoked), and the targets hold it dead until a ` +
            `new token is written: fix the cause, then \`rotator rotate ${r.id} --reason compromised\` ` +
            '(a rotate-in-place source: make its new token by hand first, docs/operations.md)',
    );
    return rolledBack(r, error);
  }
  incident.timeline.newTokenLiveAt = new Date().toISOString();
  delete incident.deadTokenInTargets;
  // The old token is the leaked one, revoked already: nothing after promote may call it still valid.
  r.issued = { ...r.issued, revokedTokenId: leaked };
  try {
    await resumeDependents(r);
  } catch (error) {
    return failedAfterPromote(r, error);
  }
  incident.timeline.dependentsResumedAt = new Date().toISOString();
  await review(r, incident);
  return r.finish(
    'rotated',
    `leaked token ${leaked} revoked ${seconds}s after the alert; replaced by token ${r.issued.tokenId}, live in every target`,
  );
}

/**
 * Break-glass never rotates in place: the leaked token is revoked already, and rotating a revoked token is
 * refused (GitLab revokes the whole token family instead). A kind without strategies is left as it is.
 */
function createBeside(r: Rotation): void {
  const { source } = r.plan;
  const { spec } = source.ref;
  if (typeof spec !== 'object' || spec === null || !('strategy' in spec)) return;
  r.plan = {
    ...r.plan,
    source: { ...source, ref: { ...source.ref, spec: { ...spec, strategy: 'create-then-revoke' } } },
  };
}

/**
 * The leaked token is an older one: confirmed revoked at the provider (by the preempted rotation, `at`, or
 * before), or revoked now if it is still live. The current token is another, so nothing is rotated.
 */
async function containOld(
  r: Rotation,
  incident: IncidentRecord,
  leaked: TokenId,
  at: string | undefined,
): Promise<RotationStatus> {
  const current = `current token ${r.detection.currentTokenId} is another: nothing rotated`;
  let detail: string;
  try {
    if (await isRevoked(r, leaked)) {
      incident.timeline.leakedConfirmedRevokedAt = new Date().toISOString();
      if (at !== undefined) revokedAt(r, incident, at);
      detail = `leaked token ${leaked} was revoked already${at === undefined ? '' : ` (at ${at}, by the preempted rotation)`}, confirmed at the provider; ${current}`;
      await review(r, incident);
      return r.finish('already-revoked', detail + (await r.audit.recordOutcome('skipped', 'ok', detail)));
    }
    await revokeLeaked(r, leaked);
  } catch (error) {
    r.status.alerts.push(
      `leaked token ${leaked} could not be confirmed revoked: check it at ${r.plan.source.name} and revoke it by hand`,
    );
    return rolledBack(r, error);
  }
  const seconds = revokedAt(r, incident, new Date().toISOString());
  detail = `leaked token ${leaked} was still live: revoked ${seconds}s after the alert; ${current}`;
  await review(r, incident);
  return r.finish('leaked-revoked', detail);
}
