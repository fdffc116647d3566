import { randomUUID } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Activities } from '../../activities';
import type { FailureDetails } from '../../activities/failures';
import {
  decideRotation,
  type DetectInput,
  type Detection,
  type RotationPlan,
  type RotationRequest,
} from '../../activities/rotation';
import type { CredentialState, IssueStrategy, TargetSnapshot } from '../../src/providers/types';
import { rotationWorkflowId } from '../../src/rotation-names';
import { startRotation } from '../../src/rotations';
import type { SecretVersion } from '../../src/vault';
import { statusQuery, type rotateCredential } from '../../workflows';
import type { RotationStatus } from '../../workflows/status';
import { testServers } from '../infra/test-servers';

const DAY_MS = 86_400_000;
const connection = (path: string) => ({
  url: 'https://gitlab.example',
  credential: { mount: 'kv', path, key: 'token' },
});
const gitlab = (kind: string, name: string, spec: object) => ({
  name,
  ref: { kind, connection: connection('admin/gitlab'), spec },
});

/** The current version detect reads, which rollback puts back. */
export const CURRENT: SecretVersion = { mount: 'kv', path: 'ci/deployer', version: 3 };
/** Where issue stages the new token. */
export const STAGED: SecretVersion = { mount: 'kv', path: 'ci/deployer/staged', version: 1 };
export const OLD_TOKEN_ID = '11';
export const NEW_TOKEN_ID = '12';

/** A GitLab project token with one dependent (pipeline schedules) and two targets (CI variables). */
export const PLAN: RotationPlan = {
  credentialId: 'deployer',
  kind: 'gitlab-project-access-token',
  environment: 'test',
  source: gitlab('gitlab-project-access-token', 'project token deployer', { strategy: 'create-then-revoke' }),
  targets: [
    gitlab('gitlab-ci-variable', 'project CI variable DEPLOY_TOKEN', { key: 'DEPLOY_TOKEN' }),
    gitlab('gitlab-ci-variable', 'group CI variable DEPLOY_TOKEN', { key: 'DEPLOY_TOKEN', group: true }),
  ],
  dependents: [gitlab('gitlab-pipeline-schedules', 'project pipeline schedules', { project: 'web' })],
  store: {
    name: `Vault ${CURRENT.mount}/${CURRENT.path}`,
    ref: { mount: CURRENT.mount, path: CURRENT.path },
  },
  // Milliseconds, so that the windows a test does not steer end by themselves at once.
  policy: { every: 30 * DAY_MS, overlap: 50, requireApproval: false, approvalTimeout: 200 },
};

/** The plan with another policy, strategy or dependents: what a test's `loadCredential` answers. */
export function planWith({
  policy = {},
  strategy,
  dependents = PLAN.dependents,
}: {
  policy?: Partial<RotationPlan['policy']>;
  strategy?: IssueStrategy;
  dependents?: RotationPlan['dependents'];
}): RotationPlan {
  const source =
    strategy === undefined
      ? PLAN.source
      : { ...PLAN.source, ref: { ...PLAN.source.ref, spec: { strategy } } };
  return { ...PLAN, source, dependents, policy: { ...PLAN.policy, ...policy } };
}

/** A second dependent, for a pause that fails half way. */
export const RUNNERS = gitlab('gitlab-pipeline-schedules', 'group pipeline schedules', { group: 'platform' });

/** The token Vault holds: created long before `policy.every`, so that it is due. */
export const OLD_TOKEN: CredentialState = {
  tokenId: OLD_TOKEN_ID,
  name: 'deployer-ci',
  scopes: ['read_api'],
  active: true,
  revoked: false,
  createdAt: '2020-01-01T00:00:00.000Z',
  expiresAt: null,
  lastUsedAt: null,
};

/** A detect that reads `token` as the current one and decides as the real activity does. */
export const detecting =
  (token: CredentialState) =>
  async ({ policy, request }: DetectInput): Promise<Detection> => ({
    ...decideRotation(request, policy, token, new Date()),
    current: CURRENT,
    currentTokenId: token.tokenId,
    stagedVersion: 0,
  });

/** What each target held before distribute, in plan order: rollback must hand each its own back. */
export const SNAPSHOTS: TargetSnapshot[] = [
  { exists: true, attributes: { masked: true, protected: false } },
  { exists: false },
];
/** The fingerprint every fake approval is verified with. */
export const APPROVAL_KEY = 'SHA256:fake-approval-key';
/** An approval as `rotator approve` sends it; the fake verifyApproval reads only who approved. */
export const approvalBy = (approvedBy: string) => ({
  workflowId: 'signed-for',
  runId: 'signed-for',
  credentialId: 'signed-for',
  requestedBy: 'alice',
  approvedBy,
  signedAt: new Date().toISOString(),
  signature: 'c2lnbmVk',
});

/** What pausing the dependent changed, which resuming must be handed back. */
export const PAUSED = { paused: [7, 8] };

/** Typed against the real activities: an activity the worker no longer has fails to compile here, and only here. */
const happy = {
  loadCredential: async () => PLAN,
  detectRotation: detecting(OLD_TOKEN),
  pauseDependent: async () => PAUSED,
  issueCredential: async () => ({ tokenId: NEW_TOKEN_ID, expiresAt: '2030-01-01', staged: STAGED }),
  findOrphanCredentials: async () => [],
  inspectCredential: async ({ tokenId }) => ({ ...OLD_TOKEN, tokenId: String(tokenId) }),
  verifyCredential: async () => undefined,
  snapshotTargets: async ({ targets }) => targets.map((_, index) => SNAPSHOTS[index] ?? { exists: false }),
  writeTarget: async () => ({ writtenAt: new Date().toISOString() }),
  restoreTarget: async () => undefined,
  promoteStaged: async () => ({ ...CURRENT, version: CURRENT.version + 1 }),
  rePromotePrevious: async ({ previous }) => previous,
  resumeDependent: async () => undefined,
  revokeCredential: async () => undefined,
  awaitStore: async () => undefined,
  awaitVault: async () => undefined,
  sendAlert: async () => undefined,
  recordRotationOutcome: async () => undefined,
  // The signature itself is checked in test/approval/: here any approval names its approver's key.
  verifyApproval: async ({ approval }) => ({
    approver: (approval as { approvedBy: string }).approvedBy,
    fingerprint: APPROVAL_KEY,
  }),
} satisfies Partial<Activities>;

export type Fakes = Pick<Activities, keyof typeof happy>;
/** A happy create-then-revoke rotation, with the real activities' signatures. */
export const HAPPY: Fakes = happy;
export type ActivityName = keyof Fakes;
export type InputOf<N extends ActivityName> = Parameters<Fakes[N]>[0];
export interface Call {
  name: ActivityName;
  input: unknown;
}

/** The happy rotation with the activities `script` names replaced. */
export function fakeActivities(script: Partial<Fakes> = {}): Fakes {
  return { ...HAPPY, ...script };
}

/** What an activity raises once its retries are spent; nonRetryable, so that Temporal does not retry it. */
export function providerError(kind: string, details: Partial<FailureDetails> = {}): ApplicationFailure {
  return ApplicationFailure.create({
    type: `ProviderError:${kind}`,
    message: `gitlab: ${kind} (scripted)`,
    nonRetryable: true,
    details: [{ system: 'gitlab', ...details }],
  });
}

/** Vault did not answer (sealed, unreachable): the rotation waits for it once. */
export function vaultUnavailable(): ApplicationFailure {
  return ApplicationFailure.create({
    type: 'VaultUnavailable',
    message: 'vault: sealed (scripted)',
    nonRetryable: true,
    details: [{ system: 'vault', status: 503 }],
  });
}

/** An activity that always fails with what `error` makes. */
export const failing = (error: () => Error) => async (): Promise<never> => {
  throw error();
};

/**
 * Fails with what `error` makes the first `times` calls that `only` picks (all, by default), then answers as
 * `then` does.
 */
export function failingFirst<I, R>(
  times: number,
  error: () => Error,
  then: (input: I) => Promise<R>,
  only: (input: I) => boolean = () => true,
): (input: I) => Promise<R> {
  let failed = 0;
  return async (input: I) => {
    if (only(input) && failed < times) {
      failed += 1;
      throw error();
    }
    return then(input);
  };
}

/** Fails while `refusing()` says so, then answers as `then` does: for a cause an operator fixes. */
export function failingWhile<I, R>(
  refusing: (input: I) => boolean,
  error: () => Error,
  then: (input: I) => Promise<R>,
): (input: I) => Promise<R> {
  return async (input: I) => {
    if (refusing(input)) throw error();
    return then(input);
  };
}

/** An activity that waits, once started, until the test lets it go: to steer a rotation mid-step. */
export function held<I, R>(then: (input: I) => Promise<R>) {
  let release!: () => void;
  let started!: () => void;
  const released = new Promise<void>((settle) => (release = settle));
  const reached = new Promise<void>((settle) => (started = settle));
  return {
    run: async (input: I): Promise<R> => {
      started();
      await released;
      return then(input);
    },
    /** Settles once the activity runs. */
    reached,
    release,
  };
}

/** The happy fake of `name`, held as above: a script that holds it, and the gate. */
export function holding(name: ActivityName) {
  const gate = held(HAPPY[name] as (input: never) => Promise<unknown>);
  return { script: { [name]: gate.run } as Partial<Fakes>, reached: gate.reached, release: gate.release };
}

/** A rotation the fakes play, with every call they received. */
export interface Rotation {
  handle: WorkflowHandle<typeof rotateCredential>;
  request: RotationRequest;
  calls: Call[];
  /** The names of the calls, in order. */
  called(): ActivityName[];
  /** The inputs of the calls to `name`, in order. */
  inputsTo<N extends ActivityName>(name: N): InputOf<N>[];
  status(): Promise<RotationStatus>;
  /** Waits until the status satisfies `ready`, and answers it. */
  until(ready: (status: RotationStatus) => boolean): Promise<RotationStatus>;
  /** Waits for the end: the final status, and the type of failure the workflow ended with, if any. */
  ended(): Promise<{ status: RotationStatus; failedWith?: string | null }>;
}

/** How long `until` waits for a status before it fails the test, saying what it saw last. */
const UNTIL_MS = 30_000;
const POLL_MS = 20;
const pause = (ms: number) => new Promise((wake) => setTimeout(wake, ms));

/**
 * A worker running the real workflows on the test Temporal server with scripted activities. Each rotation
 * plays the fakes it was started with, found by its workflow id, so that rotations never share a script.
 */
export async function fakeActivityWorker() {
  const { temporalAddress: address } = testServers();
  const taskQueue = `workflow-${randomUUID()}`;
  const prefix = `w${randomUUID().slice(0, 6)}`;
  const runs = new Map<string, { fakes: Fakes; calls: Call[] }>();
  const dispatch =
    (name: ActivityName) =>
    (input: never): Promise<unknown> => {
      const workflowId = Context.current().info.workflowExecution?.workflowId ?? '';
      const run = runs.get(workflowId);
      if (run === undefined) throw new Error(`no fakes for workflow ${workflowId}`);
      run.calls.push({ name, input });
      return (run.fakes[name] as (input: never) => Promise<unknown>)(input);
    };
  const activities = Object.fromEntries(
    (Object.keys(HAPPY) as ActivityName[]).map((name) => [name, dispatch(name)]),
  );
  const nativeConnection = await NativeConnection.connect({ address });
  const clientConnection = await Connection.connect({ address });
  const client = new Client({ connection: clientConnection });
  const worker = await Worker.create({
    connection: nativeConnection,
    taskQueue,
    workflowsPath: require.resolve('../../workflows'),
    activities,
  });
  const running = worker.run();
  let count = 0;

  return {
    /** Starts a rotation of a credential of its own, as the CLI does, playing `fakes`. */
    async start(fakes: Fakes, request: Partial<RotationRequest> = {}): Promise<Rotation> {
      count += 1;
      const full: RotationRequest = {
        credentialId: `${prefix}-${count}`,
        reason: 'scheduled',
        requestedBy: 'alice',
        rollbackAttempts: 1,
        vaultWaitSeconds: 1,
        ...request,
      };
      const calls: Call[] = [];
      // Before the start: its first activity may run before the start call has answered.
      runs.set(rotationWorkflowId(full.credentialId), { fakes, calls });
      const handle = await startRotation(client, taskQueue, full);
      const status = () => handle.query(statusQuery);
      return {
        handle,
        request: full,
        calls,
        called: () => calls.map(({ name }) => name),
        inputsTo: <N extends ActivityName>(name: N) =>
          calls.filter((call) => call.name === name).map(({ input }) => input as InputOf<N>),
        status,
        async until(ready) {
          const deadline = Date.now() + UNTIL_MS;
          for (;;) {
            const now = await status();
            if (ready(now)) return now;
            if (Date.now() > deadline)
              throw new Error(`the rotation never got there; its status: ${JSON.stringify(now)}`);
            await pause(POLL_MS);
          }
        },
        async ended() {
          try {
            return { status: await handle.result() };
          } catch (error) {
            if (!(error instanceof WorkflowFailedError)) throw error;
            const { cause } = error;
            return {
              status: await status(),
              failedWith: cause instanceof ApplicationFailure ? cause.type : cause?.name,
            };
          }
        },
      };
    },
    async stop() {
      worker.shutdown();
      await running;
      await clientConnection.close();
      await nativeConnection.close();
    },
  };
}
