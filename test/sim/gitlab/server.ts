import { Chaos } from '../chaos';
import { STATUS_CODES, createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type {
  AccessTokenExposedSchema,
  CondensedPipelineScheduleSchema,
  PersonalAccessTokenSchema,
  PipelineSchema,
  PipelineTriggerTokenSchema,
  ProjectVariableSchema,
} from '@gitbeaker/core';
import { Faults, type Failure, type RouteCall } from './faults';
import {
  GitLabState,
  type SimJob,
  type SimNamespace,
  type SimPipeline,
  type SimProject,
  type SimDeployToken,
  type SimSchedule,
  type SimToken,
  type SimTrigger,
  type SimUser,
  type SimVariable,
} from './state';

/**
 * A stateful GitLab REST simulator of exactly the endpoints src/gitlab uses. Each rule cites the GitLab
 * documentation page it follows.
 */

type Json = Record<string, unknown> | unknown[] | string | null;

interface Answer {
  status: number;
  body?: Json;
  headers?: Record<string, string>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: Json,
  ) {
    super(`HTTP ${status}`);
  }
}

interface Caller {
  user: SimUser;
  token: SimToken;
}

interface Context {
  params: Record<string, string>;
  query: URLSearchParams;
  body: Record<string, unknown>;
  caller: Caller;
  url: URL;
}

/** `read`: `api` or `read_api`; `api`: `api` only; `any`: any valid token. */
type Needs = 'read' | 'api' | 'any';

interface Route extends RouteCall {
  needs: Needs;
  handle(ctx: Context): Answer;
}

// https://docs.gitlab.com/api/rest/troubleshooting/#status-codes: errors are `{"message": ...}`, Grape's
// parameter errors and OAuth-style token errors are `{"error": ...}`.
const message = (status: number, text: string | Record<string, unknown>) =>
  new HttpError(status, { message: text });
const notFound = (what = '') => message(404, what === '' ? '404 Not Found' : `404 ${what} Not Found`);
const forbidden = () => message(403, '403 Forbidden');
const unauthorized = () => message(401, '401 Unauthorized');
const missing = (field: string) => new HttpError(400, { error: `${field} is missing` });

function tokenJson(state: GitLabState, token: SimToken) {
  // Gitbeaker types `last_used_at` as a string; GitLab sends null for a token never used.
  const json = {
    id: token.id,
    name: token.name,
    revoked: token.revoked,
    created_at: token.createdAt,
    scopes: token.scopes,
    user_id: token.userId,
    last_used_at: token.lastUsedAt,
    active: state.isActive(token),
    expires_at: token.expiresAt ?? undefined,
  } satisfies Omit<PersonalAccessTokenSchema, 'token' | 'last_used_at'> & { last_used_at: string | null };
  return token.accessLevel === undefined ? json : { ...json, access_level: token.accessLevel };
}

function exposedJson(state: GitLabState, token: SimToken) {
  // Gitbeaker narrows scopes to a fixed union GitLab has outgrown; the other fields match its schema.
  return { ...tokenJson(state, token), token: token.value } satisfies Pick<
    AccessTokenExposedSchema,
    'id' | 'name' | 'revoked' | 'created_at' | 'user_id' | 'active' | 'token'
  >;
}

// ---- Deploy tokens (https://docs.gitlab.com/api/deploy_tokens/) ----

const PROJECT_DEPLOY_SCOPES = [
  'read_repository',
  'read_registry',
  'write_registry',
  'read_package_registry',
  'write_package_registry',
];
const GROUP_DEPLOY_SCOPES = [...PROJECT_DEPLOY_SCOPES, 'read_virtual_registry', 'write_virtual_registry'];

/** A deploy token as GitLab shows it: no creation time, no last use. */
function deployTokenJson(state: GitLabState, token: SimDeployToken) {
  return {
    id: token.id,
    name: token.name,
    username: token.username,
    expires_at: token.expiresAt,
    revoked: token.revoked,
    expired: state.deployTokenExpired(token),
    scopes: token.scopes,
  };
}

function projectJson(url: URL, project: SimNamespace) {
  return {
    id: project.id,
    path_with_namespace: project.path,
    http_url_to_repo: `${url.origin}/${project.path}.git`,
  };
}

/**
 * Git's first request of a clone over HTTP, `GET /<project path>.git/info/refs?service=git-upload-pack`, as a
 * deploy token makes it: HTTP Basic with the token's username and value
 * (https://docs.gitlab.com/user/project/deploy_tokens/#clone-a-repository). Assumption: credentials that do
 * not authenticate (unknown, revoked, expired, or without read_repository) get 401 with GitLab's Basic
 * challenge; a project the token does not reach, or that does not exist, 404.
 */
function gitInfoRefs(state: GitLabState, request: IncomingMessage, url: URL): Answer {
  const denied: Answer = {
    status: 401,
    body: 'HTTP Basic: Access denied.',
    headers: { 'www-authenticate': 'Basic realm="GitLab"' },
  };
  const basic = /^Basic (.+)$/.exec(request.headers.authorization ?? '')?.[1];
  const [username, ...rest] = Buffer.from(basic ?? '', 'base64')
    .toString('utf8')
    .split(':');
  const token = [...state.deployTokens.values()].find(
    (t) => t.username === username && t.value === rest.join(':'),
  );
  if (token === undefined || !state.deployTokenActive(token) || !token.scopes.includes('read_repository'))
    return denied;
  if (url.searchParams.get('service') !== 'git-upload-pack') return { status: 403, body: 'Forbidden' };
  const path = decodeURIComponent(url.pathname.slice(1, -GIT_INFO_REFS.length));
  const project = [...state.projects.values()].find((p) => p.path === path);
  if (project === undefined || !state.deployTokenReaches(token, project))
    return { status: 404, body: 'The project you were looking for could not be found.' };
  const head = project.branches.get('main') ?? '';
  const line = (text: string) => `${(text.length + 4).toString(16).padStart(4, '0')}${text}`;
  return {
    status: 200,
    body: `${line('# service=git-upload-pack\n')}0000${line(`${head} refs/heads/main\n`)}0000`,
    headers: { 'content-type': 'application/x-git-upload-pack-advertisement' },
  };
}

const GIT_INFO_REFS = '.git/info/refs';

// ---- end of deploy tokens ----

function variableJson(variable: SimVariable) {
  return {
    key: variable.key,
    variable_type: variable.variableType,
    // https://docs.gitlab.com/ci/variables/#hide-a-cicd-variable: a hidden variable's value is never shown again.
    value: variable.hidden ? (null as unknown as string) : variable.value,
    protected: variable.protected,
    masked: variable.masked,
    hidden: variable.hidden,
    raw: variable.raw,
    environment_scope: variable.environmentScope,
    description: variable.description,
  } satisfies ProjectVariableSchema;
}

/**
 * https://docs.gitlab.com/api/pipeline_triggers/#list-project-trigger-tokens: the whole token for the user who
 * created the trigger, its first four characters for anyone else (administrators too, as the docs say).
 */
function triggerJson(state: GitLabState, trigger: SimTrigger, caller: Caller) {
  const owner = state.users.get(trigger.ownerId);
  return {
    id: trigger.id,
    description: trigger.description,
    created_at: trigger.createdAt,
    updated_at: trigger.updatedAt,
    last_used: trigger.lastUsed,
    token: trigger.ownerId === caller.user.id ? trigger.value : trigger.value.slice(0, 4),
    expires_at: trigger.expiresAt,
    owner:
      owner === undefined
        ? null
        : {
            id: owner.id,
            username: owner.username,
            name: owner.username,
            state: 'active',
            avatar_url: '',
            web_url: '',
          },
  } satisfies Omit<PipelineTriggerTokenSchema, 'owner'> & { expires_at: string | null; owner: object | null };
}

// https://docs.gitlab.com/api/jobs/#list-project-jobs: the example answer's fields the simulator models.
function jobJson(url: URL, project: SimProject, job: SimJob) {
  const web = `${url.origin}/${project.path}/-/jobs/${job.id}`;
  return {
    id: job.id,
    name: job.name,
    stage: job.stage,
    status: job.status,
    ref: job.ref,
    tag: false,
    allow_failure: false,
    created_at: job.createdAt,
    started_at: job.startedAt,
    finished_at: job.finishedAt,
    duration:
      job.startedAt === null
        ? null
        : (Date.parse(job.finishedAt ?? new Date().toISOString()) - Date.parse(job.startedAt)) / 1000,
    web_url: web,
    pipeline: {
      id: job.pipelineId,
      project_id: project.id,
      ref: job.ref,
      status: job.status,
      web_url: `${url.origin}/${project.path}/-/pipelines/${job.pipelineId}`,
    },
  };
}

/** The words `detailed_status` shows for a status (https://docs.gitlab.com/api/pipelines/#get-a-single-pipeline). */
const STATUS_TEXT: Partial<Record<SimPipeline['status'], string>> = {
  running: 'running',
  success: 'passed',
  failed: 'failed',
  canceled: 'canceled',
};

// https://docs.gitlab.com/api/pipelines/#create-a-new-pipeline: the example answer's fields, with `source` and
// `detailed_status` as GET /projects/:id/pipelines/:pipeline_id shows them.
function pipelineJson(url: URL, state: GitLabState, project: SimProject, pipeline: SimPipeline) {
  const user = state.users.get(pipeline.userId);
  const path = `/${project.path}/-/pipelines/${pipeline.id}`;
  const label = STATUS_TEXT[pipeline.status] ?? pipeline.status;
  return {
    id: pipeline.id,
    iid: pipeline.iid,
    project_id: project.id,
    sha: pipeline.sha,
    ref: pipeline.ref,
    status: pipeline.status,
    source: pipeline.source,
    created_at: pipeline.createdAt,
    updated_at: pipeline.updatedAt,
    web_url: `${url.origin}${path}`,
    before_sha: '0000000000000000000000000000000000000000',
    tag: false,
    yaml_errors: null,
    user: {
      id: pipeline.userId,
      username: user?.username ?? '',
      name: user?.username ?? '',
      state: 'active',
      avatar_url: '',
      web_url: `${url.origin}/${user?.username ?? ''}`,
    },
    started_at: pipeline.startedAt,
    finished_at: pipeline.finishedAt,
    committed_at: null,
    duration:
      pipeline.startedAt === null || pipeline.finishedAt === null
        ? null
        : Math.round((Date.parse(pipeline.finishedAt) - Date.parse(pipeline.startedAt)) / 1000),
    queued_duration: 0,
    coverage: null,
    detailed_status: {
      icon: `status_${pipeline.status}`,
      text: label.charAt(0).toUpperCase() + label.slice(1),
      label,
      group: pipeline.status,
      tooltip: label,
      has_details: true,
      details_path: path,
      illustration: null,
      favicon: `/assets/ci_favicons/favicon_status_${pipeline.status}.png`,
    },
  } satisfies PipelineSchema;
}

/**
 * The `variables` of POST /projects/:id/pipeline: an array of `{key, value, variable_type?}`; Grape names the
 * first malformed one with 400, as for any missing parameter.
 */
function pipelineVariables(body: Record<string, unknown>): { key: string; value: string }[] {
  const variables = body.variables ?? [];
  if (!Array.isArray(variables)) throw new HttpError(400, { error: 'variables is invalid' });
  return variables.map((variable: unknown, i) => {
    const entry =
      typeof variable === 'object' && variable !== null ? (variable as Record<string, unknown>) : {};
    const key = text(entry, 'key');
    const value = text(entry, 'value');
    if (key === undefined) throw missing(`variables[${i}][key]`);
    if (value === undefined) throw missing(`variables[${i}][value]`);
    return { key, value };
  });
}

function scheduleJson(state: GitLabState, schedule: SimSchedule) {
  const owner = state.users.get(schedule.ownerId);
  return {
    id: schedule.id,
    description: schedule.description,
    ref: schedule.ref,
    cron: schedule.cron,
    cron_timezone: 'UTC',
    next_run_at: schedule.updatedAt,
    active: schedule.active,
    created_at: schedule.createdAt,
    updated_at: schedule.updatedAt,
    owner: {
      id: schedule.ownerId,
      name: owner?.username ?? '',
      username: owner?.username ?? '',
      state: 'active',
      avatar_url: '',
      web_url: '',
    },
  } satisfies CondensedPipelineScheduleSchema;
}

/** The `state` filter of the token lists: `active` or `inactive`; any other value is GitLab's 400. */
function inState(state: GitLabState, token: SimToken, ctx: Context): boolean {
  const wanted = ctx.query.get('state');
  if (wanted === null) return true;
  if (wanted !== 'active' && wanted !== 'inactive')
    throw new HttpError(400, { error: 'state does not have a valid value' });
  return state.isActive(token) === (wanted === 'active');
}

/**
 * Offset pagination: https://docs.gitlab.com/api/rest/#offset-based-pagination (`page`, `per_page` default
 * 20, max 100; `x-total`, `x-next-page`, ... headers and a `link` header).
 */
function paginated(ctx: Context, items: unknown[]): Answer {
  const perPage = Math.min(100, Math.max(1, Number(ctx.query.get('per_page') ?? 20)));
  const page = Math.max(1, Number(ctx.query.get('page') ?? 1));
  const totalPages = Math.max(1, Math.ceil(items.length / perPage));
  const pageUrl = (n: number) => {
    const url = new URL(ctx.url);
    url.searchParams.set('page', String(n));
    url.searchParams.set('per_page', String(perPage));
    return url.toString();
  };
  const links = [`<${pageUrl(1)}>; rel="first"`, `<${pageUrl(totalPages)}>; rel="last"`];
  if (page < totalPages) links.unshift(`<${pageUrl(page + 1)}>; rel="next"`);
  if (page > 1) links.unshift(`<${pageUrl(page - 1)}>; rel="prev"`);
  return {
    status: 200,
    body: items.slice((page - 1) * perPage, page * perPage),
    headers: {
      'x-total': String(items.length),
      'x-total-pages': String(totalPages),
      'x-page': String(page),
      'x-per-page': String(perPage),
      'x-next-page': page < totalPages ? String(page + 1) : '',
      'x-prev-page': page > 1 ? String(page - 1) : '',
      link: links.join(', '),
    },
  };
}

function text(body: Record<string, unknown>, field: string): string | undefined {
  const value = body[field];
  return typeof value === 'string' ? value : undefined;
}

function flag(body: Record<string, unknown>, field: string): boolean | undefined {
  const value = body[field];
  return typeof value === 'boolean' ? value : undefined;
}

/** `filter[environment_scope]` from the query (GET, DELETE) or the JSON body (PUT, as gitbeaker sends it). */
function environmentFilter(ctx: Context): string | undefined {
  const fromBody = ctx.body.filter;
  if (typeof fromBody === 'object' && fromBody !== null && 'environment_scope' in fromBody) {
    return String(fromBody.environment_scope);
  }
  return ctx.query.get('filter[environment_scope]') ?? undefined;
}

const GUEST = 10;
const REPORTER = 20;
const DEVELOPER = 30;
const MAINTAINER = 40;
const OWNER = 50;
/** The role `ci_pipeline_variables_minimum_override_role` asks for; `no_one_allowed` refuses everyone. */
const VARIABLES_ROLE: Record<SimProject['pipelineVariablesMinimumRole'], number> = {
  developer: DEVELOPER,
  maintainer: MAINTAINER,
  owner: 50,
  no_one_allowed: Number.POSITIVE_INFINITY,
};

function today(state: GitLabState, plusDays = 0): string {
  return new Date(state.now().getTime() + plusDays * 86_400_000).toISOString().slice(0, 10);
}

export function createRoutes(state: GitLabState): Route[] {
  const findNamespace = (kind: 'project' | 'group', raw: string): SimNamespace => {
    const all = kind === 'project' ? state.projects : state.groups;
    const found = [...all.values()].find((n) => String(n.id) === raw || n.path === raw);
    if (found === undefined) throw notFound(kind === 'project' ? 'Project' : 'Group');
    return found;
  };
  const roleIn = (namespace: SimNamespace, caller: Caller) =>
    caller.user.admin ? 50 : (namespace.members.get(caller.user.id) ?? 0);
  /** A namespace the caller has at least `least` in (a role number, 10 guest ... 50 owner). */
  const memberOf = (kind: 'project' | 'group', ctx: Context, least: number): SimNamespace => {
    const namespace = findNamespace(kind, ctx.params.id ?? '');
    // https://docs.gitlab.com/user/permissions/: a non-member sees a private project as missing.
    const role = roleIn(namespace, ctx.caller);
    if (role === 0) throw notFound(kind === 'project' ? 'Project' : 'Group');
    if (role < least) throw forbidden();
    return namespace;
  };
  /** Tokens, variables and schedules need the Maintainer role (or Owner, or an administrator). */
  const maintainerOf = (kind: 'project' | 'group', ctx: Context) => memberOf(kind, ctx, MAINTAINER);
  const tokenId = (ctx: Context) => Number(ctx.params.token_id);
  /** A project whose pipelines the caller may see (`least` Reporter) or run and cancel (Developer). */
  const projectFor = (ctx: Context, least: number): SimProject => {
    const project = state.projects.get(memberOf('project', ctx, least).id);
    if (project === undefined) throw notFound('Project');
    return project;
  };
  const pipelineOf = (project: SimProject, ctx: Context): SimPipeline => {
    const pipeline = project.pipelines.find((p) => String(p.id) === ctx.params.pipeline_id);
    // lib/api/api.rb answers a record it cannot find with this message (lowercase `found`).
    if (pipeline === undefined) throw message(404, '404 Not found');
    return pipeline;
  };

  /** A personal token the caller may manage: an administrator any, anyone else only their own. */
  const personalToken = (ctx: Context): SimToken => {
    const token = state.tokens.get(tokenId(ctx));
    // https://docs.gitlab.com/api/personal_access_tokens/: 401 for a token the caller may not see,
    // 404 only for administrators.
    if (!ctx.caller.user.admin && token?.userId !== ctx.caller.user.id) throw unauthorized();
    if (token === undefined) throw notFound();
    return token;
  };
  const resourceToken = (kind: 'project' | 'group', ctx: Context): SimToken => {
    const namespace = maintainerOf(kind, ctx);
    const token = state.tokens.get(tokenId(ctx));
    if (token === undefined || token.resource !== `${kind}:${namespace.id}`) throw notFound();
    return token;
  };

  const expiryFrom = (body: Record<string, unknown>, required: boolean): string => {
    const expiresAt = text(body, 'expires_at');
    if (expiresAt === undefined) {
      if (required) throw missing('expires_at');
      // https://docs.gitlab.com/api/personal_access_tokens/#rotate-a-personal-access-token: one week by default.
      return today(state, 7);
    }
    // https://docs.gitlab.com/user/profile/personal_access_tokens/#access-token-expiration: at most 365 days.
    if (expiresAt > today(state, 365)) throw message(400, 'Expiration date must be within 365 days');
    if (expiresAt <= today(state)) throw message(400, 'Expiration date must be in the future');
    return expiresAt;
  };

  /**
   * Rotation revokes the old token and issues a new one in its family. Rotating a token that is already
   * revoked is treated as reuse: the family's active token is revoked too, and the rotation fails.
   * https://docs.gitlab.com/api/personal_access_tokens/#automatic-reuse-detection
   */
  const rotate = (token: SimToken, body: Record<string, unknown>): Answer => {
    if (token.revoked) {
      for (const member of state.family(token)) member.revoked = true;
      throw message(400, 'Token already revoked');
    }
    if (state.isExpired(token)) throw message(400, 'Token already expired');
    const expiresAt = expiryFrom(body, false);
    token.revoked = true;
    const next = state.addToken({ ...token, expiresAt, previous: token });
    return { status: 200, body: exposedJson(state, next) };
  };

  /** https://docs.gitlab.com/api/project_access_tokens/#revoke-a-project-access-token: 204, or 400 when not revoked. */
  const revoke = (token: SimToken): Answer => {
    if (token.revoked) throw message(400, '400 Bad request - Token already revoked');
    token.revoked = true;
    return { status: 204 };
  };

  const checkScopes = (body: Record<string, unknown>): string[] => {
    const scopes = body.scopes;
    if (!Array.isArray(scopes) || scopes.length === 0) throw missing('scopes');
    return scopes.map(String);
  };

  const resourceTokenRoutes = (kind: 'project' | 'group'): Route[] => {
    const base = `/${kind}s/:id/access_tokens`;
    return [
      {
        method: 'GET',
        route: base,
        needs: 'read',
        // https://docs.gitlab.com/api/project_access_tokens/#list-all-project-access-tokens: active and inactive,
        // or those of one `state` (GitLab 17.2 and later).
        handle: (ctx) => {
          const namespace = maintainerOf(kind, ctx);
          const tokens = [...state.tokens.values()].filter(
            (t) => t.resource === `${kind}:${namespace.id}` && inState(state, t, ctx),
          );
          return paginated(
            ctx,
            tokens.map((t) => tokenJson(state, t)),
          );
        },
      },
      {
        method: 'GET',
        route: `${base}/:token_id`,
        needs: 'read',
        handle: (ctx) => ({ status: 200, body: tokenJson(state, resourceToken(kind, ctx)) }),
      },
      {
        method: 'POST',
        route: base,
        needs: 'api',
        // https://docs.gitlab.com/api/project_access_tokens/#create-a-project-access-token: expires_at is
        // required, access_level defaults to Maintainer and may not exceed the caller's own role.
        handle: (ctx) => {
          const namespace = maintainerOf(kind, ctx);
          const name = text(ctx.body, 'name');
          if (name === undefined) throw missing('name');
          const scopes = checkScopes(ctx.body);
          const expiresAt = expiryFrom(ctx.body, true);
          const accessLevel = Number(ctx.body.access_level ?? 40);
          if (accessLevel > roleIn(namespace, ctx.caller)) {
            throw message(
              400,
              'Access level of the token can not be greater than the access level of the user',
            );
          }
          const token = state.addResourceToken(namespace, kind, { name, scopes, expiresAt, accessLevel });
          return { status: 201, body: exposedJson(state, token) };
        },
      },
      {
        method: 'POST',
        route: `${base}/:token_id/rotate`,
        needs: 'api',
        handle: (ctx) => rotate(resourceToken(kind, ctx), ctx.body),
      },
      {
        method: 'DELETE',
        route: `${base}/:token_id`,
        needs: 'api',
        handle: (ctx) => revoke(resourceToken(kind, ctx)),
      },
    ];
  };

  const findVariables = (namespace: SimNamespace, ctx: Context): SimVariable => {
    const scope = environmentFilter(ctx);
    const matches = namespace.variables.filter(
      (v) => v.key === ctx.params.key && (scope === undefined || v.environmentScope === scope),
    );
    if (matches.length === 0) throw notFound('Variable');
    // https://docs.gitlab.com/api/project_level_variables/#the-filter-parameter
    if (matches.length > 1) {
      throw message(
        409,
        "There are multiple variables with provided parameters. Please use 'filter[environment_scope]'",
      );
    }
    return matches[0] as SimVariable;
  };

  /**
   * GitLab's rule for masked values (app/models/concerns/ci/maskable.rb, and
   * https://docs.gitlab.com/ci/variables/#mask-a-cicd-variable): 8 characters or more of the Base64
   * alphabet plus `@ : . ~ - _`; a raw (unexpanded) variable takes any 8 or more non-space characters.
   */
  const checkMaskable = (variable: SimVariable) => {
    const maskable = variable.raw ? /^\S{8,}$/ : /^[a-zA-Z0-9_+=/@:.~-]{8,}$/;
    if (variable.masked && !maskable.test(variable.value)) throw message(400, { value: ['is invalid'] });
  };

  const variableRoutes = (kind: 'project' | 'group'): Route[] => {
    const base = `/${kind}s/:id/variables`;
    return [
      {
        method: 'GET',
        route: `${base}/:key`,
        needs: 'read',
        handle: (ctx) => ({ status: 200, body: variableJson(findVariables(maintainerOf(kind, ctx), ctx)) }),
      },
      {
        method: 'POST',
        route: base,
        needs: 'api',
        // https://docs.gitlab.com/api/project_level_variables/#create-a-variable
        handle: (ctx) => {
          const namespace = maintainerOf(kind, ctx);
          const key = text(ctx.body, 'key');
          const value = text(ctx.body, 'value');
          if (key === undefined) throw missing('key');
          if (value === undefined) throw missing('value');
          const environmentScope = text(ctx.body, 'environment_scope') ?? '*';
          if (namespace.variables.some((v) => v.key === key && v.environmentScope === environmentScope)) {
            throw message(400, { key: [`(${key}) has already been taken`] });
          }
          const hidden = flag(ctx.body, 'masked_and_hidden') ?? false;
          const variable: SimVariable = {
            key,
            value,
            variableType: text(ctx.body, 'variable_type') === 'file' ? 'file' : 'env_var',
            protected: flag(ctx.body, 'protected') ?? false,
            masked: hidden || (flag(ctx.body, 'masked') ?? false),
            hidden,
            raw: flag(ctx.body, 'raw') ?? false,
            environmentScope,
            description: text(ctx.body, 'description') ?? null,
          };
          checkMaskable(variable);
          namespace.variables.push(variable);
          return { status: 201, body: variableJson(variable) };
        },
      },
      {
        method: 'PUT',
        route: `${base}/:key`,
        needs: 'api',
        // https://docs.gitlab.com/api/project_level_variables/#update-a-variable: a hidden variable stays
        // hidden and masked.
        handle: (ctx) => {
          const variable = findVariables(maintainerOf(kind, ctx), ctx);
          const updated: SimVariable = {
            ...variable,
            value: text(ctx.body, 'value') ?? variable.value,
            variableType:
              (text(ctx.body, 'variable_type') as SimVariable['variableType'] | undefined) ??
              variable.variableType,
            protected: flag(ctx.body, 'protected') ?? variable.protected,
            masked: flag(ctx.body, 'masked') ?? variable.masked,
            raw: flag(ctx.body, 'raw') ?? variable.raw,
            environmentScope: text(ctx.body, 'environment_scope') ?? variable.environmentScope,
            description:
              ctx.body.description === undefined
                ? variable.description
                : (text(ctx.body, 'description') ?? null),
          };
          if (variable.hidden && !updated.masked)
            throw message(400, { masked: ['cannot be unset for a hidden variable'] });
          checkMaskable(updated);
          Object.assign(variable, updated);
          return { status: 200, body: variableJson(variable) };
        },
      },
      {
        method: 'DELETE',
        route: `${base}/:key`,
        needs: 'api',
        handle: (ctx) => {
          const namespace = maintainerOf(kind, ctx);
          const variable = findVariables(namespace, ctx);
          namespace.variables.splice(namespace.variables.indexOf(variable), 1);
          return { status: 204 };
        },
      },
    ];
  };

  // ---- Deploy tokens (https://docs.gitlab.com/api/deploy_tokens/) ----

  /** Project deploy tokens need Maintainer; group deploy tokens Owner (gitlab-org/gitlab#212469). */
  const deployTokenOwner = (kind: 'project' | 'group', ctx: Context) =>
    memberOf(kind, ctx, kind === 'project' ? MAINTAINER : OWNER);
  const deployToken = (kind: 'project' | 'group', ctx: Context): SimDeployToken => {
    const namespace = deployTokenOwner(kind, ctx);
    const token = state.deployTokens.get(tokenId(ctx));
    if (token === undefined || token.resource !== `${kind}:${namespace.id}`) throw notFound();
    return token;
  };
  const deployTokenRoutes = (kind: 'project' | 'group'): Route[] => {
    const base = `/${kind}s/:id/deploy_tokens`;
    // Virtual registries are a group's: a project's deploy token cannot carry their scopes.
    const allowed = kind === 'project' ? PROJECT_DEPLOY_SCOPES : GROUP_DEPLOY_SCOPES;
    return [
      {
        method: 'GET',
        route: base,
        needs: 'read',
        // https://docs.gitlab.com/api/deploy_tokens/#list-project-deploy-tokens: `active=true` limits to
        // tokens neither revoked nor expired. Assumption: `active=false` filters nothing, as GitLab's finder
        // applies only a true `active`.
        handle: (ctx) => {
          const namespace = deployTokenOwner(kind, ctx);
          const active = ctx.query.get('active');
          if (active !== null && active !== 'true' && active !== 'false')
            throw new HttpError(400, { error: 'active is invalid' });
          const tokens = [...state.deployTokens.values()].filter(
            (t) =>
              t.resource === `${kind}:${namespace.id}` && (active !== 'true' || state.deployTokenActive(t)),
          );
          return paginated(
            ctx,
            tokens.map((t) => deployTokenJson(state, t)),
          );
        },
      },
      {
        method: 'GET',
        route: `${base}/:token_id`,
        needs: 'read',
        handle: (ctx) => ({ status: 200, body: deployTokenJson(state, deployToken(kind, ctx)) }),
      },
      {
        method: 'POST',
        route: base,
        needs: 'api',
        // https://docs.gitlab.com/api/deploy_tokens/#create-a-project-deploy-token: name and scopes required;
        // expires_at (ISO 8601) and username optional; 201 with the token, shown this once.
        handle: (ctx) => {
          const namespace = deployTokenOwner(kind, ctx);
          const name = text(ctx.body, 'name');
          if (name === undefined) throw missing('name');
          const scopes = checkScopes(ctx.body);
          if (scopes.some((scope) => !allowed.includes(scope)))
            throw new HttpError(400, { error: 'scopes does not have a valid value' });
          const rawExpiry = text(ctx.body, 'expires_at');
          const expiry = rawExpiry === undefined || rawExpiry === '' ? null : Date.parse(rawExpiry);
          if (expiry !== null && Number.isNaN(expiry))
            throw new HttpError(400, { error: 'expires_at is invalid' });
          const username = text(ctx.body, 'username');
          const token = state.addDeployToken({
            resource: `${kind}:${namespace.id}`,
            name,
            scopes,
            expiresAt: expiry === null ? null : new Date(expiry).toISOString(),
            username: username === '' ? undefined : username,
          });
          return { status: 201, body: { ...deployTokenJson(state, token), token: token.value } };
        },
      },
      {
        method: 'DELETE',
        route: `${base}/:token_id`,
        needs: 'api',
        // https://docs.gitlab.com/api/deploy_tokens/#delete-a-project-deploy-token: 204, the token is gone.
        handle: (ctx) => {
          state.deployTokens.delete(deployToken(kind, ctx).id);
          return { status: 204 };
        },
      },
    ];
  };

  /** What verifying a deploy token needs besides its own endpoints: a project's path, and a group's projects. */
  const projectRoutes: Route[] = [
    {
      method: 'GET',
      route: '/projects/:id',
      needs: 'read',
      // https://docs.gitlab.com/api/projects/#get-a-single-project: the fields the rotator reads.
      handle: (ctx) => ({ status: 200, body: projectJson(ctx.url, memberOf('project', ctx, GUEST)) }),
    },
  ];

  // ---- end of deploy tokens ----

  /*
   * Discovery (rotator discover): the current user, a group, its descendant groups and projects, and the
   * variable lists. Other sections add their own list endpoints beside this one.
   */
  /** The caller's role in a group or project, inherited from every group above it (https://docs.gitlab.com/user/permissions/). */
  const inheritedRole = (namespace: SimNamespace, caller: Caller): number => {
    if (caller.user.admin) return 50;
    const above = [...state.groups.values()].filter((group) => namespace.path.startsWith(`${group.path}/`));
    return Math.max(
      namespace.members.get(caller.user.id) ?? 0,
      ...above.map((g) => g.members.get(caller.user.id) ?? 0),
    );
  };
  const groupJson = (url: URL, group: SimNamespace) => {
    const parent = [...state.groups.values()].find((g) => g.path === group.path.replace(/\/[^/]+$/, ''));
    return {
      id: group.id,
      name: group.path.split('/').pop() ?? group.path,
      path: group.path.split('/').pop() ?? group.path,
      full_name: group.path.split('/').join(' / '),
      full_path: group.path,
      parent_id: parent === undefined || parent === group ? null : parent.id,
      visibility: 'private',
      web_url: `${url.origin}/groups/${group.path}`,
    };
  };
  const listedProjectJson = (url: URL, project: SimProject) => ({
    id: project.id,
    name: project.path.split('/').pop() ?? project.path,
    path: project.path.split('/').pop() ?? project.path,
    path_with_namespace: project.path,
    name_with_namespace: project.path.split('/').join(' / '),
    namespace: { full_path: project.path.replace(/\/[^/]+$/, '') },
    visibility: 'private',
    web_url: `${url.origin}/${project.path}`,
  });
  /** A group the caller may see: a member of it or of a group above it (or an administrator). */
  const visibleGroup = (ctx: Context): SimNamespace => {
    const group = findNamespace('group', ctx.params.id ?? '');
    if (inheritedRole(group, ctx.caller) === 0) throw notFound('Group');
    return group;
  };
  const under = (group: SimNamespace, path: string, nested: boolean) =>
    path.startsWith(`${group.path}/`) && (nested || !path.slice(group.path.length + 1).includes('/'));
  const discoveryRoutes: Route[] = [
    {
      method: 'GET',
      route: '/user',
      needs: 'read',
      // https://docs.gitlab.com/api/users/#get-the-current-user: `is_admin` only in an administrator's answer.
      handle: (ctx) => ({
        status: 200,
        body: {
          id: ctx.caller.user.id,
          username: ctx.caller.user.username,
          name: ctx.caller.user.username,
          state: 'active',
          bot: ctx.caller.user.bot,
          ...(ctx.caller.user.admin ? { is_admin: true } : {}),
        },
      }),
    },
    {
      method: 'GET',
      route: '/groups/:id',
      needs: 'read',
      // https://docs.gitlab.com/api/groups/#get-a-single-group (without its projects).
      handle: (ctx) => ({ status: 200, body: groupJson(ctx.url, visibleGroup(ctx)) }),
    },
    {
      method: 'GET',
      route: '/groups/:id/descendant_groups',
      needs: 'read',
      // https://docs.gitlab.com/api/groups/#list-descendant-groups: every group below, not the group itself,
      // those the caller may see.
      handle: (ctx) => {
        const group = visibleGroup(ctx);
        const below = [...state.groups.values()]
          .filter((g) => under(group, g.path, true) && inheritedRole(g, ctx.caller) > 0)
          .sort((a, b) => a.id - b.id);
        return paginated(
          ctx,
          below.map((g) => groupJson(ctx.url, g)),
        );
      },
    },
    {
      method: 'GET',
      route: '/groups/:id/projects',
      needs: 'read',
      // https://docs.gitlab.com/api/groups/#list-projects: the group's own projects, and with
      // `include_subgroups=true` those of every group below it.
      handle: (ctx) => {
        const group = visibleGroup(ctx);
        const nested = ctx.query.get('include_subgroups') === 'true';
        const projects = [...state.projects.values()]
          .filter((p) => under(group, p.path, nested) && inheritedRole(p, ctx.caller) > 0)
          .sort((a, b) => a.id - b.id);
        return paginated(
          ctx,
          projects.map((p) => listedProjectJson(ctx.url, p)),
        );
      },
    },
    ...(['project', 'group'] as const).map((kind): Route => ({
      method: 'GET',
      route: `/${kind}s/:id/variables`,
      needs: 'read',
      // https://docs.gitlab.com/api/project_level_variables/#list-project-variables (and the group's): Maintainer.
      handle: (ctx) => {
        const namespace = findNamespace(kind, ctx.params.id ?? '');
        const role = inheritedRole(namespace, ctx.caller);
        if (role === 0) throw notFound(kind === 'project' ? 'Project' : 'Group');
        if (role < MAINTAINER) throw forbidden();
        return paginated(ctx, namespace.variables.map(variableJson));
      },
    })),
  ];

  // ---- Pipeline trigger tokens and service accounts (issue 23) ----

  /** lib/api/ci/triggers.rb: reading and managing triggers needs the Maintainer role (`admin_build`). */
  const projectTrigger = (ctx: Context): { project: SimNamespace; trigger: SimTrigger } => {
    const project = maintainerOf('project', ctx);
    const trigger = state.triggers.get(Number(ctx.params.trigger_id));
    // `user_project.triggers.find` raises RecordNotFound, which lib/api/api.rb answers with this message.
    if (trigger === undefined || trigger.projectId !== project.id) throw message(404, '404 Not found');
    return { project, trigger };
  };

  const triggerRoutes = (): Route[] => [
    {
      method: 'GET',
      route: '/projects/:id/triggers',
      needs: 'read',
      handle: (ctx) => {
        const project = maintainerOf('project', ctx);
        const triggers = [...state.triggers.values()].filter((t) => t.projectId === project.id);
        return paginated(
          ctx,
          triggers.map((t) => triggerJson(state, t, ctx.caller)),
        );
      },
    },
    {
      method: 'GET',
      route: '/projects/:id/triggers/:trigger_id',
      needs: 'read',
      handle: (ctx) => ({ status: 200, body: triggerJson(state, projectTrigger(ctx).trigger, ctx.caller) }),
    },
    {
      method: 'POST',
      route: '/projects/:id/triggers',
      needs: 'api',
      // https://docs.gitlab.com/api/pipeline_triggers/#create-a-trigger-token: `description` required; lib/api/ci/
      // triggers.rb takes an optional `expires_at` (a DateTime) too. The caller owns the new trigger.
      handle: (ctx) => {
        const project = state.projects.get(maintainerOf('project', ctx).id);
        if (project === undefined) throw notFound('Project');
        const description = text(ctx.body, 'description');
        if (description === undefined) throw missing('description');
        const expiresAt = text(ctx.body, 'expires_at');
        if (expiresAt !== undefined && Number.isNaN(Date.parse(expiresAt)))
          throw new HttpError(400, { error: 'expires_at is invalid' });
        // Assumption: Ci::Trigger refuses an expiry in the past as a validation error (400).
        if (expiresAt !== undefined && Date.parse(expiresAt) <= state.now().getTime())
          throw message(400, { expires_at: ['must be in the future'] });
        const trigger = state.addTrigger(project, {
          description,
          ownerId: ctx.caller.user.id,
          expiresAt: expiresAt === undefined ? null : new Date(expiresAt).toISOString(),
        });
        return { status: 201, body: triggerJson(state, trigger, ctx.caller) };
      },
    },
    {
      method: 'DELETE',
      route: '/projects/:id/triggers/:trigger_id',
      needs: 'api',
      handle: (ctx) => {
        state.triggers.delete(projectTrigger(ctx).trigger.id);
        return { status: 204 };
      },
    },
  ];

  /**
   * https://docs.gitlab.com/api/service_accounts/#group-service-accounts: an administrator, or the group's
   * Owner; the service account must be one of the group's (else 404, as for a token that is not its own).
   */
  const serviceAccountOf = (ctx: Context): { group: SimNamespace; userId: number } => {
    const group = memberOf('group', ctx, 50);
    const userId = Number(ctx.params.user_id);
    if (state.serviceAccounts.get(userId) !== group.id) throw notFound('User');
    return { group, userId };
  };
  const serviceAccountToken = (ctx: Context): SimToken => {
    const { userId } = serviceAccountOf(ctx);
    const token = state.tokens.get(tokenId(ctx));
    if (token === undefined || token.userId !== userId) throw notFound();
    return token;
  };

  const serviceAccountRoutes = (): Route[] => {
    const base = '/groups/:id/service_accounts/:user_id/personal_access_tokens';
    return [
      {
        method: 'GET',
        route: '/groups/:id/service_accounts',
        needs: 'read',
        // https://docs.gitlab.com/api/service_accounts/#list-all-group-service-accounts: the service accounts of a
        // top-level group, newest first (`order_by` id, `sort` desc by default), paginated. Assumption: a
        // caller below Owner is refused with 403, as by the group's other Owner-only endpoints, and a subgroup
        // has none of its own.
        handle: (ctx) => {
          const group = memberOf('group', ctx, 50);
          const accounts = [...state.serviceAccounts.entries()]
            .filter(([, groupId]) => groupId === group.id)
            .map(([userId]) => userId)
            .sort((a, b) => b - a)
            .map((userId) => state.users.get(userId))
            .filter((user) => user !== undefined);
          const host = new URL(ctx.url).hostname;
          return paginated(
            ctx,
            accounts.map((user) => ({
              id: user.id,
              username: user.username,
              name: 'Service account user',
              email: `${user.username}@noreply.${host}`,
            })),
          );
        },
      },
      {
        method: 'GET',
        route: base,
        needs: 'read',
        // ...#list-all-personal-access-tokens-for-a-group-service-account (GitLab 17.11): `search`, `state`,
        // `revoked` among its filters.
        handle: (ctx) => {
          const { userId } = serviceAccountOf(ctx);
          const search = ctx.query.get('search')?.toLowerCase();
          const revoked = ctx.query.get('revoked');
          const tokens = [...state.tokens.values()].filter(
            (t) =>
              t.userId === userId &&
              (search === undefined || t.name.toLowerCase().includes(search)) &&
              (revoked === null || t.revoked === (revoked === 'true')) &&
              inState(state, t, ctx),
          );
          return paginated(
            ctx,
            tokens.map((t) => tokenJson(state, t)),
          );
        },
      },
      {
        method: 'POST',
        route: base,
        needs: 'api',
        // ...#create-a-personal-access-token-for-a-group-service-account: without `expires_at`, the longest
        // lifetime allowed (365 days).
        handle: (ctx) => {
          const { userId } = serviceAccountOf(ctx);
          const name = text(ctx.body, 'name');
          if (name === undefined) throw missing('name');
          const scopes = checkScopes(ctx.body);
          const expiresAt =
            text(ctx.body, 'expires_at') === undefined ? today(state, 365) : expiryFrom(ctx.body, true);
          const token = state.addToken({ userId, name, scopes, expiresAt });
          return { status: 201, body: exposedJson(state, token) };
        },
      },
      {
        method: 'POST',
        route: `${base}/:token_id/rotate`,
        needs: 'api',
        // ...#rotate-a-personal-access-token-for-a-group-service-account: `expires_at` since GitLab 17.9, one
        // week without it.
        handle: (ctx) => rotate(serviceAccountToken(ctx), ctx.body),
      },
      {
        method: 'DELETE',
        route: `${base}/:token_id`,
        needs: 'api',
        // ...#revoke-a-personal-access-token-for-a-group-service-account: 204, or 400 when not revoked.
        handle: (ctx) => revoke(serviceAccountToken(ctx)),
      },
    ];
  };

  // ---- end of pipeline trigger tokens and service accounts ----

  return [
    ...discoveryRoutes,
    {
      method: 'GET',
      route: '/personal_access_tokens',
      needs: 'read',
      // https://docs.gitlab.com/api/personal_access_tokens/#list-all-personal-access-tokens: administrators
      // see every token and may filter by user_id; others see their own and get 401 for another user_id.
      handle: (ctx) => {
        const userId = ctx.query.get('user_id');
        if (!ctx.caller.user.admin && userId !== null && Number(userId) !== ctx.caller.user.id)
          throw unauthorized();
        const search = ctx.query.get('search');
        const tokens = [...state.tokens.values()].filter(
          (t) =>
            (ctx.caller.user.admin || t.userId === ctx.caller.user.id) &&
            (userId === null || t.userId === Number(userId)) &&
            (search === null || t.name.toLowerCase().includes(search.toLowerCase())) &&
            inState(state, t, ctx),
        );
        return paginated(
          ctx,
          tokens.map((t) => tokenJson(state, t)),
        );
      },
    },
    {
      method: 'GET',
      route: '/personal_access_tokens/self',
      // Assumption: GitLab lets any scope read its own token here (the docs name no required scope).
      needs: 'any',
      handle: (ctx) => ({ status: 200, body: tokenJson(state, ctx.caller.token) }),
    },
    {
      method: 'GET',
      route: '/personal_access_tokens/:token_id',
      needs: 'read',
      handle: (ctx) => ({ status: 200, body: tokenJson(state, personalToken(ctx)) }),
    },
    {
      method: 'POST',
      route: '/personal_access_tokens/self/rotate',
      // https://docs.gitlab.com/api/personal_access_tokens/#rotate-a-personal-access-token: the token in the
      // header rotates itself, with the `api` or the `self_rotate` scope; personal, project and group tokens.
      needs: 'any',
      handle: (ctx) => {
        const { scopes } = ctx.caller.token;
        if (!scopes.includes('api') && !scopes.includes('self_rotate')) {
          throw new HttpError(403, {
            error: 'insufficient_scope',
            error_description: 'The request requires higher privileges than provided by the access token.',
            scope: 'api self_rotate',
          });
        }
        return rotate(ctx.caller.token, ctx.body);
      },
    },
    {
      method: 'POST',
      route: '/personal_access_tokens/:token_id/rotate',
      needs: 'api',
      handle: (ctx) => rotate(personalToken(ctx), ctx.body),
    },
    {
      method: 'DELETE',
      route: '/personal_access_tokens/:token_id',
      needs: 'api',
      handle: (ctx) => revoke(personalToken(ctx)),
    },
    {
      method: 'POST',
      route: '/users/:id/personal_access_tokens',
      needs: 'api',
      // https://docs.gitlab.com/api/user_tokens/#create-a-personal-access-token-for-a-user: administrators only.
      handle: (ctx) => {
        if (!ctx.caller.user.admin) throw forbidden();
        const user = state.users.get(Number(ctx.params.id));
        if (user === undefined) throw notFound('User');
        const name = text(ctx.body, 'name');
        if (name === undefined) throw missing('name');
        const scopes = checkScopes(ctx.body);
        const token = state.addToken({
          userId: user.id,
          name,
          scopes,
          expiresAt: expiryFrom(ctx.body, false),
        });
        return { status: 201, body: exposedJson(state, token) };
      },
    },
    ...resourceTokenRoutes('project'),
    ...resourceTokenRoutes('group'),
    ...deployTokenRoutes('project'),
    ...deployTokenRoutes('group'),
    ...projectRoutes,
    ...triggerRoutes(),
    ...serviceAccountRoutes(),
    ...variableRoutes('project'),
    ...variableRoutes('group'),
    {
      method: 'GET',
      route: '/projects/:id/jobs',
      needs: 'read',
      // https://docs.gitlab.com/api/jobs/#list-project-jobs: newest first; `scope` is one status or an array
      // of them (`scope=running` or `scope[]=pending&scope[]=running`), all jobs without it. Assumption: the
      // Reporter role may list them (the docs name no role for this endpoint).
      handle: (ctx) => {
        const project = projectFor(ctx, REPORTER);
        const scopes = [...ctx.query.getAll('scope'), ...ctx.query.getAll('scope[]')];
        const jobs = project.jobs
          .filter((job) => scopes.length === 0 || scopes.includes(job.status))
          .sort((a, b) => b.id - a.id);
        return paginated(
          ctx,
          jobs.map((job) => jobJson(ctx.url, project, job)),
        );
      },
    },
    {
      method: 'POST',
      route: '/projects/:id/pipeline',
      needs: 'api',
      // https://docs.gitlab.com/api/pipelines/#create-a-new-pipeline: Developer or more (else 403); `ref` from
      // the body or the query. GitLab's pipeline chain checks the ref before it looks for CI configuration,
      // and answers either failure as a validation error: 400 `{"message": {"base": [...]}}`.
      handle: (ctx) => {
        const project = projectFor(ctx, DEVELOPER);
        const ref = text(ctx.body, 'ref') ?? ctx.query.get('ref') ?? undefined;
        if (ref === undefined) throw missing('ref');
        const variables = pipelineVariables(ctx.body);
        // Gitlab::Ci::Pipeline::Chain::Build::Associations: pipeline variables need the project's minimum
        // role, and each key once; both before the ref is looked at.
        if (
          variables.length > 0 &&
          roleIn(project, ctx.caller) < VARIABLES_ROLE[project.pipelineVariablesMinimumRole]
        )
          throw message(400, { base: ['Insufficient permissions to set pipeline variables'] });
        const keys = variables.map((v) => v.key);
        const duplicated = [...new Set(keys.filter((key, i) => keys.indexOf(key) !== i))];
        if (duplicated.length > 0) {
          const names = duplicated.length === 1 ? 'name' : 'names';
          throw message(400, { base: [`Duplicate variable ${names}: ${duplicated.join(', ')}`] });
        }
        if (!project.branches.has(ref)) throw message(400, { base: ['Reference not found'] });
        if (!project.canaries.has(ref)) throw message(400, { base: ['Missing CI config file'] });
        const pipeline = state.startPipeline(project, { ref, userId: ctx.caller.user.id, variables });
        return { status: 201, body: pipelineJson(ctx.url, state, project, pipeline) };
      },
    },
    {
      method: 'GET',
      route: '/projects/:id/pipelines/:pipeline_id',
      needs: 'read',
      // https://docs.gitlab.com/api/pipelines/#get-a-single-pipeline. Assumption: Reporter may read it, as
      // for the jobs list.
      handle: (ctx) => {
        const project = projectFor(ctx, REPORTER);
        return { status: 200, body: pipelineJson(ctx.url, state, project, pipelineOf(project, ctx)) };
      },
    },
    {
      method: 'POST',
      route: '/projects/:id/pipelines/:pipeline_id/cancel',
      needs: 'api',
      // https://docs.gitlab.com/api/pipelines/#cancel-all-jobs-for-a-pipeline: 200 with the pipeline, its unfinished
      // jobs canceled; a finished pipeline is answered as it is (lib/api/ci/pipelines.rb says so in a TODO).
      handle: (ctx) => {
        const project = projectFor(ctx, DEVELOPER);
        const pipeline = pipelineOf(project, ctx);
        state.cancelPipeline(pipeline);
        return { status: 200, body: pipelineJson(ctx.url, state, project, pipeline) };
      },
    },
    {
      method: 'GET',
      route: '/projects/:id/pipeline_schedules',
      needs: 'read',
      // https://docs.gitlab.com/api/pipeline_schedules/#get-all-pipeline-schedules (`scope`: active, inactive)
      handle: (ctx) => {
        const project = state.projects.get(maintainerOf('project', ctx).id);
        const scope = ctx.query.get('scope');
        const schedules = (project?.schedules ?? []).filter(
          (s) => scope === null || (scope === 'active') === s.active,
        );
        return paginated(
          ctx,
          schedules.map((s) => scheduleJson(state, s)),
        );
      },
    },
    {
      method: 'PUT',
      route: '/projects/:id/pipeline_schedules/:schedule_id',
      needs: 'api',
      // https://docs.gitlab.com/api/pipeline_schedules/#edit-a-pipeline-schedule
      handle: (ctx) => {
        const project = state.projects.get(maintainerOf('project', ctx).id);
        const schedule = project?.schedules.find((s) => s.id === Number(ctx.params.schedule_id));
        if (schedule === undefined) throw notFound();
        const active = flag(ctx.body, 'active');
        if (active !== undefined) schedule.active = active;
        schedule.updatedAt = state.now().toISOString();
        return { status: 200, body: scheduleJson(state, schedule) };
      },
    },
  ];
}

/**
 * https://docs.gitlab.com/api/rest/authentication/: `PRIVATE-TOKEN` or `Authorization: Bearer`. Expired and
 * revoked tokens get 401 with an OAuth-style `{"error": "invalid_token"}` body.
 */
function authenticate(state: GitLabState, request: IncomingMessage, needs: Needs): Caller {
  const header = request.headers['private-token'];
  const bearer = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
  const value = (Array.isArray(header) ? header[0] : header) ?? bearer;
  const token = [...state.tokens.values()].find((t) => t.value === value);
  const user = token === undefined ? undefined : state.users.get(token.userId);
  if (token === undefined || user === undefined) throw unauthorized();
  if (token.revoked) {
    throw new HttpError(401, {
      error: 'invalid_token',
      error_description: 'Token was revoked. You have to re-authenticate.',
    });
  }
  if (state.isExpired(token))
    throw new HttpError(401, { error: 'invalid_token', error_description: 'Token has expired.' });
  const allowed =
    needs === 'any' ||
    token.scopes.includes('api') ||
    (needs === 'read' && token.scopes.includes('read_api'));
  if (!allowed) {
    throw new HttpError(403, {
      error: 'insufficient_scope',
      error_description: 'The request requires higher privileges than provided by the access token.',
      scope: needs === 'api' ? 'api' : 'api read_api',
    });
  }
  // GitLab records last use (it throttles the write to every few minutes; the simulator records each use).
  token.lastUsedAt = state.now().toISOString();
  return { user, token };
}

function matcher(route: string): RegExp {
  return new RegExp(`^/api/v4${route.replace(/:(\w+)/g, '(?<$1>[^/]+)')}$`);
}

async function readBody(request: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks).toString('utf8');
  if (raw === '') return {};
  const parsed: unknown = JSON.parse(raw);
  return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
}

function send(response: ServerResponse, answer: Answer): void {
  const headers = { ...answer.headers };
  if (answer.body === undefined || answer.status === 204) {
    response.writeHead(answer.status, headers).end();
  } else if (typeof answer.body === 'string') {
    response.writeHead(answer.status, { 'content-type': 'text/plain', ...headers }).end(answer.body);
  } else {
    response
      .writeHead(answer.status, { ...headers, 'content-type': 'application/json' })
      .end(JSON.stringify(answer.body));
  }
}

/**
 * GitLab's own error body for a status, `{"message": "503 Service Unavailable"}`, or the page a proxy
 * answers instead, made from what GitLab answered (`answer`).
 */
function failed({ status, page }: { status: number; page?: Failure['page'] }, answer = ''): Answer {
  if (page !== undefined) {
    return { status, body: page.body(answer), headers: { 'content-type': page.contentType } };
  }
  return { status, body: { message: `${status} ${STATUS_CODES[status] ?? ''}` } };
}

/** https://docs.gitlab.com/security/rate_limits/: 429 with Retry-After and a plain-text body. */
function rateLimited(retryAfterSeconds: number): Answer {
  return { status: 429, body: 'Retry later', headers: { 'retry-after': String(retryAfterSeconds) } };
}

export interface GitLabSim {
  url: string;
  state: GitLabState;
  faults: Faults;
  /** Random faults on any call, for the chaos run; off until `chaos.set`. */
  chaos: Chaos;
  /** Every request that matched a route, in order. */
  calls: RouteCall[];
  /** How many calls matched since `calls` was last emptied, per `METHOD route`. */
  callCounts(): Record<string, number>;
  /** How many calls a route has had since the start: faults count their N from here. */
  callsTotal(method: string, route: string): number;
  /** Requests received and not yet answered (or abandoned by their caller). */
  inFlight(): number;
  close(): Promise<void>;
}

/** Starts the simulator on a free loopback port. */
export async function startGitLabSim(): Promise<GitLabSim> {
  const state = new GitLabState();
  const faults = new Faults();
  const chaos = new Chaos();
  const routes = createRoutes(state).map((route) => ({ ...route, pattern: matcher(route.route) }));
  const calls: RouteCall[] = [];
  const seen = new Map<string, number>();

  let inFlight = 0;
  const server = createServer((request, response) => {
    inFlight += 1;
    response.once('close', () => (inFlight -= 1));
    void (async () => {
      const url = new URL(request.url ?? '/', 'http://gitlab.sim');
      const body = await readBody(request);
      if (faults.delay > 0) await new Promise((resolve) => setTimeout(resolve, faults.delay));
      const method = request.method ?? 'GET';
      // Git over HTTP is outside the REST API: a deploy token's verification (see gitInfoRefs).
      if (method === 'GET' && url.pathname.endsWith(GIT_INFO_REFS))
        return send(response, gitInfoRefs(state, request, url));
      const route = routes.find((r) => r.method === method && r.pattern.test(url.pathname));
      if (route === undefined) return send(response, { status: 404, body: { error: '404 Not Found' } });
      const call = { method, route: route.route };
      calls.push(call);
      const key = `${method} ${route.route}`;
      const n = (seen.get(key) ?? 0) + 1;
      seen.set(key, n);
      const slowness = faults.slowness(call);
      if (slowness > 0) await new Promise((resolve) => setTimeout(resolve, slowness));

      const failure = faults.failureFor(call, n);
      if (failure !== undefined) {
        return send(
          response,
          failure.status === 429 ? rateLimited(failure.retryAfterSeconds ?? 60) : failed(failure),
        );
      }
      const refusal = await chaos.beforeHandling();
      if (refusal !== undefined) {
        return send(
          response,
          refusal === 'rate-limited-429' ? rateLimited(chaos.retryAfterSeconds) : failed({ status: 503 }),
        );
      }
      let answer: Answer;
      try {
        const caller = authenticate(state, request, route.needs);
        const params = Object.fromEntries(
          Object.entries(route.pattern.exec(url.pathname)?.groups ?? {}).map(([k, v]) => [
            k,
            decodeURIComponent(v),
          ]),
        );
        state.settle();
        answer = route.handle({ params, query: url.searchParams, body, caller, url });
      } catch (error) {
        if (!(error instanceof HttpError)) throw error;
        answer = { status: error.status, body: error.body };
      }
      if (faults.dropsAt(call, n) || chaos.losesAnswer()) return void request.socket.destroy();
      const afterCommit = faults.failureAfterCommit(call, n);
      send(response, afterCommit === undefined ? answer : failed(afterCommit, JSON.stringify(answer.body)));
    })().catch((error: unknown) => {
      send(response, { status: 500, body: { message: `500 Internal Server Error: ${String(error)}` } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    state,
    faults,
    chaos,
    calls,
    callCounts: () =>
      calls.reduce<Record<string, number>>((counts, call) => {
        const key = `${call.method} ${call.route}`;
        counts[key] = (counts[key] ?? 0) + 1;
        return counts;
      }, {}),
    callsTotal: (method, route) => seen.get(`${method} ${route}`) ?? 0,
    inFlight: () => inFlight,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
