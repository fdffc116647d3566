import { Chaos, type ChaosFault } from '../chaos';
import { STATUS_CODES, createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sodium from 'libsodium-wrappers';
import { Faults, type RouteCall } from './faults';
import { repositoryJson, secretJson, secretScanningAlertJson, workflowRunJson } from './json';
import {
  GitHubState,
  timestamp,
  type SimOrganization,
  type SimRepository,
  type SimScope,
  type SimSecret,
  type SimToken,
  type SimWorkflow,
  type SimWorkflowRun,
} from './state';

/**
 * A stateful GitHub REST simulator of exactly the endpoints src/github uses
 * (https://docs.github.com/rest/actions/secrets, https://docs.github.com/rest/repos/repos#get-a-repository,
 * https://docs.github.com/rest/actions/workflow-runs#list-workflow-runs-for-a-repository,
 * https://docs.github.com/rest/secret-scanning/secret-scanning#get-a-secret-scanning-alert).
 * Routes are named as in GitHub's OpenAPI description, so tests can check each answer against it.
 */

type Json = Record<string, unknown> | unknown[] | null;

interface Answer {
  status: number;
  body?: Json;
  headers?: Record<string, string>;
}

interface Context {
  params: Record<string, string>;
  query: URLSearchParams;
  body: Record<string, unknown>;
  token: SimToken;
  /** The API's base URL, for the hypermedia links in answers. */
  api: string;
  /** The request's path, for the `Link` header of a list's pages. */
  path: string;
  /** The `X-GitHub-Api-Version` the client asked for, if any. */
  apiVersion: string | undefined;
}

interface Route extends RouteCall {
  /** The documentation page errors point to. */
  docs: string;
  handle(ctx: Context): Answer;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly text: string,
    /** Where the error body points, when not the route's own page. */
    readonly docs?: string,
  ) {
    super(text);
  }
}

const DOCS = 'https://docs.github.com/rest/actions/secrets';
const RUNS_DOCS = 'https://docs.github.com/rest/actions/workflow-runs';
/**
 * From this REST API version on, a dispatch always answers 200 with the run's details (the description's
 * `x-github-breaking-changes` for the operation); before it, only when asked with `return_run_details`.
 */
const DISPATCH_RETURNS_RUN = '2026-03-10';
const RATE_LIMIT_DOCS = 'https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api';
const SECRET_NAME = /^(?!GITHUB_)[A-Z_][A-Z0-9_]*$/i;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{4})$/;

// Errors are `{"message", "documentation_url", "status"}` (the `basic-error` schema).
const errorBody = (status: number, message: string, docs: string) => ({
  message,
  documentation_url: docs,
  status: String(status),
});
const notFound = () => new HttpError(404, 'Not Found');
const notAccessible = () => new HttpError(403, 'Resource not accessible by personal access token');
const invalid = (why: string) => new HttpError(422, `Invalid request.\n\n${why}`);

/** A positive integer query parameter; anything else is its default. */
function positive(query: URLSearchParams, name: string, fallback: number): number {
  const value = Number(query.get(name) ?? Number.NaN);
  return Number.isInteger(value) && value >= 1 ? value : fallback;
}

/**
 * One page of a list (`per_page`, default 30, at most 100, and `page` from 1), with GitHub's `Link` header
 * to its `prev`, `next`, `last` and `first` pages, left out when the list fits one page
 * (https://docs.github.com/rest/using-the-rest-api/using-pagination-in-the-rest-api).
 * Assumption: a `per_page` or `page` that is not a positive integer is taken as its default.
 */
function pageOf<T>(ctx: Context, items: T[]): { items: T[]; headers: Record<string, string> } {
  const perPage = Math.min(100, positive(ctx.query, 'per_page', 30));
  const page = positive(ctx.query, 'page', 1);
  const last = Math.max(1, Math.ceil(items.length / perPage));
  const link = (to: number, rel: string) => {
    const query = new URLSearchParams(ctx.query);
    query.set('page', String(to));
    return `<${ctx.api}${ctx.path}?${query.toString()}>; rel="${rel}"`;
  };
  const links = [
    ...(page > 1 ? [link(Math.min(page - 1, last), 'prev')] : []),
    ...(page < last ? [link(page + 1, 'next'), link(last, 'last')] : []),
    ...(page > 1 ? [link(1, 'first')] : []),
  ];
  return {
    items: items.slice((page - 1) * perPage, page * perPage),
    headers: links.length === 0 ? {} : { link: links.join(', ') },
  };
}

/** What `status` can ask for: a run's status, or a completed run's conclusion. */
const RUN_STATUSES = new Set(['requested', 'queued', 'pending', 'waiting', 'in_progress', 'completed']);

/**
 * The runs the query's filters keep, newest first. `status` is a status or a conclusion; `actor`, `branch`,
 * `event`, `head_sha` and `check_suite_id` match exactly. With any of those, GitHub returns the first 1,000
 * only (its documentation of the route).
 * Assumption: a `status` GitHub does not know matches no run (the description documents no 422 for it).
 * Assumption: newest first is by `created_at`, then by id, as github.com lists them.
 * Assumption: `created` (a search-syntax date range) is not modelled: asking for it is a 422 here, so no test
 * can believe it filtered.
 */
function filterRuns(
  runs: SimWorkflowRun[],
  query: URLSearchParams,
): { reachable: SimWorkflowRun[]; total: number } {
  if (query.has('created')) throw invalid('the simulator does not model the created filter');
  const status = query.get('status');
  const exact: [string, (run: SimWorkflowRun) => string][] = [
    ['actor', (run) => run.actor.login],
    ['branch', (run) => run.headBranch],
    ['event', (run) => run.event],
    ['head_sha', (run) => run.headSha],
    ['check_suite_id', (run) => String(run.checkSuiteId)],
  ];
  const kept = runs
    .filter((run) =>
      status === null ? true : RUN_STATUSES.has(status) ? run.status === status : run.conclusion === status,
    )
    .filter((run) => exact.every(([name, field]) => !query.has(name) || field(run) === query.get(name)))
    .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id - a.id);
  const searched = status !== null || exact.some(([name]) => query.has(name));
  return { reachable: searched ? kept.slice(0, 1000) : kept, total: kept.length };
}

export function createRoutes(state: GitHubState): Route[] {
  const reaches = (token: SimToken, name: string) =>
    token.reaches === undefined || token.reaches.includes(name);
  // A private repository the token cannot reach looks missing, as on GitHub.
  const repositoryOf = (ctx: Context) => {
    const fullName = `${ctx.params.owner}/${ctx.params.repo}`;
    const repository = state.repositories.get(fullName);
    if (repository === undefined || !reaches(ctx.token, fullName)) throw notFound();
    return repository;
  };
  /** The id of the organization that owns the repository, for its `owner` in JSON. */
  const ownerIdOf = (repository: SimRepository) => state.organizations.get(repository.owner)?.id ?? 1;
  const environmentOf = (ctx: Context) => {
    const environment = repositoryOf(ctx).environments.get(ctx.params.environment_name ?? '');
    if (environment === undefined) throw notFound();
    return environment;
  };
  const organizationOf = (ctx: Context) => {
    const org = state.organizations.get(ctx.params.org ?? '');
    if (org === undefined) throw notFound();
    if (!reaches(ctx.token, org.login)) throw notAccessible();
    return org;
  };
  const writable = (ctx: Context) => {
    if (ctx.token.secrets !== 'write') throw notAccessible();
  };
  const secretOf = (scope: SimScope, ctx: Context): SimSecret => {
    const secret = scope.secrets.get((ctx.params.secret_name ?? '').toUpperCase());
    if (secret === undefined) throw notFound();
    return secret;
  };

  const publicKey = (scope: SimScope): Answer => {
    const key = state.currentKey(scope);
    return {
      status: 200,
      body: { key_id: key.keyId, key: sodium.to_base64(key.publicKey, sodium.base64_variants.ORIGINAL) },
    };
  };

  /** Opens what the caller sealed, as GitHub does: a value sealed for another key is refused. */
  const put = (scope: SimScope, ctx: Context, access: Partial<SimSecret> = {}): Answer => {
    writable(ctx);
    const name = ctx.params.secret_name ?? '';
    if (!SECRET_NAME.test(name)) throw invalid(`${name} is not a valid secret name.`);
    const { key_id: keyId, encrypted_value: encryptedValue } = ctx.body;
    if (typeof keyId !== 'string') throw invalid('"key_id" wasn\'t supplied.');
    if (typeof encryptedValue !== 'string') throw invalid('"encrypted_value" wasn\'t supplied.');
    if (!BASE64.test(encryptedValue)) throw invalid(`encrypted_value does not match ${BASE64.source}.`);
    if (state.open(scope, keyId, encryptedValue) === undefined) {
      throw new HttpError(422, 'Bad request - validation failed due to an improperly encrypted secret');
    }
    const at = timestamp(state.now());
    const existing = scope.secrets.get(name.toUpperCase());
    scope.secrets.set(name.toUpperCase(), {
      ...existing,
      ...access,
      name: name.toUpperCase(),
      encryptedValue,
      keyId,
      createdAt: existing?.createdAt ?? at,
      updatedAt: at,
    });
    // 201 when created, 204 when updated.
    return existing === undefined ? { status: 201, body: {} } : { status: 204 };
  };

  const remove = (scope: SimScope, ctx: Context): Answer => {
    writable(ctx);
    secretOf(scope, ctx);
    scope.secrets.delete((ctx.params.secret_name ?? '').toUpperCase());
    return { status: 204 };
  };

  /** `visibility` is required; `selected_repository_ids` only with `selected`, and only the org's repositories. */
  const orgAccess = (org: SimOrganization, ctx: Context): Partial<SimSecret> => {
    const { visibility, selected_repository_ids: ids } = ctx.body;
    if (visibility !== 'all' && visibility !== 'private' && visibility !== 'selected') {
      throw invalid('"visibility" wasn\'t supplied.');
    }
    if (ids === undefined) return { visibility };
    if (visibility !== 'selected') {
      throw invalid('selected_repository_ids can only be provided when visibility is selected.');
    }
    const known = new Set(
      [...state.repositories.values()].filter((r) => r.owner === org.login).map((r) => r.id),
    );
    if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'number' && known.has(id))) {
      throw invalid('selected_repository_ids must be ids of repositories in the organization.');
    }
    return { visibility, selectedRepositoryIds: ids as number[] };
  };

  const secretRoutes = (
    base: string,
    scopeOf: (ctx: Context) => SimScope,
    docs: { key: string; get: string; put: string; remove: string },
  ): Route[] => [
    { method: 'GET', route: `${base}/public-key`, docs: docs.key, handle: (ctx) => publicKey(scopeOf(ctx)) },
    {
      method: 'GET',
      route: `${base}/{secret_name}`,
      docs: docs.get,
      handle: (ctx) => ({ status: 200, body: secretJson(ctx.api, secretOf(scopeOf(ctx), ctx)) }),
    },
    {
      method: 'PUT',
      route: `${base}/{secret_name}`,
      docs: docs.put,
      handle: (ctx) => put(scopeOf(ctx), ctx),
    },
    {
      method: 'DELETE',
      route: `${base}/{secret_name}`,
      docs: docs.remove,
      handle: (ctx) => remove(scopeOf(ctx), ctx),
    },
  ];

  const runOf = (ctx: Context): SimWorkflowRun => {
    const run = repositoryOf(ctx).runs.find((r) => String(r.id) === ctx.params.run_id);
    if (run === undefined) throw notFound();
    return run;
  };
  /** `workflow_id` is the workflow's id or its file name (https://docs.github.com/rest/actions/workflows). */
  const workflowOf = (repository: SimRepository, ctx: Context): SimWorkflow => {
    const wanted = ctx.params.workflow_id ?? '';
    const workflow = [...repository.workflows.values()].find(
      (w) => String(w.id) === wanted || w.path === `.github/workflows/${wanted}`,
    );
    if (workflow === undefined) throw notFound();
    return workflow;
  };

  /**
   * https://docs.github.com/rest/actions/workflows#create-a-workflow-dispatch-event: the ref (a branch, or
   * `refs/heads/<branch>`) must exist, the workflow must have a `workflow_dispatch` trigger, and the inputs
   * must be ones it declares, each refusal a 422 with the message GitHub gives (as clients report them).
   * Assumption: GitHub checks them in that order (it reads the trigger from the workflow file at the ref), and
   * words a missing `ref` or non-object `inputs` as it words other invalid requests.
   */
  const dispatch = (ctx: Context): Answer => {
    const repository = repositoryOf(ctx);
    writable(ctx);
    const workflow = workflowOf(repository, ctx);
    const { ref, inputs = {}, return_run_details: returnRunDetails } = ctx.body;
    if (typeof ref !== 'string') throw invalid('"ref" wasn\'t supplied.');
    const branch = ref.replace(/^refs\/heads\//, '');
    if (!repository.branches.has(branch)) throw new HttpError(422, `No ref found for: ${ref}`);
    if (workflow.dispatchInputs === undefined) {
      throw new HttpError(422, "Workflow does not have 'workflow_dispatch' trigger");
    }
    if (typeof inputs !== 'object' || inputs === null) throw invalid('inputs is not an object.');
    const declared = workflow.dispatchInputs;
    const unexpected = Object.keys(inputs).filter((name) => !declared.includes(name));
    if (unexpected.length > 0) {
      throw new HttpError(422, `Unexpected inputs provided: ${JSON.stringify(unexpected)}`);
    }
    const run = state.dispatch(repository, workflow, {
      branch,
      actor: ctx.token.login,
      inputKeys: Object.keys(inputs),
    });
    if (returnRunDetails !== true && (ctx.apiVersion ?? '') < DISPATCH_RETURNS_RUN) return { status: 204 };
    const json = workflowRunJson(ctx.api, run, ownerIdOf(repository));
    return { status: 200, body: { workflow_run_id: run.id, run_url: json.url, html_url: json.html_url } };
  };

  const orgBase = '/orgs/{org}/actions/secrets';

  /*
   * Discovery (rotator discover): the lists of an organization's repositories and of the secrets of a
   * repository or an organization, a page at a time. Other sections add their own list endpoints beside it.
   */
  const secretList = (ctx: Context, scope: SimScope, org?: SimOrganization): Answer => {
    const secrets = [...scope.secrets.values()].sort((a, b) => a.name.localeCompare(b.name));
    const { items, headers } = pageOf(ctx, secrets);
    return {
      status: 200,
      body: { total_count: secrets.length, secrets: items.map((secret) => secretJson(ctx.api, secret, org)) },
      headers,
    };
  };
  const discoveryRoutes: Route[] = [
    {
      method: 'GET',
      route: '/orgs/{org}/repos',
      docs: 'https://docs.github.com/rest/repos/repos#list-organization-repositories',
      // Assumption: the repositories the token reaches, oldest first (GitHub's default sort is `created`, and
      // its default direction for it is descending; the order does not matter to discovery).
      handle: (ctx) => {
        const org = organizationOf(ctx);
        const repositories = [...state.repositories.values()].filter(
          (r) => r.owner === org.login && reaches(ctx.token, `${r.owner}/${r.name}`),
        );
        const { items, headers } = pageOf(ctx, repositories);
        return {
          status: 200,
          body: items.map((repository) => repositoryJson(ctx.api, repository, org.id, false)),
          headers,
        };
      },
    },
    {
      method: 'GET',
      route: '/repos/{owner}/{repo}/actions/secrets',
      docs: `${DOCS}#list-repository-secrets`,
      handle: (ctx) => secretList(ctx, repositoryOf(ctx)),
    },
    {
      method: 'GET',
      route: orgBase,
      docs: `${DOCS}#list-organization-secrets`,
      handle: (ctx) => {
        const org = organizationOf(ctx);
        return secretList(ctx, org, org);
      },
    },
  ];

  return [
    ...discoveryRoutes,
    {
      method: 'GET',
      route: '/repos/{owner}/{repo}',
      docs: 'https://docs.github.com/rest/repos/repos#get-a-repository',
      handle: (ctx) => {
        const repository = repositoryOf(ctx);
        return { status: 200, body: repositoryJson(ctx.api, repository, ownerIdOf(repository), true) };
      },
    },
    ...secretRoutes('/repos/{owner}/{repo}/actions/secrets', repositoryOf, {
      key: `${DOCS}#get-a-repository-public-key`,
      get: `${DOCS}#get-a-repository-secret`,
      put: `${DOCS}#create-or-update-a-repository-secret`,
      remove: `${DOCS}#delete-a-repository-secret`,
    }),
    ...secretRoutes('/repos/{owner}/{repo}/environments/{environment_name}/secrets', environmentOf, {
      key: `${DOCS}#get-an-environment-public-key`,
      get: `${DOCS}#get-an-environment-secret`,
      put: `${DOCS}#create-or-update-an-environment-secret`,
      remove: `${DOCS}#delete-an-environment-secret`,
    }),
    {
      method: 'GET',
      route: `${orgBase}/public-key`,
      docs: `${DOCS}#get-an-organization-public-key`,
      handle: (ctx) => publicKey(organizationOf(ctx)),
    },
    {
      method: 'GET',
      route: `${orgBase}/{secret_name}`,
      docs: `${DOCS}#get-an-organization-secret`,
      handle: (ctx) => {
        const org = organizationOf(ctx);
        return { status: 200, body: secretJson(ctx.api, secretOf(org, ctx), org) };
      },
    },
    {
      method: 'PUT',
      route: `${orgBase}/{secret_name}`,
      docs: `${DOCS}#create-or-update-an-organization-secret`,
      handle: (ctx) => {
        const org = organizationOf(ctx);
        return put(org, ctx, orgAccess(org, ctx));
      },
    },
    {
      method: 'DELETE',
      route: `${orgBase}/{secret_name}`,
      docs: `${DOCS}#delete-an-organization-secret`,
      handle: (ctx) => remove(organizationOf(ctx), ctx),
    },
    {
      method: 'GET',
      route: `${orgBase}/{secret_name}/repositories`,
      docs: `${DOCS}#list-selected-repositories-for-an-organization-secret`,
      handle: (ctx) => {
        const org = organizationOf(ctx);
        const secret = secretOf(org, ctx);
        if (secret.visibility !== 'selected') throw new HttpError(409, 'Secret visibility is not selected');
        const selected = [...state.repositories.values()].filter((r) =>
          (secret.selectedRepositoryIds ?? []).includes(r.id),
        );
        const { items, headers } = pageOf(ctx, selected);
        const repositories = items.map((repository) => repositoryJson(ctx.api, repository, org.id, false));
        return { status: 200, body: { total_count: selected.length, repositories }, headers };
      },
    },
    {
      method: 'GET',
      route: '/repos/{owner}/{repo}/secret-scanning/alerts/{alert_number}',
      docs: 'https://docs.github.com/rest/secret-scanning/secret-scanning#get-a-secret-scanning-alert',
      // Assumption: a token that reaches the repository is one of its administrators with the `repo` or
      // `security_events` scope (the simulator models no scopes); one that cannot reach it, or an alert
      // number the repository does not have, is GitHub's 404.
      handle: (ctx) => {
        const repository = repositoryOf(ctx);
        const alert = repository.secretScanningAlerts.get(Number(ctx.params.alert_number));
        if (alert === undefined) throw notFound();
        const hideSecret = ctx.query.get('hide_secret') === 'true';
        return { status: 200, body: secretScanningAlertJson(ctx.api, repository, alert, hideSecret) };
      },
    },
    {
      method: 'GET',
      route: '/repos/{owner}/{repo}/actions/runs',
      docs: 'https://docs.github.com/rest/actions/workflow-runs#list-workflow-runs-for-a-repository',
      // Anyone with read access to the repository may list its runs: a token that cannot reach it gets 404.
      handle: (ctx) => {
        const repository = repositoryOf(ctx);
        const { reachable, total } = filterRuns(repository.runs, ctx.query);
        const { items, headers } = pageOf(ctx, reachable);
        // Assumption: `total_count` counts every run the filters keep, past the 1,000 a search returns.
        const body = {
          total_count: total,
          workflow_runs: items.map((run) => workflowRunJson(ctx.api, run, ownerIdOf(repository))),
        };
        return { status: 200, body, headers };
      },
    },
    {
      method: 'POST',
      route: '/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches',
      docs: 'https://docs.github.com/rest/actions/workflows#create-a-workflow-dispatch-event',
      handle: dispatch,
    },
    {
      method: 'GET',
      route: '/repos/{owner}/{repo}/actions/runs/{run_id}',
      docs: `${RUNS_DOCS}#get-a-workflow-run`,
      handle: (ctx) => {
        const run = runOf(ctx);
        return { status: 200, body: workflowRunJson(ctx.api, run, ownerIdOf(run.repository)) };
      },
    },
    {
      method: 'POST',
      route: '/repos/{owner}/{repo}/actions/runs/{run_id}/cancel',
      docs: `${RUNS_DOCS}#cancel-a-workflow-run`,
      // 202, or 409 for a completed run. Assumption: the run is cancelled at once (GitHub cancels it shortly
      // after answering).
      handle: (ctx) => {
        const run = runOf(ctx);
        writable(ctx);
        if (run.status === 'completed') {
          throw new HttpError(409, 'Cannot cancel a workflow run that is completed.');
        }
        state.finishRun(run, 'cancelled');
        return { status: 202, body: {} };
      },
    },
  ];
}

/** The primary rate limit's headers, sent with every authenticated answer. */
function rateLimitHeaders(token: SimToken): Record<string, string> {
  const { limit, used, resetAt } = token.rateLimit;
  return {
    'x-ratelimit-limit': String(limit),
    'x-ratelimit-remaining': String(Math.max(0, limit - used)),
    'x-ratelimit-reset': String(resetAt),
    'x-ratelimit-used': String(used),
    'x-ratelimit-resource': 'core',
  };
}

/** `Authorization: token <value>` or `Bearer <value>`; a missing or unknown token is a 401. */
function authenticate(state: GitHubState, request: IncomingMessage): SimToken {
  const header = request.headers.authorization;
  if (header === undefined) throw new HttpError(401, 'Requires authentication');
  const match = /^(?:token|bearer)\s+(\S+)$/i.exec(header);
  const token = match?.[1] === undefined ? undefined : state.tokens.get(match[1]);
  if (token === undefined) throw new HttpError(401, 'Bad credentials');
  return token;
}

/** Counts the call against the token's hourly budget; a spent budget is a 403 until it resets. */
function spend(state: GitHubState, token: SimToken): void {
  const now = Math.floor(state.now().getTime() / 1000);
  if (now >= token.rateLimit.resetAt) token.rateLimit = { ...token.rateLimit, used: 0, resetAt: now + 3600 };
  if (token.rateLimit.used >= token.rateLimit.limit) {
    throw new HttpError(
      403,
      `API rate limit exceeded for user ID ${token.userId}. If you reach out to GitHub Support for help, please include the request ID.`,
      RATE_LIMIT_DOCS,
    );
  }
  token.rateLimit.used += 1;
}

function matcher(route: string): RegExp {
  return new RegExp(`^${route.replace(/\{(\w+)\}/g, '(?<$1>[^/]+)')}$`);
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
  const headers = { 'x-github-media-type': 'github.v3; format=json', ...answer.headers };
  if (answer.body === undefined || answer.status === 204) {
    response.writeHead(answer.status, headers).end();
  } else {
    response
      .writeHead(answer.status, { ...headers, 'content-type': 'application/json; charset=utf-8' })
      .end(JSON.stringify(answer.body));
  }
}

/** One answered call, as the client saw it: what the contract test checks against GitHub's description. */
export interface SimCall extends RouteCall {
  /** The JSON the client sent, if any. */
  request: Record<string, unknown> | undefined;
  status: number;
  headers: Record<string, string>;
  body: Json | undefined;
}

export interface GitHubSim {
  url: string;
  state: GitHubState;
  faults: Faults;
  /** Random faults on any call, for the chaos run; off until `chaos.set`. */
  chaos: Chaos;
  /** Every call that matched a route, in order, with its answer. */
  calls: SimCall[];
  /** How many calls matched since `calls` was last emptied, per `METHOD route`. */
  callCounts(): Record<string, number>;
  close(): Promise<void>;
}

function faultAnswer(
  fault: { status: number; retryAfterSeconds?: number; message?: string },
  docs: string,
): Answer {
  const limited = fault.status === 429 || fault.retryAfterSeconds !== undefined;
  const message =
    fault.message ??
    (limited
      ? 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.'
      : (STATUS_CODES[fault.status] ?? 'Error'));
  return {
    status: fault.status,
    body: errorBody(fault.status, message, limited ? RATE_LIMIT_DOCS : docs),
    headers: fault.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fault.retryAfterSeconds) },
  };
}

/** A random fault as GitHub answers it: 503, or a secondary rate limit's 429 with `retry-after`. */
function chaosFault(
  fault: ChaosFault | undefined,
  retryAfterSeconds: number,
): { status: number; retryAfterSeconds?: number } | undefined {
  if (fault === 'refused-503') return { status: 503 };
  if (fault === 'rate-limited-429') return { status: 429, retryAfterSeconds };
  return undefined;
}

/** Starts the simulator on a free loopback port. */
export async function startGitHubSim(): Promise<GitHubSim> {
  await sodium.ready;
  const state = new GitHubState();
  const faults = new Faults();
  const chaos = new Chaos();
  const routes = createRoutes(state).map((route) => ({ ...route, pattern: matcher(route.route) }));
  const calls: SimCall[] = [];

  const server = createServer((request, response) => {
    void (async () => {
      const url = new URL(request.url ?? '/', 'http://github.sim');
      const body = await readBody(request);
      const method = request.method ?? 'GET';
      const route = routes.find((r) => r.method === method && r.pattern.test(url.pathname));
      if (route === undefined) {
        return send(response, {
          status: 404,
          body: errorBody(404, 'Not Found', 'https://docs.github.com/rest'),
        });
      }
      let answer: Answer;
      let token: SimToken | undefined;
      try {
        token = authenticate(state, request);
        spend(state, token);
        const fault = faults.take(route) ?? chaosFault(await chaos.beforeHandling(), chaos.retryAfterSeconds);
        if (fault !== undefined) {
          answer = faultAnswer(fault, route.docs);
        } else {
          const params = Object.fromEntries(
            Object.entries(route.pattern.exec(url.pathname)?.groups ?? {}).map(([k, v]) => [
              k,
              decodeURIComponent(v),
            ]),
          );
          const api = `http://${request.headers.host ?? 'github.sim'}`;
          const version = request.headers['x-github-api-version'];
          const apiVersion = Array.isArray(version) ? version[0] : version;
          state.settle();
          answer = route.handle({
            params,
            query: url.searchParams,
            body,
            token,
            api,
            path: url.pathname,
            apiVersion,
          });
        }
      } catch (error) {
        if (!(error instanceof HttpError)) throw error;
        answer = {
          status: error.status,
          body: errorBody(error.status, error.text, error.docs ?? route.docs),
        };
      }
      const limits = token === undefined ? {} : rateLimitHeaders(token);
      const answered = { ...answer, headers: { ...limits, ...answer.headers } };
      calls.push({
        method,
        route: route.route,
        request: Object.keys(body).length === 0 ? undefined : body,
        status: answered.status,
        headers: answered.headers,
        body: answered.body,
      });
      if (chaos.losesAnswer()) return void request.socket.destroy();
      send(response, answered);
      faults.answered(route);
    })().catch((error: unknown) => {
      send(response, {
        status: 500,
        body: errorBody(500, `Server Error: ${String(error)}`, 'https://docs.github.com/rest'),
      });
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
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
