import {
  noopMetricMeter,
  type LogLevel,
  type LogMetadata,
  type Logger,
  type MetricCounter,
  type MetricMeter,
  type MetricTags,
} from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ALERTS_METRIC, createAlertActivities } from '../../activities/alerts';
import { readWorkerEnvironment } from '../../src/config/environment';
import { ValidationError } from '../../src/validation';
import { alertReceiver } from './world';

const execution = { workflowId: 'rotate/ci-deploy', runId: 'run-1' };
const alert = { kind: 'compromised' as const, credentialId: 'ci-deploy', message: 'token 7 was reused' };

/** A meter that records what counters count, and drops every other metric. */
function countingMeter(counted: { name: string; value: number; tags?: MetricTags }[]): MetricMeter {
  const counter = (name: string, tags: MetricTags): MetricCounter => ({
    name,
    kind: 'counter',
    valueType: 'int',
    add: (value, extraTags) => counted.push({ name, value, tags: { ...tags, ...extraTags } }),
    withTags: (more) => counter(name, { ...tags, ...more }),
  });
  return {
    createCounter: (name) => counter(name, {}),
    createHistogram: (...args) => noopMetricMeter.createHistogram(...args),
    createGauge: (...args) => noopMetricMeter.createGauge(...args),
    withTags: () => countingMeter(counted),
  };
}

/** Runs `sendAlert` as the worker would, from a workflow's activity, with its log lines and counters collected. */
async function send(settings: Parameters<typeof createAlertActivities>[0]) {
  const counted: { name: string; value: number; tags?: MetricTags }[] = [];
  const lines: { level: LogLevel; message: string; meta?: LogMetadata }[] = [];
  const log = (level: LogLevel) => (message: string, meta?: LogMetadata) =>
    lines.push({ level, message, meta });
  const logger: Logger = {
    log: (level, message, meta) => lines.push({ level, message, meta }),
    trace: log('TRACE'),
    debug: log('DEBUG'),
    info: log('INFO'),
    warn: log('WARN'),
    error: log('ERROR'),
  };
  const environment = new MockActivityEnvironment(
    { workflowExecution: execution, namespace: 'prod' },
    { logger, metricMeter: countingMeter(counted) },
  );
  const result = await environment.run(createAlertActivities(settings).sendAlert, alert).then(
    () => undefined,
    (error: unknown) => error,
  );
  return { error: result, lines, counted };
}

describe('sendAlert', () => {
  it('without a webhook, logs the alert as one structured warning and succeeds', async () => {
    const { error, lines, counted } = await send({ temporalUiUrl: 'https://temporal.example.com/' });
    expect(error).toBeUndefined();
    expect(counted).toEqual([
      {
        name: ALERTS_METRIC,
        value: 1,
        // Beside the SDK's own tags (namespace, task queue, activity type).
        tags: expect.objectContaining({
          kind: 'compromised',
          severity: 'critical',
          credential_id: 'ci-deploy',
        }),
      },
    ]);
    const [line] = lines.filter(({ level }) => level === 'WARN');
    expect(line?.message).toBe(
      'alert: [critical] compromised: ci-deploy: token 7 was reused ' +
        '(<https://temporal.example.com/namespaces/prod/workflows/rotate%2Fci-deploy/run-1/history|rotate/ci-deploy>)',
    );
    expect(line?.meta?.alert).toMatchObject({
      kind: 'compromised',
      severity: 'critical',
      credentialId: 'ci-deploy',
      workflowId: 'rotate/ci-deploy',
      runId: 'run-1',
      uiUrl: 'https://temporal.example.com/namespaces/prod/workflows/rotate%2Fci-deploy/run-1/history',
      message: 'token 7 was reused',
    });
  });

  it('posts Slack-compatible JSON; a webhook that refuses fails the attempt, naming its host but not its path', async () => {
    const receiver = await alertReceiver();
    try {
      receiver.refuseNext(1);
      const refused = await send({ webhookUrl: receiver.url });
      expect(refused.error).toBeInstanceOf(Error);
      const { host } = new URL(receiver.url);
      expect((refused.error as Error).message).toBe(`the alert webhook at ${host} answered HTTP 500`);
      // Counted once it is sent, not for each attempt.
      expect(refused.counted).toEqual([]);

      expect((await send({ webhookUrl: receiver.url })).error).toBeUndefined();
      expect(receiver.received).toEqual([
        expect.objectContaining({
          text: expect.stringContaining('[critical] compromised: ci-deploy'),
          severity: 'critical',
        }),
      ]);
    } finally {
      await receiver.close();
    }
  });

  it('refuses a webhook that is no URL, without repeating it', () => {
    const hook = 'hooks.slack.com/services/T0/B0/secret-part';
    let problems: string[] = [];
    try {
      readWorkerEnvironment({
        VAULT_ADDR: 'http://127.0.0.1:8200',
        VAULT_TOKEN: 't',
        ROTATOR_ALERT_WEBHOOK_URL: hook,
      });
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      problems = error.issues;
    }
    expect(problems).toEqual([
      'ROTATOR_ALERT_WEBHOOK_URL: expected an http(s) URL such as https://hooks.slack.com/services/...',
    ]);
  });
});
