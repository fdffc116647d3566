import type { Client } from '@temporalio/client';
import type { AuditEntry } from '../audit';
import type { RotationPlan } from '../inventory/plan';
import type { Inventory } from '../inventory/schema';
import type { VaultKv } from '../vault';
import { readAuditLogs } from './audit-logs';
import type { AuditTrust } from '../audit';
import { stateChecks, type StateChecks } from './checks';
import { checkCredential } from './credential';
import { stateReport, type CredentialVerdict, type StateReport } from './report';
import {
  openRotations,
  rotationsSinceRotated,
  terminalEvidence,
  terminalRotation,
  type RunningRotation,
} from './rotations';
import { inLanes } from '../parallel';

export type { StateReport } from './report';

export interface VerifyStateOptions {
  client: Client;
  /** Whose rotations are listed: the worker's task queue. */
  taskQueue: string;
  inventory: Inventory;
  vault: VaultKv;
  /** Every worker's audit log. */
  auditLogs: string[];
  /** Each log's key and anchor. */
  auditTrust: (auditLog: string) => AuditTrust;
  /** A rotation in a step (not a documented wait) for longer than this is stuck. */
  stuckAfterMs: number;
}

/** Credentials checked at a time, as the health check does: far below the providers' rate limits. */
const CONCURRENCY = 4;
/** Waits in which the credential is whole and judged: nothing is changing under the checks. */
const JUDGED_WAITS = new Set(['awaiting-approval', 'overlapping']);

interface Run {
  client: Client;
  checks: StateChecks;
  running: Map<string, RunningRotation>;
  audit: AuditEntry[];
}

/**
 * Checks the invariants of a rotation system (nothing lost, nothing leaked, nothing left behind) over the
 * inventory, the rotations open on the task queue and the audit logs: what an operator asks after any bad day,
 * and what every chaos run must leave behind (docs/operations.md, "Verifying the whole state").
 */
export async function verifyState(options: VerifyStateOptions): Promise<StateReport> {
  const checkedAt = new Date();
  const checks = stateChecks(options.vault, options.inventory);
  const [open, logs, { plans, unplanned }] = await Promise.all([
    openRotations(options.client, options.taskQueue, checkedAt, options.stuckAfterMs),
    readAuditLogs(options.auditLogs, options.auditTrust),
    checks.activities.healthCheckPlans(),
  ]);
  const run: Run = {
    client: options.client,
    checks,
    running: new Map(open.map((rotation) => [rotation.open.credentialId, rotation])),
    audit: logs.entries,
  };
  const credentials: CredentialVerdict[] = unplanned.map(({ credentialId, reason }) => ({
    credentialId,
    verdict: 'violation',
    reason: `unchecked: ${reason}`,
    violations: [{ kind: 'unchecked', message: reason }],
    notes: [],
  }));
  await inLanes(plans, CONCURRENCY, async ({ plan }) => {
    credentials.push(await judge(plan, run));
  });
  credentials.sort((a, b) => a.credentialId.localeCompare(b.credentialId));
  return stateReport({
    checkedAt: checkedAt.toISOString(),
    taskQueue: options.taskQueue,
    credentials,
    openRotations: open.map((rotation) => rotation.open),
    auditLogs: logs.checks,
  });
}

/**
 * One credential's verdict: in a documented terminal state (from any rotation since its last `rotated` one),
 * judged whole, or left alone while it rotates.
 */
async function judge(
  plan: RotationPlan,
  { client, checks, running, audit }: Run,
): Promise<CredentialVerdict> {
  const credentialId = plan.credentialId;
  const open = running.get(credentialId);
  const runs = await rotationsSinceRotated(client, credentialId, open);
  const last = runs[0];
  const phase = open?.status?.phase ?? last?.phase;
  const lastRotationOf =
    last === undefined
      ? {}
      : {
          lastRotation: {
            workflowId: last.workflowId,
            runId: last.runId,
            state: last.state,
            ...(phase === undefined ? {} : { phase }),
          },
        };
  const terminal = terminalRotation(runs, open);
  // A rotation under way after a terminal end leaves the verdict terminal: only its ending `rotated` clears it.
  if (open !== undefined && terminal === undefined && !JUDGED_WAITS.has(phase ?? '')) {
    return {
      credentialId,
      verdict: 'rotating',
      reason: `${open.open.workflowId} is ${open.open.state} (${phase ?? 'phase unknown'}): judged once it waits or ends`,
      ...lastRotationOf,
      violations: [],
      notes: [],
    };
  }
  const found = await checkCredential(plan, open?.status, checks);
  if (terminal !== undefined) {
    const { state, run: by, later } = terminal;
    const known = by.runId === open?.run.runId ? open.status : undefined;
    const unproven = await terminalEvidence(client, state, by, known, audit);
    if (unproven.length === 0) {
      const after = later.map(({ runId, state: ended }) => `run ${runId} ${ended}`).join(', ');
      return {
        credentialId,
        verdict: 'terminal',
        reason: `${state}: ${by.workflowId} (run ${by.runId}), alert sent and audited: a person takes over`,
        ...(found.current === undefined ? {} : { current: found.current }),
        ...lastRotationOf,
        violations: [],
        notes: [
          ...(later.length === 0
            ? []
            : [
                {
                  kind: 'terminal' as const,
                  message: `still ${state}: no rotation after run ${by.runId} ended rotated (${after})`,
                },
              ]),
          ...found.violations.map(({ kind, message }) => ({
            kind: 'terminal' as const,
            message: `${kind}: ${message}`,
          })),
          ...found.notes,
        ],
      };
    }
    found.violations.unshift(...unproven);
  }
  // The reason is the table's column: the kinds only, each finding's message follows the table.
  const kinds = [...new Set(found.violations.map(({ kind }) => kind))];
  const unverifiable = found.notes.filter(({ kind }) => kind === 'unverifiable').length;
  const exempt = found.notes.filter(({ kind }) => kind === 'exempt').length;
  return {
    credentialId,
    ...(kinds.length > 0
      ? { verdict: 'violation' as const, reason: kinds.join(', ') }
      : unverifiable > 0
        ? { verdict: 'unverified' as const, reason: `${unverifiable} target(s) cannot say what they hold` }
        : {
            verdict: 'ok' as const,
            reason: `every invariant holds${exempt > 0 ? ` (${exempt} token(s) of the running rotation exempt)` : ''}`,
          }),
    ...found,
    ...lastRotationOf,
  };
}
