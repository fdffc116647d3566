import { defineQuery } from '@temporalio/workflow';
import { versionLabel } from '../src/stores/labels';
import type { FailureRecord } from './recovery';
import type { TokenId } from '../src/providers/types';

export type RotationPhase =
  | 'loading'
  /** A break-glass rotation stops a normal rotation of the credential in flight (aborts it, or ends its overlap). */
  | 'preempting'
  | 'detecting'
  | 'awaiting-approval'
  /** A break-glass rotation that has replaced its leaked token, waiting for an approver's acknowledgement. */
  | 'awaiting-review'
  | 'pausing'
  | 'issuing'
  | 'recovering'
  | 'verifying'
  | 'distributing'
  | 'running-canary'
  | 'promoting'
  | 'resuming'
  | 'overlapping'
  | 'revoking'
  | 'rolling-back'
  | 'needs-operator'
  | 'done';
export type RotationOutcome =
  | 'rotated'
  | 'not-due'
  | 'dry-run'
  | 'cancelled'
  | 'rolled-back'
  | 'failed'
  /** The credential is gone and a person must re-authorise (an OAuth2 chain revoked after a lost answer). */
  | 'compromised-or-lost'
  /** Someone else used the credential: treat it as stolen. */
  | 'compromised'
  /** Break-glass: the leaked token, not the current one, was revoked already (the provider confirmed it). */
  | 'already-revoked'
  /** Break-glass: the leaked token, not the current one, was still live and is revoked now; nothing rotated. */
  | 'leaked-revoked';
/** The phases that move a rotation forward, up to promote: none starts once it is aborted. */
export const FORWARD_PHASES: ReadonlySet<RotationPhase> = new Set([
  'pausing',
  'issuing',
  'recovering',
  'verifying',
  'distributing',
  'running-canary',
  'promoting',
]);
export type TargetState = 'unchanged' | 'written' | 'failed' | 'restored' | 'restore-failed';

/** What the `status` query answers: references, ids and times, never a value. */
export interface RotationStatus {
  credentialId: string;
  phase: RotationPhase;
  outcome?: RotationOutcome;
  /** Why the rotation did what it did, in a sentence. */
  detail?: string;
  /** The steps in order; `recovery` marks a recovery the runbook ran between tries of a step. */
  timeline: {
    step: string;
    startedAt: string;
    endedAt?: string;
    result?: 'ok' | 'failed';
    recovery?: true;
  }[];
  /** The credential's versions in its store as the rotation left them: Vault's numbers, or a store's own ids. */
  versions: { current?: StoreVersionId; previous?: StoreVersionId; staged?: StoreVersionId };
  targets: { name: string; state: TargetState }[];
  oldTokenId?: TokenId;
  newTokenId?: TokenId;
  /** Who approved the rotation, when the inventory requires approval, and the key their signature was verified with. */
  approvedBy?: string;
  approvalKey?: string;
  /** Who aborted the rotation, and why. */
  abortedBy?: { requestedBy: string; reason: string; phase: RotationPhase };
  overlapEndsAt?: string;
  /** A job-aware overlap's wait: the jobs that started before the switch and still ran when last listed. */
  jobsStillRunning?: string[];
  /** The canary's run: where it stands, and where to read it. */
  canary?: CanaryStatus;
  /** When every target had the new token (the end of distribute), by workflow time. */
  switchedAt?: string;
  /** Each step failure once its retries were spent: its class and what recovery did about it. */
  failures: FailureRecord[];
  /**
   * What someone must look at, also in the audit detail of the next audited step; the alerts sent
   * (`sendAlert`) cover these and every end that needs a person. Ids and times, never a value.
   */
  alerts: string[];
  /** A break-glass rotation's incident record (workflows/break-glass.ts). */
  incident?: IncidentRecord;
}

/** A canary as the status shows it: `skipped` by `--skip-canary`, `cancelled` by an abort. */
export interface CanaryStatus {
  /** The canary as the inventory describes it: `project platform/web pipeline on main`. */
  name: string;
  state: 'running' | 'passed' | 'failed' | 'timed-out' | 'cancelled' | 'skipped';
  /** The run, as its provider names it: `project platform/web pipeline 12`. */
  run?: string;
  url?: string;
  /** The provider's last word on the run: `success`, `failed`, `running`. */
  conclusion?: string;
  startedAt?: string;
}

/**
 * A break-glass rotation's incident record: the alert, the leaked token, and when each thing happened, by
 * workflow time (the alert's own time as intake received it). Ids and times, never a value or a fingerprint.
 */
export interface IncidentRecord {
  alert: { source: string; id: string; url?: string; reportedBy?: string };
  /** The leaked token, as the alert matched it: the store's version and field, and the provider's token id. */
  leaked: { version: 'current' | 'previous'; field: string; tokenId?: TokenId };
  timeline: {
    alertReceivedAt: string;
    /** When the break-glass rotation started: intake starts it once the fingerprint matched. */
    matchedAt: string;
    leakedRevokedAt?: string;
    /** A leaked token found revoked already: when the provider confirmed it. */
    leakedConfirmedRevokedAt?: string;
    /** When the new token was in every target and current in the store (distribute, then promote). */
    newTokenLiveAt?: string;
    dependentsResumedAt?: string;
    /** With policy.breakGlassReview: the approver who acknowledged the rotation, and when. */
    reviewedBy?: string;
    reviewedAt?: string;
  };
  /** The key figure: from the alert to the leaked token's revocation, in seconds. */
  secondsToRevocation?: number;
  /** A normal rotation of the credential that was in flight, and what break-glass did about it. */
  preempted?: { workflowId: string; phase: RotationPhase; action: PreemptAction; outcome?: RotationOutcome };
  /** While the targets hold the revoked leaked token, until distribute writes the new one: says so. */
  deadTokenInTargets?: string;
}

/** What a break-glass rotation did about a normal rotation in flight. */
export type PreemptAction =
  /** Before promote: aborted, and its rollback waited for. */
  | 'aborted'
  /** In its overlap window: ended now (its old token revoked at once), and its end waited for. */
  | 'overlap-ended'
  /** Aborted by someone else already, or past its overlap: its end waited for. */
  | 'waited'
  /** Its rollback awaits an operator: left to them, break-glass goes on. */
  | 'left-to-operator';

export const statusQuery = defineQuery<RotationStatus>('status');

type StoreVersionId = number | string;

/** "current v8, previous v7, staged v3": a rotation's versions as operators read them; undefined before detect. */
export function versionsText({ versions }: Pick<RotationStatus, 'versions'>): string | undefined {
  const { current, previous, staged } = versions;
  if (current === undefined) return undefined;
  const label = (name: string, version: StoreVersionId | undefined) =>
    version === undefined ? [] : [`${name} ${versionLabel({ version })}`];
  return [...label('current', current), ...label('previous', previous), ...label('staged', staged)].join(
    ', ',
  );
}
