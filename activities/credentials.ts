import { ApplicationFailure, Context } from '@temporalio/activity';
import { z } from 'zod';
import type { AuditSink } from '../src/audit';
import { AdminSecrets } from '../src/providers/admin-secrets';
import { noteSecrets } from '../src/redaction';
import { ProviderError } from '../src/providers/errors';
import { allKinds } from '../src/kinds';
import type { KindRegistry } from '../src/kinds/define';
import type { ProviderConnection } from '../src/providers/registry';
import type {
  CredentialRef,
  CredentialState,
  PauseRecord,
  TargetCheck,
  TargetSnapshot,
} from '../src/providers/types';
import { parseOrThrow } from '../src/validation';
import {
  VaultError,
  secretFieldSchema,
  secretPathSchema,
  secretVersionSchema,
  type SecretField,
  type SecretStore,
  type SecretVersion,
} from '../src/vault';
import { auditContextSchema, auditRecorder } from './audit';
import { asActivity } from './failures';
import { FAILURE_TYPES } from '../src/failure-types';

export type { KindRegistry };

/** Where a provider is and where Vault keeps its admin token (and an optional fallback). */
const connectionRefSchema = z
  .object({ url: z.url(), credential: secretFieldSchema, fallbackCredential: secretFieldSchema.optional() })
  .strict();
/** An adapter by kind, its connection, and its own parameters (checked by the adapter's types). */
const adapterRefSchema = z
  .object({ kind: z.string().min(1), connection: connectionRefSchema, spec: z.unknown() })
  .strict();
const tokenIdSchema = z.number().int().positive();
/** Steps that change something take an audit context and record themselves once they succeed. */
const audited = { audit: auditContextSchema.optional() };
/** The field of a staged or current secret that holds the credential's value. */
const VALUE_KEY = 'token';
/**
 * How long a freshly minted value waits for an unavailable Vault before it is given up: the only copy is in
 * this process, and rotating in place has already revoked the old token. Within issue's 1-minute timeout.
 */
const STAGE_PATIENCE_MS = 45_000;
/** The longest pause between two tries at staging. */
const STAGE_MAX_PAUSE_MS = 8_000;

/** Where a new value is staged, and the version that path must be at now (0: must not exist). */
const stageSchema = secretPathSchema.extend({ cas: z.number().int().min(0) }).strict();
const issueInputSchema = z
  .object({
    source: adapterRefSchema,
    current: z.object({ tokenId: tokenIdSchema }).strict().optional(),
    stage: stageSchema,
    /** The current Vault version, read for sources whose state lives there (an OAuth2 refresh token). */
    held: secretVersionSchema.optional(),
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
const sourceTokenSchema = z.object({ source: adapterRefSchema, tokenId: tokenIdSchema, ...audited }).strict();
/** `held`: the current Vault version, read for sources whose state lives there. */
const inspectInputSchema = sourceTokenSchema.extend({ held: secretVersionSchema.optional() }).strict();
/** `targets`: checked for whether each can hold the new value, before any is written. */
const verifyInputSchema = sourceTokenSchema
  .extend({
    staged: secretVersionSchema,
    expiresAt: z.string(),
    targets: z.array(adapterRefSchema).optional(),
  })
  .strict();
const orphansInputSchema = z
  .object({
    source: adapterRefSchema,
    since: z.iso.datetime(),
    known: z.array(tokenIdSchema),
    /** A token the lost attempt staged before its answer was lost is the rotation's, not an orphan. */
    stage: stageSchema.optional(),
  })
  .strict();
const targetInputSchema = z.object({ target: adapterRefSchema }).strict();
const snapshotTargetsInputSchema = z.object({ targets: z.array(adapterRefSchema) }).strict();
const writeInputSchema = targetInputSchema.extend({ value: secretVersionSchema, ...audited }).strict();
/** `since`: when the value came to exist, for targets that cannot return it (see `CredentialTarget.holds`). */
const checkTargetInputSchema = targetInputSchema
  .extend({ value: secretVersionSchema, since: z.string().optional() })
  .strict();
const snapshotSchema = z.union([
  z.object({ exists: z.literal(false) }).strict(),
  z
    .object({
      exists: z.literal(true),
      attributes: z.record(z.string(), z.union([z.string(), z.boolean(), z.null()])),
    })
    .strict(),
]);
const restoreInputSchema = targetInputSchema
  .extend({ snapshot: snapshotSchema, previous: secretVersionSchema.optional() })
  .strict();
const dependentInputSchema = z.object({ dependent: adapterRefSchema, ...audited }).strict();
const resumeInputSchema = dependentInputSchema
  .extend({ record: z.object({ paused: z.array(z.number().int()) }).strict() })
  .strict();

export type IssueCredentialInput = z.infer<typeof issueInputSchema>;
export type VerifyCredentialInput = z.infer<typeof verifyInputSchema>;
export type SourceTokenInput = z.infer<typeof sourceTokenSchema>;
export type InspectCredentialInput = z.infer<typeof inspectInputSchema>;
export type FindOrphansInput = z.infer<typeof orphansInputSchema>;
export type SnapshotTargetsInput = z.infer<typeof snapshotTargetsInputSchema>;
export type WriteTargetInput = z.infer<typeof writeInputSchema>;
export type CheckTargetInput = z.infer<typeof checkTargetInputSchema>;
export type RestoreTargetInput = z.infer<typeof restoreInputSchema>;
export type DependentInput = z.infer<typeof dependentInputSchema>;
export type ResumeDependentInput = z.infer<typeof resumeInputSchema>;

/** What issuing returns: references only. The value is in Vault at `staged`. */
export interface IssuedRef {
  tokenId: number;
  expiresAt: string;
  staged: SecretVersion;
  revokedTokenId?: number;
}

type AdapterRef = z.infer<typeof adapterRefSchema>;

const recoveredDetail = (orphans: number[]) =>
  `the first mint's outcome was unknown (its answer lost, or a 5xx); ${
    orphans.length === 0
      ? 'it left no token behind'
      : `revoked what it left behind: token ${orphans.join(', ')}`
  }; created afresh`;

/**
 * Generic credential activities: they look adapters up by kind, read values from Vault by reference,
 * and return references only.
 */
export function createCredentialActivities({
  vault,
  providers = allKinds,
  audit,
}: {
  vault: SecretStore;
  providers?: KindRegistry;
  audit: AuditSink;
}) {
  const record = auditRecorder(audit);
  const fieldOf = async (at: SecretField, version?: number): Promise<string> => {
    const { data, ref } = await vault.read(at, version);
    const value = data[at.key];
    if (value === undefined) {
      throw new VaultError(
        `Vault ${at.mount}/${at.path} v${ref.version} has no field "${at.key}"`,
        404,
        false,
      );
    }
    return value;
  };
  /** The current secret, read only for a source whose state lives there. */
  const heldBy = async (source: { keepsStateInVault?: true }, held: SecretVersion | undefined) =>
    source.keepsStateInVault && held !== undefined ? (await vault.read(held, held.version)).data : undefined;
  const valueAt = (at: SecretVersion) =>
    fieldOf({ mount: at.mount, path: at.path, key: VALUE_KEY }, at.version);

  const adminSecrets = new AdminSecrets((at) => fieldOf(at));
  /** A cached admin token is not read through the store, so this activity's redaction is told of it here. */
  const adminSecret = async (at: SecretField) => {
    const value = await adminSecrets.get(at);
    noteSecrets(value);
    return value;
  };
  const connect = async ({ connection }: AdapterRef): Promise<ProviderConnection> => ({
    url: connection.url,
    token: await adminSecret(connection.credential),
    fallbackToken:
      connection.fallbackCredential === undefined
        ? undefined
        : await adminSecret(connection.fallbackCredential),
  });
  /** An activity that talks to a provider: an admin token the provider refused is read from Vault again. */
  const providerActivity = <T>(body: () => Promise<T>): Promise<T> =>
    asActivity(() =>
      body().catch((error: unknown) => {
        if (error instanceof ProviderError && error.kind === 'auth') adminSecrets.forget();
        throw error;
      }),
    );

  const adapter = async <A>(
    kinds: ReadonlyMap<string, { adapter(connection: ProviderConnection): A }>,
    ref: AdapterRef,
    role: string,
  ) => {
    const kind = kinds.get(ref.kind);
    if (kind === undefined)
      throw new ProviderError({
        provider: ref.kind,
        step: 'lookup',
        resource: role,
        kind: 'permanent',
        reason: `no ${role} of kind "${ref.kind}"`,
      });
    return kind.adapter(await connect(ref));
  };

  const snapshotOf = async (ref: AdapterRef) =>
    (await adapter(providers.targets, ref, 'target')).snapshot(ref.spec);

  /** The staged secret a previous attempt of this activity wrote, if any: found instead of minting again. */
  const alreadyStaged = async (stage: IssueCredentialInput['stage']): Promise<IssuedRef | undefined> => {
    try {
      const { ref, data } = await vault.read(stage);
      // A grant under way (see `grantUnderWay`) has no value yet.
      return ref.version > stage.cas && data[VALUE_KEY] !== undefined && data.tokenId !== undefined
        ? {
            tokenId: Number(data.tokenId),
            expiresAt: data.expiresAt ?? '',
            // The version only: the check-and-set of `stage` is not part of what was staged.
            staged: { mount: ref.mount, path: ref.path, version: ref.version },
          }
        : undefined;
    } catch (error) {
      if (error instanceof VaultError && error.status === 404) return undefined;
      throw error;
    }
  };

  /**
   * The value exists only in this process until Vault has it: an unavailable Vault is tried again (1, 2, 4,
   * 8, 8, ... s apart) for up to STAGE_PATIENCE_MS before the new credential is given up.
   */
  const persisting = async <T>(write: () => Promise<T>): Promise<T> => {
    const deadline = Date.now() + STAGE_PATIENCE_MS;
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await write();
      } catch (error) {
        const pause = Math.min(1000 * 2 ** (attempt - 1), STAGE_MAX_PAUSE_MS);
        if (!(error instanceof VaultError && error.retryable) || Date.now() + pause > deadline) throw error;
        await new Promise((wake) => setTimeout(wake, pause));
      }
    }
  };

  /**
   * For a source whose credential dies with the grant that replaces it: records in the staged path that a
   * grant for `current` is under way, before making it, so that an attempt after a lost answer knows. Answers
   * whether an earlier attempt had recorded one, and the staged version the result must be written over.
   * An earlier attempt may belong to an earlier rotation that gave up (a lost grant, then a refused one, rolls
   * back): its record stays until a grant for `current` succeeds, so that a refusal then reads as lost rather
   * than stolen (the chaos run found a false `compromised` that way).
   */
  const grantUnderWay = async (stage: IssueCredentialInput['stage'], current: number | undefined) => {
    const marker = { grantFor: String(current ?? 0), startedAt: new Date().toISOString() };
    const before = await vault.read(stage).catch((error: unknown) => {
      if (error instanceof VaultError && error.status === 404) return undefined;
      throw error;
    });
    if (before !== undefined && before.data.grantFor === marker.grantFor) {
      // What that grant issued and kept (see `keep` in `mint`) supersedes the current secret.
      const kept = Object.fromEntries(Object.entries(before.data).filter(([key]) => !(key in marker)));
      return { afterLostAnswer: true, cas: before.ref.version, record: before.data, kept };
    }
    const written = await vault.write(stage, marker, { cas: stage.cas });
    return { afterLostAnswer: false, cas: written.version, record: marker, kept: {} };
  };

  /** The credential source of `ref`, and the current secret for a source whose state lives in Vault. */
  const sourceOf = async (ref: AdapterRef, held: IssueCredentialInput['held']) => {
    const source = await adapter(providers.sources, ref, 'credential source');
    return { source, heldSecret: await heldBy(source, held) };
  };

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
    source.keepsStateInVault === true || (await source.inspect(ref.spec, current, heldSecret)).revoked;

  /** Mints, and stages the value; a value Vault refuses is revoked at once, since nobody could ever use it. */
  const mint = async (
    ref: AdapterRef,
    { current, stage, recovery, held }: Pick<IssueCredentialInput, 'current' | 'stage' | 'recovery' | 'held'>,
  ): Promise<IssuedRef> => {
    const adapted = await sourceOf(ref, held);
    const { source, heldSecret } = adapted;
    const oldRevoked =
      recovery !== undefined && current !== undefined && (await goneAfterLostAnswer(ref, current, adapted));
    const underWay = source.keepsStateInVault ? await grantUnderWay(stage, current?.tokenId) : undefined;
    const at = { mount: stage.mount, path: stage.path };
    let cas = underWay?.cas ?? stage.cas;
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
              cas = (await persisting(() => vault.write(at, record, { cas }))).version;
            },
          },
    );
    const secret = {
      ...issued.fields,
      [VALUE_KEY]: issued.value,
      tokenId: String(issued.tokenId),
      ...(issued.expiresAt === undefined ? {} : { expiresAt: issued.expiresAt }),
    };
    const revokedTokenId = issued.revokedTokenId ?? (oldRevoked ? current?.tokenId : undefined);
    try {
      const version = await persisting(() => vault.write(at, secret, { cas }));
      return { tokenId: issued.tokenId, expiresAt: issued.expiresAt ?? '', staged: version, revokedTokenId };
    } catch (error) {
      const revokedNew = await source.revoke(ref.spec, issued).then(
        () => 'so that was revoked too',
        () => 'and that could not be revoked',
      );
      if (revokedTokenId === undefined) throw error;
      throw ApplicationFailure.nonRetryable(
        `issue: ${ref.kind} token ${revokedTokenId} was revoked by rotating it in place, and Vault refused ` +
          `to stage its replacement, token ${issued.tokenId} (${error instanceof Error ? error.message : 'unknown error'}), ` +
          `${revokedNew}: NO live token is left. An operator must create one by hand and write it ` +
          `to Vault ${stage.mount}/${stage.path.replace(/\/staged$/, '')} (fields token, tokenId, expiresAt).`,
        FAILURE_TYPES.credentialLost,
      );
    }
  };

  return {
    /**
     * Mints the new credential and stages its value in Vault (check-and-set) before returning: persist
     * before acknowledge. Run it with maximumAttempts 1: a retried mint can make GitLab revoke a whole token
     * family. Should Vault refuse the value, the new credential is revoked, since nobody could ever use it.
     */
    async issueCredential(input: IssueCredentialInput): Promise<IssuedRef> {
      return providerActivity(async () => {
        const parsed = parseOrThrow(issueInputSchema, input, 'issueCredential input');
        const { source: ref, current, stage, recovery, audit: context } = parsed;
        // Issue runs once, so only a recovery from a lost answer can find a token staged by an earlier try.
        let issued = recovery === undefined ? undefined : await alreadyStaged(stage);
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
      });
    },

    async verifyCredential(input: VerifyCredentialInput): Promise<void> {
      return providerActivity(async () => {
        const {
          source: ref,
          tokenId,
          staged,
          expiresAt,
          targets = [],
          audit: context,
        } = parseOrThrow(verifyInputSchema, input, 'verifyCredential input');
        const source = await adapter(providers.sources, ref, 'credential source');
        const value = await valueAt(staged);
        for (const target of targets) {
          const refusal = (await adapter(providers.targets, target, 'target')).refuses?.(target.spec, value);
          if (refusal !== undefined) {
            throw new ProviderError({
              provider: target.kind,
              step: 'verify',
              resource: `new token ${tokenId}`,
              kind: 'permanent',
              reason: refusal,
            });
          }
        }
        await source.verify(ref.spec, value, { tokenId, expiresAt });
        await record(context, { event: 'verified', tokenId, vault: { staged: staged.version } });
      });
    },

    async inspectCredential(input: InspectCredentialInput): Promise<CredentialState> {
      return providerActivity(async () => {
        const {
          source: ref,
          tokenId,
          held,
        } = parseOrThrow(inspectInputSchema, input, 'inspectCredential input');
        const { source, heldSecret } = await sourceOf(ref, held);
        return source.inspect(ref.spec, { tokenId }, heldSecret);
      });
    },

    async revokeCredential(input: SourceTokenInput): Promise<void> {
      return providerActivity(async () => {
        const {
          source: ref,
          tokenId,
          audit: context,
        } = parseOrThrow(sourceTokenSchema, input, 'revokeCredential input');
        await (await adapter(providers.sources, ref, 'credential source')).revoke(ref.spec, { tokenId });
        await record(context, { event: 'revoked', tokenId });
      });
    },

    /** After a mint whose answer was lost: the credentials it may have left behind, for the workflow to revoke. */
    async findOrphanCredentials(input: FindOrphansInput): Promise<CredentialState[]> {
      return providerActivity(async () => {
        const {
          source: ref,
          since,
          known,
          stage,
        } = parseOrThrow(orphansInputSchema, input, 'findOrphanCredentials input');
        const source = await adapter(providers.sources, ref, 'credential source');
        const staged = stage === undefined ? undefined : await alreadyStaged(stage);
        const ours = staged === undefined ? known : [...known, staged.tokenId];
        return source.findOrphans(
          ref.spec,
          since,
          ours.map((tokenId) => ({ tokenId })),
        );
      });
    },

    /** What every target holds before distribute, in the order given: one activity for them all. */
    async snapshotTargets(input: SnapshotTargetsInput): Promise<TargetSnapshot[]> {
      return providerActivity(async () => {
        const { targets } = parseOrThrow(snapshotTargetsInputSchema, input, 'snapshotTargets input');
        return Promise.all(targets.map(snapshotOf));
      });
    },

    async writeTarget(input: WriteTargetInput): Promise<void> {
      return providerActivity(async () => {
        const {
          target: ref,
          value,
          audit: context,
        } = parseOrThrow(writeInputSchema, input, 'writeTarget input');
        await (await adapter(providers.targets, ref, 'target')).write(ref.spec, await valueAt(value));
        await record(context, { event: 'distributed', vault: { staged: value.version } });
      });
    },

    /** Whether the target holds the Vault version `value` (the health check): the answer carries no value. */
    async checkTarget(input: CheckTargetInput): Promise<TargetCheck> {
      return providerActivity(async () => {
        const {
          target: ref,
          value,
          since,
        } = parseOrThrow(checkTargetInputSchema, input, 'checkTarget input');
        const target = await adapter(providers.targets, ref, 'target');
        return target.holds(ref.spec, { value: await valueAt(value), since });
      });
    },

    async restoreTarget(input: RestoreTargetInput): Promise<void> {
      return providerActivity(async () => {
        const {
          target: ref,
          snapshot,
          previous,
        } = parseOrThrow(restoreInputSchema, input, 'restoreTarget input');
        const previousValue = previous === undefined ? undefined : await valueAt(previous);
        await (await adapter(providers.targets, ref, 'target')).restore(ref.spec, snapshot, previousValue);
      });
    },

    async pauseDependent(input: DependentInput): Promise<PauseRecord> {
      return providerActivity(async () => {
        const { dependent: ref, audit: context } = parseOrThrow(
          dependentInputSchema,
          input,
          'pauseDependent input',
        );
        const paused = await (await adapter(providers.dependents, ref, 'dependent')).pause(ref.spec);
        await record(context, { event: 'paused' });
        return paused;
      });
    },

    async resumeDependent(input: ResumeDependentInput): Promise<void> {
      return providerActivity(async () => {
        const {
          dependent: ref,
          record: paused,
          audit: context,
        } = parseOrThrow(resumeInputSchema, input, 'resumeDependent input');
        await (await adapter(providers.dependents, ref, 'dependent')).resume(ref.spec, paused);
        await record(context, { event: 'resumed' });
      });
    },
  };
}
