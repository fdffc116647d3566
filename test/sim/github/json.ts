import type {
  SimOrganization,
  SimRepository,
  SimSecret,
  SimSecretScanningAlert,
  SimWorkflowRun,
} from './state';

/** GitHub's JSON for the simulator's objects, with every field GitHub's OpenAPI description requires. */

const REPOSITORY_LINKS: Record<string, string> = {
  archive_url: '/{archive_format}{/ref}',
  assignees_url: '/assignees{/user}',
  blobs_url: '/git/blobs{/sha}',
  branches_url: '/branches{/branch}',
  collaborators_url: '/collaborators{/collaborator}',
  comments_url: '/comments{/number}',
  commits_url: '/commits{/sha}',
  compare_url: '/compare/{base}...{head}',
  contents_url: '/contents/{+path}',
  contributors_url: '/contributors',
  deployments_url: '/deployments',
  downloads_url: '/downloads',
  events_url: '/events',
  forks_url: '/forks',
  git_commits_url: '/git/commits{/sha}',
  git_refs_url: '/git/refs{/sha}',
  git_tags_url: '/git/tags{/sha}',
  hooks_url: '/hooks',
  issue_comment_url: '/issues/comments{/number}',
  issue_events_url: '/issues/events{/number}',
  issues_url: '/issues{/number}',
  keys_url: '/keys{/key_id}',
  labels_url: '/labels{/name}',
  languages_url: '/languages',
  merges_url: '/merges',
  milestones_url: '/milestones{/number}',
  notifications_url: '/notifications{?since,all,participating}',
  pulls_url: '/pulls{/number}',
  releases_url: '/releases{/id}',
  stargazers_url: '/stargazers',
  statuses_url: '/statuses/{sha}',
  subscribers_url: '/subscribers',
  subscription_url: '/subscription',
  tags_url: '/tags',
  teams_url: '/teams',
  trees_url: '/git/trees{/sha}',
};

/** `simple-user`: an organization owning repositories, or a user triggering runs. */
function ownerJson(api: string, login: string, id: number, type: 'Organization' | 'User' = 'Organization') {
  const url = `${api}/users/${login}`;
  return {
    login,
    id,
    node_id: Buffer.from(`04:${type}${id}`).toString('base64'),
    avatar_url: `https://avatars.githubusercontent.com/u/${id}?v=4`,
    gravatar_id: '',
    url,
    html_url: `https://github.com/${login}`,
    followers_url: `${url}/followers`,
    following_url: `${url}/following{/other_user}`,
    gists_url: `${url}/gists{/gist_id}`,
    starred_url: `${url}/starred{/owner}{/repo}`,
    subscriptions_url: `${url}/subscriptions`,
    organizations_url: `${url}/orgs`,
    repos_url: `${url}/repos`,
    events_url: `${url}/events{/privacy}`,
    received_events_url: `${url}/received_events`,
    type,
    site_admin: false,
  };
}

/** `minimal-repository` (in lists), or `full-repository` (GET /repos/{owner}/{repo}). */
export function repositoryJson(api: string, repository: SimRepository, ownerId: number, full: boolean) {
  const fullName = `${repository.owner}/${repository.name}`;
  const url = `${api}/repos/${fullName}`;
  const links = Object.fromEntries(
    Object.entries(REPOSITORY_LINKS).map(([field, path]) => [field, url + path]),
  );
  const minimal = {
    id: repository.id,
    node_id: Buffer.from(`010:Repository${repository.id}`).toString('base64'),
    name: repository.name,
    full_name: fullName,
    owner: ownerJson(api, repository.owner, ownerId),
    private: repository.private,
    html_url: `https://github.com/${fullName}`,
    description: null,
    fork: false,
    url,
    ...links,
  };
  if (!full) return minimal;
  return {
    ...minimal,
    clone_url: `https://github.com/${fullName}.git`,
    git_url: `git://github.com/${fullName}.git`,
    ssh_url: `git@github.com:${fullName}.git`,
    svn_url: `https://github.com/${fullName}`,
    mirror_url: null,
    homepage: null,
    language: null,
    license: null,
    default_branch: 'main',
    forks: 0,
    forks_count: 0,
    open_issues: 0,
    open_issues_count: 0,
    stargazers_count: 0,
    watchers: 0,
    watchers_count: 0,
    network_count: 0,
    subscribers_count: 0,
    size: 0,
    has_issues: true,
    has_projects: true,
    has_wiki: true,
    has_pages: false,
    has_discussions: false,
    archived: false,
    disabled: false,
    visibility: repository.private ? 'private' : 'public',
    pushed_at: repository.createdAt,
    created_at: repository.createdAt,
    updated_at: repository.createdAt,
  };
}

/** `actions-secret`, or `organization-actions-secret` with its visibility. */
export function secretJson(api: string, secret: SimSecret, org?: SimOrganization) {
  const json = { name: secret.name, created_at: secret.createdAt, updated_at: secret.updatedAt };
  if (org === undefined) return json;
  return {
    ...json,
    visibility: secret.visibility ?? 'private',
    ...(secret.visibility === 'selected'
      ? { selected_repositories_url: `${api}/orgs/${org.login}/actions/secrets/${secret.name}/repositories` }
      : {}),
  };
}

/** `workflow-run`, with every field the description requires and those the adapter reads. */
export function workflowRunJson(api: string, run: SimWorkflowRun, ownerId: number) {
  const { repository } = run;
  const fullName = `${repository.owner}/${repository.name}`;
  const url = `${api}/repos/${fullName}/actions/runs/${run.id}`;
  const actor = ownerJson(api, run.actor.login, run.actor.id, 'User');
  const minimal = repositoryJson(api, repository, ownerId, false);
  const person = { name: run.actor.login, email: `${run.actor.login}@users.noreply.github.com` };
  return {
    id: run.id,
    name: run.name,
    node_id: Buffer.from(`012:WorkflowRun${run.id}`).toString('base64'),
    check_suite_id: run.checkSuiteId,
    check_suite_node_id: Buffer.from(`010:CheckSuite${run.checkSuiteId}`).toString('base64'),
    head_branch: run.headBranch,
    head_sha: run.headSha,
    // Assumption: a run of a workflow in the repository itself names its file alone, as github.com does
    // (the description's example `octocat/octo-repo/.github/workflows/ci.yml@main` is for reusable workflows).
    path: run.workflow.path,
    run_number: run.runNumber,
    run_attempt: run.runAttempt,
    referenced_workflows: [],
    event: run.event,
    display_title: run.displayTitle,
    status: run.status,
    conclusion: run.conclusion,
    workflow_id: run.workflow.id,
    url,
    html_url: `https://github.com/${fullName}/actions/runs/${run.id}`,
    // Assumption: runs come from pushes, so no pull request is open for them.
    pull_requests: [],
    created_at: run.createdAt,
    updated_at: run.updatedAt,
    actor,
    triggering_actor: actor,
    run_started_at: run.runStartedAt,
    jobs_url: `${url}/jobs`,
    logs_url: `${url}/logs`,
    check_suite_url: `${api}/repos/${fullName}/check-suites/${run.checkSuiteId}`,
    artifacts_url: `${url}/artifacts`,
    cancel_url: `${url}/cancel`,
    rerun_url: `${url}/rerun`,
    previous_attempt_url: null,
    workflow_url: `${api}/repos/${fullName}/actions/workflows/${run.workflow.id}`,
    head_commit: {
      id: run.headSha,
      tree_id: run.treeSha,
      message: run.displayTitle,
      timestamp: run.createdAt,
      author: person,
      committer: person,
    },
    repository: minimal,
    head_repository: minimal,
    head_repository_id: repository.id,
  };
}

/**
 * `secret-scanning-alert`, as `GET /repos/{owner}/{repo}/secret-scanning/alerts/{alert_number}` answers it:
 * with the `secret` unless the caller asked `hide_secret=true`.
 */
export function secretScanningAlertJson(
  api: string,
  repository: SimRepository,
  alert: SimSecretScanningAlert,
  hideSecret: boolean,
) {
  const fullName = `${repository.owner}/${repository.name}`;
  const url = `${api}/repos/${fullName}/secret-scanning/alerts/${alert.number}`;
  return {
    number: alert.number,
    created_at: alert.createdAt,
    updated_at: alert.createdAt,
    url,
    html_url: `https://github.com/${fullName}/security/secret-scanning/${alert.number}`,
    locations_url: `${url}/locations`,
    state: alert.state,
    resolution: null,
    resolved_at: null,
    resolved_by: null,
    secret_type: alert.secretType,
    secret_type_display_name: alert.secretTypeDisplayName,
    ...(hideSecret ? {} : { secret: alert.secret }),
    validity: 'unknown',
    push_protection_bypassed: false,
    push_protection_bypassed_by: null,
    push_protection_bypassed_at: null,
    publicly_leaked: false,
    multi_repo: false,
  };
}
