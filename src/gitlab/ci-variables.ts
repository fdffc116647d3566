import { z } from 'zod';
import { ProviderError } from '../providers/errors';
import type { CredentialTarget, ExpectedValue, TargetCheck, TargetSnapshot } from '../providers/types';
import { parseAnswer, type GitLabApi, type GitLabClient } from './client';
import type { GitLabCallSite } from './errors';

// https://docs.gitlab.com/api/project_level_variables/ and https://docs.gitlab.com/api/group_level_variables/

export type CiVariableOwner =
  { scope: 'project'; projectId: string | number } | { scope: 'group'; groupId: string | number };

export type CiVariableSpec = CiVariableOwner & {
  key: string;
  /** `*` for all environments. */
  environmentScope: string;
  masked: boolean;
  protected: boolean;
  variableType: 'env_var' | 'file';
};

const variableSchema = z.object({
  key: z.string(),
  variable_type: z.enum(['env_var', 'file']),
  // Hidden variables come back without their value.
  value: z.string().nullable(),
  protected: z.boolean(),
  masked: z.boolean(),
  hidden: z.boolean().optional(),
  raw: z.boolean().optional(),
  environment_scope: z.string().optional(),
  description: z.string().nullish(),
});

/** The attributes a snapshot keeps: everything but the value. */
const attributesSchema = z.object({
  variableType: z.enum(['env_var', 'file']),
  protected: z.boolean(),
  masked: z.boolean(),
  hidden: z.boolean(),
  raw: z.boolean(),
  environmentScope: z.string(),
  description: z.string().nullable(),
});
type Attributes = z.infer<typeof attributesSchema>;

function variables(api: GitLabApi, owner: CiVariableOwner) {
  return owner.scope === 'project'
    ? { resource: api.ProjectVariables, id: owner.projectId }
    : { resource: api.GroupVariables, id: owner.groupId };
}

/**
 * The values GitLab can mask: 8 characters or more from the Base64 alphabet (RFC 4648) plus `@`, `:`, `.`,
 * `~`, `-` and `_`, on one line (GitLab's app/models/concerns/ci/maskable.rb;
 * https://docs.gitlab.com/ci/variables/#mask-a-cicd-variable). A raw variable may mask any 8 non-space
 * characters, but whether an existing variable is raw is known only from its snapshot, so every value is
 * held to the stricter rule.
 */
export const MASKABLE = /^[a-zA-Z0-9_+=/@:.~-]{8,}$/;

/** GitLab CI/CD variables of a project or group, as a target that can be written and restored exactly. */
export class GitLabCiVariables implements CredentialTarget<CiVariableSpec> {
  constructor(private readonly client: GitLabClient) {}

  private site(spec: CiVariableSpec, step: string, mutates = false): GitLabCallSite {
    const owner = spec.scope === 'project' ? `project ${spec.projectId}` : `group ${spec.groupId}`;
    return {
      step,
      resource: `${owner} CI variable ${spec.key} (environment ${spec.environmentScope})`,
      mutates,
    };
  }

  // `filter[environment_scope]` picks one of several variables sharing a key; without it GitLab answers 409.
  private filter(spec: CiVariableSpec) {
    return { filter: { environment_scope: spec.environmentScope } };
  }

  refuses(spec: CiVariableSpec, value: string): string | undefined {
    if (!spec.masked || MASKABLE.test(value)) return undefined;
    return (
      `${this.site(spec, 'check').resource} is masked, and GitLab cannot mask the new value: masking needs at ` +
      'least 8 characters, all from the Base64 alphabet or "@:.~-_"'
    );
  }

  async snapshot(spec: CiVariableSpec): Promise<TargetSnapshot> {
    const site = this.site(spec, 'snapshot');
    try {
      const answer = await this.client.call(site, (api) => {
        const { resource, id } = variables(api, spec);
        return resource.show(id, spec.key, this.filter(spec));
      });
      const variable = parseAnswer(variableSchema, answer, site);
      const attributes: Attributes = {
        variableType: variable.variable_type,
        protected: variable.protected,
        masked: variable.masked,
        hidden: variable.hidden ?? false,
        raw: variable.raw ?? false,
        environmentScope: variable.environment_scope ?? spec.environmentScope,
        description: variable.description ?? null,
      };
      return { exists: true, attributes };
    } catch (error) {
      if (error instanceof ProviderError && error.kind === 'not-found') return { exists: false };
      throw error;
    }
  }

  /** Compares the variable's value with the expected one; GitLab returns values, except of hidden variables. */
  async holds(spec: CiVariableSpec, { value }: ExpectedValue): Promise<TargetCheck> {
    const site = this.site(spec, 'check');
    let answer: unknown;
    try {
      answer = await this.client.call(site, (api) => {
        const { resource, id } = variables(api, spec);
        return resource.show(id, spec.key, this.filter(spec));
      });
    } catch (error) {
      if (error instanceof ProviderError && error.kind === 'not-found')
        return { state: 'drifted', detail: 'the variable does not exist' };
      throw error;
    }
    const variable = parseAnswer(variableSchema, answer, site);
    if (variable.value === null)
      return { state: 'unverifiable', detail: 'hidden: GitLab does not return its value' };
    return variable.value === value
      ? { state: 'current', detail: "holds Vault's current version" }
      : { state: 'drifted', detail: "holds a value other than Vault's current version" };
  }

  /** Updates the variable, or creates it with the spec's attributes when it is missing. */
  async write(spec: CiVariableSpec, value: string): Promise<void> {
    const attributes = {
      variableType: spec.variableType,
      protected: spec.protected,
      masked: spec.masked,
      environmentScope: spec.environmentScope,
    };
    const updated = await this.update(spec, value, attributes, 'write');
    if (!updated) await this.create(spec, value, { ...attributes, raw: false }, 'write');
  }

  /** Puts back exactly what `snapshot` saw: the attributes from the snapshot, the value from Vault. */
  async restore(
    spec: CiVariableSpec,
    snapshot: TargetSnapshot,
    previousValue: string | undefined,
  ): Promise<void> {
    if (!snapshot.exists) {
      const site = this.site(spec, 'restore (remove)', true);
      try {
        await this.client.call(site, (api) => {
          const { resource, id } = variables(api, spec);
          return resource.remove(id, spec.key, this.filter(spec));
        });
      } catch (error) {
        if (!(error instanceof ProviderError && error.kind === 'not-found')) throw error;
      }
      return;
    }
    const site = this.site(spec, 'restore');
    const prior = parseAnswer(attributesSchema, snapshot.attributes, { ...site, step: 'restore (snapshot)' });
    if (previousValue === undefined) {
      throw new ProviderError({
        provider: 'gitlab',
        ...site,
        kind: 'permanent',
        reason: 'no previous value to restore',
      });
    }
    const { hidden, ...editable } = prior;
    const updated = await this.update(
      spec,
      previousValue,
      { ...editable, description: prior.description ?? undefined },
      'restore',
    );
    if (!updated) {
      const { description, ...rest } = editable;
      // Hidden can only be set when a variable is created.
      await this.create(
        spec,
        previousValue,
        { ...rest, description: description ?? undefined, masked_and_hidden: hidden || undefined },
        'restore',
      );
    }
  }

  /** False when there is no such variable to update. */
  private async update(
    spec: CiVariableSpec,
    value: string,
    attributes: object,
    step: string,
  ): Promise<boolean> {
    const site = this.site(spec, `${step} (update)`, true);
    try {
      await this.client.call(site, (api) => {
        const { resource, id } = variables(api, spec);
        return resource.edit(id, spec.key, value, { ...attributes, ...this.filter(spec) });
      });
      return true;
    } catch (error) {
      if (error instanceof ProviderError && error.kind === 'not-found') return false;
      throw error;
    }
  }

  private async create(spec: CiVariableSpec, value: string, attributes: object, step: string): Promise<void> {
    const site = this.site(spec, `${step} (create)`, true);
    await this.client.call(site, (api) => {
      const { resource, id } = variables(api, spec);
      return resource.create(id, spec.key, value, attributes);
    });
  }
}
