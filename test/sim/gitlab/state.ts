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

export interface SimProject extends SimNamespace {
  schedules: SimSchedule[];
  jobs: SimJob[];
}

export class GitLabState {
  readonly users = new Map<number, SimUser>();
  readonly projects = new Map<number, SimProject>();
  readonly groups = new Map<number, SimNamespace>();
  readonly tokens = new Map<number, SimToken>();
  /** Every token value ever minted, for secret scans of logs and histories. */
  readonly minted: string[] = [];
  private nextId = 1;
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
    };
    this.projects.set(project.id, project);
    return project;
  }

  addGroup(path: string, members: Record<number, number> = {}): SimNamespace {
    const group = { id: this.id(), path, members: memberMap(members), variables: [] };
    this.groups.set(group.id, group);
    return group;
  }

  /** Mints a token value, recorded for secret scans. */
  private mintValue(): string {
    const value = `glpat-${randomBytes(15).toString('base64url')}`;
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

  /** A job of a new pipeline, running since `startedAt` (now by default), or pending when `startedAt` is null. */
  startJob(project: SimProject, options: { name: string; startedAt?: string | null }): SimJob {
    const at = this.now().toISOString();
    const startedAt = options.startedAt === undefined ? at : options.startedAt;
    const job: SimJob = {
      id: this.id(),
      name: options.name,
      stage: 'deploy',
      status: startedAt === null ? 'pending' : 'running',
      pipelineId: this.id(),
      ref: 'main',
      createdAt: startedAt ?? at,
      startedAt,
      finishedAt: null,
    };
    project.jobs.push(job);
    return job;
  }

  finishJob(job: SimJob, status: 'success' | 'failed' | 'canceled' = 'success'): void {
    job.status = status;
    job.finishedAt = this.now().toISOString();
  }

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
