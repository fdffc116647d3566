import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fingerprintOf } from '../../src/fingerprint';
import type { StartBreakGlassOn } from '../../src/cli/incident';
import { ALERT_ROUTES } from '../../src/incidents/alerts-server';
import { breakGlassWorkflowId } from '../../src/incidents/request';
import { startOrJoinBreakGlass } from '../../src/incidents/start';
import type { RotationStatus } from '../../workflows/status';
import { signatureOf } from '../../src/incidents/signatures';
import { defined } from '../gitlab/world';
import { until, leakedToken } from '../helpers/rotation';
import { scannedFile } from '../infra/secret-scan';
import { secretScanningAlertJson } from '../sim/github/json';
import { intakeWorld, type IntakeWorld } from './intake-world';

/*
 * `rotator alerts-server` on real Vault and Temporal, with the GitHub simulator: a signed
 * secret_scanning_alert delivery has the alert's value fetched through the REST API, matched, and handed to
 * the break-glass start as a fingerprint; a bad signature, a replayed delivery (also after a restart), an
 * action that reports no leak and an unknown token start nothing; the generic webhook refuses a bad
 * signature, a stale timestamp and a bad body, naming the field. The server's log holds no token.
 */
let world: IntakeWorld;
let dir: string;
let server: { url: string; stop: () => Promise<{ code: number; stdout: string; stderr: string }> };
const logs: string[] = [];

async function startServer(services: { startBreakGlass?: StartBreakGlassOn } = {}): Promise<typeof server> {
  const stop = new AbortController();
  const running = world.run(
    [
      'alerts-server',
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--github-secret',
      world.secretFields.github,
      '--webhook-secret',
      world.secretFields.webhook,
      '--deliveries',
      join(dir, 'deliveries.json'),
    ],
    { stop: stop.signal, ...services },
  );
  await until(() => Promise.resolve(running.output().stdout.includes('alerts server started')));
  const line = running
    .output()
    .stdout.split('\n')
    .find((text) => text.includes('alerts server started'));
  const { port } = JSON.parse(line ?? '{}') as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      stop.abort();
      const result = await running.done;
      logs.push(result.stdout, result.stderr);
      return result;
    },
  };
}

beforeAll(async () => {
  world = await intakeWorld();
  dir = mkdtempSync(join(tmpdir(), 'alerts-'));
  server = await startServer();
});

afterAll(async () => {
  await server?.stop();
  writeFileSync(scannedFile('incidents', 'alerts-server.log'), logs.join('\n'));
  rmSync(dir, { recursive: true, force: true });
  await world?.close();
});

beforeEach(() => {
  world.started.length = 0;
  world.github.calls.length = 0;
});

async function post(path: string, body: string, headers: Record<string, string>, to = server.url) {
  const response = await fetch(`${to}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/**
 * A `secret_scanning_alert` delivery as GitHub sends it for an alert on `token` in acme/app: the alert
 * without `secret` (webhook payloads never carry it, nor `state`), signed with the hook's secret.
 */
function githubDelivery(
  token: string,
  options: { action?: string; secret?: string; delivery?: string } = {},
) {
  const { repository, github } = world;
  const found = github.state.addSecretScanningAlert(repository, token);
  // JSON leaves `state: undefined` out.
  const alert = { ...secretScanningAlertJson(github.url, repository, found, true), state: undefined };
  const body = JSON.stringify({
    action: options.action ?? 'created',
    alert,
    repository: { id: repository.id, name: repository.name, full_name: 'acme/app', private: true },
    sender: { login: 'github', id: 9919, type: 'Organization' },
  });
  const delivery = options.delivery ?? randomUUID();
  return {
    alert,
    delivery,
    /** Sends it to the alerts server at `to`, by default the one the tests share. */
    send: (to?: string) =>
      post(
        ALERT_ROUTES.github,
        body,
        {
          'x-github-event': 'secret_scanning_alert',
          'x-github-delivery': delivery,
          'x-hub-signature-256': signatureOf(options.secret ?? world.secrets.github, body),
          'user-agent': 'GitHub-Hookshot/test',
        },
        to,
      ),
  };
}

const alertCalls = () =>
  world.github.calls.filter(
    ({ route }) => route === '/repos/{owner}/{repo}/secret-scanning/alerts/{alert_number}',
  ).length;

describe('the GitHub secret_scanning_alert webhook', () => {
  it('starts the break-glass rotation of the credential whose current token the alert found', async () => {
    const { current } = world.credentials;
    const delivery = githubDelivery(current.old.value);
    const answer = await delivery.send();
    expect(answer).toEqual({
      status: 202,
      body: {
        result: 'started',
        workflowId: `break-glass/${current.id}`,
        credentialId: current.id,
        version: 'current',
      },
    });
    expect(alertCalls()).toBe(1);
    expect(world.started).toEqual([
      {
        credentialId: current.id,
        leaked: leakedToken(current.old),
        alert: {
          source: 'github-secret-scanning',
          id: `acme/app#${delivery.alert.number}`,
          receivedAt: expect.any(String) as string,
          url: delivery.alert.html_url,
        },
        requestedBy: 'GitHub secret scanning',
      },
    ]);
  });

  it('refuses a bad signature with 401 before reading anything, and starts nothing', async () => {
    const answer = await githubDelivery(world.credentials.other.old.value, {
      secret: 'not the secret',
    }).send();
    expect(answer).toEqual({ status: 401, body: { error: 'X-Hub-Signature-256 does not match the body' } });
    expect(alertCalls()).toBe(0);
    expect(world.started).toEqual([]);
  });

  it('refuses a replayed delivery, also after a restart, and starts nothing', async () => {
    const delivery = githubDelivery(world.credentials.other.old.value);
    expect((await delivery.send()).status).toBe(202);
    expect(world.started).toHaveLength(1);
    const refused = { status: 409, body: { error: `delivery ${delivery.delivery} was taken in before` } };
    expect(await delivery.send()).toEqual(refused);
    await server.stop();
    server = await startServer();
    expect(await delivery.send()).toEqual(refused);
    expect(world.started).toHaveLength(1);
    expect(alertCalls()).toBe(1);
  });

  it('answers 503 when GitHub fails, starts nothing, and takes the delivery in when it is sent again', async () => {
    const route = '/repos/{owner}/{repo}/secret-scanning/alerts/{alert_number}';
    world.github.faults.inject({ method: 'GET', route, status: 502 });
    const delivery = githubDelivery(world.credentials.other.old.value);
    expect(await delivery.send()).toEqual({
      status: 503,
      body: { error: 'alert intake failed: see the alerts server log' },
    });
    expect(world.started).toEqual([]);
    expect((await delivery.send()).body).toMatchObject({ result: 'started' });
    expect(world.started.map(({ credentialId }) => credentialId)).toEqual([world.credentials.other.id]);
  });

  it('matches a token the credential held before its last rotation as its previous version', async () => {
    const { rotated } = world.credentials;
    const answer = await githubDelivery(rotated.old.value).send();
    expect(answer.body).toMatchObject({ result: 'started', credentialId: rotated.id, version: 'previous' });
    expect(world.started.map(({ leaked }) => [leaked.version, leaked.tokenId])).toEqual([
      ['previous', String(rotated.old.id)],
    ]);
  });

  it('answers "not managed here" for a token no credential holds, and logs it with the alert URL', async () => {
    const delivery = githubDelivery(world.unmanagedToken());
    expect(await delivery.send()).toEqual({ status: 200, body: { result: 'not managed here' } });
    expect(world.started).toEqual([]);
    const log = server.stop;
    server = await startServer();
    const { stdout } = await log();
    expect(stdout).toContain(`not managed here: no credential of the inventory holds the leaked token`);
    expect(stdout).toContain(`(alert ${delivery.alert.html_url})`);
  });

  it('starts nothing for an action that reports no leak, nor for another event', async () => {
    const resolved = await githubDelivery(world.credentials.current.old.value, { action: 'resolved' }).send();
    expect(resolved).toEqual({ status: 202, body: { result: 'ignored', reason: 'action resolved' } });
    const body = JSON.stringify({ zen: 'Design for failure.', hook_id: 1 });
    const ping = await post(ALERT_ROUTES.github, body, {
      'x-github-event': 'ping',
      'x-github-delivery': randomUUID(),
      'x-hub-signature-256': signatureOf(world.secrets.github, body),
    });
    expect(ping).toEqual({ status: 200, body: { result: 'pong' } });
    expect(alertCalls()).toBe(0);
    expect(world.started).toEqual([]);
  });
});

describe('the generic signed webhook', () => {
  const seconds = () => String(Math.floor(Date.now() / 1000));
  function send(
    body: object,
    options: { secret?: string; timestamp?: string; delivery?: string; signedTimestamp?: string } = {},
  ) {
    const text = JSON.stringify(body);
    const timestamp = options.timestamp ?? seconds();
    const signed = `${options.signedTimestamp ?? timestamp}.${text}`;
    return post(ALERT_ROUTES.webhook, text, {
      'x-rotator-timestamp': timestamp,
      'x-rotator-delivery': options.delivery ?? randomUUID(),
      'x-rotator-signature': signatureOf(options.secret ?? world.secrets.webhook, signed),
    });
  }

  it('starts the break-glass rotation for a token, or for its fingerprint alone', async () => {
    const { current, rotated } = world.credentials;
    const byToken = await send({
      token: current.old.value,
      source: 'gitguardian',
      url: 'https://gg.example/i/1',
    });
    const byFingerprint = await send({
      fingerprint: fingerprintOf(world.fresh.value),
      source: 'internal-scanner',
    });
    expect([byToken.status, byFingerprint.status]).toEqual([202, 202]);
    expect(world.started).toEqual([
      expect.objectContaining({
        credentialId: current.id,
        leaked: expect.objectContaining({
          fingerprint: fingerprintOf(current.old.value),
          version: 'current',
        }) as object,
        alert: expect.objectContaining({
          source: 'webhook',
          reportedBy: 'gitguardian',
          url: 'https://gg.example/i/1',
        }) as object,
        requestedBy: 'webhook (gitguardian)',
      }),
      expect.objectContaining({
        credentialId: rotated.id,
        leaked: expect.objectContaining({ version: 'current' }) as object,
      }),
    ]);
  });

  it('refuses a bad signature, a timestamp the signature does not cover, and a stale timestamp', async () => {
    const body = { token: world.credentials.other.old.value, source: 'gitguardian' };
    const stale = String(Math.floor(Date.now() / 1000) - 6 * 60);
    const answers = [
      await send(body, { secret: 'not the secret' }),
      await send(body, { signedTimestamp: stale }),
      await send(body, { timestamp: stale }),
    ];
    expect(answers).toEqual([
      { status: 401, body: { error: 'X-Rotator-Signature does not match the timestamp and body' } },
      { status: 401, body: { error: 'X-Rotator-Signature does not match the timestamp and body' } },
      {
        status: 401,
        body: { error: 'X-Rotator-Timestamp is more than 5 minutes away from now: refused as a replay' },
      },
    ]);
    expect(world.started).toEqual([]);
  });

  it('refuses a bad body with 400 naming the field, and changes nothing', async () => {
    const token = world.credentials.other.old.value;
    const answers = [
      await send({ token }),
      await send({ token, fingerprint: fingerprintOf(token), source: 's' }),
      await send({ fingerprint: 'sha256:v1:nope', source: 's' }),
      await send({ token, source: 's', url: 'not a url' }),
      await send({ token, source: 's', extra: 1 }),
    ];
    expect(answers.map(({ status }) => status)).toEqual([400, 400, 400, 400, 400]);
    const errors = answers.map(({ body }) => String(body.error));
    expect(errors[0]).toMatch(/the webhook body.*source/s);
    expect(errors[1]).toMatch(/token: give exactly one of token and fingerprint/);
    expect(errors[2]).toMatch(/fingerprint: expected a sha256:v1 fingerprint/);
    expect(errors[3]).toMatch(/url/);
    expect(errors[4]).toMatch(/extra/);
    for (const error of errors) expect(error.includes(token)).toBe(false);
    expect(world.started).toEqual([]);
  });

  it('refuses a replayed delivery id', async () => {
    const body = { token: world.credentials.other.old.value, source: 'gitguardian' };
    const delivery = randomUUID();
    expect((await send(body, { delivery })).status).toBe(202);
    expect((await send(body, { delivery })).status).toBe(409);
    expect(world.started).toHaveLength(1);
  });
});

describe('from a GitHub alert to a revoked token, with the real break-glass rotation', () => {
  it('revokes the leaked token and replaces it once, however often the alert is delivered', async () => {
    const worker = await world.rotation.startWorker(defined(world.env.TEMPORAL_TASK_QUEUE));
    const real = await startServer({ startBreakGlass: startOrJoinBreakGlass });
    try {
      const { other } = world.credentials;
      const delivery = githubDelivery(other.old.value);
      expect(await delivery.send(real.url)).toMatchObject({ status: 202, body: { result: 'started' } });
      // Its answer lost, GitHub sends the same delivery again: refused, and the rotation is not started twice.
      expect((await delivery.send(real.url)).status).toBe(409);

      const handle = worker.client.workflow.getHandle(breakGlassWorkflowId(other.id));
      const status = (await handle.result()) as RotationStatus;
      expect(status.outcome).toBe('rotated');
      expect(status.incident?.alert).toMatchObject({ source: 'github-secret-scanning' });
      expect(status.incident?.secondsToRevocation).toEqual(expect.any(Number));
      expect(world.rotation.world.state.tokens.get(other.old.id)?.revoked).toBe(true);
      const fresh = world.rotation.newTokens(other);
      expect(fresh).toHaveLength(1);
      expect(world.rotation.targetValues(other)).toEqual([fresh[0]?.value]);
      // One run of the workflow id, once visibility has it.
      const runs: string[] = [];
      await until(async () => {
        runs.length = 0;
        for await (const run of worker.client.workflow.list({
          query: `WorkflowId = "${breakGlassWorkflowId(other.id)}"`,
        }))
          runs.push(run.runId);
        return runs.length > 0;
      });
      expect(runs).toEqual([(await handle.describe()).runId]);
    } finally {
      await real.stop();
      await worker.stop();
    }
  });
});

describe("the alerts server's log", () => {
  it('holds no token, fingerprint or signing secret', async () => {
    await server.stop();
    server = await startServer();
    const text = logs.join('\n');
    expect(text).toContain('alerts server started');
    for (const value of world.values()) expect(text.includes(value)).toBe(false);
  });
});
