import { randomUUID } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { z } from 'zod';
import { FAILURE_TYPES } from '../src/failure-types';
import { fingerprintsOf } from '../src/fingerprint';
import type { CredentialRef, TokenId } from '../src/providers/types';
import {
  describeStore,
  storeRefSchema,
  storeVersionSchema,
  type StoreVersion,
  type Stores,
} from '../src/stores';
import { untilStoreAnswers } from '../src/stores/store';
import {
  VALUE_KEY,
  adapterRefSchema,
  audited,
  tokenIdSchema,
  type AdapterRef,
  type ProviderCalls,
} from './provider-calls';

/**
 * How long a freshly minted value waits for an unavailable store before it is given up: the only copy is in
 * this process, and rotating in place has already revoked the old token. Within issue's 1-minute timeout.
 */
const STAGE_PATIENCE_MS = 45_000;

/** Where a new value is staged: the credential's store, and what must be staged there now (detect's mark). */
export const stageSchema = z
  .object({ at: storeRefSchema, after: z.union([z.number().int().min(0), z.string()]) })
  .strict();
const issueInputSchema = z
  .object({
    source: adapterRefSchema,
    current: z.object({ tokenId: tokenIdSchema }).strict().optional(),
    stage: stageSchema,
    /** The current version, read for sources whose state lives in the store (an OAuth2 refresh token). */
    held: storeVersionSchema.optional(),
    /**
     * After a mint whose answer was lost, and its orphans revoked: create the new credential beside the old
     * one, never rotate in place again (rotating a token already rotated makes GitLab revoke its family).
     */
    recovery: z
      .object({ orphansRevoked: z.array(tokenIdSchema) })
      .strict()
      .optional(),
    ...audited,
  })
  .strict();

export type IssueCredentialInput = z.infer<typeof issueInputSchema>;
type Stage = IssueCredentialInput['stage'];

/** What issuing returns: references only. The value is in the store at `staged`. */
export interface IssuedRef {
  tokenId: TokenId;
  expiresAt: string;
  staged: StoreVersion;
  revokedTokenId?: TokenId;
}

const recoveredDetail = (orphans: TokenId[]) =>
  `the first mint's outcome was unknown (its answer lost, or a 5xx); ${
    orphans.length === 0
      ? 'it left no token behind'
      : `revoked what it left behind: token ${orphans.join(', ')}`
  }; created afresh`;

/** The staged secret a previous attempt at issuing wrote, if any: found instead of minting again. */
export async function alreadyStaged(stores: Stores, { at, after }: Stage): Promise<IssuedRef | undefined> {
  const { mark, found } = await stores.of(at).readStaged(at);
  // A grant under way (see `grantUnderWay`) has no value yet.
  return mark !== after && found?.data[VALUE_KEY] !== undefined && found.data.tokenId !== undefined
    ? { tokenId: found.data.tokenId, expiresAt: found.data.expiresAt ?? '', staged: found.version }
    : undefined;
}

/** The value exists only in this process until the store has it: it waits for an unavailable store before it is given up. */
const persisting = <T>(write: () => Promise<T>): Promise<T> => untilStoreAnswers(write, STAGE_PATIENCE_MS);

/**
 * Each staged write of this activity by a key of its own, the same on every try of it: a store that
 * deduplicates by request key takes a write repeated after a lost answer once.
 */
function requestKeys(): () => string {
  let attempt: string;
  try {
    const { workflowExecution, activityId } = Context.current().info;
    attempt = `${workflowExecution?.workflowId}/${workflowExecution?.runId}/${activityId}`;
  } catch {
    // Called outside an activity (tests, tools): no retry of this call can come.
    attempt = randomUUID();
  }
  let count = 0;
  return () => {
    count += 1;
    return `${attempt}/${count}`;
  };
}

/**
 * For a source whose credential dies with the grant that replaces it: records in the staged version that a
 * grant for `current` is under way, before making it, so that an attempt after a lost answer knows. Answers
 * whether an earlier attempt had recorded one, and the staged mark the result must be written over.
 * An earlier attempt may belong to an earlier rotation that gave up (a lost grant, then a refused one, rolls
 * back): its record stays until a grant for `current` succeeds, so that a refusal then reads as lost rather
 * than stolen.
 */
async function grantUnderWay(
  stores: Stores,
  { at, after }: Stage,
  current: TokenId | undefined,
  key: () => string,
) {
  const marker = { grantFor: current ?? '0', startedAt: new Date().toISOString() };
  const store = stores.of(at);
  const before = await store.readStaged(at);
  if (before.found !== undefined && before.found.data.grantFor === marker.grantFor) {
    // What that grant issued and kept (see `keep` in `mint`) supersedes the current secret.
    const data = before.found.data;
    const kept = Object.fromEntries(Object.entries(data).filter(([field]) => !(field in marker)));
    return { afterLostAnswer: true, mark: before.mark, record: data, kept };
  }
  const written = await store.stage(at, marker, after, key());
  return { afterLostAnswer: false, mark: written.mark, record: marker, kept: {} };
}

/** Issuing a credential: the one step whose result exists nowhere but here until the store has it. */
export function createIssueActivities({ stores, audit, record, activity, sourceOf }: ProviderCalls) {
  /**
   * After a lost answer: whether the lost attempt took the current credential with it. A lost rotate-in-place
   * has revoked the old token (the provider says so), and a grant spends the credential it replaces, so the
   * rotation must neither revoke it again nor roll back to it.
   */
  const goneAfterLostAnswer = async (
    ref: AdapterRef,
    current: CredentialRef,
    { source, heldSecret }: Awaited<ReturnType<typeof sourceOf>>,
  ): Promise<boolean> =>
    source.keepsStateInStore === true || (await source.inspect(ref.spec, current, heldSecret)).revoked;

  /** Mints, and stages the value; a value the store refuses is revoked at once, since nobody could ever use it. */
  const mint = async (
    ref: AdapterRef,
    { current, stage, recovery, held }: Pick<IssueCredentialInput, 'current' | 'stage' | 'recovery' | 'held'>,
  ): Promise<IssuedRef> => {
    const adapted = await sourceOf(ref, held);
    const { source, heldSecret } = adapted;
    const oldRevoked =
      recovery !== undefined && current !== undefined && (await goneAfterLostAnswer(ref, current, adapted));
    const key = requestKeys();
    const underWay = source.keepsStateInStore
      ? await grantUnderWay(stores, stage, current?.tokenId, key)
      : undefined;
    const { at } = stage;
    const store = stores.of(at);
    let mark = underWay?.mark ?? stage.after;
    const issued = await source.issue(
      ref.spec,
      current,
      recovery === undefined ? undefined : 'create-then-revoke',
      underWay === undefined
        ? { held: heldSecret, afterLostAnswer: recovery !== undefined }
        : {
            held: heldSecret === undefined ? undefined : { ...heldSecret, ...underWay.kept },
            afterLostAnswer: underWay.afterLostAnswer,
            // Beside the record of the grant under way, which stays until a grant for `current` succeeds.
            keep: async (fields) => {
              const record = { ...underWay.record, ...fields };
              const requestKey = key();
              mark = (await persisting(() => store.stage(at, record, mark, requestKey))).mark;
            },
          },
    );
    const tokens = { ...issued.fields, [VALUE_KEY]: issued.value };
    // The fingerprints stay in the store with the values: the result below names the version only.
    const secret = {
      ...tokens,
      ...fingerprintsOf(tokens),
      tokenId: issued.tokenId,
      ...(issued.expiresAt === undefined ? {} : { expiresAt: issued.expiresAt }),
    };
    const revokedTokenId = issued.revokedTokenId ?? (oldRevoked ? current?.tokenId : undefined);
    try {
      const requestKey = key();
      const { version } = await persisting(() => store.stage(at, secret, mark, requestKey));
      return { tokenId: issued.tokenId, expiresAt: issued.expiresAt ?? '', staged: version, revokedTokenId };
    } catch (error) {
      const revokedNew = await source.revoke(ref.spec, issued).then(
        () => 'so that was revoked too',
        () => 'and that could not be revoked',
      );
      if (revokedTokenId === undefined) throw error;
      throw ApplicationFailure.nonRetryable(
        `issue: ${ref.kind} token ${revokedTokenId} was revoked by rotating it in place, and ${describeStore(at)} refused ` +
          `to stage its replacement, token ${issued.tokenId} (${error instanceof Error ? error.message : 'unknown error'}), ` +
          `${revokedNew}: NO live token is left. An operator must create one by hand and write it ` +
          `to ${describeStore(at)} (fields token, tokenId, expiresAt).`,
        FAILURE_TYPES.credentialLost,
      );
    }
  };

  return {
    /**
     * Mints the new credential and stages its value in the store (check-and-set) before returning: persist
     * before acknowledge. Run it with maximumAttempts 1: a retried mint can make GitLab revoke a whole token
     * family. Should the store refuse the value, the new credential is revoked, since nobody could ever use it.
     */
    issueCredential: activity('issueCredential', issueInputSchema, async (parsed): Promise<IssuedRef> => {
      const { source: ref, current, stage, recovery, audit: context } = parsed;
      // Issue runs once, so only a recovery from a lost answer can find a token staged by an earlier try.
      let issued = recovery === undefined ? undefined : await alreadyStaged(stores, stage);
      if (
        issued !== undefined &&
        current !== undefined &&
        (await goneAfterLostAnswer(ref, current, await sourceOf(ref, parsed.held)))
      ) {
        issued = { ...issued, revokedTokenId: current.tokenId };
      }
      if (issued === undefined) {
        // A log that cannot take the entry refuses now, before there is a token to strand.
        if (context !== undefined) await audit.ready();
        issued = await mint(ref, parsed);
      }
      const { tokenId, revokedTokenId } = issued;
      await record(
        context,
        ...(recovery === undefined
          ? []
          : [{ event: 'recovered' as const, tokenId, detail: recoveredDetail(recovery.orphansRevoked) }]),
        {
          event: 'issued',
          tokenId,
          replacesTokenId: current?.tokenId,
          vault: { staged: issued.staged.version },
        },
        ...(revokedTokenId === undefined
          ? []
          : [{ event: 'revoked' as const, tokenId: revokedTokenId, detail: 'rotated in place' }]),
      ).catch((error: unknown) => {
        // Failing now would strand a staged token that nobody revokes, since issue is never retried.
        Context.current().log.warn(
          `issue: token ${tokenId} is staged, but the audit log did not take its entries: ${
            error instanceof Error ? error.message : String(error)
          }`,
        );
      });
      return issued;
    }),
  };
}
