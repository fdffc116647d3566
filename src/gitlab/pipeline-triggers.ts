import { z } from 'zod';
import type { CredentialRef, CredentialSource, CredentialState, IssuedCredential } from '../providers/types';
import { parseAnswer, type GitLabApi } from './client';
import type { GitLabCallSite } from './errors';
import { GitLabTokenSource } from './token-source';

/**
 * A project's pipeline trigger token (https://docs.gitlab.com/api/pipeline_triggers/), known by its
 * description. GitLab has no rotate endpoint for triggers: each new token is a new trigger beside the old
 * one, and revoking is deleting.
 */
export interface PipelineTriggerSpec {
  projectId: string | number;
  description: string;
  /** Days from issue to expiry; a trigger without it never expires. */
  lifetimeDays?: number;
}

export const triggerSchema = z.object({
  id: z.number().int(),
  description: z.string(),
  created_at: z.string(),
  last_used: z.string().nullable(),
  // GitLab shows the whole token to the trigger's owner only, the first four characters to anyone else.
  token: z.string(),
  // lib/api/entities/trigger.rb exposes it; a GitLab without trigger expiry leaves it out (never expires).
  expires_at: z.string().nullish(),
});
/** Whoever creates a trigger owns it, so its answer to its creator carries the whole token. */
const mintedSchema = triggerSchema.extend({
  token: z.string().min(5, 'expected the whole token, found one shortened to four characters'),
});
type GitLabTrigger = z.infer<typeof triggerSchema>;
type CreateOptions = Parameters<GitLabApi['PipelineTriggerTokens']['create']>[2];

/** GitLab's `expires_at` is a timestamp; the rotation names expiry by day, as for access tokens. */
const expiryDay = (trigger: GitLabTrigger) => trigger.expires_at?.slice(0, 10) ?? null;

/** Triggers without one never expire; one whose time has passed no longer starts pipelines. */
function expired(trigger: GitLabTrigger, now: Date): boolean {
  return trigger.expires_at != null && Date.parse(trigger.expires_at) <= now.getTime();
}

/** GitLab's project pipeline trigger tokens as a credential source (create-then-revoke only). */
export class GitLabPipelineTriggers
  extends GitLabTokenSource<PipelineTriggerSpec>
  implements CredentialSource<PipelineTriggerSpec>
{
  protected readonly idName = 'trigger';

  protected resource(spec: PipelineTriggerSpec): string {
    return `project ${spec.projectId} pipeline trigger token "${spec.description}"`;
  }

  /** The expiry a trigger made now gets (`YYYY-MM-DD`), or undefined when the spec sets none. */
  expiryFor(spec: PipelineTriggerSpec): string | undefined {
    if (spec.lifetimeDays === undefined) return undefined;
    return new Date(this.now().getTime() + spec.lifetimeDays * 86_400_000).toISOString().slice(0, 10);
  }

  private stateOf(trigger: GitLabTrigger): CredentialState {
    return {
      tokenId: String(trigger.id),
      name: trigger.description,
      scopes: [],
      active: !expired(trigger, this.now()),
      // A trigger is deleted, never revoked: one that GitLab still shows is not revoked.
      revoked: false,
      createdAt: trigger.created_at,
      expiresAt: expiryDay(trigger),
      lastUsedAt: trigger.last_used,
    };
  }

  private async show(spec: PipelineTriggerSpec, site: GitLabCallSite, { tokenId }: CredentialRef) {
    const id = this.gitlabId(site, tokenId);
    const answer = await this.client.call(site, (api) => api.PipelineTriggerTokens.show(spec.projectId, id));
    return parseAnswer(triggerSchema, answer, site);
  }

  async inspect(spec: PipelineTriggerSpec, { tokenId }: CredentialRef): Promise<CredentialState> {
    return this.stateOf(await this.show(spec, this.site(spec, 'inspect', tokenId), { tokenId }));
  }

  /** One create call, never repeated (a lost answer is found by findOrphans). */
  async issue(spec: PipelineTriggerSpec): Promise<IssuedCredential> {
    const site = this.site(spec, 'issue (create-then-revoke)', undefined, 'mints');
    const expiresAt = this.expiryFor(spec);
    // Gitbeaker's create takes no `expires_at` (lib/api/ci/triggers.rb does): it passes extra options on.
    const options = (expiresAt === undefined ? {} : { expiresAt }) as CreateOptions;
    const answer = await this.client.call(site, (api) =>
      api.PipelineTriggerTokens.create(spec.projectId, spec.description, options),
    );
    const minted = parseAnswer(mintedSchema, answer, site);
    const expiry = expiryDay(minted);
    return {
      tokenId: String(minted.id),
      value: minted.token,
      ...(expiry === null ? {} : { expiresAt: expiry }),
    };
  }

  /**
   * Reads the trigger back with the admin token and compares its token with the stored value: the rotator's
   * user made the trigger, so GitLab shows it the whole token. Starting a pipeline with the token would prove
   * more, but runs the project's CI; a canary does that where the operator asks for it.
   */
  async verify(
    spec: PipelineTriggerSpec,
    value: string,
    ref: CredentialRef & { expiresAt: string },
  ): Promise<void> {
    const site = this.site(spec, 'verify', ref.tokenId);
    const trigger = await this.show(spec, site, ref);
    this.refuseIf(site, [
      trigger.token === value
        ? undefined
        : trigger.token.length <= 4
          ? 'GitLab shows its token shortened: the trigger is owned by another user than the admin token’s'
          : 'its token is not the value stored',
      trigger.description === spec.description ? undefined : `its description is "${trigger.description}"`,
      expired(trigger, this.now()) ? 'it has expired' : undefined,
      (expiryDay(trigger) ?? '') === ref.expiresAt
        ? undefined
        : `it expires ${expiryDay(trigger) ?? 'never'}`,
    ]);
  }

  /** Deletes the trigger; one already gone counts as revoked. */
  revoke(spec: PipelineTriggerSpec, { tokenId }: CredentialRef): Promise<void> {
    return this.revokeOrGone(spec, tokenId, (api, id) =>
      api.PipelineTriggerTokens.remove(spec.projectId, id),
    );
  }

  /** Triggers with the spec's description, made at or after `since`, unexpired and unknown to the caller. */
  async findOrphans(
    spec: PipelineTriggerSpec,
    since: string,
    known: CredentialRef[],
  ): Promise<CredentialState[]> {
    // GitLab's list has no filter: every trigger of the project, 100 a page (GitLab's most).
    const unknown = await this.unknownTokens(spec, triggerSchema, known, (api) =>
      api.PipelineTriggerTokens.all(spec.projectId, { perPage: 100 }),
    );
    const from = Date.parse(since);
    return unknown
      .filter((trigger) => trigger.description === spec.description)
      .filter((trigger) => Date.parse(trigger.created_at) >= from && !expired(trigger, this.now()))
      .map((trigger) => this.stateOf(trigger));
  }
}
