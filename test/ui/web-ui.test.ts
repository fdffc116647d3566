import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure, Client, WorkflowFailedError } from '@temporalio/client';
import { chromium, type Browser, type Page } from 'playwright-core';
import {
  encryptedDataConverter,
  parseCodecKeys,
  randomCodecServerToken,
  startCodecServer,
  type CodecServer,
} from '../../src/codec';
import { startEmbeddedTemporal, type EmbeddedTemporal } from '../../src/embedded/temporal';
import { fingerprintOf } from '../../src/fingerprint';
import { startBreakGlass } from '../../src/incidents/start';
import { startRotation } from '../../src/rotations';
import { VaultKvStore } from '../../src/vault';
import type { RotationStatus } from '../../workflows/status';
import { defined } from '../gitlab/world';
import type { TestWorker } from '../helpers/worker';
import { rotationWorld, until, type RotationWorld, type SeededCredential } from '../helpers/rotation';
import { freeLoopbackPort } from '../infra/dev-servers';
import { testServers } from '../infra/test-servers';

/*
 * The operator's view, in a real browser: Debian's chromium driven by playwright-core opens the Temporal Web
 * UI of a dev server of its own (the run's shared one is headless), whose codec endpoint is our codec server,
 * on a worker that encrypts every payload. What the test sees is what an operator sees.
 */

const CHROMIUM = '/usr/bin/chromium';
const servers = testServers();
const vault = new VaultKvStore(servers.vault);
const keys = parseCodecKeys(`k1:${randomBytes(32).toString('base64')}`, 'ROTATOR_CODEC_KEYS', 'list');
const taskQueue = 'web-ui';
/**
 * The run's folder always; docs/screenshots/, which docs/operations.md shows, only when asked
 * (`npm run screenshots:record`).
 */
const SCREENSHOT_DIRS = [
  join(servers.runDir, 'screenshots'),
  ...(process.env.ROTATOR_RECORD_SCREENSHOTS === '1' ? [join(__dirname, '../../docs/screenshots')] : []),
];
/** The branch of the canary pipeline, which the simulator runs until the test ends its job. */
const CANARY_REF = 'rotation-canary';
/** The UI renders after its API calls and the codec server answer; a slow, busy machine takes its time. */
const UI_TIMEOUT_MS = 30_000;

/** The UI's own dev server keeps its log here, in the run folder, for a look after a failure. */
const dataDir = join(servers.runDir, 'web-ui-temporal');
let codec: CodecServer;
let temporal: EmbeddedTemporal;
let rotation: RotationWorld;
let happy: SeededCredential;
let broken: SeededCredential;
let draining: SeededCredential;
let canaried: SeededCredential;
let leaked: SeededCredential;
let running: TestWorker;
let client: Client;
let browser: Browser;
let page: Page;
let ui: string;
/** What each rotation ended with, by the client with the keys: what the UI must show decrypted. */
let rotated: { workflowId: string; runId: string; status: RotationStatus };
let rolledBack: { workflowId: string; runId: string; status: RotationStatus };

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium), as .ci/run does`,
    );
  }
  mkdirSync(dataDir, { recursive: true });
  const [temporalPort, uiPort] = [await freeLoopbackPort(), await freeLoopbackPort()];
  ui = `http://127.0.0.1:${uiPort}`;
  const token = randomCodecServerToken();
  codec = await startCodecServer({ keys, token, uiOrigins: [ui], host: '127.0.0.1', port: 0 });
  temporal = await startEmbeddedTemporal({
    bin: servers.binaries.temporalCli,
    dataDir,
    port: temporalPort,
    uiPort,
    namespace: 'default',
    uiCodecEndpoint: `${codec.url}/${token}`,
  });
  rotation = await rotationWorld(vault);
  // An overlap long enough to look at the rotation while it waits; the test ends it early.
  happy = await rotation.seed('happy', { groupVariable: true, pausesSchedules: true, overlap: '1h' });
  broken = await rotation.seed('broken', { groupVariable: true, pausesSchedules: true });
  // A job-aware overlap that looks again every second, bounded far beyond the test.
  draining = await rotation.seed('draining', {
    overlap: { until: 'jobs-drained', min: '0s', max: '1h', poll: '1s' },
  });
  const { world } = rotation;
  canaried = await rotation.seed('canaried', {
    canary: {
      kind: 'gitlab-pipeline',
      gitlab: 'sim',
      project: world.project.path,
      ref: CANARY_REF,
      poll: '1s',
    },
  });
  // The canary's job runs until the test ends it, so that the browser sees it running: its check is
  // never asked.
  world.state.defineCanary(world.project, {
    ref: CANARY_REF,
    reads: defined(canaried.variables[0]).key,
    check: () => true,
    hangs: true,
  });
  leaked = await rotation.seed('leaked', { pausesSchedules: true });
  rotation.writeInventory();
  running = await rotation.startWorker(taskQueue, {
    address: temporal.address,
    dataConverter: encryptedDataConverter(keys),
  });
  client = running.client;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update'],
  });
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.setDefaultTimeout(UI_TIMEOUT_MS);
});

afterAll(async () => {
  await browser?.close();
  await running?.stop();
  await temporal?.stop();
  await codec?.close();
  await rotation?.close();
});

/** Saves what the browser shows as `name`.png, into each screenshot folder. */
async function screenshot(name: string): Promise<void> {
  const png = await page.screenshot({ type: 'png' });
  for (const dir of SCREENSHOT_DIRS) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${name}.png`), png);
  }
}

/** Runs a look at the page; on failure leaves the page's picture and HTML in the run folder to see why. */
async function looking(what: string, look: () => Promise<void>): Promise<void> {
  try {
    await look();
  } catch (error) {
    const dir = join(servers.runDir, 'screenshots');
    mkdirSync(dir, { recursive: true });
    await page.screenshot({ path: join(dir, `failed-${what}.png`), fullPage: true }).catch(() => undefined);
    writeFileSync(join(dir, `failed-${what}.html`), await page.content().catch(() => ''));
    throw error;
  }
}

const workflowPage = (workflowId: string, runId: string, tab: 'history' | 'user-metadata') =>
  `${ui}/namespaces/default/workflows/${encodeURIComponent(workflowId)}/${runId}/${tab}`;
const visible = (text: string | RegExp) => page.getByText(text).first().waitFor({ state: 'visible' });

/*
 * The UI renders summaries and details as markdown, each in an iframe of its own; on the User Metadata tab
 * they come in this order.
 */
const PANES = { summary: 0, details: 1, current: 2 } as const;
async function inPane(pane: keyof typeof PANES, text: string | RegExp): Promise<void> {
  await page
    .locator('iframe[title="output"]')
    .nth(PANES[pane])
    .contentFrame()
    .getByText(text)
    .first()
    .waitFor({ state: 'visible' });
}

/** Opens a rotation's page on `tab`, once the codec server has decoded what it shows. */
async function open(workflowId: string, runId: string, tab: 'history' | 'user-metadata'): Promise<void> {
  await page.goto(workflowPage(workflowId, runId, tab));
  await page.getByTestId('data-encoder-status-success').waitFor({ state: 'attached' });
}

/** Starts a forced, manual rotation of `credential`. */
const start = (credential: SeededCredential, requestedBy: string) =>
  startRotation(client, taskQueue, {
    credentialId: credential.id,
    reason: 'manual',
    requestedBy,
    force: true,
  });
/** The host of the GitLab simulator's web URLs (of jobs and pipelines), not its API's address. */
const SIM_WEB = 'http://gitlab.sim';

/** Scrolls the event history, with its timeline of summaries, to the top of the window, below the UI's bar. */
const showHistory = () =>
  page.getByRole('heading', { name: 'Event History' }).evaluate((heading) => {
    heading.style.scrollMarginTop = '64px';
    heading.scrollIntoView({ block: 'start' });
  });

describe('the Temporal Web UI, in a real browser, with the codec server', () => {
  it('shows a rotation waiting in its overlap window: the phase and what it waits for, decrypted', async () => {
    const handle = await start(happy, 'alice');
    await until(async () => (await handle.query<RotationStatus>('status')).phase === 'overlapping');
    await looking('overlapping', async () => {
      await open(handle.workflowId, handle.firstExecutionRunId, 'user-metadata');
      await inPane('current', 'Phase: overlapping');
      await inPane('current', `then old token ${happy.old.id} is revoked`);
      await inPane('current', `rotator end-overlap ${happy.id}`);
    });
    await handle.executeUpdate('endOverlapNow', { args: [{ requestedBy: 'alice' }] });
    const status = await handle.result();
    expect(status).toMatchObject({ outcome: 'rotated' });
    rotated = { workflowId: handle.workflowId, runId: handle.firstExecutionRunId, status };
  });

  it('rolls back a rotation whose group CI variable GitLab refuses to write (setup for the views below)', async () => {
    const { world } = rotation;
    const route = '/groups/:id/variables/:key';
    world.sim.faults.failNth({
      method: 'PUT',
      route,
      n: world.sim.callsTotal('PUT', route) + 1,
      status: 403,
    });
    const handle = await start(broken, 'bob');
    const failure = await handle.result().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    const cause = (failure as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect(cause).toMatchObject({ type: 'RotationRolledBack' });
    const status = await handle.query<RotationStatus>('status');
    expect(status).toMatchObject({ outcome: 'rolled-back' });
    // The result says what rollback restored, not only what failed.
    expect(status.detail).toMatch(
      /^distribute failed; rolled back: restore group .*: done; restore project .*: done/,
    );
    rolledBack = { workflowId: handle.workflowId, runId: handle.firstExecutionRunId, status };
  });

  it('lists only the rolled-back rotation when filtered by the search attribute RotationOutcome', async () => {
    const query = 'RotationOutcome="rolled-back"';
    await looking('list', async () => {
      // Visibility may lag the rotation's end by a moment, and the list does not refresh by itself.
      for (let attempt = 1; ; attempt += 1) {
        await page.goto(`${ui}/namespaces/default/workflows?query=${encodeURIComponent(query)}`);
        const listed = page.getByText(rolledBack.workflowId).first();
        const shown = await listed.waitFor({ timeout: UI_TIMEOUT_MS / 5 }).then(
          () => true,
          (error: unknown) => (attempt < 5 ? false : Promise.reject(error)),
        );
        if (shown) break;
      }
      await visible('1 Workflow');
      expect(await page.getByText(rotated.workflowId).count()).toBe(0);
    });
    await screenshot('workflow-list-rolled-back');
  });

  it("shows the rollback's summaries, its failure naming provider, resource and HTTP status, and what was restored", async () => {
    const { workflowId, runId, status } = rolledBack;
    const newToken = String(status.newTokenId);
    const oldToken = String(broken.old.id);
    await looking('rolled-back-history', async () => {
      await open(workflowId, runId, 'history');
      // Decrypted by the codec server: the failure (provider, resource, HTTP status) and what rollback did.
      await visible(
        /gitlab write \(update\) group \S+ CI variable \S+_G \(environment \*\) failed: HTTP 403/,
      );
      await visible(`revoke new token ${newToken}: done`);
      await visible(`to do: check that the provider's admin token is valid and allowed to do this`);
      await visible(`rotate ${broken.id} (manual)`);
      await visible(`create a new project ${rotation.world.project.path} access token "${broken.old.name}"`);
      await visible(`write new token ${newToken} to group`);
      await visible(`rollback: restore group`);
      await visible(`as it was (old token ${oldToken})`);
      await visible(`rollback: revoke new token ${newToken}`);
    });
    await showHistory();
    await screenshot('rotation-history-rolled-back');

    await looking('rolled-back-metadata', async () => {
      await open(workflowId, runId, 'user-metadata');
      await inPane('summary', `rotate ${broken.id} (manual)`);
      await inPane('details', 'Requested by: bob');
      await inPane('current', 'Phase: done');
      await inPane('current', 'Outcome: rolled-back');
      await inPane('current', /^rolled back: restore group .*: done$/);
      await inPane('current', `rotator rotate ${broken.id} --force`);
      await inPane('current', '(gitlab-project-access-token, environment test)');
    });
    await screenshot('rotation-details-rolled-back');
  });

  it('shows the rotation that succeeded: its summaries, its overlap timer and its decrypted result', async () => {
    const { workflowId, runId, status } = rotated;
    const replaced = `token ${happy.old.id} replaced by token ${String(status.newTokenId)}`;
    await looking('rotated-history', async () => {
      await open(workflowId, runId, 'history');
      await visible(replaced);
      await visible(`rotate ${happy.id} (manual)`);
      await visible(`before revoking old token ${happy.old.id}`);
      await visible(`revoke old token ${happy.old.id} of project`);
    });
    await looking('rotated-metadata', async () => {
      await open(workflowId, runId, 'user-metadata');
      await inPane('details', 'Requested by: alice');
      await inPane('current', 'Outcome: rotated');
      await inPane('current', replaced);
    });
  });

  it('shows only ciphertext to a browser that cannot reach the codec server', async () => {
    const { workflowId, runId, status } = rotated;
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    try {
      await context.route(`${codec.url}/**`, (route) => route.abort());
      const outsider = await context.newPage();
      outsider.setDefaultTimeout(UI_TIMEOUT_MS);
      await outsider.goto(workflowPage(workflowId, runId, 'history'));
      // `binary/encrypted`, base64-encoded as the UI shows payload metadata it cannot decode.
      await outsider.getByText('YmluYXJ5L2VuY3J5cHRlZA==').first().waitFor({ state: 'visible' });
      await outsider.getByTestId('data-encoder-status-error').waitFor({ state: 'attached' });
      expect(await outsider.getByText(`replaced by token ${String(status.newTokenId)}`).count()).toBe(0);
      expect(await outsider.getByText(`rotate ${happy.id} (manual)`).count()).toBe(0);
    } finally {
      await context.close();
    }
  });

  it('shows a rotation whose overlap waits for a job that started before the switch, naming the job and its URL', async () => {
    const { world } = rotation;
    const job = world.state.startJob(world.project, {
      name: 'deploy',
      startedAt: new Date(Date.now() - 60_000).toISOString(),
    });
    const handle = await start(draining, 'alice');
    await until(
      async () => ((await handle.query<RotationStatus>('status')).jobsStillRunning ?? []).length > 0,
    );
    const url = `${SIM_WEB}/${world.project.path}/-/jobs/${job.id}`;
    await looking('jobs-draining', async () => {
      await open(handle.workflowId, handle.firstExecutionRunId, 'user-metadata');
      await inPane('current', 'Phase: overlapping');
      await inPane(
        'current',
        `Waiting for: a job started before the switch (project ${world.project.path} job ${job.id} (deploy) ${url})`,
      );
      await inPane('current', `then old token ${draining.old.id} is revoked`);
    });
    await screenshot('rotation-details-jobs-draining');
    expect(world.state.isActive(draining.old)).toBe(true);

    world.state.finishJob(job);
    expect(await handle.result()).toMatchObject({ outcome: 'rotated', alerts: [] });
    await rotation.expectRotatedOnce(draining);
  });

  it('shows a rotation running its canary pipeline: the phase, the run and its URL', async () => {
    const { world } = rotation;
    const handle = await start(canaried, 'alice');
    await until(async () => (await handle.query<RotationStatus>('status')).canary?.url !== undefined);
    expect((await handle.query<RotationStatus>('status')).phase).toBe('running-canary');
    const pipeline = defined(world.project.pipelines.find(({ ref }) => ref === CANARY_REF));
    const run = `project ${world.project.path} pipeline ${pipeline.id}`;
    const url = `${SIM_WEB}/${world.project.path}/-/pipelines/${pipeline.id}`;
    await looking('canary-running', async () => {
      await open(handle.workflowId, handle.firstExecutionRunId, 'user-metadata');
      await inPane('current', 'Phase: running-canary');
      await inPane('current', `Waiting for: ${run} to pass (${url})`);
      await inPane('current', `Canary: ${run}: running ${url}`);
    });
    await screenshot('rotation-details-canary-running');

    // The canary's job passes: the rotation promotes the new token and revokes the old one.
    for (const job of pipeline.jobs) world.state.finishJob(job, 'success');
    expect(await handle.result()).toMatchObject({ outcome: 'rotated', canary: { state: 'passed' } });
    await rotation.expectRotatedOnce(canaried);
  });

  it("shows a break-glass rotation's incident: the alert, the leaked token revoked and the seconds it took", async () => {
    const alert = {
      source: 'webhook' as const,
      id: `leak-${randomBytes(3).toString('hex')}`,
      receivedAt: new Date().toISOString(),
      url: 'https://scanner.example/alerts/7',
    };
    const handle = await startBreakGlass(client, taskQueue, {
      credentialId: leaked.id,
      leaked: {
        fingerprint: fingerprintOf(leaked.old.value),
        field: 'token',
        version: 'current',
        tokenId: String(leaked.old.id),
      },
      alert,
      requestedBy: 'alert-intake',
    });
    const status = await handle.result();
    expect(status.outcome).toBe('rotated');
    const { timeline, secondsToRevocation } = defined(status.incident);
    await looking('break-glass', async () => {
      await open(handle.workflowId, handle.firstExecutionRunId, 'user-metadata');
      await inPane('summary', `break-glass ${leaked.id}: leak alert webhook ${alert.id}`);
      await inPane('details', `Alert: webhook ${alert.id} (${alert.url})`);
      await inPane('details', 'Requested by: alert-intake');
      await inPane('current', 'Outcome: rotated');
      await inPane(
        'current',
        `Incident: leak alert webhook ${alert.id} (${alert.url}), received ${timeline.alertReceivedAt}`,
      );
      await inPane(
        'current',
        `Leaked: token ${leaked.old.id} (current version, field token): revoked ` +
          `${defined(timeline.leakedRevokedAt)} (${defined(secondsToRevocation)}s after the alert)`,
      );
    });
    await screenshot('break-glass-incident');
    await rotation.expectRotatedOnce(leaked);
  });
});
