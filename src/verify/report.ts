/**
 * What `rotator verify-state` finds, in the operator's words: the JSON document `--json` prints and the
 * table it prints otherwise. Names, ids, versions and times only, never a value.
 */

/** Each breaks an invariant `rotator verify-state` checks (docs/operations.md); the message names the resource. */
export type ViolationKind =
  /** Vault's current version is unreadable, deleted, or lacks a field a rotation writes. */
  | 'vault-current'
  /** The staged path holds a live token newer than the current one, and no rotation runs to promote it. */
  | 'stranded-staged'
  /** The provider does not hold the current token active: revoked, expired or gone. */
  | 'token-not-active'
  /** A target holds something other than Vault's current version, or nothing. */
  | 'target-not-current'
  /** A token minted by the rotator is active at the provider, but is neither current nor an in-flight one. */
  | 'orphan-token'
  /** A rotation since the last `rotated` one ended in (or waits in) a terminal state without the alert or the
   * audit entry it owes. */
  | 'terminal-unproven'
  /** A replica of the secret that its inventory entry lists is missing or not in sync (AWS Secrets Manager). */
  | 'replica-not-in-sync'
  /** A token's fingerprint in the current or previous version does not match the token beside it. */
  | 'fingerprint-mismatch'
  /** A check could not run, so the invariant is not shown to hold. */
  | 'unchecked';

/** What is worth knowing without breaking an invariant. */
export type NoteKind =
  /** A target that cannot say what it holds (a hidden GitLab variable): not counted as a pass. */
  | 'unverifiable'
  /** A token that would be an orphan, excused because a running rotation names it. */
  | 'exempt'
  /** What a credential in a terminal state shows; its other findings are what the operator must repair. */
  | 'terminal'
  /**
   * A token in the current or previous version without its fingerprint: written before fingerprints were,
   * so a warning that leaves the verdict as it is, not a violation.
   */
  | 'fingerprint-missing';

export interface Finding<K extends string> {
  kind: K;
  message: string;
}

/**
 * - `ok`: every invariant holds.
 * - `unverified`: no violation, but a target could not say what it holds.
 * - `terminal`: a rotation since the last `rotated` one ended in (or waits in) a documented terminal state,
 *   with its alert and audit entry; a later rotation that failed or rolled back does not clear it.
 * - `rotating`: a rotation is in a step between its waits; the state is in flux and not judged (the run-wide
 *   check says whether it is stuck).
 * - `violation`: at least one invariant does not hold.
 */
export type Verdict = 'ok' | 'unverified' | 'terminal' | 'rotating' | 'violation';

export interface CredentialVerdict {
  credentialId: string;
  verdict: Verdict;
  /** One short line for the table: the kinds of violation, or why the verdict is what it is. */
  reason: string;
  /** Vault's current version and the token it names, when they could be read. */
  /** The current version checked: the store's secret, its version id, and the token it names. */
  current?: { store: string; version: number | string; tokenId: string };
  /** The credential's newest rotation, if it has one. */
  lastRotation?: { workflowId: string; runId: string; state: string; phase?: string };
  violations: Finding<ViolationKind>[];
  notes: Finding<NoteKind>[];
}

/**
 * - `waiting`: in a documented wait (awaiting-approval, overlapping, recovering, needs-operator, rolling-back).
 * - `under-way`: in a step, for less than `--stuck-after`.
 * - `stuck`: in a step for longer than `--stuck-after` (a violation).
 * - `unanswered`: no worker answered its status query (a violation: its state is unknown).
 */
export type OpenRotationState = 'waiting' | 'under-way' | 'stuck' | 'unanswered';

export interface OpenRotation {
  credentialId: string;
  workflowId: string;
  runId: string;
  state: OpenRotationState;
  phase?: string;
  /** When its current step began (workflow time), when it is in a step. */
  since?: string;
  message: string;
}

export type AuditLogCheck =
  { path: string; ok: true; entries: number } | { path: string; ok: false; line?: number; problem: string };

export interface StateReport {
  checkedAt: string;
  /** No violation anywhere: every credential, every open rotation, every audit log. */
  ok: boolean;
  /** How many violations, over credentials, open rotations and audit logs. */
  violations: number;
  /** The task queue whose rotations were listed. */
  taskQueue: string;
  credentials: CredentialVerdict[];
  openRotations: OpenRotation[];
  auditLogs: AuditLogCheck[];
}

/** An open rotation that breaks the run-wide invariant: stuck in a step, or unknown. */
export const isViolation = (rotation: Pick<OpenRotation, 'state'>) =>
  rotation.state === 'stuck' || rotation.state === 'unanswered';

/** The report's totals, from its parts. */
export function stateReport(parts: Omit<StateReport, 'ok' | 'violations'>): StateReport {
  const violations =
    parts.credentials.reduce((total, credential) => total + credential.violations.length, 0) +
    parts.openRotations.filter(isViolation).length +
    parts.auditLogs.filter((log) => !log.ok).length;
  const { checkedAt, taskQueue, credentials, openRotations, auditLogs } = parts;
  return { checkedAt, ok: violations === 0, violations, taskQueue, credentials, openRotations, auditLogs };
}

/** A run's summary of a report: credentials by verdict, and every violation, each naming its credential. */
export function reportFindings(state: Pick<StateReport, 'credentials' | 'openRotations' | 'auditLogs'>) {
  const verdicts: Record<string, number> = {};
  for (const { verdict } of state.credentials) verdicts[verdict] = (verdicts[verdict] ?? 0) + 1;
  const violations = [
    ...state.credentials.flatMap(({ credentialId, violations: found }) =>
      found.map(({ kind, message }) => ({ credentialId, kind: kind as string, message })),
    ),
    ...state.openRotations
      .filter(isViolation)
      .map(({ credentialId, state: kind, message }) => ({ credentialId, kind: kind as string, message })),
    ...state.auditLogs.flatMap((check) =>
      check.ok ? [] : [{ credentialId: '', kind: 'audit-log', message: `${check.path}: ${check.problem}` }],
    ),
  ];
  return { verdicts, violations };
}
