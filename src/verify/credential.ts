import type { CurrentVersion } from '../../activities/health';
import type { RotationPlan } from '../inventory/plan';
import type { CredentialState, TokenId } from '../providers/types';
import { rotationWorkflowId } from '../rotation-names';
import { fingerprintProblems } from '../fingerprint';
import type { Stores, StoreVersion } from '../stores';
import type { SecretData } from '../stores/store';
import { versionLabel } from '../stores/labels';
import type { RotationStatus } from '../../workflows/status';
import { credentialQuestions, isNotFound, messageOf, type StateChecks } from './checks';
import { credentialFacts } from '../../workflows/credential-facts';
import type { CredentialVerdict, Finding, NoteKind, ViolationKind } from './report';

/** The fields every rotation writes to the current version (issue, then promote copies them). */
const ROTATION_FIELDS = ['token', 'tokenId', 'expiresAt'] as const;
/** Orphans are listed from the beginning of time: a leftover of any rotation counts. */
const SINCE_EVER = new Date(0).toISOString();

/** What the checks of one credential found, before the verdict. */
export type CredentialFindings = Pick<CredentialVerdict, 'current' | 'violations' | 'notes'>;

/**
 * Checks one credential against its invariants: the store's current version is whole, no staged token is
 * stranded, the provider holds the current token active, every target holds it, and no other token the
 * rotator minted is still active. `running` is the credential's open rotation, whose own tokens are not
 * orphans. Values are read and compared inside the checks (the activities'), never returned.
 */
export async function checkCredential(
  plan: RotationPlan,
  running: RotationStatus | undefined,
  { stores, activities }: StateChecks,
): Promise<CredentialFindings> {
  const violations: Finding<ViolationKind>[] = [];
  const notes: Finding<NoteKind>[] = [];
  const where = plan.store.name;
  const violation = (kind: ViolationKind, message: string) => violations.push({ kind, message });

  const facts = await credentialFacts(plan, credentialQuestions(activities));
  if ('unreadable' in facts) {
    violation('vault-current', facts.unreadable);
    return { violations, notes };
  }
  const { current, token } = facts;
  let data: SecretData;
  try {
    data = await stores.of(current.ref).read(current.ref);
  } catch (error) {
    violation('vault-current', messageOf(error));
    return { violations, notes };
  }
  const missing = ROTATION_FIELDS.filter((field) => (data[field] ?? '') === '');
  if (missing.length > 0)
    violation('vault-current', `${where} ${versionLabel(current.ref)} lacks ${missing.join(', ')}`);
  const fingerprints = await fingerprintFindings(stores, where, { data, version: current.ref });
  violations.push(...fingerprints.violations);
  notes.push(...fingerprints.notes);
  for (const problem of current.replicaProblems ?? []) violation('replica-not-in-sync', problem);
  const checked = { store: where, version: current.ref.version, tokenId: current.tokenId };
  const tokenName = `token ${current.tokenId} (${where} ${versionLabel(current.ref)})`;
  const source = plan.source.ref;

  for (const message of facts.unchecked) violation('unchecked', message);
  if (token === 'missing') violation('token-not-active', `${tokenName} no longer exists at the provider`);
  else if (token?.revoked === true) violation('token-not-active', `${tokenName} is revoked at the provider`);
  else if (token?.active === false)
    violation('token-not-active', `${tokenName} is no longer active at the provider (expired)`);
  for (const { name, check } of facts.targets) {
    if (check?.state === 'drifted') violation('target-not-current', `${name}: ${check.detail}`);
    if (check?.state === 'unverifiable')
      notes.push({ kind: 'unverifiable', message: `${name}: ${check.detail}` });
  }

  // A rotation that runs owns its staged value; only one that nobody will promote is stranded.
  const stranded =
    running === undefined ? await strandedStaged(plan, current, { stores, activities }) : undefined;
  if (stranded !== undefined) violation(stranded.kind, stranded.message);

  const known = [current.tokenId, ...(stranded?.tokenId === undefined ? [] : [stranded.tokenId])];
  const excused = exemptions(running);
  try {
    const orphans = await activities.findOrphanCredentials({ source, since: SINCE_EVER, known });
    for (const orphan of orphans) {
      const why = excused.get(orphan.tokenId);
      if (why !== undefined) notes.push({ kind: 'exempt', message: `token ${orphan.tokenId}: ${why}` });
      else violation('orphan-token', orphanMessage(orphan, tokenName));
    }
  } catch (error) {
    violation('unchecked', `${plan.source.name}: orphans: ${messageOf(error)}`);
  }
  return { current: checked, violations, notes };
}

/**
 * The fingerprints of the current version and of the one it replaced, when that one holds another token
 * (one written over the same token, as the backfill does, has nothing more to show). A missing fingerprint
 * is a note: credentials written before fingerprints get theirs at their next rotation. One that does not
 * match its token is a violation: an alert about that token would not find its credential. The values are
 * looked at here and go no further.
 */
async function fingerprintFindings(
  stores: Stores,
  where: string,
  current: { data: SecretData; version: StoreVersion },
): Promise<CredentialFindings> {
  const violations: Finding<ViolationKind>[] = [];
  const notes: Finding<NoteKind>[] = [];
  const check = (
    { data, version }: typeof current,
    which: string,
    remedy: { missing: string; mismatch: string },
  ) => {
    const name = `${which} ${where} ${versionLabel(version)} (token ${data.tokenId ?? 'unnamed'})`;
    for (const { field, beside, problem } of fingerprintProblems(data)) {
      if (problem === 'missing')
        notes.push({
          kind: 'fingerprint-missing',
          message: `${name}: field ${field} has no ${beside}: ${remedy.missing}`,
        });
      else
        violations.push({
          kind: 'fingerprint-mismatch',
          message: `${name}: ${beside} does not match field ${field}: ${remedy.mismatch}`,
        });
    }
  };
  check(current, 'the current version', {
    missing: 'it gets one at its next rotation, or from rotator fingerprints backfill',
    mismatch: 'run rotator fingerprints backfill',
  });
  try {
    const previous = await stores.of(current.version).readPrevious(current.version);
    // Versions are never rewritten: only a rotation leaves a previous version with the right fingerprints.
    if (previous !== undefined && previous.data.tokenId !== current.data.tokenId)
      check(previous, 'the previous version', {
        missing: 'the next rotation leaves a previous version with one',
        mismatch: 'the next rotation leaves a previous version with the right one',
      });
  } catch (error) {
    violations.push({ kind: 'unchecked', message: `previous version: ${messageOf(error)}` });
  }
  return { violations, notes };
}

/**
 * A staged value written after the current version, naming another token that is still live: issue staged
 * it, and no promote followed nor any revoke. One whose token is revoked (a rollback's) strands nothing.
 */
async function strandedStaged(
  plan: RotationPlan,
  current: CurrentVersion,
  { stores, activities }: StateChecks,
): Promise<(Finding<ViolationKind> & { tokenId?: TokenId }) | undefined> {
  const store = stores.of(plan.store.ref);
  let staged;
  try {
    // Nothing found: never staged, or its latest version deleted, so nothing waits there.
    staged = (await store.readStaged(plan.store.ref)).found;
    if (staged === undefined) return undefined;
  } catch (error) {
    return { kind: 'unchecked', message: `staged: ${messageOf(error)}` };
  }
  const { tokenId } = staged.data;
  // An OAuth2 grant's "under way" marker names no token.
  if (tokenId === undefined || tokenId === '' || tokenId === current.tokenId) return undefined;
  const stagedAt = await store.writtenAt(staged.version);
  if (Date.parse(stagedAt) <= Date.parse(current.writtenAt)) return undefined;
  const where = `${plan.store.name} staged ${versionLabel(staged.version)}`;
  try {
    const state = await activities.inspectCredential({
      source: plan.source.ref,
      tokenId,
      held: staged.version,
    });
    if (!state.active || state.revoked) return undefined;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    return { kind: 'unchecked', message: `staged token ${tokenId} (${where}): ${messageOf(error)}` };
  }
  return {
    kind: 'stranded-staged',
    tokenId,
    message:
      `token ${tokenId} (${where}, written ${stagedAt}) is active at the provider and newer than the current ` +
      `version, but no rotation runs to promote it: promote it by hand, or revoke it`,
  };
}

/** The tokens a running rotation names: its new one while it runs, its old one inside the overlap window. */
function exemptions(running: RotationStatus | undefined): Map<TokenId, string> {
  const excused = new Map<TokenId, string>();
  if (running === undefined) return excused;
  const workflow = rotationWorkflowId(running.credentialId);
  if (running.newTokenId !== undefined)
    excused.set(running.newTokenId, `the new token of ${workflow} (phase ${running.phase})`);
  if (running.oldTokenId !== undefined && ['overlapping', 'revoking'].includes(running.phase))
    excused.set(running.oldTokenId, `the previous token, inside the overlap window of ${workflow}`);
  return excused;
}

function orphanMessage(orphan: CredentialState, current: string): string {
  return (
    `token ${orphan.tokenId} "${orphan.name}" (created ${orphan.createdAt}) is active at the provider, ` +
    `but the current one is ${current} and no rotation names it: revoke it`
  );
}
