import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { z } from 'zod';
import { fingerprintOf } from '../fingerprint';
import { listen } from '../listening';
import type { Logger } from '../logging';
import { ValidationError, parseOrThrow } from '../validation';
import type { DeliveryLog } from './deliveries';
import type { AlertSecretFetcher } from './github-alert';
import { takeIn, type Intake, type IntakeOutcome, type Leak } from './intake';
import { signatureMatches } from './signatures';

/** The routes the server answers, each only when its signing secret is configured. */
export const ALERT_ROUTES = { github: '/alerts/github', webhook: '/alerts/webhook' } as const;

/** Larger bodies are refused unread: an alert is a few kilobytes. */
const MAX_BODY_BYTES = 1024 * 1024;
/** A generic delivery signed longer ago than this (or as far ahead) is refused as a replay. */
export const MAX_SIGNATURE_AGE_MS = 5 * 60 * 1000;

/** The `secret_scanning_alert` actions that report a leak; the others (resolved, validated, ...) start nothing. */
const LEAK_ACTIONS = new Set(['created', 'reopened']);

/** The fields of GitHub's `secret_scanning_alert` payload intake reads (the webhook never carries the secret). */
const githubAlertSchema = z.object({
  action: z.string().min(1),
  alert: z.object({
    number: z.number().int().positive(),
    url: z.string().url(),
    html_url: z.string().url(),
  }),
  repository: z.object({ full_name: z.string().min(1) }),
});

/** The generic webhook's body: the leaked token or its fingerprint, who reports it, and where to read more. */
export const genericAlertSchema = z
  .object({
    token: z.string().min(1).max(4096).optional(),
    fingerprint: z
      .string()
      .regex(/^sha256:v1:[0-9a-f]{64}$/, 'expected a sha256:v1 fingerprint')
      .optional(),
    source: z.string().min(1).max(100).describe('the scanner or team reporting the leak'),
    url: z.string().url().optional(),
  })
  .strict()
  .refine((body) => (body.token === undefined) !== (body.fingerprint === undefined), {
    path: ['token'],
    message: 'give exactly one of token and fingerprint',
  });

export interface AlertsServerOptions {
  port: number;
  host?: string;
  intake: Intake;
  deliveries: DeliveryLog;
  /** The signing secret of each route, read from the store at each delivery (a cache may stand in front). */
  secrets: { github?: () => Promise<string>; webhook?: () => Promise<string> };
  /** How a GitHub alert's leaked value is fetched. */
  fetchAlertSecret: AlertSecretFetcher;
  logger: Logger;
  now?: () => number;
}

export interface AlertsServer {
  port: number;
  close(): Promise<void>;
}

interface Answer {
  status: number;
  body: object;
}

class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new Refusal(413, `the body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

const header = (request: IncomingMessage, name: string): string | undefined => {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/** A delivery id as the log and the delivery file keep it: GitHub's are GUIDs. */
function deliveryId(value: string | undefined, name: string): string {
  if (value === undefined || !/^[\w.:-]{1,200}$/.test(value))
    throw new Refusal(400, `${name}: expected an id of 1 to 200 letters, digits, _ . : -`);
  return value;
}

/** The body as JSON, checked by `schema`; a problem is a 400 naming the field, never its value. */
function parsed<S extends z.ZodType>(schema: S, raw: Buffer, subject: string): z.output<S> {
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new Refusal(400, `${subject} is not JSON`);
  }
  try {
    return parseOrThrow(schema, json, subject);
  } catch (error) {
    if (error instanceof ValidationError) throw new Refusal(400, error.message);
    throw error;
  }
}

const answered = (outcome: IntakeOutcome): Answer =>
  outcome.result === 'started'
    ? {
        status: 202,
        body: {
          result: outcome.alreadyRunning ? 'already running' : 'started',
          workflowId: outcome.workflowId,
          credentialId: outcome.credentialId,
          version: outcome.version,
        },
      }
    : { status: 200, body: { result: outcome.result } };

/**
 * The alert intake's HTTP server: GitHub's `secret_scanning_alert` webhook and a generic signed webhook.
 * Each delivery is verified before anything is read from it, taken in once per delivery id (remembered
 * across restarts), and its token fingerprinted and forgotten before the match; nothing is started for a
 * refused delivery or an unknown token.
 */
export async function startAlertsServer(options: AlertsServerOptions): Promise<AlertsServer> {
  const { intake, deliveries, secrets, logger } = options;
  const now = options.now ?? Date.now;

  /** Takes a verified delivery in once: a replayed id is refused with 409 and starts nothing. */
  const once = async (route: string, id: string, leak: () => Promise<Leak>): Promise<Answer> => {
    const done = await deliveries.once(`${route}:${id}`, async () => takeIn(await leak(), intake));
    if (done.replayed) {
      logger.warn({ route, delivery: id }, `delivery ${id} refused: it was taken in before`);
      return { status: 409, body: { error: `delivery ${id} was taken in before` } };
    }
    return answered(done.value);
  };

  const github = async (request: IncomingMessage, raw: Buffer, secret: string): Promise<Answer> => {
    if (!signatureMatches(header(request, 'x-hub-signature-256'), secret, raw))
      throw new Refusal(401, 'X-Hub-Signature-256 does not match the body');
    const event = header(request, 'x-github-event');
    const delivery = header(request, 'x-github-delivery');
    if (event === 'ping') return { status: 200, body: { result: 'pong' } };
    if (event !== 'secret_scanning_alert')
      return { status: 202, body: { result: 'ignored', reason: `event ${event ?? '(none)'}` } };
    const id = deliveryId(delivery, 'X-GitHub-Delivery');
    const payload = parsed(githubAlertSchema, raw, 'the secret_scanning_alert payload');
    if (!LEAK_ACTIONS.has(payload.action))
      return { status: 202, body: { result: 'ignored', reason: `action ${payload.action}` } };
    return once('github', id, async () => ({
      // The value is fingerprinted where it is fetched, and not kept.
      fingerprint: fingerprintOf(await options.fetchAlertSecret(payload.alert.url)),
      alert: {
        source: 'github-secret-scanning',
        id: `${payload.repository.full_name}#${payload.alert.number}`,
        url: payload.alert.html_url,
      },
      requestedBy: 'GitHub secret scanning',
    }));
  };

  const webhook = async (request: IncomingMessage, raw: Buffer, secret: string): Promise<Answer> => {
    const timestamp = header(request, 'x-rotator-timestamp') ?? '';
    // The timestamp is signed with the body, so that an old delivery cannot be given a new one.
    const signed = Buffer.concat([Buffer.from(`${timestamp}.`, 'utf8'), raw]);
    if (!signatureMatches(header(request, 'x-rotator-signature'), secret, signed))
      throw new Refusal(401, 'X-Rotator-Signature does not match the timestamp and body');
    const signedAt = /^\d{1,12}$/.test(timestamp) ? Number(timestamp) * 1000 : Number.NaN;
    if (!(Math.abs(now() - signedAt) <= MAX_SIGNATURE_AGE_MS))
      throw new Refusal(401, 'X-Rotator-Timestamp is more than 5 minutes away from now: refused as a replay');
    const delivery = deliveryId(header(request, 'x-rotator-delivery'), 'X-Rotator-Delivery');
    const body = parsed(genericAlertSchema, raw, 'the webhook body');
    return once('webhook', delivery, () =>
      Promise.resolve({
        fingerprint: body.fingerprint ?? fingerprintOf(body.token ?? ''),
        alert: {
          source: 'webhook',
          id: delivery,
          reportedBy: body.source,
          ...(body.url === undefined ? {} : { url: body.url }),
        },
        requestedBy: `webhook (${body.source})`,
      }),
    );
  };

  // Only the routes whose signing secret is configured are served.
  const routes = new Map<string, { secret: () => Promise<string>; serve: typeof github }>(
    [
      { path: ALERT_ROUTES.github, secret: secrets.github, serve: github },
      { path: ALERT_ROUTES.webhook, secret: secrets.webhook, serve: webhook },
    ].flatMap(({ path, secret, serve }) =>
      secret === undefined ? [] : [[path, { secret, serve }] as const],
    ),
  );

  const handle = async (request: IncomingMessage): Promise<Answer> => {
    const route = routes.get(new URL(request.url ?? '/', 'http://localhost').pathname);
    if (route === undefined) return { status: 404, body: { error: 'not found' } };
    if (request.method !== 'POST') return { status: 405, body: { error: 'method not allowed' } };
    const raw = await readBody(request);
    return route.serve(request, raw, await route.secret());
  };

  const reply = (response: ServerResponse, { status, body }: Answer) => {
    response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    response.end(JSON.stringify(body));
  };

  const server = createServer((request, response) => {
    handle(request).then(
      (answer) => reply(response, answer),
      (error: unknown) => {
        if (error instanceof Refusal) {
          logger.warn({ path: request.url, status: error.status }, `alert refused: ${error.message}`);
          return reply(response, { status: error.status, body: { error: error.message } });
        }
        // A store or GitHub that failed: the sender may deliver again, and the delivery is then taken in.
        logger.error({ path: request.url, error }, 'alert intake failed; the delivery can be sent again');
        reply(response, { status: 503, body: { error: 'alert intake failed: see the alerts server log' } });
      },
    );
  });
  return listen(server, options.port, options.host);
}
