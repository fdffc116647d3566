import { randomBytes } from 'node:crypto';
import { recordMintedValue } from '../../infra/secret-scan';
import sodium from 'libsodium-wrappers';

/**
 * In-memory GitHub: tokens, organizations, repositories, environments and their Actions secrets, and the
 * repositories' workflow runs.
 */

export interface SimKeyPair {
  keyId: string;
  publicKey: Uint8Array;
  privateKey: Uint8Array;
}

export interface SimSecret {
  name: string;
  /** The sealed box as received, and the key it was sealed for: GitHub keeps secrets encrypted. */
  encryptedValue: string;
  keyId: string;
  createdAt: string;
  updatedAt: string;
  /** Organization secrets only. */
  visibility?: 'all' | 'private' | 'selected';
  selectedRepositoryIds?: number[];
}

/** A repository, an environment or an organization: whatever has its own public key and secrets. */
export interface SimScope {
  /** `repo acme/app`, `env acme/app/production`, `org acme`: for messages in tests. */
  label: string;
  keys: SimKeyPair[];
  secrets: Map<string, SimSecret>;
}

export interface SimRepository extends SimScope {
  id: number;
  owner: string;
  name: string;
  private: boolean;
  createdAt: string;
  environments: Map<string, SimScope>;
  /** Its branches; every repository has `main`. */
  branches: Set<string>;
  /** Its workflows by path, and their runs, oldest first. */
  workflows: Map<string, SimWorkflow>;
  runs: SimWorkflowRun[];
  /** Its secret scanning alerts, by number (they count up per repository from 1). */
  secretScanningAlerts: Map<number, SimSecretScanningAlert>;
}

/** A secret scanning alert (https://docs.github.com/rest/secret-scanning/secret-scanning). */
export interface SimSecretScanningAlert {
  number: number;
  /** The value found: GitHub's REST API returns it unless `hide_secret=true`; webhooks never carry it. */
  secret: string;
  secretType: string;
  secretTypeDisplayName: string;
  createdAt: string;
  state: 'open' | 'resolved';
}

export interface SimWorkflow {
  id: number;
  name: string;
  /** `.github/workflows/ci.yml` */
  path: string;
  /** The last run's `run_number`: they count up per workflow. */
  runs: number;
  /** The inputs its `workflow_dispatch` trigger declares; undefined when it has no such trigger. */
  dispatchInputs?: string[];
  canary?: SimCanary;
}

/** A workflow whose one job uses the Actions secret `reads`: a rotation's canary. */
export interface CanaryOptions {
  /** Its file name under `.github/workflows/`, such as `canary.yml`. */
  workflow: string;
  /** The secret the job uses, such as `DEPLOY_TOKEN`. */
  reads: string;
  /** Whether the run succeeds with the value it read, asked when it ends (the job uses the token last). */
  check: (value: string | undefined) => boolean;
  /** The environment the job deploys to, whose secrets come before the repository's; none by default. */
  environment?: string;
  /** The inputs its `workflow_dispatch` trigger declares; none by default. */
  inputs?: string[];
  /** How long a run takes; 100 ms by default. */
  runsForMs?: number;
  /** Runs never end, as a stuck runner would. */
  hangs?: boolean;
}

export type SimCanary = Required<Omit<CanaryOptions, 'environment'>> & { environment?: string };

/** What a canary run read when it started, and when it ends; null when it hangs. */
interface CanaryRun {
  canary: SimCanary;
  value: string | undefined;
  endsAt: number | null;
}

/** A run's `status` (https://docs.github.com/rest/actions/workflow-runs). */
export type SimRunStatus = 'requested' | 'queued' | 'pending' | 'waiting' | 'in_progress' | 'completed';
/** A completed run's `conclusion`. */
export type SimRunConclusion =
  | 'action_required'
  | 'cancelled'
  | 'failure'
  | 'neutral'
  | 'skipped'
  | 'stale'
  | 'startup_failure'
  | 'success'
  | 'timed_out';

export interface SimUser {
  login: string;
  id: number;
}

export interface SimWorkflowRun {
  id: number;
  repository: SimRepository;
  workflow: SimWorkflow;
  /** The workflow's name, as the run shows it. */
  name: string;
  displayTitle: string;
  runNumber: number;
  runAttempt: number;
  event: string;
  headBranch: string;
  headSha: string;
  treeSha: string;
  checkSuiteId: number;
  actor: SimUser;
  status: SimRunStatus;
  conclusion: SimRunConclusion | null;
  createdAt: string;
  updatedAt: string;
  runStartedAt: string;
  /** A dispatched run: the keys of the inputs it was sent; their values stay inside the simulator. */
  inputKeys?: string[];
}

export interface StartRunOptions {
  /** The workflow's name; its path is `.github/workflows/<name, in kebab case>.yml` unless `path` says. */
  name: string;
  path?: string;
  /** When the run started; now by default. */
  startedAt?: Date;
  /** `in_progress` by default; `queued`, `waiting` and the like for runs none of whose jobs run yet. */
  status?: Exclude<SimRunStatus, 'completed'>;
  event?: string;
  branch?: string;
  actor?: string;
  /** `Commit <n> to <branch>` unless given. */
  displayTitle?: string;
}

export interface SimOrganization extends SimScope {
  id: number;
  login: string;
}

export interface SimToken {
  value: string;
  login: string;
  userId: number;
  /** Repositories (`owner/name`) and organizations it may reach; undefined: all of them. */
  reaches?: string[];
  /** `read` tokens see secrets' metadata but are refused writes with 403. */
  secrets: 'read' | 'write';
  rateLimit: { limit: number; used: number; resetAt: number };
}

/** GitHub's timestamps: ISO 8601 to the second. */
export const timestamp = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');

const RATE_LIMIT = 5000;

export class GitHubState {
  readonly tokens = new Map<string, SimToken>();
  readonly organizations = new Map<string, SimOrganization>();
  readonly repositories = new Map<string, SimRepository>();
  private nextId = 1000;
  private nextKeyId = 3380204578043523000n;
  // Run ids on github.com are past 2^32 by now: the simulator's are too, so nothing assumes 32 bits.
  private nextRunId = 12_000_000_001;
  private readonly users = new Map<string, SimUser>();
  private readonly canaryRuns = new Map<SimWorkflowRun, CanaryRun>();
  /** The simulator's clock. */
  now: () => Date = () => new Date();

  private id(): number {
    return this.nextId++;
  }

  private keyPair(): SimKeyPair {
    const { publicKey, privateKey } = sodium.crypto_box_keypair();
    this.nextKeyId += 1n;
    return { keyId: String(this.nextKeyId), publicKey, privateKey };
  }

  addToken(options: { login?: string; reaches?: string[]; secrets?: 'read' | 'write' } = {}): SimToken {
    const token: SimToken = {
      value: `ghp_${randomBytes(18).toString('base64url')}`,
      login: options.login ?? 'rotator-bot',
      userId: this.id(),
      reaches: options.reaches,
      secrets: options.secrets ?? 'write',
      rateLimit: { limit: RATE_LIMIT, used: 0, resetAt: this.hourFromNow() },
    };
    this.tokens.set(token.value, token);
    recordMintedValue(token.value);
    return token;
  }

  private hourFromNow(): number {
    return Math.floor(this.now().getTime() / 1000) + 3600;
  }

  /** Spends the token's primary rate limit; it resets `resetInSeconds` from now. */
  exhaustRateLimit(token: SimToken, resetInSeconds: number): void {
    token.rateLimit = {
      limit: RATE_LIMIT,
      used: RATE_LIMIT,
      resetAt: Math.floor(this.now().getTime() / 1000) + resetInSeconds,
    };
  }

  addOrganization(login: string): SimOrganization {
    const org = { label: `org ${login}`, id: this.id(), login, keys: [this.keyPair()], secrets: new Map() };
    this.organizations.set(login, org);
    return org;
  }

  addRepository(fullName: string, options: { private?: boolean } = {}): SimRepository {
    const [owner = '', name = ''] = fullName.split('/');
    const repository: SimRepository = {
      label: `repo ${fullName}`,
      id: this.id(),
      owner,
      name,
      private: options.private ?? true,
      createdAt: timestamp(this.now()),
      keys: [this.keyPair()],
      secrets: new Map(),
      environments: new Map(),
      branches: new Set(['main']),
      workflows: new Map(),
      runs: [],
      secretScanningAlerts: new Map(),
    };
    this.repositories.set(fullName, repository);
    return repository;
  }

  /** Secret scanning finds `secret` in the repository: a new open alert, numbered after the last one. */
  addSecretScanningAlert(
    repository: SimRepository,
    secret: string,
    options: { secretType?: string; secretTypeDisplayName?: string } = {},
  ): SimSecretScanningAlert {
    const alert: SimSecretScanningAlert = {
      number: repository.secretScanningAlerts.size + 1,
      secret,
      secretType: options.secretType ?? 'gitlab_access_token',
      secretTypeDisplayName: options.secretTypeDisplayName ?? 'GitLab Access Token',
      createdAt: timestamp(this.now()),
      state: 'open',
    };
    repository.secretScanningAlerts.set(alert.number, alert);
    return alert;
  }

  addEnvironment(repository: SimRepository, name: string): SimScope {
    const environment = {
      label: `env ${repository.owner}/${repository.name}/${name}`,
      keys: [this.keyPair()],
      secrets: new Map(),
    };
    repository.environments.set(name, environment);
    return environment;
  }

  /** The key values are sealed for now; earlier keys stay only to read what was sealed with them. */
  currentKey(scope: SimScope): SimKeyPair {
    const key = scope.keys[scope.keys.length - 1];
    if (key === undefined) throw new Error(`${scope.label} has no key`);
    return key;
  }

  /** A new key pair for the scope, as when GitHub rotates it: values sealed for the old one are refused. */
  rotateKey(scope: SimScope): SimKeyPair {
    const key = this.keyPair();
    scope.keys.push(key);
    return key;
  }

  /** Opens a sealed box for the scope's current key; undefined when it is not one. */
  open(scope: SimScope, keyId: string, encryptedValue: string): string | undefined {
    const key = this.currentKey(scope);
    if (key.keyId !== keyId) return undefined;
    try {
      const box = sodium.from_base64(encryptedValue, sodium.base64_variants.ORIGINAL);
      return sodium.to_string(sodium.crypto_box_seal_open(box, key.publicKey, key.privateKey));
    } catch {
      return undefined;
    }
  }

  /** Seeds a secret as if someone had set it, sealed for the scope's current key. */
  setSecret(scope: SimScope, name: string, value: string, access: Partial<SimSecret> = {}): SimSecret {
    const key = this.currentKey(scope);
    const at = timestamp(this.now());
    const secret: SimSecret = {
      name: name.toUpperCase(),
      encryptedValue: sodium.to_base64(
        sodium.crypto_box_seal(value, key.publicKey),
        sodium.base64_variants.ORIGINAL,
      ),
      keyId: key.keyId,
      createdAt: at,
      updatedAt: at,
      ...access,
    };
    scope.secrets.set(secret.name, secret);
    return secret;
  }

  /** What the secret holds, decrypted with the key it was sealed for; undefined when there is no such secret. */
  plaintext(scope: SimScope, name: string): string | undefined {
    const secret = scope.secrets.get(name.toUpperCase());
    if (secret === undefined) return undefined;
    const key = scope.keys.find((candidate) => candidate.keyId === secret.keyId);
    if (key === undefined) throw new Error(`${scope.label} lost key ${secret.keyId}`);
    const box = sodium.from_base64(secret.encryptedValue, sodium.base64_variants.ORIGINAL);
    return sodium.to_string(sodium.crypto_box_seal_open(box, key.publicKey, key.privateKey));
  }

  /** A user by login, the same id each time. */
  user(login: string): SimUser {
    let user = this.users.get(login);
    if (user === undefined) {
      user = { login, id: this.id() };
      this.users.set(login, user);
    }
    return user;
  }

  /**
   * A workflow file `.github/workflows/<file>`: with a `workflow_dispatch` trigger declaring `dispatchInputs`,
   * or without one when they are undefined.
   */
  defineWorkflow(
    repository: SimRepository,
    options: { file: string; name?: string; dispatchInputs?: string[] },
  ): SimWorkflow {
    const path = `.github/workflows/${options.file}`;
    // A file already known (from its runs) keeps its id, so those runs stay its own.
    const workflow = repository.workflows.get(path) ?? { id: this.id(), name: '', path, runs: 0 };
    workflow.name = options.name ?? options.file.replace(/\.ya?ml$/, '');
    workflow.dispatchInputs = options.dispatchInputs;
    repository.workflows.set(path, workflow);
    return workflow;
  }

  /** A workflow with a `workflow_dispatch` trigger whose runs read the secret `reads` (see `dispatch`). */
  defineCanary(repository: SimRepository, options: CanaryOptions): SimWorkflow {
    const canary: SimCanary = {
      workflow: options.workflow,
      reads: options.reads,
      check: options.check,
      environment: options.environment,
      inputs: options.inputs ?? [],
      runsForMs: options.runsForMs ?? 100,
      hangs: options.hangs ?? false,
    };
    const workflow = this.defineWorkflow(repository, {
      file: options.workflow,
      dispatchInputs: canary.inputs,
    });
    workflow.canary = canary;
    return workflow;
  }

  /**
   * The secret a job sees, by GitHub's precedence (https://docs.github.com/actions/security-for-github-actions/security-guides/about-secrets):
   * its environment's, else the repository's, else an organization secret the repository may use.
   */
  secretFor(repository: SimRepository, name: string, environment?: string): string | undefined {
    const scope = environment === undefined ? undefined : repository.environments.get(environment);
    if (scope?.secrets.has(name.toUpperCase())) return this.plaintext(scope, name);
    if (repository.secrets.has(name.toUpperCase())) return this.plaintext(repository, name);
    const org = this.organizations.get(repository.owner);
    const secret = org?.secrets.get(name.toUpperCase());
    if (org === undefined || secret === undefined) return undefined;
    const visible =
      secret.visibility === 'all' ||
      (secret.visibility === 'private' && repository.private) ||
      (secret.visibility === 'selected' && (secret.selectedRepositoryIds ?? []).includes(repository.id));
    return visible ? this.plaintext(org, name) : undefined;
  }

  /**
   * A `workflow_dispatch` run of `workflow` on `branch`, in progress at once. A canary's run reads its secret
   * now and ends `runsForMs` later (see `settle`).
   */
  dispatch(
    repository: SimRepository,
    workflow: SimWorkflow,
    options: { branch: string; actor: string; inputKeys: string[] },
  ): SimWorkflowRun {
    const run = this.startRun(repository, {
      name: workflow.name,
      path: workflow.path,
      event: 'workflow_dispatch',
      branch: options.branch,
      actor: options.actor,
      displayTitle: workflow.name,
    });
    run.inputKeys = options.inputKeys;
    const { canary } = workflow;
    if (canary !== undefined) {
      this.canaryRuns.set(run, {
        canary,
        value: this.secretFor(repository, canary.reads, canary.environment),
        endsAt: canary.hangs ? null : this.now().getTime() + canary.runsForMs,
      });
    }
    return run;
  }

  /**
   * Completes the canary runs whose time has come (by the simulator's clock): `success` when the check passes
   * now, else `failure`. The server settles before each request, so no timer outlives a test.
   */
  settle(): void {
    for (const [run, canaryRun] of this.canaryRuns) {
      if (canaryRun.endsAt === null || this.now().getTime() < canaryRun.endsAt) continue;
      this.finishRun(run, canaryRun.canary.check(canaryRun.value) ? 'success' : 'failure');
    }
  }

  /** A workflow run triggered by a push to `main`, in progress from `startedAt` (now) unless `status` says. */
  startRun(repository: SimRepository, options: StartRunOptions): SimWorkflowRun {
    const path =
      options.path ?? `.github/workflows/${options.name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}.yml`;
    let workflow = repository.workflows.get(path);
    if (workflow === undefined) {
      workflow = { id: this.id(), name: options.name, path, runs: 0 };
      repository.workflows.set(path, workflow);
    }
    workflow.runs += 1;
    // Assumption: the run was created when it started (no time spent queued before a runner took it).
    const at = timestamp(options.startedAt ?? this.now());
    const run: SimWorkflowRun = {
      id: this.nextRunId++,
      repository,
      workflow,
      name: workflow.name,
      displayTitle: options.displayTitle ?? `Commit ${workflow.runs} to ${options.branch ?? 'main'}`,
      runNumber: workflow.runs,
      runAttempt: 1,
      event: options.event ?? 'push',
      headBranch: options.branch ?? 'main',
      headSha: randomBytes(20).toString('hex'),
      treeSha: randomBytes(20).toString('hex'),
      checkSuiteId: this.id(),
      actor: this.user(options.actor ?? 'octo-dev'),
      status: options.status ?? 'in_progress',
      conclusion: null,
      createdAt: at,
      updatedAt: at,
      runStartedAt: at,
    };
    repository.runs.push(run);
    return run;
  }

  /** Completes the run with `conclusion`, now. */
  finishRun(run: SimWorkflowRun, conclusion: SimRunConclusion): SimWorkflowRun {
    this.canaryRuns.delete(run);
    run.status = 'completed';
    run.conclusion = conclusion;
    run.updatedAt = timestamp(this.now());
    return run;
  }
}
