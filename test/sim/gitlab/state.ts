import { randomBytes } from 'node:crypto';
import { recordMintedValue } from '../../infra/secret-scan';

/** In-memory GitLab: users, projects, groups, tokens, CI variables and pipeline schedules. */

export interface SimUser {
  id: number;
  username: string;
  admin: boolean;
  bot: boolean;
}

export interface SimToken {
  id: number;
  value: string;
  userId: number;
  name: string;
  scopes: string[];
  /** Project and group tokens: the bot user's role. */
  accessLevel?: number;
  createdAt: string;
  /** `YYYY-MM-DD`; GitLab treats the token as expired from that day on. */
  expiresAt: string | null;
  lastUsedAt: string | null;
  revoked: boolean;
  /** The first token of the rotation chain: rotation links tokens into a family. */
  familyId: number;
  previousTokenId?: number;
  /** `project:<id>` / `group:<id>` for resource tokens, absent for personal ones. */
  resource?: string;
}

export interface SimVariable {
  key: string;
  value: string;
  variableType: 'env_var' | 'file';
  protected: boolean;
  masked: boolean;
  hidden: boolean;
  raw: boolean;
  environmentScope: string;
  description: string | null;
}

export interface SimSchedule {
  id: number;
  description: string;
  ref: string;
  cron: string;
  active: boolean;
  ownerId: number;
  createdAt: string;
  updatedAt: string;
}

export interface SimNamespace {
  id: number;
  path: string;
  /** userId → role (10 guest ... 50 owner). */
  members: Map<number, number>;
  variables: SimVariable[];
}

/** https://docs.gitlab.com/ci/jobs/#available-job-statuses (those the simulator needs). */
export type SimJobStatus = 'pending' | 'running' | 'success' | 'failed' | 'canceled';

export interface SimJob {
  id: number;
  name: string;
  stage: string;
  status: SimJobStatus;
  pipelineId: number;
  ref: string;
  createdAt: string;
  /** Set once a runner picks the job up. */
  startedAt: string | null;
  finishedAt: string | null;
}

/** https://docs.gitlab.com/api/pipelines/: a pipeline's `status`. */
export type SimPipelineStatus =
  | 'created'
  | 'waiting_for_resource'
  | 'preparing'
  | 'pending'
  | 'running'
  | 'success'
  | 'failed'
  | 'canceled'
  | 'skipped'
  | 'manual'
  | 'scheduled';

export interface SimPipeline {
  id: number;
  /** Counts up per project. */
  iid: number;
  ref: string;
  sha: string;
  status: SimPipelineStatus;
  /** `api` for pipelines made with POST /projects/:id/pipeline. */
  source: string;
  userId: number;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** The keys of the pipeline variables it was created with; their values stay inside the simulator. */
  variableKeys: string[];
  jobs: SimJob[];
}

/** A `.gitlab-ci.yml` on `ref` whose one job uses the CI/CD variable `reads`: a rotation's canary. */
export interface CanaryOptions {
  /** The branch whose CI configuration defines the canary; `main` by default. */
  ref?: string;
  /** The job's name; `canary` by default. */
  job?: string;
  /** The CI/CD variable the job uses, such as `DEPLOY_TOKEN`. */
  reads: string;
  /** Whether the job passes with the value it read, asked when the job ends (it uses the token last). */
  check: (value: string | undefined) => boolean;
  /** How long the job runs; 100 ms by default. */
  runsForMs?: number;
  /** The job never ends, as a stuck runner would. */
  hangs?: boolean;
}

export type SimCanary = Required<CanaryOptions>;

export interface SimProject extends SimNamespace {
  schedules: SimSchedule[];
  jobs: SimJob[];
  pipelines: SimPipeline[];
  /** Branch name → head commit; every project has `main`. */
  branches: Map<string, string>;
  /** Branch name → the canary its CI configuration defines: a branch without one has no CI configuration. */
  canaries: Map<string, SimCanary>;
  /**
   * `ci_pipeline_variables_minimum_override_role` (https://docs.gitlab.com/ci/variables/#restrict-pipeline-variables):
   * `maintainer` by default, as on GitLab Self-Managed; new projects on GitLab.com have `no_one_allowed`.
   */
  pipelineVariablesMinimumRole: 'no_one_allowed' | 'owner' | 'maintainer' | 'developer';
}

// ---- Deploy tokens (https://docs.gitlab.com/api/deploy_tokens/) ----

/** A project's or group's deploy token: a username and a token, apart from users and their tokens. */
export interface SimDeployToken {
  id: number;
  value: string;
  /** `gitlab+deploy-token-{id}` unless the creator chose one. */
  username: string;
  name: string;
  scopes: string[];
  /** An ISO timestamp, as GitLab keeps it (`2020-02-14T00:00:00.000Z`), or null when it never expires. */
  expiresAt: string | null;
  revoked: boolean;
  /** `project:<id>` or `group:<id>`. */
  resource: string;
}

// ---- end of deploy tokens ----
// ---- Pipeline trigger tokens and service accounts (issue 23) ----

/** https://docs.gitlab.com/api/pipeline_triggers/: a project's trigger; whoever creates it owns it. */
export interface SimTrigger {
  id: number;
  projectId: number;
  description: string;
  value: string;
  ownerId: number;
  createdAt: string;
  updatedAt: string;
  lastUsed: string | null;
  /** A timestamp; the trigger starts no pipeline from then on. */
  expiresAt: string | null;
}

// ---- end of pipeline trigger tokens and service accounts ----

/** What a canary's job read when it started, and when it ends; null when it hangs. */
interface CanaryRun {
  canary: SimCanary;
  value: string | undefined;
  endsAt: number | null;
}

export class GitLabState {
  readonly users = new Map<number, SimUser>();
  readonly projects = new Map<number, SimProject>();
  readonly groups = new Map<number, SimNamespace>();
  readonly tokens = new Map<number, SimToken>();
  /** Deploy tokens by id; GitLab deletes one outright (DELETE), so a deleted one is gone from here. */
  readonly deployTokens = new Map<number, SimDeployToken>();
  /** Every token value ever minted, for secret scans of logs and histories. */
  readonly minted: string[] = [];
  private nextId = 1;
  private readonly canaryRuns = new Map<SimJob, CanaryRun>();
  private readonly pipelineOf = new Map<SimJob, SimPipeline>();
  /** The simulator's clock; tests move it to expire tokens. */
  now: () => Date = () => new Date();

  private id(): number {
    return this.nextId++;
  }

  addUser(options: { username: string; admin?: boolean; bot?: boolean }): SimUser {
    const user = {
      id: this.id(),
      username: options.username,
      admin: options.admin ?? false,
      bot: options.bot ?? false,
    };
    this.users.set(user.id, user);
    return user;
  }

  addProject(path: string, members: Record<number, number> = {}): SimProject {
    const project = {
      id: this.id(),
      path,
      members: memberMap(members),
      variables: [],
      schedules: [],
      jobs: [],
      pipelines: [],
      branches: new Map([['main', randomBytes(20).toString('hex')]]),
      canaries: new Map(),
      pipelineVariablesMinimumRole: 'maintainer' as const,
    };
    this.projects.set(project.id, project);
    return project;
  }

  addGroup(path: string, members: Record<number, number> = {}): SimNamespace {
    const group = { id: this.id(), path, members: memberMap(members), variables: [] };
    this.groups.set(group.id, group);
    return group;
  }

  /** Mints a token value (`glpat-`, or `gldt-` for a deploy token), recorded for secret scans. */
  private mintValue(prefix = 'glpat-'): string {
    const value = `${prefix}${randomBytes(15).toString('base64url')}`;
    this.minted.push(value);
    recordMintedValue(value);
    return value;
  }

  addToken(options: {
    userId: number;
    name: string;
    scopes: string[];
    expiresAt: string | null;
    accessLevel?: number;
    resource?: string;
    previous?: SimToken;
  }): SimToken {
    const id = this.id();
    const token: SimToken = {
      id,
      value: this.mintValue(),
      userId: options.userId,
      name: options.name,
      scopes: [...options.scopes],
      accessLevel: options.accessLevel,
      createdAt: this.now().toISOString(),
      expiresAt: options.expiresAt,
      lastUsedAt: null,
      revoked: false,
      familyId: options.previous?.familyId ?? id,
      previousTokenId: options.previous?.id,
      resource: options.resource,
    };
    this.tokens.set(id, token);
    return token;
  }

  /** A project or group token: GitLab creates a bot user per token and makes it a member. */
  addResourceToken(
    owner: SimNamespace,
    kind: 'project' | 'group',
    options: { name: string; scopes: string[]; expiresAt: string; accessLevel: number },
  ): SimToken {
    const bot = this.addUser({
      username: `${kind}_${owner.id}_bot_${randomBytes(4).toString('hex')}`,
      bot: true,
    });
    owner.members.set(bot.id, options.accessLevel);
    return this.addToken({ ...options, userId: bot.id, resource: `${kind}:${owner.id}` });
  }

  addVariable(
    owner: SimNamespace,
    variable: Partial<SimVariable> & { key: string; value: string },
  ): SimVariable {
    const full: SimVariable = {
      variableType: 'env_var',
      protected: false,
      masked: false,
      hidden: false,
      raw: false,
      environmentScope: '*',
      description: null,
      ...variable,
    };
    owner.variables.push(full);
    return full;
  }

  addSchedule(
    project: SimProject,
    options: { description: string; active: boolean; ownerId: number },
  ): SimSchedule {
    const at = this.now().toISOString();
    const schedule = {
      id: this.id(),
      ref: 'main',
      cron: '0 1 * * *',
      createdAt: at,
      updatedAt: at,
      ...options,
    };
    project.schedules.push(schedule);
    return schedule;
  }

  /**
   * A job of `pipeline` (else of a new pipeline the simulator does not keep), running since `startedAt` (now by
   * default), or pending when `startedAt` is null.
   */
  startJob(
    project: SimProject,
    options: { name: string; startedAt?: string | null; pipeline?: SimPipeline },
  ): SimJob {
    const at = this.now().toISOString();
    const startedAt = options.startedAt === undefined ? at : options.startedAt;
    const job: SimJob = {
      id: this.id(),
      name: options.name,
      stage: 'deploy',
      status: startedAt === null ? 'pending' : 'running',
      pipelineId: options.pipeline?.id ?? this.id(),
      ref: options.pipeline?.ref ?? 'main',
      createdAt: startedAt ?? at,
      startedAt,
      finishedAt: null,
    };
    project.jobs.push(job);
    if (options.pipeline !== undefined) {
      options.pipeline.jobs.push(job);
      this.pipelineOf.set(job, options.pipeline);
    }
    return job;
  }

  finishJob(job: SimJob, status: 'success' | 'failed' | 'canceled' = 'success'): void {
    job.status = status;
    job.finishedAt = this.now().toISOString();
    this.canaryRuns.delete(job);
    const pipeline = this.pipelineOf.get(job);
    if (pipeline !== undefined) this.updatePipeline(pipeline);
  }

  /**
   * A pipeline's status from its jobs': running while one runs, else failed if one failed, canceled if one
   * was canceled, success when all passed. Assumption: GitLab's composite status, reduced to these states.
   */
  private updatePipeline(pipeline: SimPipeline): void {
    const statuses = pipeline.jobs.map((job) => job.status);
    const status: SimPipelineStatus = statuses.some((s) => s === 'running' || s === 'pending')
      ? 'running'
      : statuses.includes('failed')
        ? 'failed'
        : statuses.includes('canceled')
          ? 'canceled'
          : 'success';
    if (status === pipeline.status) return;
    pipeline.status = status;
    pipeline.updatedAt = this.now().toISOString();
    if (status !== 'running') pipeline.finishedAt = pipeline.updatedAt;
  }

  /** Gives `ref` (a new branch, if need be) a CI configuration whose one job is the canary. */
  defineCanary(project: SimProject, options: CanaryOptions): SimCanary {
    const canary: SimCanary = {
      reads: options.reads,
      check: options.check,
      ref: options.ref ?? 'main',
      job: options.job ?? 'canary',
      runsForMs: options.runsForMs ?? 100,
      hangs: options.hangs ?? false,
    };
    if (!project.branches.has(canary.ref)) project.branches.set(canary.ref, randomBytes(20).toString('hex'));
    project.canaries.set(canary.ref, canary);
    return canary;
  }

  /**
   * The value a job of `ref` sees for `key`, by https://docs.gitlab.com/ci/variables/#cicd-variable-precedence:
   * pipeline variables over project variables. Only variables of every environment (`*`) reach it, as the
   * canary job names no environment. Assumption: `ref` is protected (as a default branch is), so protected
   * variables reach it too. Group variables do not: the simulator does not place projects in groups.
   */
  variableFor(
    project: SimProject,
    key: string,
    pipelineVariables: { key: string; value: string }[],
  ): string | undefined {
    const fromPipeline = pipelineVariables.find((v) => v.key === key);
    if (fromPipeline !== undefined) return fromPipeline.value;
    return project.variables.find((v) => v.key === key && v.environmentScope === '*')?.value;
  }

  /**
   * A pipeline on a branch with a canary: its job starts at once and reads the canary's variable; it ends
   * `runsForMs` later (see `settle`).
   */
  startPipeline(
    project: SimProject,
    options: { ref: string; userId: number; variables: { key: string; value: string }[] },
  ): SimPipeline {
    const canary = project.canaries.get(options.ref);
    if (canary === undefined) throw new Error(`${project.path} has no CI configuration on ${options.ref}`);
    const at = this.now();
    const pipeline: SimPipeline = {
      id: this.id(),
      iid: project.pipelines.length + 1,
      ref: options.ref,
      sha: project.branches.get(options.ref) ?? '',
      status: 'running',
      source: 'api',
      userId: options.userId,
      createdAt: at.toISOString(),
      updatedAt: at.toISOString(),
      startedAt: at.toISOString(),
      finishedAt: null,
      variableKeys: options.variables.map((v) => v.key),
      jobs: [],
    };
    project.pipelines.push(pipeline);
    const job = this.startJob(project, { name: canary.job, pipeline });
    this.canaryRuns.set(job, {
      canary,
      value: this.variableFor(project, canary.reads, options.variables),
      endsAt: canary.hangs ? null : at.getTime() + canary.runsForMs,
    });
    return pipeline;
  }

  /**
   * Ends the canary jobs whose time has come (by the simulator's clock), each `success` when its check passes
   * now, else `failed`. The server settles before each request, so no timer outlives a test.
   */
  settle(): void {
    for (const [job, run] of this.canaryRuns) {
      if (run.endsAt === null || this.now().getTime() < run.endsAt) continue;
      this.finishJob(job, run.canary.check(run.value) ? 'success' : 'failed');
    }
  }

  /** Cancels the pipeline's unfinished jobs; a finished pipeline stays as it is. */
  cancelPipeline(pipeline: SimPipeline): void {
    for (const job of pipeline.jobs) {
      if (job.status === 'pending' || job.status === 'running') this.finishJob(job, 'canceled');
    }
  }

  // ---- Deploy tokens ----

  /** A deploy token of a project or group (`resource`, `project:<id>` or `group:<id>`). */
  addDeployToken(options: {
    resource: string;
    name: string;
    scopes: string[];
    expiresAt: string | null;
    username?: string;
  }): SimDeployToken {
    const id = this.id();
    const token: SimDeployToken = {
      id,
      value: this.mintValue('gldt-'),
      username: options.username ?? `gitlab+deploy-token-${id}`,
      name: options.name,
      scopes: [...options.scopes],
      expiresAt: options.expiresAt,
      revoked: false,
      resource: options.resource,
    };
    this.deployTokens.set(id, token);
    return token;
  }

  /** Expired from its expiry's instant on. */
  deployTokenExpired(token: SimDeployToken): boolean {
    return token.expiresAt !== null && token.expiresAt <= this.now().toISOString();
  }

  deployTokenActive(token: SimDeployToken): boolean {
    return !token.revoked && !this.deployTokenExpired(token);
  }

  /**
   * Whether a deploy token reaches a project: its own project's, or its group's, whose projects are those
   * whose path lies below the group's (the simulator keeps no other link between projects and groups).
   */
  deployTokenReaches(token: SimDeployToken, project: SimProject): boolean {
    if (token.resource === `project:${project.id}`) return true;
    const group = this.groups.get(Number(token.resource.replace(/^group:/, '')));
    return (
      token.resource.startsWith('group:') && group !== undefined && project.path.startsWith(`${group.path}/`)
    );
  }

  // ---- end of deploy tokens ----
  // ---- Pipeline trigger tokens and service accounts (issue 23) ----

  readonly triggers = new Map<number, SimTrigger>();
  /** Service account user id → the top-level group that owns it. */
  readonly serviceAccounts = new Map<number, number>();

  /** A trigger owned by `ownerId`; its value has GitLab's `glptt-` prefix and is recorded for secret scans. */
  addTrigger(
    project: SimProject,
    options: { description: string; ownerId: number; expiresAt?: string | null },
  ): SimTrigger {
    const at = this.now().toISOString();
    const value = `glptt-${randomBytes(20).toString('hex')}`;
    this.minted.push(value);
    recordMintedValue(value);
    const trigger: SimTrigger = {
      id: this.id(),
      projectId: project.id,
      description: options.description,
      value,
      ownerId: options.ownerId,
      createdAt: at,
      updatedAt: at,
      lastUsed: null,
      expiresAt: options.expiresAt ?? null,
    };
    this.triggers.set(trigger.id, trigger);
    return trigger;
  }

  /** A pipeline started with the trigger: GitLab records its last use. */
  useTrigger(trigger: SimTrigger): void {
    trigger.lastUsed = this.now().toISOString();
  }

  isTriggerExpired(trigger: SimTrigger): boolean {
    return trigger.expiresAt !== null && Date.parse(trigger.expiresAt) <= this.now().getTime();
  }

  triggersDescribed(description: string): SimTrigger[] {
    return [...this.triggers.values()].filter((trigger) => trigger.description === description);
  }

  /** A service account of a top-level group (https://docs.gitlab.com/api/service_accounts/#create-a-group-service-account). */
  addServiceAccount(group: SimNamespace): SimUser {
    const user = this.addUser({
      username: `service_account_group_${group.id}_${randomBytes(4).toString('hex')}`,
    });
    this.serviceAccounts.set(user.id, group.id);
    return user;
  }

  // ---- end of pipeline trigger tokens and service accounts ----

  isExpired(token: SimToken): boolean {
    return token.expiresAt !== null && token.expiresAt <= this.now().toISOString().slice(0, 10);
  }

  isActive(token: SimToken): boolean {
    return !token.revoked && !this.isExpired(token);
  }

  tokensNamed(name: string): SimToken[] {
    return [...this.tokens.values()].filter((token) => token.name === name);
  }

  family(token: SimToken): SimToken[] {
    return [...this.tokens.values()].filter((other) => other.familyId === token.familyId);
  }
}

function memberMap(members: Record<number, number>): Map<number, number> {
  return new Map(Object.entries(members).map(([id, level]) => [Number(id), level]));
}
