import {
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type { IssuedRef } from '../activities/issue';
import type { Detection, RotationPlan, RotationRequest } from '../activities/rotation';
import type { AlertKind } from '../src/alerts';
import { CREDENTIAL_ID, ROTATION_OUTCOME, ROTATION_PHASE } from '../src/search-attributes';
import { compensating, run } from './calls';
import { sendAlert } from './alerts';
import { auditTrail } from './audit-trail';
import { rotationCurrentDetails, type DetailsContext } from './details';
import { classifyFailure, type ClassifiedFailure } from './failures';
import { abortGate, approvalGate, operatorGate, overlapWindow } from './operator';
import type { recovering } from './recovery';
import type { Compensation } from './rollback';
import {
  FORWARD_PHASES,
  statusQuery,
  type RotationOutcome,
  type RotationPhase,
  type RotationStatus,
} from './status';

/**
 * The phases a rotation waits in, which the workflow list shows (search attribute RotationPhase). The steps
 * between them take a fraction of a second each: the status query and the Web UI show those, since
 * recording each in visibility cost a history event and a billed action apiece.
 */
const LISTED_PHASES: ReadonlySet<RotationPhase> = new Set([
  'awaiting-approval',
  'awaiting-review',
  'recovering',
  'running-canary',
  'overlapping',
  'rolling-back',
  'needs-operator',
]);

/** A rotation's status before anything is done: what `status` answers from the workflow's start. */
export function loadingStatus(credentialId: string): RotationStatus {
  return {
    credentialId,
    phase: 'loading',
    timeline: [],
    versions: {},
    targets: [],
    failures: [],
    alerts: [],
  };
}

/** Thrown instead of starting the next step of an aborted rotation; rollback follows. */
export class RotationAborted extends Error {}

/** A dependent paused by this rotation, with what pausing it recorded for resume. */
export interface Paused {
  dependent: RotationPlan['dependents'][number];
  record: { paused: number[] };
}

/**
 * One rotation's state, shared by its steps (workflows/steps/): its status, what it loaded and found, the
 * undo of each step that changed something, and the moves every step makes (enter a phase, run as a step
 * of the timeline, alert, finish). The operator's updates and the status query are set up with it.
 */
export class Rotation {
  readonly id: string;
  readonly status: RotationStatus;
  readonly audit: ReturnType<typeof auditTrail>;
  /** What the Web UI's current details show beyond the status: the plan once loaded, what is awaited. */
  readonly shown: DetailsContext = {};
  /** The options of every undo: tried longer than a step before an operator is called. */
  readonly undoing: ActivityOptions;
  /** Each step that changes something pushes its undo right beside it; rollback runs them in reverse. */
  readonly undo: Compensation[] = [];
  /** Resuming the paused dependents: always the last undo, whenever they were paused. */
  readonly resumes: Compensation[] = [];
  readonly paused: Paused[] = [];
  /** An outcome the failure itself decides, such as `compromised` for a stolen refresh token. */
  markedOutcome: ClassifiedFailure['outcome'];
  readonly approval: ReturnType<typeof approvalGate>;
  readonly overlap: ReturnType<typeof overlapWindow>;
  readonly operator: ReturnType<typeof operatorGate>;

  /* Set by the steps in runbook order: load, detect, issue. */
  plan!: RotationPlan;
  recover!: ReturnType<typeof recovering>;
  /** When detect ran: whatever a lost mint left behind was created after this. */
  detectedAt!: string;
  detection!: Detection;
  issued!: IssuedRef;

  /** Labels not listed yet: they go with the next phase the rotation waits in or ends in. */
  private readonly labels: SearchAttributeUpdatePair[] = [];

  constructor(readonly request: RotationRequest) {
    this.id = request.credentialId;
    this.status = loadingStatus(this.id);
    setHandler(statusQuery, () => this.status);
    this.approval = approvalGate(this.status, (approval) => {
      const { workflowId, runId } = workflowInfo();
      const rotation = { workflowId, runId, credentialId: this.id, requestedBy: request.requestedBy };
      return run('verifyApproval', `verify the approval of ${this.id} by ${String(approval.approvedBy)}`, [
        { approval, rotation },
      ]);
    });
    this.overlap = overlapWindow(this.status, () => this.show());
    this.operator = operatorGate(this.status);
    abortGate(this.status);
    this.undoing = compensating(request.rollbackAttempts);
    this.audit = auditTrail(request, this.status);
    // Rotations started through src/rotations.ts carry it from their start already.
    if (workflowInfo().typedSearchAttributes.get(CREDENTIAL_ID) === undefined)
      this.label({ key: CREDENTIAL_ID, value: this.id });
  }

  get aborted(): boolean {
    return this.status.abortedBy !== undefined;
  }

  /** Rotating in place revoked the old token already: a failure rolls forward to the new one. */
  get rollsForward(): boolean {
    return this.issued.revokedTokenId !== undefined;
  }

  label(...pairs: SearchAttributeUpdatePair[]): void {
    this.labels.push(...pairs);
  }

  private list(...pairs: SearchAttributeUpdatePair[]): void {
    upsertSearchAttributes([...this.labels.splice(0), ...pairs]);
  }

  /** The Web UI's current details: not a command, so they change nothing in the history. */
  show(): void {
    setCurrentDetails(rotationCurrentDetails(this.status, this.request, this.shown));
  }

  enter(phase: RotationPhase): void {
    this.status.phase = phase;
    if (LISTED_PHASES.has(phase)) this.list({ key: ROTATION_PHASE, value: phase });
    this.show();
  }

  /** Runs `run` as a step of the timeline in `phase`; an aborted rotation starts no forward step. */
  async step<T>(name: string, phase: RotationPhase, run: () => Promise<T>, mark: { recovery?: true } = {}) {
    if (this.aborted && FORWARD_PHASES.has(phase)) throw new RotationAborted();
    const entry: RotationStatus['timeline'][number] = {
      step: name,
      startedAt: new Date().toISOString(),
      ...mark,
    };
    // In the timeline first, so that the current details name the step.
    this.status.timeline.push(entry);
    this.enter(phase);
    try {
      const result = await run();
      entry.result = 'ok';
      this.audit.stepSucceeded();
      return result;
    } catch (error) {
      entry.result = 'failed';
      throw error;
    } finally {
      entry.endedAt = new Date().toISOString();
    }
  }

  /** A recovery, as a step of its own in phase `recovering`; then back to the phase it interrupted. */
  async recoveryStep<T>(name: string, run: () => Promise<T>): Promise<T> {
    const resumeIn = this.status.phase;
    const result = await this.step(name, 'recovering', run, { recovery: true });
    this.enter(resumeIn);
    return result;
  }

  /** The rotation step that failed: a recovery that failed too is not it. */
  failedStep(otherwise: string): string {
    return this.status.timeline.filter((entry) => entry.recovery !== true).at(-1)?.step ?? otherwise;
  }

  /** Sends an alert; one that cannot be sent is recorded among the failures and changes nothing else. */
  async raiseAlert(kind: AlertKind, message: string): Promise<void> {
    await sendAlert({ kind, credentialId: this.id, message }).catch((error: unknown) => {
      const failure = classifyFailure(error);
      this.status.failures.push({
        step: `alert ${kind}`,
        class: failure.class,
        message: failure.message,
        at: new Date().toISOString(),
        recovery: 'none: the rotation went on without it',
        recovered: false,
      });
    });
  }

  finish(outcome: RotationOutcome, detail: string): RotationStatus {
    Object.assign(this.status, { phase: 'done', outcome, detail });
    this.list({ key: ROTATION_PHASE, value: 'done' }, { key: ROTATION_OUTCOME, value: outcome });
    this.show();
    return this.status;
  }
}
