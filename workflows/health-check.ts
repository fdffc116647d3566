import {
  ActivityFailure,
  ApplicationFailure,
  patched,
  proxyActivities,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { UnmanagedReport } from '../activities/discovery';
import type { CurrentVersion, HealthPlan } from '../activities/health';
import type { AlertKind } from '../src/alerts';
import type { CredentialState, TargetCheck, TokenId } from '../src/providers/types';
import { providerKindOf } from '../src/failure-types';
import { inLanes } from '../src/parallel';
import { rotationWorkflowId } from '../src/rotation-names';
import { sendAlert } from './alerts';
import { messageOf } from './failures';
import { startRotationChild } from './start-rotation';
import { credentialFacts, type CredentialQuestions } from './credential-facts';
import { planOf } from './plans';
import { versionLabel } from '../src/stores/labels';

export interface HealthCheckRequest {
  /** Who asked: `schedule`, or the operator running `rotator health`. */
  requestedBy: string;
  /** Start a rotation of every credential whose targets drifted. */
  repair?: boolean;
}

/** What is wrong with a credential, in the operator's words; the kind is the alert's. */
export interface HealthProblem {
  kind: Extract<AlertKind, 'invalid-token' | 'drift' | 'overdue' | 'expiring' | 'replica-not-in-sync'>;
  message: string;
}

export interface CredentialHealth {
  credentialId: string;
  /** `valid`, or why not: `revoked`, `inactive` (expired), `missing` at the provider; `unknown` if unchecked. */
  token: 'valid' | 'revoked' | 'inactive' | 'missing' | 'unknown';
  tokenId?: TokenId;
  /** `YYYY-MM-DD`, or null when it never expires. */
  expiresAt?: string | null;
  /** The current version's id in the store: Vault's number, or another store's own. */
  storeVersion?: number | string;
  /** When the current version was written: the last successful rotation (or the first seed). */
  rotatedAt?: string;
  /** When it is overdue: `policy.every` plus `policy.jitter` after `rotatedAt`. */
  overdueAt?: string;
  targets: { name: string; state: TargetCheck['state'] | 'unknown'; detail: string }[];
  problems: HealthProblem[];
  /** Checks that could not run, and why: the credential's health is not known. */
  unchecked: string[];
  /** With `repair`, the rotation started for drift (or the one already running). */
  repair?: { workflowId: string; started: boolean; detail: string };
  /** Alerts that could not be sent, once their retries were spent. */
  alertsFailed: string[];
}

/** The tokens no credential owns, in `discovery.watch`: those expiring within `discovery.expiryWarning`. */
export type UnmanagedHealth = UnmanagedReport & {
  /** Why discovery could not run, once its retries were spent. */
  failed?: string;
  alertsFailed: string[];
};

export interface HealthReport {
  checkedAt: string;
  /** No problem, and every check ran. */
  healthy: boolean;
  credentials: CredentialHealth[];
  /** What it cannot look after (an admin token the rotator cannot rotate): warnings, not problems. */
  notes?: string[];
  /** Absent from health checks started before discovery was added. */
  unmanaged?: UnmanagedHealth;
}

/** The id alerts about unmanaged tokens carry where a credential's would be. */
export const UNMANAGED_ALERT_ID = 'unmanaged-tokens';

const checking: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 3 },
};
const checks = proxyActivities<Activities>(checking);
/** Each check with its summary for the Web UI, in the operator's words. */
const summarised = (summary: string): ActivityOptions => ({ ...checking, summary });
/** Credentials checked at a time: a few, to stay far below the providers' rate limits. */
const CONCURRENCY = 4;
const DAY_MS = 86_400_000;

/**
 * Checks every credential of the inventory: its token is valid at the provider, every target holds the
 * current version in the store, the last rotation is not overdue, and the token outlives the next scheduled
 * rotation. Each problem is alerted; with `repair`, drift starts a forced rotation `rotate/<id>`. Run
 * hourly by the `health-check/<task queue>` schedule and once by `rotator health`.
 */
export async function healthCheck(request: HealthCheckRequest): Promise<HealthReport> {
  const checkedAt = new Date();
  const { plans, unplanned, notes } = await checks.healthCheckPlans.executeWithOptions(
    summarised('read every credential of the inventory'),
    [],
  );
  const results: CredentialHealth[] = unplanned.map(({ credentialId, reason }) => ({
    ...unknownHealth(credentialId),
    unchecked: [reason],
  }));
  await inLanes(plans, CONCURRENCY, async (plan) => {
    const health = await checkCredential(plan, checkedAt);
    if (request.repair === true && health.problems.some(({ kind }) => kind === 'drift')) {
      health.repair = await repair(health.credentialId, request.requestedBy);
    }
    for (const problem of health.problems) {
      const message =
        problem.kind === 'drift' && health.repair !== undefined
          ? `${problem.message}; repair: ${health.repair.detail}`
          : problem.message;
      await sendAlert({ kind: problem.kind, credentialId: health.credentialId, message }).catch(
        (error: unknown) => health.alertsFailed.push(`${problem.kind}: ${messageOf(error)}`),
      );
    }
    results.push(health);
  });
  results.sort((a, b) => a.credentialId.localeCompare(b.credentialId));
  // Health checks that started before discovery was added replay without it.
  const unmanaged = patched('unmanaged-expiry-v1') ? await checkUnmanaged(results) : undefined;
  return {
    checkedAt: checkedAt.toISOString(),
    healthy:
      results.every(({ problems, unchecked }) => problems.length === 0 && unchecked.length === 0) &&
      (unmanaged === undefined || (unmanaged.expiring.length === 0 && unmanaged.failed === undefined)),
    credentials: results,
    ...(notes === undefined ? {} : { notes }),
    ...(unmanaged === undefined ? {} : { unmanaged }),
  };
}

/**
 * Lists the watched groups and organizations; unmanaged tokens expiring soon are one alert. The expiry of
 * each managed credential's valid token, just inspected, goes along for the expiry gauges.
 */
async function checkUnmanaged(results: CredentialHealth[]): Promise<UnmanagedHealth> {
  const managed = results.flatMap(({ credentialId, token, tokenId, expiresAt }) =>
    token === 'valid' && tokenId !== undefined && expiresAt !== undefined
      ? [{ credentialId, tokenId, expiresAt }]
      : [],
  );
  let report: UnmanagedReport;
  try {
    report = await checks.discoverUnmanaged.executeWithOptions(
      summarised('list the tokens of discovery.watch that no credential owns'),
      [{ managed }],
    );
  } catch (error) {
    return {
      watched: 0,
      warningDays: 0,
      expiring: [],
      notListed: [],
      failed: messageOf(error),
      alertsFailed: [],
    };
  }
  const health: UnmanagedHealth = { ...report, alertsFailed: [] };
  if (report.expiring.length === 0) return health;
  const shown = report.expiring
    .slice(0, 5)
    .map(({ kind, resource, name, expiresAt }) => `${kind} ${resource} "${name}" (${expiresAt})`);
  const more = report.expiring.length - shown.length;
  const message =
    `${report.expiring.length} token(s) no credential manages expire within ${report.warningDays} days ` +
    `(discovery.expiryWarning): ${shown.join(', ')}${more > 0 ? ` and ${more} more` : ''}; ` +
    'see `rotator discover`';
  await sendAlert({ kind: 'expiring', credentialId: UNMANAGED_ALERT_ID, message }).catch((error: unknown) =>
    health.alertsFailed.push(`expiring: ${messageOf(error)}`),
  );
  return health;
}

function unknownHealth(credentialId: string): CredentialHealth {
  return { credentialId, token: 'unknown', targets: [], problems: [], unchecked: [], alertsFailed: [] };
}

/** The health check's questions: the step activities, each with its summary in the Web UI. */
const questions: CredentialQuestions = {
  readCurrentVersion: (plan) =>
    checks.readCurrentVersion.executeWithOptions(
      summarised(`read the current version of ${plan.credentialId} in ${plan.store.name}`),
      [{ store: plan.store.ref }],
    ),
  inspectCredential: (plan, current) =>
    checks.inspectCredential.executeWithOptions(
      summarised(`check that token ${current.tokenId} of ${plan.source.name} is valid`),
      [{ source: plan.source.ref, tokenId: current.tokenId, held: current.ref }],
    ),
  checkTarget: ({ name, ref }, current, since) =>
    checks.checkTarget.executeWithOptions(
      summarised(`check that ${name} holds ${versionLabel(current.ref)}`),
      [{ target: ref, value: current.ref, since }],
    ),
  isNotFound: (error) => providerKind(error) === 'not-found',
  messageOf,
};

/** Asks the store, the provider and every target; what cannot be asked is recorded as unchecked. */
async function checkCredential({ plan: loaded, jitter }: HealthPlan, now: Date): Promise<CredentialHealth> {
  const plan = planOf(loaded);
  const health = unknownHealth(plan.credentialId);
  const facts = await credentialFacts(plan, questions);
  if ('unreadable' in facts) {
    health.unchecked.push(`${plan.store.name}: ${facts.unreadable}`);
    return health;
  }
  const { current, token } = facts;
  Object.assign(health, { tokenId: current.tokenId, storeVersion: current.ref.version });
  health.unchecked.push(...facts.unchecked);
  health.targets = facts.targets.map(({ name, check }) => ({
    name,
    state: check?.state ?? 'unknown',
    detail: check?.detail ?? 'not checked',
  }));
  Object.assign(health, judge(health.targets, { plan, jitter }, current, token, now));
  return health;
}

/** What the facts mean: the token's state and the problems, by the check's time. */
function judge(
  targets: CredentialHealth['targets'],
  { plan, jitter }: HealthPlan,
  current: CurrentVersion,
  token: CredentialState | 'missing' | undefined,
  now: Date,
): Pick<CredentialHealth, 'token' | 'expiresAt' | 'rotatedAt' | 'overdueAt' | 'problems'> {
  const problems: HealthProblem[] = [];
  const tokenName = `token ${current.tokenId} (${plan.store.name} ${versionLabel(current.ref)})`;
  const state =
    token === undefined
      ? 'unknown'
      : token === 'missing'
        ? 'missing'
        : token.revoked
          ? 'revoked'
          : token.active
            ? 'valid'
            : 'inactive';
  if (state === 'missing' || state === 'revoked' || state === 'inactive') {
    const why = { missing: 'no longer exists', revoked: 'is revoked', inactive: 'is no longer active' }[
      state
    ];
    problems.push({
      kind: 'invalid-token',
      message: `${tokenName} ${why} at the provider: rotate it (\`rotator rotate ${plan.credentialId}\`)`,
    });
  }
  const drifted = targets.filter((target) => target.state === 'drifted');
  if (drifted.length > 0) {
    problems.push({
      kind: 'drift',
      message: drifted.map(({ name, detail }) => `${name}: ${detail}`).join('; '),
    });
  }
  const rotatedAt = Date.parse(current.writtenAt);
  const overdueAt = new Date(rotatedAt + plan.policy.every + jitter);
  if (now >= overdueAt) {
    problems.push({
      kind: 'overdue',
      message:
        `last rotated ${current.writtenAt} (${plan.store.name} ${versionLabel(current.ref)}): overdue since ` +
        `${overdueAt.toISOString()} (policy.every plus policy.jitter)`,
    });
  }
  const expiresAt = typeof token === 'object' ? token.expiresAt : undefined;
  // GitLab treats a token as expired from the first moment of its expiry day.
  if (
    state === 'valid' &&
    expiresAt !== undefined &&
    expiresAt !== null &&
    Date.parse(expiresAt) < overdueAt.getTime()
  ) {
    const days = Math.floor((Date.parse(expiresAt) - now.getTime()) / DAY_MS);
    problems.push({
      kind: 'expiring',
      message:
        `${tokenName} expires ${expiresAt} (in ${days} days), before its next scheduled rotation ` +
        `(by ${overdueAt.toISOString()}): rotate it, or shorten policy.every`,
    });
  }
  for (const message of current.replicaProblems ?? [])
    problems.push({ kind: 'replica-not-in-sync', message });
  return {
    token: state,
    ...(expiresAt === undefined ? {} : { expiresAt }),
    rotatedAt: current.writtenAt,
    overdueAt: overdueAt.toISOString(),
    problems,
  };
}

/** The `ProviderError` kind an activity failed with (`not-found`, `auth`, ...), if any. */
function providerKind(error: unknown): string | undefined {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  return providerKindOf(cause instanceof ApplicationFailure ? cause.type : undefined);
}

/**
 * Drift is repaired by rotating: a forced rotation (reason `manual`, requested by "<who> via health
 * check") writes a new token to every target. It is abandoned rather than awaited, since it may wait for
 * approval and its overlap window; a rotation already running will write every target itself.
 */
async function repair(credentialId: string, requestedBy: string): Promise<CredentialHealth['repair']> {
  const workflowId = rotationWorkflowId(credentialId);
  const started = await startRotationChild(
    { credentialId, reason: 'manual', requestedBy: `${requestedBy} via health check`, force: true },
    'health check',
    `rotate ${credentialId} (repair drift found by the health check)`,
  );
  return started === undefined
    ? { workflowId, started: false, detail: `rotation ${workflowId} is already running` }
    : { workflowId, started: true, detail: `rotation ${workflowId} started` };
}
